//! The record of a render: the output folder, the journal, the manifest, takes and picks, the store.

pub(crate) mod folder;
pub(crate) mod journal;
pub(crate) mod ledger;
pub(crate) mod manifest;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod takes;
