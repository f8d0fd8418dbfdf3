//! `storyboard`: render a whole film's worth of AI video shots from one YAML storyboard.
//!
//! Data flow: [`storyboard`] (the YAML) → [`plan`] (expanded, validated, priced requests) →
//! [`resume`] (what happens to each shot) → [`runner`] (providers, downloads, journal) →
//! [`ledger`] / [`manifest`] (the record) → [`assemble`] (cut, timeline, review page).
//! [`render`] wires the render steps; [`commands`] the other commands; [`run`] dispatches.

pub mod cli;
pub mod commands;
pub mod decide;
pub mod deliver;
pub mod digest;
pub mod error;
pub mod facts;
pub mod files;
pub mod media;
pub mod plan;
pub mod prepare;
pub mod problem;
pub mod provider;
pub mod published;
pub mod record;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod secrets;
pub mod settings;
pub mod signals;
pub mod storyboard;

pub use commands::run;
