//! The record of the run: everything `settle` writes when a shot ends — the journal (what was
//! sent and how it ended), the ledger (`manifest.json`, rewritten at most every 250 ms), the
//! events, and the outcome board the chained shots watch. [`Runner::settle`] is the one place
//! a shot's ending is written to all four.

use std::sync::Arc;
use tokio::sync::watch;

use super::{Event, Outcome, Outcomes, Reporter, Runner, Settle, Task, failed};
use crate::record::journal::{self, Journal, Record};
use crate::record::ledger::Ledger;
use crate::record::manifest::{ClipRecord, RequestRecord, ShotStatus};

/// The record of the run. The journal and the ledger each keep their own lock (both are also
/// written outside `settle`: intents, accepted requests, uploads, the periodic flush); the
/// board has one channel per shot.
pub(crate) struct Books {
    journal: Arc<Journal>,
    ledger: Arc<Ledger>,
    reporter: Arc<dyn Reporter>,
    board: Outcomes,
    /// Each shot's clips journaled as new takes in this run, in journal order (the numbers
    /// after the takes the journal had when the run started).
    new_takes: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl Books {
    /// The record of a run of `shots` shots.
    pub(super) fn new(journal: Arc<Journal>, ledger: Arc<Ledger>, reporter: Arc<dyn Reporter>, shots: usize) -> Books {
        Books {
            journal,
            ledger,
            reporter,
            board: (0..shots).map(|_| watch::channel(None).0).collect(),
            new_takes: std::sync::Mutex::default(),
        }
    }

    /// The journal.
    pub(super) fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The manifest.
    pub(super) fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Where events go.
    pub(super) fn reporter(&self) -> &Arc<dyn Reporter> {
        &self.reporter
    }

    /// Tells the reporter.
    pub(super) fn emit(&self, e: Event) {
        self.reporter.event(&e);
    }

    /// Writes a record to the journal; a write failure is worth a note.
    pub(super) fn record(&self, r: Record) {
        if let Err(e) = self.journal.append(&r) {
            self.emit(Event::Notice(format!(
                "warning: cannot write the journal {}: {e}",
                self.journal.path()
            )));
        }
    }

    /// Journals a clip of `shot` (a `Done` record) and, in the same step, counts it as the
    /// shot's next take: numbers follow the journal's order even when takes end together.
    pub(super) fn record_take(&self, r: Record) {
        let mut new = self.new_takes.lock().unwrap_or_else(|p| p.into_inner());
        if let Record::Done { shot, clip, .. } = &r {
            let shas = new.entry(shot.clone()).or_default();
            if !shas.contains(&clip.sha256) {
                shas.push(clip.sha256.clone());
            }
        }
        self.record(r);
    }

    /// The number of `shot`'s take with this content: from the journal read at the start,
    /// else counted on from this run's new takes.
    pub(super) fn take_number(&self, history: &journal::History, shot: &str, sha256: &str) -> Option<u32> {
        let mut before: Vec<&str> = Vec::new();
        for r in history.done.iter().filter(|r| r.shot == shot) {
            if !before.contains(&r.clip.sha256.as_str()) {
                before.push(&r.clip.sha256);
            }
        }
        let n = match before.iter().position(|s| *s == sha256) {
            Some(at) => at,
            None => {
                let new = self.new_takes.lock().unwrap_or_else(|p| p.into_inner());
                before.len() + new.get(shot)?.iter().position(|s| s == sha256)?
            }
        };
        u32::try_from(n + 1).ok()
    }

    /// Shot `i`'s manifest record.
    pub(super) fn update(&self, i: usize, f: impl FnOnce(&mut RequestRecord)) {
        self.ledger.update(i, f);
    }

    /// Shot `i`'s outcome on the board.
    pub(super) fn post(&self, i: usize, outcome: Outcome) {
        self.board[i].send_replace(Some(outcome));
    }

    /// Watches shot `i`'s outcome.
    pub(super) fn watch(&self, i: usize) -> watch::Receiver<Option<Outcome>> {
        self.board[i].subscribe()
    }
}

impl Runner {
    /// Journals a failure of this request (failures are never cached: the next run submits again).
    pub(super) fn record_failed(&self, task: &Task, request_id: Option<String>, error: String) {
        self.books.record(Record::Failed {
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
    pub(super) fn adopt_take(
        &self,
        index: usize,
        key: &str,
        clip: &ClipRecord,
        request_id: Option<String>,
    ) -> std::io::Result<ClipRecord> {
        let shot = &self.shots[index].shot;
        let kept = crate::record::folder::layout::kept_clip(&clip.sha256);
        if clip.path != kept {
            crate::record::folder::keep(&self.resume.out, &clip.path, &clip.sha256)?;
        }
        let clip = ClipRecord {
            path: kept,
            ..clip.clone()
        };
        if !self.resume.history.has_take(shot, &clip.sha256) {
            self.books.record_take(Record::Done {
                shot: shot.clone(),
                request_key: key.to_owned(),
                api: self.resume.namespace.clone(),
                request_id,
                clip: clip.clone(),
                actual_usd: None,
                estimated_usd: None,
                take: self.store.take_of(shot, &clip.sha256),
                at: journal::now(),
            });
        }
        Ok(clip)
    }

    /// Records how a task ended for each of its shots — ledger, journal, event and the board
    /// the chained shots watch — in one place.
    pub(crate) fn settle(&self, task: &Task, how: Settle) {
        if let Settle::Done { clip, request_id, cost } = &how {
            self.books.record_take(Record::Done {
                shot: self.shots[task.index].shot.clone(),
                request_key: task.key.clone(),
                api: self.resume.namespace.clone(),
                request_id: Some(request_id.clone()),
                clip: clip.clone(),
                actual_usd: *cost,
                estimated_usd: self.shots[task.index].estimate.map(|m| m.usd()),
                take: self.store.take_of(&self.shots[task.index].shot, &clip.sha256),
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
    pub(super) fn settle_one(&self, i: usize, key: &str, how: &Settle, own: bool) {
        let now = journal::now();
        let (status, outcome, event) = self.ending(i, how, own);
        self.books.update(i, |r| apply(r, status, key, how, now));
        if let Settle::Cached(_) = how {
            self.provenance(i, key);
        }
        self.books.emit(event);
        self.books.post(i, outcome);
    }

    /// How shot `i` ended, as its manifest status, its board entry and its event.
    fn ending(&self, i: usize, how: &Settle, own: bool) -> (ShotStatus, Outcome, Event) {
        let id = self.shots[i].id.clone();
        match how {
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
                    take: self.store.take_of(&self.shots[i].shot, &clip.sha256).or_else(|| {
                        self.books
                            .take_number(&self.resume.history, &self.shots[i].shot, &clip.sha256)
                    }),
                    sha256: clip.sha256.clone(),
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
        }
    }
    /// The request id of a request whose clip the journal recorded.
    pub(super) fn done_request_id(&self, key: &str) -> Option<String> {
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
        self.books.update(i, |r| {
            if request_id.is_some() {
                r.request_id = request_id;
            }
            if let Some(input) = input {
                r.input = input;
            }
        });
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
fn apply(r: &mut RequestRecord, status: ShotStatus, key: &str, how: &Settle, now: String) {
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
