//! A render's run from its start to its end: the runner built (the journal opened, the
//! starting manifest written, the reporter, the one concurrency limit, the shared store),
//! driven beside the signal handler and the manifest flusher, then every shot's selected take
//! put in place and the final manifest written.

use camino::Utf8PathBuf;
use std::sync::Arc;

use super::shared::Shared;
use super::{Runner, Slots, Task};
use crate::decide::Resume;
use crate::plan::Plan;
use crate::provider::Provider;
use crate::record::journal::{self, Journal};
use crate::record::ledger::Ledger;
use crate::record::manifest::Manifest;
use crate::report::{self, Event, Reporter};
use crate::signals::{Signals, Stop};
use crate::style::Style;

/// A state file of the run could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub(crate) struct WriteError {
    /// The file.
    pub path: Utf8PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The team's shared store for the storyboard `stem`, opened, when the settings name one.
pub(crate) fn shared(
    store: Option<&crate::settings::Store>,
    stem: &str,
) -> Result<Option<Shared>, crate::record::store::StoreError> {
    let Some(s) = store else { return Ok(None) };
    let backend = crate::record::store::open(&s.url)?;
    Ok(Some(Shared::new(backend, stem.to_owned(), s.lease, s.poll)))
}

/// What a run starts from, besides the plan and the journal's state.
pub(crate) struct Launch<'a> {
    /// The provider client.
    pub provider: Provider,
    /// Shots in flight at once: the one limit's permits.
    pub concurrency: std::num::NonZeroUsize,
    /// How progress is shown.
    pub style: Style,
    /// The team's shared store, when there is one.
    pub shared: Option<Shared>,
    /// The storyboard's name, for the manifest.
    pub name: &'a str,
}

impl Launch<'_> {
    /// Opens the journal, writes the starting manifest and builds the runner (ledger,
    /// reporter, stop level, outcome board and the one concurrency limit).
    pub(crate) fn runner(self, resume: Resume, plan: &Plan, selected: &[usize]) -> Result<Arc<Runner>, WriteError> {
        let journal_path = Journal::path_in(&resume.out);
        let journal = Arc::new(Journal::open(&journal_path).map_err(|source| WriteError {
            path: journal_path.clone(),
            source,
        })?);
        match resume.history.warning() {
            Some(w) => report::stderr_line(&w),
            None => report::skipped_lines_note(resume.history.skipped),
        }
        let manifest_path = resume.out.join("manifest.json");
        let (manifest, locate) = resume.starting_manifest(self.name, plan, selected, journal::now());
        let estimate = manifest.estimated_usd;
        let ledger = Arc::new(Ledger::new(manifest_path.clone(), manifest, locate));
        ledger.flush().map_err(|source| WriteError {
            path: manifest_path,
            source,
        })?;
        let reporter: Arc<dyn Reporter> = Arc::from(report::progress::reporter(self.style, selected.len(), estimate));
        Ok(Arc::new(Runner {
            provider: self.provider,
            http: crate::provider::http::client(),
            journal,
            ledger,
            reporter,
            stop: Stop::default(),
            uploads: std::sync::Mutex::new(resume.uploads()),
            resume: Arc::new(resume),
            shots: Arc::new(plan.shots.clone()),
            outcomes: Arc::new(Runner::outcomes(plan.shots.len())),
            slots: Arc::new(Slots::new(self.concurrency)),
            on_wire: std::sync::Mutex::default(),
            probe: tokio::sync::Mutex::new(false),
            refused: std::sync::Mutex::default(),
            shared: self.shared.map(Arc::new),
        }))
    }
}

/// Runs the tasks with the signal handler and the manifest flusher beside them, puts every
/// shot's selected take in place; the final manifest, written. `cancel` is the command the
/// second Ctrl-C names.
pub(crate) async fn drive(
    runner: &Arc<Runner>,
    tasks: Vec<Task>,
    signals: Signals,
    cancel: String,
) -> Result<Manifest, WriteError> {
    let reporter = runner.reporter.clone();
    let say = move |line: String| reporter.event(&Event::Notice(line));
    let signals = tokio::spawn(signals.watch(runner.stop.clone(), say, cancel));
    let flusher = tokio::spawn({
        let ledger = runner.ledger.clone();
        async move { ledger.flush_periodically().await }
    });
    runner.clone().run(tasks).await;
    signals.abort();
    flusher.abort();
    select_takes(runner);
    runner.reporter.finish();
    let out = &runner.resume.out;
    runner
        .ledger
        .finish(journal::now())
        .and_then(|()| crate::record::folder::Written::record(out, &["manifest.json"]))
        .map_err(|source| WriteError {
            path: out.join("manifest.json"),
            source,
        })?;
    Ok(runner.ledger.snapshot())
}

/// Every shot's selected take at `<id>.mp4`, and the takes in the manifest.
fn select_takes(runner: &Runner) {
    let out = &runner.resume.out;
    let history = Journal::read(&Journal::path_in(out));
    // The redo requests' final keys (a chained shot's is known once its frames are).
    let redo_labels: std::collections::HashMap<&str, &str> = runner
        .shots
        .iter()
        .filter(|s| s.redo.is_some())
        .map(|s| (s.id.as_str(), s.shot.as_str()))
        .collect();
    let redos: Vec<(String, String)> = runner
        .ledger
        .snapshot()
        .requests()
        .filter_map(|r| Some((redo_labels.get(r.label.as_str())?.to_string(), r.request_key.clone())))
        .collect();
    let mut problems = Vec::new();
    if let Err(e) = crate::record::takes::keep_redos(out, &redos, &history) {
        problems.push(e.to_string());
    }
    let picks = crate::record::takes::Picks::read(out).unwrap_or_default();
    runner
        .ledger
        .update_shots(|shots| problems = crate::record::takes::apply(out, shots, &history, &picks));
    for p in problems {
        runner.reporter.event(&Event::Notice(format!("warning: {p}")));
    }
}
