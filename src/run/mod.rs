//! The runner: every selected shot taken to its end — cached, followed, submitted and
//! downloaded, or left alone — with at most `concurrency` in flight ([`Slots`], the one
//! concurrency limit). A failed shot is data, not an early return: [`Runner::settle`] records
//! each outcome in the ledger, the journal, the events and the outcome board together. The
//! runner emits events and never prints.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::decide::{Fate, Resume};
use crate::plan::PlannedShot;
use crate::provider::Provider;
use crate::record::journal::{self, Journal, Record};
use crate::record::ledger::Ledger;
use crate::record::manifest::{ClipRecord, ShotStatus};
use crate::report::{Event, Reporter};
use crate::signals::Stop;

mod chain;
pub(crate) mod download;
pub(crate) mod launch;
mod request;
pub(crate) mod shared;

/// One request to make: a shot, and the shots that send the very same request.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    /// Index in the plan.
    pub index: usize,
    /// Other plan indices with the same request key: they get a copy of the clip.
    pub copies: Vec<usize>,
    /// What happens to it (for a chained shot: decided again once its upstream clips exist).
    pub fate: Fate,
    /// The request key (for a chained shot: final once its upstream clips exist).
    pub key: String,
    /// The request body to send (uploaded files as URLs).
    pub input: Map<String, Value>,
    /// Plan indices of the shots whose frames this one uses, in `chain` order.
    pub upstream: Vec<usize>,
}

impl Task {
    /// The tasks of a render, from each selected shot's fate: a request sent twice in one
    /// storyboard is one task whose clip is copied to the other shots.
    pub(crate) fn from_decisions(plan: &crate::plan::Plan, decided: Vec<crate::decide::Decided>) -> Vec<Task> {
        let mut tasks: Vec<Task> = Vec::new();
        let mut leaders: HashMap<String, usize> = HashMap::new();
        for d in decided {
            let shot = &plan.shots[d.index];
            let sends = d.fate.runs();
            if sends && shot.chain.is_empty() {
                if let Some(&leader) = leaders.get(&d.key) {
                    tasks[leader].copies.push(d.index);
                    continue;
                }
                leaders.insert(d.key.clone(), tasks.len());
            }
            tasks.push(Task {
                index: d.index,
                copies: Vec::new(),
                fate: d.fate,
                key: d.key,
                input: shot.input.clone(),
                upstream: shot.chain.iter().map(|c| c.upstream_index).collect(),
            });
        }
        tasks
    }

    /// The plan indices this task settles: its own and its copies'.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.index).chain(self.copies.iter().copied())
    }
}

/// How a shot ended, for the shots that start from its clip.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Its clip is on disk, with this sha256.
    Clip(String),
    /// It has no clip, and why.
    NoClip(String),
}

/// Every shot's outcome by plan index; `None` until it is known.
pub(crate) type Outcomes = Vec<watch::Sender<Option<Outcome>>>;

/// How a shot settles in this run.
#[derive(Debug, Clone)]
pub(crate) enum Settle {
    /// Its clip was already on disk (put under its own name).
    Cached(ClipRecord),
    /// Rendered and verified now (journaled as done).
    Done {
        /// The clip.
        clip: ClipRecord,
        /// The request it came from.
        request_id: String,
        /// The cost the provider reported.
        cost: Option<f64>,
    },
    /// Failed (never cached: the next run tries again).
    Failed {
        /// The request, when there was one.
        request_id: Option<String>,
        /// Submit attempts made, when known.
        attempts: u32,
        /// What happened.
        error: String,
    },
    /// The submit's outcome is unknown.
    Uncertain {
        /// Submit attempts made, when known.
        attempts: u32,
        /// What the user reads.
        message: String,
    },
    /// Not rendered: the run is stopping.
    Pending(String),
    /// Not rendered: a shot it starts from has no clip.
    Skipped(String),
}

/// The one concurrency limit: `concurrency` permits, lowered for the rest of the run when the
/// provider rate-limits (never below 1). Uploads before the run take their permits here too.
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    now: AtomicUsize,
    owed: AtomicUsize,
}

impl Slots {
    /// `n` shots in flight at once (never zero: the settings refuse it).
    pub(crate) fn new(n: std::num::NonZeroUsize) -> Slots {
        Slots {
            semaphore: Arc::new(Semaphore::new(n.get())),
            now: AtomicUsize::new(n.get()),
            owed: AtomicUsize::new(0),
        }
    }

    /// Waits for a free slot.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().acquire_owned().await.ok()
    }

    /// Gives a slot back; a lowered limit is paid back with the permits of finishing shots.
    pub(crate) fn release(&self, permit: OwnedSemaphorePermit) {
        if self
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            permit.forget();
        } else {
            drop(permit);
        }
    }

    /// Lowers the limit by one (a 429); the new limit, or `None` when it is already 1.
    fn lower(&self) -> Option<usize> {
        let now = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 1).then(|| n - 1))
            .ok()?;
        if self.semaphore.forget_permits(1) == 0 {
            // Every permit is held: the next shot to finish gives its permit up instead.
            self.owed.fetch_add(1, Ordering::SeqCst);
        }
        Some(now - 1)
    }
}

/// Everything the shot tasks share.
pub(crate) struct Runner {
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
    /// The decision table (for chained shots, decided once their upstream clips exist).
    pub resume: Arc<Resume>,
    /// The plan's shots.
    pub shots: Arc<Vec<PlannedShot>>,
    /// Outcomes by plan index, for chained shots.
    pub outcomes: Arc<Outcomes>,
    /// Uploaded frames by content hash.
    pub uploads: Mutex<HashMap<String, String>>,
    /// The one concurrency limit.
    pub slots: Arc<Slots>,
    /// Tasks whose submit is on the wire (plan index → request key): uncertain if the run
    /// stops before the answer arrives.
    pub on_wire: Mutex<HashMap<usize, String>>,
    /// Whether a submit of this run has been answered: until then one submit goes out alone,
    /// so a refused key or an empty balance costs one request and one message.
    pub probe: tokio::sync::Mutex<bool>,
    /// The provider refused the account (key or balance): the first message, once.
    pub refused: Mutex<Option<String>>,
    /// The team's shared store, when the render has one (`--store`).
    pub shared: Option<Arc<shared::Shared>>,
}

impl Runner {
    /// The board for a plan of `n` shots.
    pub(crate) fn outcomes(n: usize) -> Outcomes {
        (0..n).map(|_| watch::channel(None).0).collect()
    }

    /// Takes every task to its end; returns when all are settled or the stop level reaches 2.
    pub(crate) async fn run(self: Arc<Self>, tasks: Vec<Task>) {
        let all = async {
            let mut running = tokio::task::JoinSet::new();
            for task in tasks {
                if !task.fate.runs() {
                    self.settle_known(&task);
                    continue;
                }
                // Shots that wait for nothing take their permits here, in storyboard order;
                // chained shots take theirs once their upstream clips exist.
                let permit = if task.upstream.is_empty() {
                    Some(self.permit(&task).await)
                } else {
                    None
                };
                let me = self.clone();
                running.spawn(async move { me.shot(task, permit).await });
            }
            while running.join_next().await.is_some() {}
        };
        // Dropping the tasks at the second Ctrl-C aborts them.
        tokio::select! {
            _ = all => {}
            _ = self.stop.reached(2) => self.cut_off(),
        }
    }

    /// Marks a task's submit as on the wire (or answered).
    fn submitting(&self, task: &Task, on: bool) {
        let mut wire = self.on_wire.lock().unwrap_or_else(|e| e.into_inner());
        match on {
            true => wire.insert(task.index, task.key.clone()),
            false => wire.remove(&task.index),
        };
    }

    /// The run stopped at once with submits still on the wire: those shots are uncertain (the
    /// request may exist and be billed), and say so.
    fn cut_off(&self) {
        let wire: Vec<(usize, String)> = self.on_wire.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for (i, key) in wire {
            let message = crate::decide::uncertain_message("stopped while the submit was on the wire");
            self.settle_one(i, &key, &Settle::Uncertain { attempts: 0, message }, true);
        }
    }

    /// Tells the shots that start from a shot not selected by `--only` whether its clip exists.
    pub(crate) fn publish_unselected(&self, selected: &[bool]) {
        for (i, shot) in self.shots.iter().enumerate().filter(|(i, _)| !selected[*i]) {
            // Kept in the store (a clip of an older layout is linked in), where chained shots
            // take their frames from.
            let kept = self
                .resume
                .own_clip(shot)
                .filter(|c| crate::files::keep(&self.resume.out, &c.path, &c.sha256).is_ok());
            let outcome = match kept {
                Some(clip) => Outcome::Clip(clip.sha256),
                None => Outcome::NoClip("not rendered, and not selected by --only".into()),
            };
            self.outcomes[i].send_replace(Some(outcome));
        }
    }

    /// Settles a shot whose fate was known before the run (cached, uncertain, gone).
    fn settle_known(&self, task: &Task) {
        let how = match &task.fate {
            Fate::Cached(clip) => match self.adopt_take(task.index, &task.key, clip, self.done_request_id(&task.key)) {
                Ok(clip) => Settle::Cached(clip),
                Err(e) => failed(None, format!("cannot keep the clip: {e}")),
            },
            Fate::Uncertain(message) => Settle::Uncertain {
                attempts: 0,
                message: message.clone(),
            },
            Fate::Gone(msg) => failed(None, msg.clone()),
            Fate::Submit | Fate::Follow(_) | Fate::Fetch(..) | Fate::AwaitsUpstream => return,
        };
        self.settle(task, how);
    }

    /// A slot for a task. Jobs already submitted are followed even after the first Ctrl-C;
    /// new submits get `None` once the run is stopping.
    async fn permit(&self, task: &Task) -> Option<OwnedSemaphorePermit> {
        let following = task.fate.resumes();
        tokio::select! {
            p = self.slots.acquire() => p,
            _ = self.stop.reached(1), if !following => None,
        }
    }

    fn emit(&self, e: Event) {
        self.reporter.event(&e);
    }

    async fn shot(&self, mut task: Task, permit: Option<Option<OwnedSemaphorePermit>>) {
        // A chained shot starts when the shots it takes frames from have their clips.
        let Some(upstream_sha) = self.upstream_clips(&task).await else {
            return;
        };
        let permit = match permit {
            Some(p) => p,
            None => self.permit(&task).await,
        };
        let Some(permit) = permit else {
            self.settle(&task, Settle::Pending(self.stop.reason()));
            return;
        };
        if !task.upstream.is_empty() && !self.prepare_chain(&mut task, &upstream_sha).await {
            self.slots.release(permit);
            return;
        }
        self.request(task).await;
        self.slots.release(permit);
    }

    /// Writes a record to the journal; a write failure is worth a note.
    fn record(&self, r: Record) {
        if let Err(e) = self.journal.append(&r) {
            self.emit(Event::Notice(format!(
                "warning: cannot write the journal {}: {e}",
                self.journal.path()
            )));
        }
    }

    /// Journals a failure of this request (failures are never cached: the next run submits again).
    fn record_failed(&self, task: &Task, request_id: Option<String>, error: String) {
        self.record(Record::Failed {
            shot: self.shots[task.index].id.clone(),
            request_key: task.key.clone(),
            api: self.resume.namespace.clone(),
            request_id,
            error,
            at: journal::now(),
        });
    }

    /// Makes a kept clip a take of shot `index` when it is not one yet (a renamed shot, a
    /// duplicate request, a clip from before takes were kept): journaled like any clip, with
    /// no cost of its own. A clip outside the store (an older render's `<id>.mp4`) is kept first.
    fn adopt_take(
        &self,
        index: usize,
        key: &str,
        clip: &ClipRecord,
        request_id: Option<String>,
    ) -> std::io::Result<ClipRecord> {
        let shot = &self.shots[index].shot;
        let kept = crate::files::kept_path(&clip.sha256);
        if clip.path != kept {
            crate::files::keep(&self.resume.out, &clip.path, &clip.sha256)?;
        }
        let clip = ClipRecord {
            path: kept,
            ..clip.clone()
        };
        if !self.resume.history.has_take(shot, &clip.sha256) {
            self.record(Record::Done {
                shot: shot.clone(),
                request_key: key.to_owned(),
                api: self.resume.namespace.clone(),
                request_id,
                clip: clip.clone(),
                actual_usd: None,
                estimated_usd: None,
                at: journal::now(),
            });
        }
        Ok(clip)
    }

    /// Records how a task ended for each of its shots — ledger, journal, event and the board
    /// the chained shots watch — in one place.
    pub(crate) fn settle(&self, task: &Task, how: Settle) {
        if let Settle::Done { clip, request_id, cost } = &how {
            self.record(Record::Done {
                shot: self.shots[task.index].shot.clone(),
                request_key: task.key.clone(),
                api: self.resume.namespace.clone(),
                request_id: Some(request_id.clone()),
                clip: clip.clone(),
                actual_usd: *cost,
                estimated_usd: self.shots[task.index].estimate.map(|m| m.usd()),
                at: journal::now(),
            });
        }
        for i in task.indices() {
            let how = match (&how, i == task.index) {
                (Settle::Done { clip, request_id, .. }, false) => {
                    match self.adopt_take(i, &task.key, clip, Some(request_id.clone())) {
                        Ok(copy) => copy_of(&how, copy),
                        Err(e) => failed(None, format!("cannot keep the clip: {e}")),
                    }
                }
                _ => how.clone(),
            };
            self.settle_one(i, &task.key, &how, i == task.index);
        }
    }

    /// One shot's ledger record, event and board entry (`own`: not a copy of another's request).
    fn settle_one(&self, i: usize, key: &str, how: &Settle, own: bool) {
        let id = self.shots[i].id.clone();
        let now = journal::now();
        let (status, outcome, event) = match how {
            Settle::Cached(clip) => (
                ShotStatus::Cached,
                Outcome::Clip(clip.sha256.clone()),
                Event::Cached { id },
            ),
            Settle::Done { clip, .. } => (
                ShotStatus::Done,
                Outcome::Clip(clip.sha256.clone()),
                Event::Done {
                    id,
                    path: format!("{}.mp4", self.shots[i].shot),
                    bytes: clip.bytes,
                    estimated_usd: if own {
                        self.shots[i].estimate.map(|m| m.usd())
                    } else {
                        Some(0.0)
                    },
                },
            ),
            Settle::Failed { error, .. } => (
                ShotStatus::Failed,
                Outcome::NoClip(error.clone()),
                Event::Failed {
                    id,
                    error: error.clone(),
                },
            ),
            Settle::Uncertain { message, .. } => (
                ShotStatus::Uncertain,
                Outcome::NoClip(message.clone()),
                Event::Uncertain {
                    id,
                    reason: message.clone(),
                },
            ),
            Settle::Pending(reason) => (
                ShotStatus::Pending,
                Outcome::NoClip(reason.clone()),
                Event::Pending {
                    id,
                    reason: reason.clone(),
                },
            ),
            Settle::Skipped(why) => (
                ShotStatus::Skipped,
                Outcome::NoClip(format!("skipped: {why}")),
                Event::Skipped {
                    id,
                    reason: why.clone(),
                },
            ),
        };
        self.ledger.update(i, |r| apply(r, status, key, how, now));
        if let Settle::Cached(_) = how {
            self.provenance(i, key);
        }
        self.emit(event);
        self.outcomes[i].send_replace(Some(outcome));
    }
}

impl Runner {
    /// The request id of a request whose clip the journal recorded.
    fn done_request_id(&self, key: &str) -> Option<String> {
        match self.resume.state(key) {
            Some(crate::record::journal::KeyState::Done { request_id, .. }) => request_id.clone(),
            _ => None,
        }
    }

    /// A cached shot's record names the request and the input that produced its clip (for a
    /// chained shot the plan shows placeholders; the journal has what was sent).
    fn provenance(&self, i: usize, key: &str) {
        let request_id = self.done_request_id(key);
        let sent = self
            .resume
            .history
            .sent
            .get(&(self.resume.namespace.clone(), key.to_owned()));
        let input = sent.map(|s| s.input.clone());
        self.ledger.update(i, |r| {
            if request_id.is_some() {
                r.request_id = request_id;
            }
            if let Some(input) = input {
                r.input = input;
            }
        });
    }
}

/// A failure with no request behind it.
fn failed(request_id: Option<String>, error: String) -> Settle {
    Settle::Failed {
        request_id,
        attempts: 0,
        error,
    }
}

/// The same settlement for a copy: its own clip path, and no cost of its own.
fn copy_of(how: &Settle, clip: ClipRecord) -> Settle {
    match how {
        Settle::Done { request_id, cost, .. } => Settle::Done {
            clip,
            request_id: request_id.clone(),
            cost: cost.map(|_| 0.0),
        },
        other => other.clone(),
    }
}

/// The manifest record of a settled shot.
fn apply(r: &mut crate::record::manifest::RequestRecord, status: ShotStatus, key: &str, how: &Settle, now: String) {
    r.status = status;
    match how {
        Settle::Cached(clip) => {
            r.clip = Some(clip.clone());
            r.request_key = key.to_owned();
            r.error = None;
        }
        Settle::Done { clip, request_id, cost } => {
            r.clip = Some(clip.clone());
            r.request_id = Some(request_id.clone());
            r.actual_usd = *cost;
            r.completed_at = Some(now);
            r.error = None;
        }
        Settle::Failed {
            request_id,
            attempts,
            error,
        } => {
            r.error = Some(error.clone());
            if *attempts > 0 {
                r.attempts = *attempts;
            }
            if request_id.is_some() {
                r.request_id = request_id.clone();
            }
            r.completed_at = Some(now);
        }
        Settle::Uncertain { attempts, message } => {
            r.error = Some(message.clone());
            if *attempts > 0 {
                r.attempts = *attempts;
                r.completed_at = Some(now);
            }
        }
        Settle::Pending(reason) => r.error = Some(reason.clone()),
        Settle::Skipped(why) => r.error = Some(format!("skipped: {why}")),
    }
}
