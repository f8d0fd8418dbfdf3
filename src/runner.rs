//! The runner: at most `concurrency` shots in flight (one semaphore, here and nowhere else),
//! each submitted, followed, downloaded and recorded; a failed shot is data, not an early
//! return. It emits events and never prints.

use camino::Utf8PathBuf;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};

use crate::download;
use crate::journal::{self, Journal, Record};
use crate::manifest::{ClipRecord, Manifest, ShotRecord, ShotStatus};
use crate::plan::PlannedShot;
use crate::provider::http::Backoff;
use crate::provider::{Accepted, JobError, JobState, Provider, SubmitError};
use crate::report::{Event, Reporter};

/// 429s a submit may meet before the shot gives up (each honours `Retry-After`).
const MAX_RATE_LIMITED: u32 = 30;

/// The concurrency limit as lowered by 429s: the target, and permits still to give up.
pub struct Effective {
    now: AtomicUsize,
    owed: AtomicUsize,
}

/// What to do with a shot.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Submit it (a new bill).
    Submit,
    /// Follow a job an earlier run submitted (already paid: never resubmitted).
    Follow(Accepted),
}

/// One unit of work: a shot, and the shots that send the very same request.
#[derive(Debug, Clone)]
pub struct Work {
    /// Index in the plan.
    pub index: usize,
    /// Other plan indices with the same request key: they get a copy of the clip.
    pub copies: Vec<usize>,
    /// What to do (for a chained shot: decided again once its upstream clips exist).
    pub action: Action,
    /// The request key (for a chained shot: final once its upstream clips exist).
    pub key: String,
    /// The request body to send (uploaded files as URLs).
    pub input: Map<String, Value>,
    /// Plan indices of the shots whose frames this one uses, in `chain` order.
    pub upstream: Vec<usize>,
    /// The verdict waits for the upstream clips (their hashes are part of the key).
    pub deferred: bool,
}

/// What the journal says about a request, for a shot decided during the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The clip for this exact request is on disk.
    Cached(ClipRecord),
    /// Render (or follow) it.
    Go(Action),
    /// An earlier submit's outcome is unknown: left alone.
    Uncertain(String),
    /// The provider forgot an earlier request: left alone.
    Gone(String),
}

/// Every shot's outcome, for the shots that start from its clip: `Ok(sha256)` or `Err(why)`.
pub type Board = Vec<tokio::sync::watch::Sender<Option<Result<String, String>>>>;

/// Decides a request by its key (the journal's verdict), during the run.
pub type Decide = dyn Fn(&str) -> Decision + Send + Sync;

/// Stop levels: 0 run; 1 submit nothing new (first Ctrl-C, or the provider refused the
/// account); 2 stop at once.
#[derive(Clone, Default)]
pub struct Stop {
    level: Arc<AtomicU8>,
    signalled: Arc<std::sync::atomic::AtomicBool>,
    notify: Arc<Notify>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Stop {
    /// Raises the level (never lowers it).
    pub fn raise(&self, level: u8, reason: &str) {
        let prev = self.level.fetch_max(level, Ordering::SeqCst);
        if prev < level {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() || level > 1 {
                *r = Some(reason.to_owned());
            }
        }
        self.notify.notify_waiters();
    }

    /// Raises the level for a signal (Ctrl-C, SIGTERM): the run ends as interrupted.
    pub fn signal(&self, level: u8, reason: &str) {
        self.signalled.store(true, Ordering::SeqCst);
        self.raise(level, reason);
    }

    /// Whether a signal stopped the run.
    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }

    /// The current level.
    pub fn level(&self) -> u8 {
        self.level.load(Ordering::SeqCst)
    }

    /// Why it stopped.
    pub fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "stopped".into())
    }

    /// Resolves once the level reaches `level`.
    pub async fn reached(&self, level: u8) {
        loop {
            let notified = self.notify.notified();
            if self.level() >= level {
                return;
            }
            notified.await;
        }
    }
}

/// The manifest being written: updated and rewritten atomically after every finished shot.
pub struct Ledger {
    path: Utf8PathBuf,
    manifest: Mutex<Manifest>,
}

impl Ledger {
    /// A ledger writing to `path`.
    pub fn new(path: Utf8PathBuf, manifest: Manifest) -> Ledger {
        Ledger {
            path,
            manifest: Mutex::new(manifest),
        }
    }

    /// Changes a shot's record; `persist` rewrites the file.
    pub fn update(&self, index: usize, persist: bool, f: impl FnOnce(&mut ShotRecord)) {
        let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rec) = m.shots.get_mut(index) {
            f(rec);
        }
        if persist {
            let _ = m.write(&self.path);
        }
    }

    /// Writes the manifest now (with `finished_at` when given).
    pub fn write(&self, finished_at: Option<String>) -> std::io::Result<()> {
        let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        if finished_at.is_some() {
            m.finished_at = finished_at;
        }
        m.write(&self.path)
    }

    /// A copy of the manifest.
    pub fn snapshot(&self) -> Manifest {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Everything the shot tasks share.
pub struct Runner {
    /// The provider client.
    pub provider: Provider,
    /// The HTTP client for downloads.
    pub http: reqwest::Client,
    /// The journal.
    pub journal: Arc<Journal>,
    /// The manifest.
    pub ledger: Arc<Ledger>,
    /// Where events go.
    pub reporter: Arc<dyn Reporter>,
    /// Ctrl-C and fatal provider errors.
    pub stop: Stop,
    /// The output folder.
    pub out: Utf8PathBuf,
    /// Which API (`sandbox` or a base URL): namespaces the journal.
    pub api: String,
    /// The plan's shots.
    pub shots: Arc<Vec<PlannedShot>>,
    /// Outcomes by plan index, for chained shots.
    pub board: Arc<Board>,
    /// The journal's verdict for a key (chained shots).
    pub decide: Arc<Decide>,
    /// Uploaded frames by content hash.
    pub uploads: Arc<Mutex<std::collections::HashMap<String, String>>>,
    /// Submit attempts so far, by plan index.
    pub attempts: Arc<Vec<u32>>,
    /// Shots in flight at once.
    pub concurrency: usize,
}

impl Runner {
    /// Runs every unit of work with at most `concurrency` in flight; returns when all are
    /// finished or the stop level reaches 2.
    pub async fn run(self: Arc<Self>, work: Vec<Work>) {
        let limit = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let effective = Arc::new(Effective {
            now: AtomicUsize::new(self.concurrency.max(1)),
            owed: AtomicUsize::new(0),
        });
        let all = async {
            let mut tasks = tokio::task::JoinSet::new();
            // Shots that wait for nothing take their permits here, in storyboard order; chained
            // shots take theirs once their upstream clips exist.
            for w in work {
                let permit = if w.upstream.is_empty() {
                    Some(self.permit(&w, &limit).await)
                } else {
                    None
                };
                let (me, limit, effective) = (self.clone(), limit.clone(), effective.clone());
                tasks.spawn(async move { me.shot(w, permit, limit, effective).await });
            }
            while tasks.join_next().await.is_some() {}
        };
        // Dropping the tasks at the second Ctrl-C aborts them.
        tokio::select! {
            _ = all => {}
            _ = self.stop.reached(2) => {}
        }
    }

    /// The one concurrency limit. Jobs already submitted are followed even after the first
    /// Ctrl-C; new submits get `None` once the run is stopping.
    async fn permit(&self, w: &Work, limit: &Arc<Semaphore>) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let following = matches!(w.action, Action::Follow(_));
        tokio::select! {
            p = limit.clone().acquire_owned() => p.ok(),
            _ = self.stop.reached(1), if !following => None,
        }
    }

    fn emit(&self, e: Event) {
        self.reporter.event(&e);
    }

    async fn shot(
        &self,
        mut w: Work,
        permit: Option<Option<tokio::sync::OwnedSemaphorePermit>>,
        limit: Arc<Semaphore>,
        effective: Arc<Effective>,
    ) {
        // A chained shot starts when the shots it takes frames from have their clips.
        let mut upstream_sha = Vec::new();
        for &u in &w.upstream {
            let mut rx = self.board[u].subscribe();
            let outcome: Result<String, String> = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|v| v.clone())
                .unwrap_or_else(|| Err("stopped".into()));
            match outcome {
                Ok(sha) => upstream_sha.push(sha),
                Err(why) => {
                    let why = format!("`{}` has no clip: {why}", self.shots[u].id);
                    self.skip(&w, &why);
                    return;
                }
            }
        }
        let permit = match permit {
            Some(p) => p,
            None => self.permit(&w, &limit).await,
        };
        let Some(permit) = permit else {
            self.pending(&w, &self.stop.reason());
            return;
        };
        if !w.upstream.is_empty() {
            match self.prepare_chain(&mut w, &upstream_sha).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(msg) => {
                    self.finish_failed(&w, None, 0, msg);
                    return;
                }
            }
        }
        self.shot_with_permit(w, &limit, &effective).await;
        // A lowered limit is paid back with permits as shots finish.
        if effective
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            permit.forget();
        }
    }

    async fn shot_with_permit(&self, w: Work, limit: &Semaphore, effective: &Effective) {
        let id = self.shots[w.index].id.clone();
        let following = matches!(w.action, Action::Follow(_));
        if !following && self.stop.level() >= 1 {
            self.pending(&w, &self.stop.reason());
            return;
        }
        let job = match w.action.clone() {
            Action::Follow(job) => {
                self.emit(Event::Resumed {
                    id: id.clone(),
                    request_id: job.request_id.clone(),
                });
                job
            }
            Action::Submit => match self.submit(&w, limit, effective).await {
                Some(job) => job,
                None => return,
            },
        };
        self.follow(&w, job).await;
    }

    /// Tells the shots waiting on this one how it ended.
    fn publish(&self, w: &Work, outcome: Result<String, String>) {
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            self.board[i].send_replace(Some(outcome.clone()));
        }
    }

    /// A chained shot whose upstream has no clip: skipped (pending when the run is stopping).
    fn skip(&self, w: &Work, why: &str) {
        if self.stop.level() >= 1 {
            self.pending(w, &format!("not rendered: {why}"));
            return;
        }
        self.publish(w, Err(format!("skipped: {why}")));
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            self.ledger.update(i, true, |r| {
                r.status = ShotStatus::Skipped;
                r.error = Some(format!("skipped: {why}"));
            });
            self.emit(Event::Skipped {
                id: self.shots[i].id.clone(),
                reason: why.to_owned(),
            });
        }
    }

    /// Takes the frames from the upstream clips, uploads them, and settles the request key;
    /// decides the shot again when its verdict waited for them. `Ok(false)`: nothing left to do.
    async fn prepare_chain(&self, w: &mut Work, upstream_sha: &[String]) -> Result<bool, String> {
        let shot = &self.shots[w.index];
        let frames_dir = self.out.join(".storyboard").join("frames");
        std::fs::create_dir_all(&frames_dir).map_err(|e| format!("cannot create {frames_dir}: {e}"))?;
        for ((c, sha), &u) in shot.chain.iter().zip(upstream_sha).zip(&w.upstream) {
            let at = c.at.map_or("last".to_owned(), |t| format!("{t}s"));
            let png = frames_dir.join(format!("{}-{at}.png", &sha[..16.min(sha.len())]));
            if !png.exists() {
                let clip = self.out.join(format!("{}.mp4", self.shots[u].id));
                let (clip, dest, t) = (clip.clone(), png.clone(), c.at);
                tokio::task::spawn_blocking(move || crate::frames::extract(&clip, t, &dest))
                    .await
                    .map_err(|e| e.to_string())??;
            }
            let bytes = std::fs::read(&png).map_err(|e| format!("cannot read {png}: {e}"))?;
            let png_sha = crate::plan::sha256_hex(&bytes);
            let known = self
                .uploads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&png_sha)
                .cloned();
            let url = match known {
                Some(url) => url,
                None => {
                    let name = png.file_name().unwrap_or("frame.png").to_owned();
                    let url = self
                        .provider
                        .upload(bytes, "image/png", &name)
                        .await
                        .map_err(|e| format!("upload of the frame of `{}`: {e}", self.shots[u].id))?;
                    self.record(Record::Upload {
                        sha256: png_sha.clone(),
                        api: self.api.clone(),
                        url: url.clone(),
                        at: journal::now(),
                    });
                    self.uploads
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(png_sha, url.clone());
                    url
                }
            };
            w.input.insert(c.field.clone(), Value::String(url));
        }
        w.key = shot.key_with_upstream(upstream_sha);
        let (key, input) = (w.key.clone(), w.input.clone());
        self.ledger.update(w.index, false, |r| {
            r.request_key = key;
            r.input = input;
        });
        if !w.deferred {
            return Ok(true);
        }
        match (self.decide)(&w.key) {
            Decision::Go(action) => {
                w.action = action;
                Ok(true)
            }
            Decision::Cached(mut clip) => {
                let own = Utf8PathBuf::from(format!("{}.mp4", shot.id));
                if clip.path != own {
                    download::copy_clip(&self.out.join(&clip.path), &self.out.join(&own))
                        .map_err(|e| format!("cannot copy the clip: {e}"))?;
                    clip.path = own;
                }
                let sha = clip.sha256.clone();
                self.ledger.update(w.index, true, |r| {
                    r.status = ShotStatus::Cached;
                    r.clip = Some(clip);
                    r.error = None;
                });
                self.emit(Event::Cached { id: shot.id.clone() });
                self.publish(w, Ok(sha));
                Ok(false)
            }
            Decision::Uncertain(msg) => {
                self.ledger.update(w.index, true, |r| {
                    r.status = ShotStatus::Uncertain;
                    r.error = Some(msg.clone());
                });
                self.emit(Event::Uncertain {
                    id: shot.id.clone(),
                    reason: msg.clone(),
                });
                self.publish(w, Err(msg));
                Ok(false)
            }
            Decision::Gone(msg) => Err(msg),
        }
    }

    fn pending(&self, w: &Work, reason: &str) {
        self.publish(w, Err(reason.to_owned()));
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            let id = self.shots[i].id.clone();
            self.ledger.update(i, true, |r| {
                r.status = ShotStatus::Pending;
                r.error = Some(reason.to_owned());
            });
            self.emit(Event::Pending {
                id,
                reason: reason.to_owned(),
            });
        }
    }

    /// Journals a failure of this request (failures are never cached: the next run submits again).
    fn record_failed(&self, w: &Work, request_id: Option<String>, error: String) {
        self.record(Record::Failed {
            shot: self.shots[w.index].id.clone(),
            request_key: w.key.clone(),
            api: self.api.clone(),
            request_id,
            error,
            at: journal::now(),
        });
    }

    fn record(&self, r: Record) {
        // The journal is the promise that no paid job is lost: a write failure is worth a note.
        if let Err(e) = self.journal.append(&r) {
            self.emit(Event::Notice(format!(
                "warning: cannot write the journal {}: {e}",
                self.journal.path()
            )));
        }
    }

    async fn submit(&self, w: &Work, limit: &Semaphore, effective: &Effective) -> Option<Accepted> {
        let shot = &self.shots[w.index];
        let id = shot.id.clone();
        let input = &w.input;
        let (mut attempts, mut rate_limited, mut transient) = (self.attempts[w.index], 0u32, 0u32);
        loop {
            self.emit(Event::Submitting { id: id.clone() });
            self.record(Record::Intent {
                shot: id.clone(),
                request_key: w.key.clone(),
                api: self.api.clone(),
                at: journal::now(),
            });
            attempts += 1;
            let outcome = self
                .provider
                .submit(&shot.endpoint, shot.version.as_deref(), input)
                .await;
            match outcome {
                Ok(job) => {
                    self.record(Record::Accepted {
                        shot: id.clone(),
                        request_key: w.key.clone(),
                        api: self.api.clone(),
                        job: job.clone(),
                        at: journal::now(),
                    });
                    let at = journal::now();
                    for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
                        self.ledger.update(i, true, |r| {
                            r.request_id = Some(job.request_id.clone());
                            r.submitted_at = Some(at.clone());
                            r.attempts = attempts;
                            r.status = ShotStatus::Pending;
                            r.error = None;
                        });
                    }
                    self.emit(Event::Submitted {
                        id,
                        request_id: job.request_id.clone(),
                    });
                    return Some(job);
                }
                Err(SubmitError::Retry {
                    reason,
                    retry_after,
                    rate_limited: is_429,
                }) => {
                    // Certainly nothing was created: say so, so a crash now is not taken for uncertain.
                    self.record_failed(w, None, format!("not created: {reason}"));
                    let n = if is_429 {
                        rate_limited += 1;
                        self.slow_down(limit, effective);
                        rate_limited
                    } else {
                        transient += 1;
                        transient
                    };
                    let budget = if is_429 {
                        MAX_RATE_LIMITED
                    } else {
                        Backoff::SUBMIT.attempts
                    };
                    if n >= budget {
                        self.finish_failed(w, None, attempts, format!("could not submit after {n} tries: {reason}"));
                        return None;
                    }
                    let delay = Backoff::SUBMIT.delay(n, retry_after);
                    self.emit(Event::Retrying {
                        id: id.clone(),
                        reason,
                        delay_ms: delay.as_millis() as u64,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.reached(1) => {
                            self.pending(w, &self.stop.reason());
                            return None;
                        }
                    }
                }
                Err(SubmitError::Rejected(msg)) => {
                    self.record_failed(w, None, msg.clone());
                    self.finish_failed(w, None, attempts, format!("the provider refused the request: {msg}"));
                    return None;
                }
                Err(SubmitError::Fatal(msg)) => {
                    self.record_failed(w, None, msg.clone());
                    self.stop.raise(1, &format!("no new submits: {msg}"));
                    self.emit(Event::Notice(format!("stopping new submits: {msg}")));
                    self.finish_failed(w, None, attempts, msg);
                    return None;
                }
                Err(SubmitError::Uncertain(reason)) => {
                    self.record(Record::Uncertain {
                        shot: id.clone(),
                        request_key: w.key.clone(),
                        api: self.api.clone(),
                        reason: reason.clone(),
                        at: journal::now(),
                    });
                    let msg = uncertain_message(&reason);
                    self.publish(w, Err(msg.clone()));
                    for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
                        self.ledger.update(i, true, |r| {
                            r.status = ShotStatus::Uncertain;
                            r.attempts = attempts;
                            r.error = Some(msg.clone());
                            r.completed_at = Some(journal::now());
                        });
                        self.emit(Event::Uncertain {
                            id: self.shots[i].id.clone(),
                            reason: msg.clone(),
                        });
                    }
                    return None;
                }
            }
        }
    }

    /// A 429 lowers the effective concurrency for the rest of the run (never below 1).
    fn slow_down(&self, limit: &Semaphore, effective: &Effective) {
        let Ok(now) = effective
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 1).then(|| n - 1))
        else {
            return;
        };
        if limit.forget_permits(1) == 0 {
            // Every permit is held: the next shot to finish gives its permit up instead.
            effective.owed.fetch_add(1, Ordering::SeqCst);
        }
        self.emit(Event::Notice(format!(
            "the provider is rate-limiting (429): lowering concurrency to {} for the rest of the run",
            now - 1
        )));
    }

    fn finish_failed(&self, w: &Work, request_id: Option<String>, attempts: u32, error: String) {
        self.publish(w, Err(error.clone()));
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            self.ledger.update(i, true, |r| {
                r.status = ShotStatus::Failed;
                r.error = Some(error.clone());
                if attempts > 0 {
                    r.attempts = attempts;
                }
                if request_id.is_some() {
                    r.request_id = request_id.clone();
                }
                r.completed_at = Some(journal::now());
            });
            self.emit(Event::Failed {
                id: self.shots[i].id.clone(),
                error: error.clone(),
            });
        }
    }

    async fn follow(&self, w: &Work, job: Accepted) {
        let shot = &self.shots[w.index];
        let id = shot.id.clone();
        let last = Mutex::new(None::<JobState>);
        let on_state = |s: JobState| {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            if *l != Some(s) {
                *l = Some(s);
                self.emit(match s {
                    JobState::Queued(position) => Event::Queued {
                        id: id.clone(),
                        position,
                    },
                    JobState::Running => Event::Running { id: id.clone() },
                });
            }
        };
        let source = match self.provider.follow(&job, &on_state).await {
            Ok(s) => s,
            Err(e) => {
                match &e {
                    JobError::Failed(msg) => self.record_failed(w, Some(job.request_id.clone()), msg.clone()),
                    JobError::Gone(msg) => self.record(Record::Gone {
                        shot: id.clone(),
                        request_key: w.key.clone(),
                        api: self.api.clone(),
                        request_id: job.request_id.clone(),
                        reason: msg.clone(),
                        at: journal::now(),
                    }),
                    // Unreachable: the job may still finish; the journal keeps it for the next run.
                    JobError::Unreachable(_) => {}
                }
                let msg = match &e {
                    JobError::Gone(m) => format!("{m}; `render --resubmit-expired` submits it again (a second bill)"),
                    JobError::Unreachable(m) => {
                        format!("{m}; the job is kept in the journal: run render again to resume it")
                    }
                    JobError::Failed(m) => m.clone(),
                };
                self.finish_failed(w, Some(job.request_id.clone()), 0, msg);
                return;
            }
        };
        let path = self.out.join(format!("{id}.mp4"));
        let progress = |bytes: u64, total: Option<u64>| {
            self.emit(Event::Downloading {
                id: id.clone(),
                bytes,
                total,
            })
        };
        let clip = match download::download(&self.http, &source.url, &path, source.size, &progress).await {
            Ok(c) => c,
            Err(msg) => {
                self.finish_failed(
                    w,
                    Some(job.request_id.clone()),
                    0,
                    format!("{msg}; run render again to retry"),
                );
                return;
            }
        };
        let record = ClipRecord {
            path: Utf8PathBuf::from(format!("{id}.mp4")),
            bytes: clip.bytes,
            sha256: clip.sha256.clone(),
            source_url: source.url.clone(),
        };
        self.record(Record::Done {
            shot: id.clone(),
            request_key: w.key.clone(),
            api: self.api.clone(),
            request_id: Some(job.request_id.clone()),
            clip: record.clone(),
            actual_usd: source.cost_usd,
            at: journal::now(),
        });
        let at = journal::now();
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            let sid = self.shots[i].id.clone();
            let mut rec = record.clone();
            if i != w.index {
                let dest = self.out.join(format!("{sid}.mp4"));
                if let Err(e) = download::copy_clip(&path, &dest) {
                    self.finish_failed(
                        &Work {
                            index: i,
                            copies: vec![],
                            upstream: vec![],
                            deferred: false,
                            ..w.clone()
                        },
                        None,
                        0,
                        format!("cannot copy the clip: {e}"),
                    );
                    continue;
                }
                rec.path = Utf8PathBuf::from(format!("{sid}.mp4"));
            }
            self.ledger.update(i, true, |r| {
                r.status = ShotStatus::Done;
                r.clip = Some(rec.clone());
                r.request_id = Some(job.request_id.clone());
                r.actual_usd = if i == w.index {
                    source.cost_usd
                } else {
                    Some(0.0).filter(|_| source.cost_usd.is_some())
                };
                r.completed_at = Some(at.clone());
                r.error = None;
            });
            self.emit(Event::Done {
                id: sid,
                path: rec.path.to_string(),
                bytes: rec.bytes,
                estimated_usd: if i == w.index {
                    shot.estimate.map(|m| m.usd())
                } else {
                    Some(0.0)
                },
            });
        }
        self.publish(w, Ok(clip.sha256.clone()));
    }
}

/// What the user reads about an uncertain submit.
pub fn uncertain_message(reason: &str) -> String {
    format!(
        "{reason}: the request may or may not have been created (and billed). It will not be submitted again by itself: check your provider's dashboard, then run `render --retry-uncertain` to submit it again"
    )
}
