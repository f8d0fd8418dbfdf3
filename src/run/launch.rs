//! A render's run from its start to its end: the runner built (the journal opened, the
//! starting manifest written, the reporter, the one concurrency limit, where takes and claims
//! go), driven beside the signal handler and the manifest flusher, then every shot's selected
//! take put in place and the final manifest written.

use camino::Utf8PathBuf;
use futures::StreamExt;
use futures::stream::LocalBoxStream;
use std::sync::Arc;

use super::{Event, Parts, Reporter, Runner, Storage, Task};
use crate::decide::Resume;
use crate::plan::Plan;
use crate::provider::Provider;
use crate::record::folder::{self, Folder, layout};
use crate::record::journal;
use crate::record::ledger::Ledger;
use crate::record::manifest::Manifest;
use crate::signals::Signals;

/// A state file of the run could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub(crate) struct WriteError {
    /// The file.
    pub path: Utf8PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// What a run starts from, besides the plan and the journal's state.
pub(crate) struct Launch<'a> {
    /// The provider client.
    pub provider: Provider,
    /// Shots in flight at once: the one limit's permits.
    pub concurrency: std::num::NonZeroUsize,
    /// Where takes and claims go.
    pub storage: Storage,
    /// The storyboard's name, for the manifest.
    pub name: &'a str,
    /// The progress reporter for a run of this estimate (USD).
    pub reporter: &'a dyn Fn(f64) -> Box<dyn Reporter>,
}

impl Launch<'_> {
    /// Opens the journal, writes the starting manifest and builds the runner (ledger,
    /// reporter, stop level, outcome board and the one concurrency limit).
    pub(crate) fn runner(self, resume: Resume, plan: &Plan, selected: &[usize]) -> Result<Arc<Runner>, WriteError> {
        let journal = Arc::new(folder::open_journal(&resume.out).map_err(|e| match e {
            folder::FolderError::Write { path, source } => WriteError { path, source },
            other => WriteError {
                path: layout::journal(&resume.out),
                source: std::io::Error::other(other.to_string()),
            },
        })?);
        let manifest_path = layout::manifest(&resume.out);
        let (manifest, locate) = resume.starting_manifest(self.name, plan, selected, journal::now());
        let estimate = manifest.estimated_usd;
        let ledger = Arc::new(Ledger::new(manifest_path.clone(), manifest, locate));
        ledger.flush().map_err(|source| WriteError {
            path: manifest_path,
            source,
        })?;
        let reporter: Arc<dyn Reporter> = Arc::from((self.reporter)(estimate));
        Ok(Arc::new(Runner::new(Parts {
            provider: self.provider,
            resume,
            shots: plan.shots.clone(),
            journal,
            ledger,
            reporter,
            concurrency: self.concurrency,
            store: self.storage,
        })))
    }
}

/// Runs the tasks with the signal handler and the manifest flusher beside them, puts every
/// shot's selected take in place; the final manifest, written. `tasks` start now, `later` as
/// they become ready (shots waiting for their voices), alongside. `cancel` is the command the
/// second Ctrl-C names.
pub(crate) async fn drive(
    runner: &Arc<Runner>,
    (tasks, later): (Vec<Task>, LocalBoxStream<'_, Task>),
    signals: Signals,
    cancel: String,
) -> Result<Manifest, WriteError> {
    let reporter = runner.reporter().clone();
    let say = move |line: String| reporter.event(&Event::Notice(line));
    let signals = tokio::spawn(signals.watch(runner.stop().clone(), say, cancel));
    let flusher = tokio::spawn({
        let ledger = runner.ledger().clone();
        async move { ledger.flush_periodically().await }
    });
    let later = later.for_each_concurrent(None, |task| runner.clone().run(vec![task]));
    futures::join!(runner.clone().run(tasks), later);
    signals.abort();
    flusher.abort();
    select_takes(runner);
    runner.reporter().finish();
    let out = runner.out();
    runner
        .ledger()
        .finish(journal::now())
        .and_then(|()| folder::Written::record(out, &[layout::MANIFEST]))
        .map_err(|source| WriteError {
            path: layout::manifest(out),
            source,
        })?;
    Ok(runner.ledger().snapshot())
}

/// Every shot's selected take at `<id>.mp4`, and the takes in the manifest.
fn select_takes(runner: &Runner) {
    let out = runner.out();
    let history = Folder::history_now(out);
    // The redo requests' final keys (a chained shot's is known once its frames are).
    let redo_labels: std::collections::HashMap<&str, &str> = runner
        .shots()
        .iter()
        .filter(|s| s.redo.is_some())
        .map(|s| (s.id.as_str(), s.shot.as_str()))
        .collect();
    let redos: Vec<(String, String)> = runner
        .ledger()
        .snapshot()
        .requests()
        .filter_map(|r| Some((redo_labels.get(r.label.as_str())?.to_string(), r.request_key.clone())))
        .collect();
    let mut problems = Vec::new();
    if let Err(e) = crate::record::takes::keep_redos(out, &redos, &history) {
        problems.push(e.to_string());
    }
    // Read (and refused when corrupt) before anything was sent; changed since: said, not skipped.
    let picks = crate::record::takes::Picks::read(out).unwrap_or_else(|e| {
        problems.push(e.to_string());
        crate::record::takes::Picks::default()
    });
    runner
        .ledger()
        .update_shots(|shots| problems = crate::record::takes::apply(out, shots, &history, &picks));
    for p in problems {
        runner.reporter().event(&Event::Notice(format!("warning: {p}")));
    }
}
