//! The record of a render: the output folder, the journal, the manifest, takes and picks, the store.

pub mod folder;
pub mod journal;
pub mod ledger;
pub mod manifest;
pub mod status;
pub mod store;
pub mod takes;
