//! The runner: every selected shot taken to its end — cached, followed, submitted and
//! downloaded, or left alone — with at most `concurrency` in flight ([`Slots`], the one
//! concurrency limit). A failed shot is data, not an early return: [`Runner::settle`] records
//! each outcome in the ledger, the journal, the events and the outcome board together. The
//! runner emits [`Event`]s and never prints.
//!
//! Its shared state is grouped by what it protects: the record of the run ([`Books`]: journal,
//! ledger, events, outcome board; `books.rs`), the provider side ([`Account`]: the client,
//! uploaded frames, the first submit alone, the account's refusal; `account.rs`), the limits
//! ([`Limits`]: slots, the stop level, submits on the wire; `limits.rs`), and the storage seam
//! ([`Storage`]: takes and submit-once claims, local or a team's; `store.rs`). A request's life
//! is `request.rs`, chained frames `chain.rs`.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::decide::{Fate, Resume};
use crate::plan::PlannedShot;
use crate::provider::Provider;
use crate::record::journal::Journal;
use crate::record::ledger::Ledger;
use crate::record::manifest::ClipRecord;
use crate::signals::Stop;

mod account;
mod books;
mod chain;
pub(crate) mod download;
mod event;
mod frame;
pub(crate) mod launch;
mod limits;
mod request;
mod store;

pub(crate) use account::Account;
pub(crate) use books::Books;
pub(crate) use event::{Event, Reporter};
pub(crate) use limits::{Limits, Slots};
pub(crate) use store::{Storage, Team, worker};

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
            if sends && shot.chain.is_empty() && !shot.framed() {
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
type Outcomes = Vec<watch::Sender<Option<Outcome>>>;

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

/// Everything the shot tasks share, grouped by what it protects.
pub(crate) struct Runner {
    /// The plan's shots (read only).
    shots: Vec<PlannedShot>,
    /// The decision table, for chained shots decided once their upstream clips exist (read only).
    resume: Resume,
    /// The record of the run: journal, ledger, events, outcome board.
    books: Books,
    /// The provider side.
    account: Account,
    /// Slots, the stop level, submits on the wire.
    limits: Limits,
    /// Takes and submit-once claims: this folder only, or a team's store.
    store: Storage,
    /// Each frame request of this run, rendered once for every take that starts from it.
    frames: frame::Frames,
    /// (frame takes' id, sha256) of the frames journaled as done in this run.
    frames_done: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
}

/// What a runner is made of.
pub(crate) struct Parts {
    /// The provider client.
    pub provider: Provider,
    /// The decision table (its uploads are remembered).
    pub resume: Resume,
    /// The plan's shots.
    pub shots: Vec<PlannedShot>,
    /// The journal, open for appending.
    pub journal: Arc<Journal>,
    /// The manifest.
    pub ledger: Arc<Ledger>,
    /// Where events go.
    pub reporter: Arc<dyn Reporter>,
    /// Shots in flight at once.
    pub concurrency: std::num::NonZeroUsize,
    /// Where takes and claims go ([`Storage::default`]: this folder only).
    pub store: Storage,
}

impl Runner {
    /// A runner with nothing run yet.
    pub(crate) fn new(parts: Parts) -> Runner {
        let books = Books::new(parts.journal, parts.ledger, parts.reporter, parts.shots.len());
        Runner {
            account: Account::new(parts.provider, parts.resume.uploads()),
            books,
            limits: Limits::new(parts.concurrency),
            shots: parts.shots,
            resume: parts.resume,
            store: parts.store,
            frames: frame::Frames::default(),
            frames_done: std::sync::Mutex::default(),
        }
    }

    /// The plan's shots.
    pub(crate) fn shots(&self) -> &[PlannedShot] {
        &self.shots
    }

    /// The decision table.
    pub(crate) fn resume(&self) -> &Resume {
        &self.resume
    }

    /// The output folder.
    pub(crate) fn out(&self) -> &camino::Utf8Path {
        &self.resume.out
    }

    /// The provider client.
    pub(crate) fn provider(&self) -> &Provider {
        self.account.provider()
    }

    /// The journal.
    pub(crate) fn journal(&self) -> &Journal {
        self.books.journal()
    }

    /// The manifest.
    pub(crate) fn ledger(&self) -> &Arc<Ledger> {
        self.books.ledger()
    }

    /// Where events go.
    pub(crate) fn reporter(&self) -> &Arc<dyn Reporter> {
        self.books.reporter()
    }

    /// The stop level.
    pub(crate) fn stop(&self) -> &Stop {
        self.limits.stop()
    }

    /// The one concurrency limit.
    pub(crate) fn slots(&self) -> &Slots {
        self.limits.slots()
    }

    /// The provider's refusal of the account, when it refused (taken out).
    pub(crate) fn refusal(&self) -> Option<String> {
        self.account.refusal()
    }

    /// The order this machine walks the tasks in (worker `i` of `n` starts `i/n` of the way).
    pub(crate) fn spread(&self, tasks: &mut [Task]) {
        self.store.spread(tasks);
    }

    /// Takes every task to its end; returns when all are settled or the stop level reaches 2.
    pub(crate) async fn run(self: Arc<Self>, tasks: Vec<Task>) {
        let keys = self.others_shares(&tasks);
        let all = async {
            let mut running = tokio::task::JoinSet::new();
            for task in tasks {
                self.more_frames(&task, &mut running);
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
        // The other workers' clips fetched meanwhile (a worker split only); it never ends the
        // run: once done it waits for the walk.
        let ahead = async {
            self.fetch_ahead(keys).await;
            std::future::pending::<()>().await
        };
        // Dropping the tasks at the second Ctrl-C aborts them.
        tokio::select! {
            _ = all => {}
            _ = ahead => {}
            _ = self.limits.stop().reached(2) => self.cut_off(),
        }
    }

    /// The run stopped at once with submits still on the wire: those shots are uncertain (the
    /// request may exist and be billed), and say so.
    fn cut_off(&self) {
        for (i, key) in self.limits.cut_off() {
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
                .filter(|c| crate::record::folder::keep(&self.resume.out, &c.path, &c.sha256).is_ok());
            let outcome = match kept {
                Some(clip) => Outcome::Clip(clip.sha256),
                None => Outcome::NoClip("not rendered, and not selected by --only".into()),
            };
            self.books.post(i, outcome);
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
            Fate::Submit | Fate::Follow(_) | Fate::Fetch(..) | Fate::AwaitsUpstream | Fate::AwaitsPick => return,
        };
        self.settle(task, how);
    }

    /// A slot for a task. Jobs already submitted are followed even after the first Ctrl-C;
    /// new submits get `None` once the run is stopping.
    async fn permit(&self, task: &Task) -> Option<OwnedSemaphorePermit> {
        let following = task.fate.resumes();
        tokio::select! {
            p = self.limits.slots().acquire() => p,
            _ = self.limits.stop().reached(1), if !following => None,
        }
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
            self.settle(&task, Settle::Pending(self.limits.stop().reason()));
            return;
        };
        let ready = if self.shots[task.index].framed() {
            self.prepare_frame(&mut task).await
        } else {
            task.upstream.is_empty() || self.prepare_chain(&mut task, &upstream_sha).await
        };
        if !ready {
            self.limits.slots().release(permit);
            return;
        }
        let held = limits::Held::new(permit);
        self.request(task, &held).await;
        self.limits.slots().free(&held);
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
