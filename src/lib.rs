//! `storyboard`: render a whole film's worth of AI video shots from one YAML storyboard.
//!
//! The tree follows the data: [`commands`] (one file per command, each a short sequence of
//! stage calls) → [`storyboard`] (the YAML) → [`plan`] (expanded, validated, priced requests) →
//! [`decide`] (what happens to each shot) → [`prepare`] (uploads, voices) → [`run`] (the one
//! concurrency limit, providers, downloads) → [`record`] (output folder, journal, manifest,
//! takes, store) → [`deliver`] (cut, timeline, review page). [`settings`] resolves a
//! command's settings once (flags > environment > `.env` > storyboard > default) above the
//! stages; [`facts`] holds what the providers take and charge; [`report`] prints; [`error`]
//! wraps every stage's error; the rest are leaves (`style` among them: how progress is shown).

#![warn(unreachable_pub)]

pub(crate) mod cli;
pub(crate) mod clock;
pub(crate) mod commands;
pub(crate) mod decide;
pub(crate) mod deliver;
pub(crate) mod digest;
pub(crate) mod error;
pub(crate) mod facts;
pub(crate) mod files;
pub(crate) mod media;
pub(crate) mod plan;
pub(crate) mod prepare;
pub(crate) mod problem;
pub(crate) mod provider;
pub(crate) mod published;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod run;
pub mod sandbox;
pub(crate) mod secrets;
pub(crate) mod settings;
pub(crate) mod signals;
pub(crate) mod storyboard;
pub(crate) mod style;

// The public surface: what the binary, the tests and the benchmarks use (CONTRIBUTING lists it).
pub use cli::Cli;
pub use digest::sha256_hex;
pub use media::probe_duration;

/// Runs one command and reports its error (as JSON when the command was asked for JSON);
/// returns the exit code. Callable in-process and more than once.
pub async fn run(cli: Cli) -> i32 {
    let json = cli.json();
    match commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            e.report(json);
            e.exit_code()
        }
    }
}

/// The shared store's pieces the multi-process tests drive directly.
pub mod store {
    pub use crate::record::store::backend::{Backend, Listed, Version, Written};
    pub use crate::record::store::moto::Moto;
    pub use crate::record::store::{StoreError, open_with};
}

/// What the plan benchmark measures: a storyboard's text planned (no network, nothing written).
#[doc(hidden)]
pub mod bench {
    /// Plans `text` as the storyboard `name`; the number of shots, or of problems.
    pub fn plan_shots(name: &str, text: String) -> Result<usize, usize> {
        let src = crate::storyboard::Source::from_file(camino::Utf8Path::new(name), text);
        crate::plan::plan(&src, &crate::plan::Overrides::default())
            .map(|p| p.shots.len())
            .map_err(|problems| problems.len())
    }
}
