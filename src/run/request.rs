//! One request, holding its slot: submitted (retried only when certainly nothing was created)
//! or followed, then its clip downloaded and verified.

use std::sync::Mutex;

use super::Event;
use super::limits::Held;
use super::store::Before;
use super::{Runner, Settle, Task};
use crate::decide::{Fate, uncertain_message};
use crate::provider::http::Backoff;
use crate::provider::{Accepted, ClipSource, JobError, JobState, SubmitError};
use crate::record::journal::{self, Record};
use crate::record::manifest::{ClipRecord, ShotStatus};

/// 429s a submit may meet before the shot gives up (each honours `Retry-After`).
const MAX_RATE_LIMITED: u32 = 30;

impl Runner {
    /// Submits (or follows) the task's request and takes it to its end; `held` (the shot's slot)
    /// is freed as soon as no provider job of the shot runs.
    pub(super) async fn request(&self, task: Task, held: &Held) {
        let id = self.shots[task.index].id.clone();
        let job = match task.fate.clone() {
            Fate::Follow(job) | Fate::Fetch(job, _) => {
                self.books.emit(Event::Resumed {
                    id,
                    request_id: job.request_id.clone(),
                });
                job
            }
            _ => match self.before_submit(&task).await {
                Before::Settled => return,
                // Another machine's job runs in its slot, not one of ours: ours goes to the
                // next shot while this one follows it.
                Before::Follow(job) => {
                    self.limits.slots().free(held);
                    job
                }
                Before::Submit(mut ticket) => match self.submit(&task).await {
                    Some(job) => {
                        self.claim_submitted(&task.key, &mut ticket, &job).await;
                        job
                    }
                    None => return self.claim_unused(&ticket, &task).await,
                },
            },
        };
        // A job that finished in an earlier run: its journaled clip URL first (the CDN file
        // outlives the queue's result), then the queue and the request history.
        if let Fate::Fetch(_, source) = &task.fate {
            self.limits.slots().free(held);
            if let Ok(settle) = self.download(&task, &job, source).await {
                return self.settle(&task, settle);
            }
        }
        self.follow(&task, job, held).await;
    }

    /// Submits until accepted; `None` when the shot is settled without a job.
    async fn submit(&self, task: &Task) -> Option<Accepted> {
        let mut attempts = self.resume.attempts(&self.shots[task.index].request_key);
        let (mut rate_limited, mut transient) = (0u32, 0u32);
        loop {
            let error = match self.submit_once(task, &mut attempts).await? {
                Ok(job) => return Some(job),
                Err(e) => e,
            };
            let SubmitError::Retry {
                reason,
                retry_after,
                rate_limited: is_429,
            } = error
            else {
                self.refused(task, error, attempts);
                return None;
            };
            // Certainly nothing was created: say so, so a crash now is not taken for uncertain.
            self.record_failed(task, None, format!("not created: {reason}"));
            let (n, budget) = if is_429 {
                rate_limited += 1;
                self.slow_down();
                (rate_limited, MAX_RATE_LIMITED)
            } else {
                transient += 1;
                (transient, Backoff::SUBMIT.attempts)
            };
            if n >= budget {
                let error = format!("could not submit after {n} tries: {reason}");
                let failed = Settle::Failed {
                    request_id: None,
                    attempts,
                    error,
                };
                self.settle(task, failed);
                return None;
            }
            if !self
                .wait_to_retry(task, reason, Backoff::SUBMIT.delay(n, retry_after))
                .await
            {
                return None;
            }
        }
    }

    /// One submit, journaled before it goes out; `None` when the shot is settled without one
    /// (the run is stopping, or the journal cannot take the intent).
    async fn submit_once(&self, task: &Task, attempts: &mut u32) -> Option<Result<Accepted, SubmitError>> {
        let shot = &self.shots[task.index];
        // Until one submit of this run is answered, submits go out one at a time.
        let mut probe = self.account.probe().await;
        // On the wire from before the intent is written until the answer is journaled; a
        // stop raised before this point is seen here (SIGTERM waits for what is on the wire).
        let stop = self.limits.stop();
        let wire = stop.on_wire();
        if stop.level() >= 1 {
            self.settle(task, Settle::Pending(stop.reason()));
            return None;
        }
        self.books.emit(Event::Submitting { id: shot.id.clone() });
        if !self.journal_intent(task) {
            return None;
        }
        *attempts += 1;
        self.limits.on_wire(task.index, &task.key, true);
        let answer = self
            .account
            .provider()
            .submit(&shot.endpoint, shot.version.as_deref(), &task.input)
            .await;
        // The submit counts as on the wire until its answer is journaled.
        if let Ok(job) = &answer {
            self.accepted(task, job, *attempts);
        }
        self.limits.on_wire(task.index, &task.key, false);
        drop(wire);
        if let Some(answered) = probe.as_deref_mut() {
            *answered = !matches!(answer, Err(SubmitError::Fatal(_)));
        }
        Some(answer)
    }

    /// Writes the intent to submit; when the journal cannot take it (a full disk), nothing is
    /// submitted: new submits stop, the shot stays pending, jobs in flight are still followed.
    fn journal_intent(&self, task: &Task) -> bool {
        let intent = Record::Intent {
            shot: self.shots[task.index].id.clone(),
            request_key: task.key.clone(),
            api: self.resume.namespace.clone(),
            endpoint: Some(self.shots[task.index].endpoint.clone()),
            input: Some(task.input.clone()),
            at: journal::now(),
        };
        let Err(e) = self.books.journal().append_intent(&intent) else {
            return true;
        };
        let why = format!("cannot write the journal {} ({e})", self.books.journal().path());
        if self.limits.stop().level() == 0 {
            self.books.emit(Event::Notice(format!(
                "stopping new submits: {why}; a request that cannot be journaled is never sent. Jobs in flight are still followed; free some space and run render again"
            )));
        }
        self.limits.stop().raise(1, &format!("not submitted: {why}"));
        self.settle(task, Settle::Pending(self.limits.stop().reason()));
        false
    }

    /// Journals and records an accepted request.
    pub(super) fn accepted(&self, task: &Task, job: &Accepted, attempts: u32) {
        self.took(task, job, attempts, false);
    }

    /// Journals and records a request this run follows: its own (accepted), or another
    /// machine's (`followed`: found in the shared store's claim or its request history).
    pub(super) fn took(&self, task: &Task, job: &Accepted, attempts: u32, followed: bool) {
        let id = self.shots[task.index].id.clone();
        let (shot, request_key, api, at) = (
            id.clone(),
            task.key.clone(),
            self.resume.namespace.clone(),
            journal::now(),
        );
        let job_ = job.clone();
        self.books.record(match followed {
            false => Record::Accepted {
                shot,
                request_key,
                api,
                job: job_,
                at: at.clone(),
            },
            true => Record::Followed {
                shot,
                request_key,
                api,
                job: job_,
                at: at.clone(),
            },
        });
        for i in task.indices() {
            self.books.update(i, |r| {
                r.request_id = Some(job.request_id.clone());
                r.submitted_at = Some(at.clone());
                r.attempts = attempts;
                r.status = ShotStatus::Pending;
                r.error = None;
            });
        }
        self.books.emit(Event::Submitted {
            id,
            request_id: job.request_id.clone(),
        });
    }

    /// A submit that will not be retried: refused, refused for the account, or uncertain.
    fn refused(&self, task: &Task, error: SubmitError, attempts: u32) {
        let id = self.shots[task.index].id.clone();
        let how = match error {
            SubmitError::Rejected(msg) => {
                self.record_failed(task, None, msg.clone());
                format!("the provider refused the request: {msg}")
            }
            SubmitError::Fatal(msg) => {
                // The account, not the shot: nothing was created; this shot and every one after
                // it stay pending, and the run ends with this one message.
                self.record_failed(task, None, msg.clone());
                self.limits
                    .stop()
                    .raise(1, "not submitted: the provider refused the account");
                self.account.refuse(msg);
                self.settle(task, Settle::Pending(self.limits.stop().reason()));
                return;
            }
            SubmitError::Uncertain(reason) => {
                self.store.mark_uncertain(&task.key);
                self.books.record(Record::Uncertain {
                    shot: id,
                    request_key: task.key.clone(),
                    api: self.resume.namespace.clone(),
                    reason: reason.clone(),
                    at: journal::now(),
                });
                let message = uncertain_message(&reason);
                self.settle(task, Settle::Uncertain { attempts, message });
                return;
            }
            SubmitError::Retry { reason, .. } => reason,
        };
        self.settle(
            task,
            Settle::Failed {
                request_id: None,
                attempts,
                error: how,
            },
        );
    }

    /// Waits before retrying a submit; `false` (the shot settled as pending) when the run stops.
    async fn wait_to_retry(&self, task: &Task, reason: String, delay: std::time::Duration) -> bool {
        self.books.emit(Event::Retrying {
            id: self.shots[task.index].id.clone(),
            reason,
            delay_ms: delay.as_millis() as u64,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.limits.stop().reached(1) => {
                self.settle(task, Settle::Pending(self.limits.stop().reason()));
                false
            }
        }
    }

    /// A 429 lowers the effective concurrency for the rest of the run (never below 1).
    fn slow_down(&self) {
        if let Some(now) = self.limits.slots().lower() {
            self.books.emit(Event::Notice(format!(
                "the provider is rate-limiting (429): lowering concurrency to {now} for the rest of the run"
            )));
        }
    }

    /// Follows an accepted job, frees the shot's slot once the job has ended, downloads its clip
    /// and settles the shot.
    async fn follow(&self, task: &Task, job: Accepted, held: &Held) {
        let id = self.shots[task.index].id.clone();
        let last = Mutex::new(None::<JobState>);
        let on_state = |s: JobState| {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            if *l != Some(s) {
                *l = Some(s);
                self.books.emit(match s {
                    JobState::Queued(position) => Event::Queued {
                        id: id.clone(),
                        position,
                    },
                    JobState::Running => Event::Running { id: id.clone() },
                });
            }
        };
        let endpoint = &self.shots[task.index].endpoint;
        let followed = self.account.provider().follow(&job, endpoint, &on_state).await;
        self.limits.slots().free(held);
        let source = match followed {
            Ok(s) => s,
            Err(e) => {
                if let JobError::Failed(m) | JobError::Gone(m) = &e {
                    self.claim_failed(task, &job, m).await;
                }
                return self.job_failed(task, &job, e);
            }
        };
        // The clip's URL is journaled before the download: a download that fails now is
        // retried from it by the next render, whatever the queue keeps by then.
        self.books.record(Record::Result {
            shot: id,
            request_key: task.key.clone(),
            api: self.resume.namespace.clone(),
            job: job.clone(),
            source: source.clone(),
            at: journal::now(),
        });
        let settle = match self.download(task, &job, &source).await {
            Ok(done) => done,
            Err(e) => Settle::Failed {
                request_id: Some(job.request_id.clone()),
                attempts: 0,
                error: format!("{e}; the clip's address is journaled: run render again to download it"),
            },
        };
        self.settle(task, settle);
    }

    /// Downloads a finished job's clip into the output folder's store of takes.
    async fn download(
        &self,
        task: &Task,
        job: &Accepted,
        source: &ClipSource,
    ) -> Result<Settle, crate::run::download::DownloadError> {
        let id = self.shots[task.index].id.clone();
        let store = crate::record::folder::layout::clips(&self.resume.out);
        let _ = std::fs::create_dir_all(&store);
        let key = task.key.trim_start_matches("sha256:");
        let path = store.join(format!("incoming-{}.mp4", &key[..16.min(key.len())]));
        let progress = |bytes: u64, total: Option<u64>| {
            self.books.emit(Event::Downloading {
                id: id.clone(),
                bytes,
                total,
            })
        };
        let clip =
            crate::run::download::download(self.account.http(), &source.url, &path, source.size, &progress).await?;
        let kept = crate::record::folder::layout::kept_clip(&clip.sha256);
        crate::run::download::settle_into(&path, &self.resume.out.join(&kept))?;
        // Hashed as it streamed: the checks at the end of the run read nothing again.
        crate::digest::remember(&self.resume.out.join(&kept), &clip.sha256);
        let clip = ClipRecord {
            path: kept,
            bytes: clip.bytes,
            sha256: clip.sha256,
            source_url: source.url.clone(),
        };
        self.publish(task, job, &clip).await;
        Ok(Settle::Done {
            clip,
            request_id: job.request_id.clone(),
            cost: source.cost_usd,
        })
    }

    /// A followed job that ended without a clip: journaled by kind, then settled as failed.
    fn job_failed(&self, task: &Task, job: &Accepted, e: JobError) {
        let request_id = Some(job.request_id.clone());
        let error = match e {
            JobError::Failed(m) => {
                self.record_failed(task, request_id.clone(), m.clone());
                m
            }
            JobError::Gone(m) => {
                self.books.record(Record::Gone {
                    shot: self.shots[task.index].id.clone(),
                    request_key: task.key.clone(),
                    api: self.resume.namespace.clone(),
                    request_id: job.request_id.clone(),
                    reason: m.clone(),
                    at: journal::now(),
                });
                format!("{m}; `render --resubmit-expired` submits it again (a second bill)")
            }
            // Unreachable: the job may still finish; the journal keeps it for the next run.
            JobError::Unreachable(m) => format!("{m}; the job is kept in the journal: run render again to resume it"),
        };
        self.settle(
            task,
            Settle::Failed {
                request_id,
                attempts: 0,
                error,
            },
        );
    }
}
