//! The record of a render: the output folder and its owner (`folder`), the journal, the
//! manifest and its ledger, takes and picks, status, the shared store. Imports only leaves
//! (digest, files, facts, secrets): the stages above hand it plain data.

pub(crate) mod folder;
pub(crate) mod journal;
pub(crate) mod ledger;
pub(crate) mod manifest;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod takes;
