//! Preparation before the run: the local files the shots to submit need are uploaded once each
//! (remembered across runs by content hash), and voices given as samples are created once
//! (remembered in `.storyboard/voices.json` beside the storyboard: `voices`), alongside the
//! run: shots that need no voice start at once, a shot that needs one waits for its own.
//! Uploads take their slots from the runner's one limit. Each task's request body gets the URLs
//! and voice ids; a task whose file or voice failed is settled as failed.

mod voices;

use camino::{Utf8Path, Utf8PathBuf};
use futures::stream::LocalBoxStream;
use futures::{FutureExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::decide::Resume;
use crate::plan::Plan;
use crate::provider::{Provider, UploadError, VoiceError};
use crate::record::journal::{self, Journal, Record};
use crate::run::{Event, Reporter};
use crate::run::{Slots, Task};

/// Why a local file or a voice could not be made ready.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PrepareError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// Which.
        path: Utf8PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not what was planned.
    #[error("{0} changed since it was planned")]
    Changed(Utf8PathBuf),
    /// The upload failed.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The voice could not be created.
    #[error(transparent)]
    Voice(#[from] VoiceError),
    /// The voice creation ended before it was submitted (the run stopping) or abnormally.
    #[error("voice creation ended: {0}")]
    Ended(String),
}

/// What preparation found: by content hash the uploaded URL, by voice name the voice id (known,
/// or being created).
pub(crate) struct Prepared {
    uploads: HashMap<String, Result<String, PrepareError>>,
    voices: HashMap<String, voices::Voice>,
}

/// Everything preparation needs.
pub(crate) struct Preparation<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The provider to upload to.
    pub provider: &'a Provider,
    /// Remembered uploads.
    pub resume: &'a Resume,
    /// Where uploads are journaled.
    pub journal: &'a Journal,
    /// The storyboard's folder (voices.json lives there).
    pub dir: &'a Utf8Path,
    /// The one limit.
    pub slots: &'a Slots,
    /// Notices.
    pub reporter: &'a dyn Reporter,
    /// The stop level (a voice creation is not submitted once the run is stopping).
    pub stop: &'a crate::signals::Stop,
}

impl Preparation<'_> {
    /// Uploads, and voices started, for the tasks that will submit.
    pub(crate) async fn run(&self, tasks: &[Task]) -> Prepared {
        let needed: Vec<usize> = tasks
            .iter()
            .filter(|t| t.fate.submits())
            .flat_map(Task::indices)
            .collect();
        Prepared {
            uploads: self.upload_local_files(&needed).await,
            voices: self.start_voices(&needed),
        }
    }

    /// Uploads every distinct local file the shots need, once.
    async fn upload_local_files(&self, needed: &[usize]) -> HashMap<String, Result<String, PrepareError>> {
        let mut remembered = self.resume.uploads();
        remembered.retain(|_, url| !self.refused(needed, url));
        let mut out = HashMap::new();
        let mut todo: Vec<(String, Utf8PathBuf)> = Vec::new();
        let mut seen = HashSet::new();
        for f in needed.iter().flat_map(|&i| &self.plan.shots[i].local_files) {
            if !seen.insert(f.sha256.clone()) {
                continue;
            }
            match remembered.get(&f.sha256) {
                Some(url) if self.still_valid(&f.sha256) => {
                    out.insert(f.sha256.clone(), Ok(url.clone()));
                }
                Some(_) => {
                    self.reporter.event(&Event::Notice(format!(
                        "uploading {} again: the copy uploaded earlier may have expired at the provider",
                        f.written
                    )));
                    todo.push((f.sha256.clone(), f.path.clone()));
                }
                None => todo.push((f.sha256.clone(), f.path.clone())),
            }
        }
        let results: Vec<(String, Result<String, PrepareError>)> = futures::stream::iter(todo)
            .map(|(sha, path)| async move {
                let _slot = self.slots.acquire().await;
                let result = upload(self.provider, &sha, &path).await;
                (sha, result)
            })
            .buffer_unordered(usize::MAX)
            .collect()
            .await;
        for (sha, result) in results {
            if let Ok(url) = &result {
                let _ = self.journal.append(&Record::Upload {
                    sha256: sha.clone(),
                    api: self.resume.namespace.clone(),
                    url: url.clone(),
                    at: journal::now(),
                });
            }
            out.insert(sha, result);
        }
        out
    }

    /// Whether the provider said it could not fetch `url`: the last attempt of a shot that
    /// sends it failed with a message naming the URL, or saying an input could not be
    /// downloaded. Such an upload is made again (a false alarm costs one upload).
    fn refused(&self, needed: &[usize], url: &str) -> bool {
        needed.iter().any(|&i| {
            let shot = &self.plan.shots[i];
            matches!(
                self.resume.history.latest.get(&shot.request_key),
                Some((_, journal::KeyState::Failed { error, .. })) if unfetchable(error, url)
            )
        })
    }

    /// Whether the remembered upload of `sha` is young enough to outlive this render: uploaded
    /// less than the provider's upload lifetime minus a day ago (the day covers the render,
    /// its queue and a resume). An upload whose time is unknown is not trusted.
    fn still_valid(&self, sha: &str) -> bool {
        let key = (self.resume.namespace.clone(), sha.to_owned());
        let Some(at) = self.resume.history.uploaded_at.get(&key) else {
            return false;
        };
        let margin = std::time::Duration::from_secs(24 * 3600);
        humantime::parse_rfc3339_weak(at)
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age + margin < self.provider.upload_lifetime())
    }

    /// Voices given as samples: each created once (fal `create-voice`) in a task of its own,
    /// remembered by the sample's content hash in `.storyboard/voices.json` beside the
    /// storyboard, so later runs and other storyboards in the same folder reuse it. By voice
    /// name: the voice, known or being created.
    fn start_voices(&self, needed: &[usize]) -> HashMap<String, voices::Voice> {
        let wanted: BTreeSet<&str> = needed
            .iter()
            .flat_map(|&i| self.plan.shots[i].voice_samples.iter().map(|(_, name)| name.as_str()))
            .collect();
        let book = Arc::new(voices::VoiceBook::new(self.dir, &self.resume.namespace));
        let mut out = HashMap::new();
        for v in self
            .plan
            .voices_to_create
            .iter()
            .filter(|v| wanted.contains(v.name.as_str()))
        {
            let voice = match book.known(&v.sha256) {
                Some(id) => voices::ready(Ok(id)),
                None => {
                    self.reporter.event(&Event::Notice(format!(
                        "creating voice `{}` from {} (shots without it start meanwhile)",
                        v.name, v.written
                    )));
                    voices::Creation {
                        book: book.clone(),
                        provider: self.provider.clone(),
                        stop: self.stop.clone(),
                        sha: v.sha256.clone(),
                        sample: v.path.clone(),
                    }
                    .spawn()
                }
            };
            out.insert(v.name.clone(), voice);
        }
        out
    }
}

/// Uploads a local file whose content is still the `sha` planned; its URL.
async fn upload(provider: &Provider, sha: &str, path: &Utf8Path) -> Result<String, PrepareError> {
    let bytes = tokio::fs::read(path).await.map_err(|e| PrepareError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if crate::digest::sha256_hex(&bytes) != sha {
        return Err(PrepareError::Changed(path.to_owned()));
    }
    let name = path.file_name().unwrap_or("upload.bin");
    Ok(provider.upload(bytes, content_type(path), name).await?)
}

impl Prepared {
    /// Puts the URLs and the voice ids known by now into a task's request body; the first
    /// failure, if any.
    fn apply(&self, plan: &Plan, task: &mut Task) -> Option<String> {
        let shot = &plan.shots[task.index];
        let mut failure = None;
        for f in &shot.local_files {
            match self.uploads.get(&f.sha256) {
                Some(Ok(url)) => crate::plan::set_field(&mut task.input, &f.field, json!(url)),
                Some(Err(e)) => failure = Some(format!("upload of {} failed: {e}", f.written)),
                None => {}
            }
        }
        for (field, name) in &shot.voice_samples {
            match self.voices.get(name).and_then(|v| v.peek()) {
                Some(Ok(id)) => crate::plan::set_field(&mut task.input, field, json!(id)),
                Some(Err(e)) => failure = Some(format!("voice `{name}` could not be created: {e}")),
                None => {}
            }
        }
        failure
    }

    /// The voices still being created that a task to submit waits for (none: it starts now).
    fn awaited(&self, plan: &Plan, task: &Task) -> Vec<voices::Voice> {
        if !task.fate.submits() {
            return Vec::new();
        }
        let names = plan.shots[task.index].voice_samples.iter().map(|(_, name)| name);
        names
            .filter_map(|name| self.voices.get(name))
            .filter(|v| v.peek().is_none())
            .cloned()
            .collect()
    }
}

/// The tasks of the run: those that can start now, and those that start as the voices they
/// wait for are created (a task the run stops before its voice is ready is settled as not
/// submitted, the voice creation going on and kept for the next render).
pub(crate) struct Ready<'a> {
    /// Tasks that start now.
    pub now: Vec<Task>,
    /// Tasks whose voices are being created, as each becomes ready.
    pub later: LocalBoxStream<'a, Task>,
}

/// A task whose inputs are in place: its body recorded in the ledger; settled as failed when
/// `failure` says a file or voice could not be made ready, else returned to run.
fn ready_or_failed(runner: &crate::run::Runner, task: Task, failure: Option<String>) -> Option<Task> {
    for i in task.indices() {
        runner.ledger().update(i, |r| r.input = task.input.clone());
    }
    let Some(error) = failure else { return Some(task) };
    let failed = crate::run::Settle::Failed {
        request_id: None,
        attempts: 0,
        error,
    };
    runner.settle(&task, failed);
    None
}

/// Says, when the run stops before voice `name` is created, that the creation is kept for the
/// next render (once per voice); no task.
async fn told_when_stopped(runner: &crate::run::Runner, name: String, voice: voices::Voice) -> Option<Task> {
    tokio::select! {
        _ = voice => {}
        _ = runner.stop().reached(1) => runner.reporter().event(&Event::Notice(format!(
            "voice `{name}` was still being created: the next render follows that creation (kept with the storyboard's voices), never paying for it twice"
        ))),
    }
    None
}

/// Waits for the voices a task needs, then puts them in; `None` when the run stops first.
async fn when_voiced(
    runner: &crate::run::Runner,
    plan: &Plan,
    prepared: std::rc::Rc<Prepared>,
    mut task: Task,
) -> Option<Task> {
    let awaited = prepared.awaited(plan, &task);
    let stop = runner.stop();
    tokio::select! {
        _ = futures::future::join_all(awaited) => {
            let failure = prepared.apply(plan, &mut task);
            ready_or_failed(runner, task, failure)
        }
        _ = stop.reached(1) => {
            runner.settle(&task, crate::run::Settle::Pending(stop.reason()));
            None
        }
    }
}

/// Whether a provider's failure message says an input URL could not be fetched: it names
/// `url`, or speaks of a download or fetch that failed.
fn unfetchable(error: &str, url: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains(&url.to_ascii_lowercase())
        || ["download", "fetch", "retriev"].iter().any(|w| e.contains(w))
            && ["fail", "could not", "couldn't", "unable", "cannot", "error"]
                .iter()
                .any(|w| e.contains(w))
}

/// The content type an upload is sent with, by extension.
fn content_type(path: &Utf8Path) -> &'static str {
    match path.extension().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// Keeps a copy of each local frontal image the plan's characters use in the output folder
/// (`.storyboard/cast/<sha256>.<ext>`), for the review page; a copy that cannot be made is only
/// missing from the page.
pub(crate) fn keep_frontals(plan: &Plan, out: &camino::Utf8Path) {
    for f in plan.frontals.values() {
        if let crate::plan::Frontal::Local { path, .. } = f {
            let dest = out.join(f.shown());
            if !dest.exists() {
                let _ = dest.parent().map(std::fs::create_dir_all);
                let _ = crate::files::copy_clip(path, &dest);
            }
        }
    }
}

/// The tasks of the run, with their local files uploaded and their voices started; tasks
/// whose preparation failed are settled as failed and left out. `dir` is the storyboard's folder.
pub(crate) async fn tasks<'a>(
    runner: &'a crate::run::Runner,
    plan: &'a Plan,
    dir: &Utf8Path,
    decided: Vec<crate::decide::Decided>,
    selected: &[usize],
) -> Ready<'a> {
    let mut is_selected = vec![false; plan.shots.len()];
    for &i in selected {
        is_selected[i] = true;
    }
    let mut tasks = Task::from_decisions(plan, decided);
    runner.spread(&mut tasks);
    runner.publish_unselected(&is_selected);
    keep_frontals(plan, runner.out());
    let prepared = std::rc::Rc::new(
        Preparation {
            plan,
            provider: runner.provider(),
            resume: runner.resume(),
            journal: runner.journal(),
            dir,
            slots: runner.slots(),
            reporter: runner.reporter().as_ref(),
            stop: runner.stop(),
        }
        .run(&tasks)
        .await,
    );
    let mut now = Vec::with_capacity(tasks.len());
    let later = futures::stream::FuturesUnordered::new();
    for (name, voice) in prepared.voices.iter().filter(|(_, v)| v.peek().is_none()) {
        later.push(told_when_stopped(runner, name.clone(), voice.clone()).boxed_local());
    }
    for mut task in tasks.drain(..) {
        let failure = prepared.apply(plan, &mut task);
        if failure.is_none() && !prepared.awaited(plan, &task).is_empty() {
            later.push(when_voiced(runner, plan, prepared.clone(), task).boxed_local());
            continue;
        }
        now.extend(ready_or_failed(runner, task, failure));
    }
    Ready {
        now,
        later: later.filter_map(futures::future::ready).boxed_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::unfetchable;

    #[test]
    fn a_failure_naming_the_url_or_a_failed_download_means_upload_again() {
        let url = "https://v3.fal.media/files/abc/coat.png";
        assert!(unfetchable(
            "HTTP 422: image_url: https://v3.fal.media/files/abc/coat.png is not reachable",
            url
        ));
        assert!(unfetchable(
            "Failed to download the file. Please check that the URL is accessible",
            url
        ));
        assert!(unfetchable("prediction error: could not fetch input image", url));
        assert!(!unfetchable("prediction error: content policy violation", url));
        assert!(!unfetchable("Runner disconnected", url));
    }
}
