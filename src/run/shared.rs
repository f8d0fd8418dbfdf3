//! A render that shares a store with other machines (`--store`, `STORYBOARD_STORE`): before a
//! submit, a clip any machine published is fetched ($0, no provider request); a request another
//! machine claimed is followed; otherwise this machine claims the request key, submits, and
//! writes the request id into the claim. A claim left without a request id past its lease is
//! settled from the provider's request history by exact body — never resubmitted blindly. Every
//! verified clip is published by content.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use super::{Runner, Settle, Task, failed};
use crate::provider::Accepted;
use crate::record::manifest::ClipRecord;
use crate::record::store::clips::Indexed;
use crate::record::store::{Backend, Claim, ClaimRequest, Claimed, Ended, SubmitOnce, TakeStore, Ticket};
use crate::report::Event;

/// The store, and what this render knows of it.
pub(crate) struct Shared {
    /// The store.
    pub store: Backend,
    /// The storyboard's name (its file name without the extension), for the index.
    pub storyboard: String,
    /// How long a claimer may take to write the request id (`STORYBOARD_STORE_LEASE`, seconds).
    pub lease: Duration,
    /// How often to look at a claim another machine is submitting.
    pub poll: Duration,
    /// Request keys whose submit became uncertain here: their claims stay (settled later).
    uncertain: Mutex<HashSet<String>>,
}

impl Shared {
    /// A render's view of `store`.
    pub(crate) fn new(store: Backend, storyboard: String, lease: Duration, poll: Duration) -> Shared {
        Shared {
            store,
            storyboard,
            lease,
            poll,
            uncertain: Mutex::default(),
        }
    }

    /// The submit of `key` became uncertain: its claim must stay until the history settles it.
    pub(crate) fn mark_uncertain(&self, key: &str) {
        self.uncertain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
    }
}

/// What to do instead of (or before) a submit.
pub(super) enum Before {
    /// The shot is settled (fetched from the store, or failed/stopped).
    Settled,
    /// Follow this request (another machine's, or one found in the request history).
    Follow(Accepted),
    /// Submit; with the claim to write the request id into.
    Submit(Option<Box<Ticket>>),
}

impl Runner {
    /// Before a submit, with a shared store: fetch, follow, or claim.
    pub(super) async fn before_submit(&self, task: &Task) -> Before {
        let Some(shared) = self.shared.clone() else {
            return Before::Submit(None);
        };
        if self.fetch_shared(&shared, task).await {
            return Before::Settled;
        }
        let req = ClaimRequest {
            api: self.resume.namespace.clone(),
            request_key: task.key.clone(),
            endpoint: self.shots[task.index].endpoint.clone(),
            lease: shared.lease,
            poll: shared.poll,
        };
        let claimed = tokio::select! {
            c = shared.store.claim(&req) => c,
            _ = self.stop.reached(1) => {
                self.settle(task, Settle::Pending(self.stop.reason()));
                return Before::Settled;
            }
        };
        match claimed {
            Ok(Claimed::Submit(ticket)) => Before::Submit(Some(ticket)),
            Ok(Claimed::Follow(job)) => {
                self.accepted(task, &job, 0);
                Before::Follow(job)
            }
            Ok(Claimed::Finished(_)) if self.fetch_shared(&shared, task).await => Before::Settled,
            Ok(Claimed::Finished(sha)) => {
                let why = format!(
                    "the shared store's claim names clip {sha}, which it does not hold whole; run `storyboard store gc` and render again"
                );
                self.settle(task, failed(None, why));
                Before::Settled
            }
            Ok(Claimed::Settle(ticket, old)) => self.settle_stale(&shared, task, *ticket, *old).await,
            Err(e) => {
                self.settle(task, failed(None, format!("{e}; nothing was submitted")));
                Before::Settled
            }
        }
    }

    /// A clip this request key has in the store, fetched into the folder's takes and settled.
    async fn fetch_shared(&self, shared: &Shared, task: &Task) -> bool {
        let found = match shared.store.find(&self.resume.namespace, &task.key).await {
            Ok(Some(found)) => found,
            Ok(None) => return false,
            Err(e) => {
                self.emit(Event::Notice(format!("warning: {e}")));
                return false;
            }
        };
        let kept = crate::record::folder::layout::kept_clip(&found.sha256);
        let dest = self.resume.out.join(&kept);
        match shared.store.fetch(&found, &dest).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                self.emit(Event::Notice(format!("warning: {e}")));
                return false;
            }
        }
        let clip = ClipRecord {
            path: kept,
            bytes: found.bytes,
            sha256: found.sha256.clone(),
            source_url: format!("store:takes/{}.mp4", found.sha256),
        };
        let how = match self.adopt_take(task.index, &task.key, &clip, found.request_id.clone()) {
            Ok(clip) => Settle::Cached(clip),
            Err(e) => failed(None, format!("cannot keep the clip: {e}")),
        };
        self.settle(task, how);
        true
    }

    /// A claim whose machine died before writing a request id: looked up in the provider's
    /// request history by its exact body; found → followed; not found → uncertain, nothing sent.
    async fn settle_stale(&self, shared: &Shared, task: &Task, mut ticket: Ticket, old: Claim) -> Before {
        let endpoint = &self.shots[task.index].endpoint;
        let since = humantime::parse_rfc3339_weak(&old.claimed_at)
            .map(|t| t - Duration::from_secs(300))
            .map_or_else(
                |_| old.claimed_at.clone(),
                |t| humantime::format_rfc3339_seconds(t).to_string(),
            );
        let found = self.provider.find_sent(endpoint, &since, &task.input).await;
        if let Ok(ids) = &found
            && let Some(id) = ids.first()
        {
            let job = self.provider.job(endpoint, id);
            if let Err(e) = shared.store.submitted(&mut ticket, &job).await {
                self.emit(Event::Notice(format!("warning: {e}")));
            }
            self.emit(Event::Notice(format!(
                "{}: {} claimed this request and stopped before writing its id; found request {id} in the request history: adopted",
                self.shots[task.index].id, old.owner.host
            )));
            self.accepted(task, &job, 0);
            return Before::Follow(job);
        }
        let why = match found {
            Err(e) => format!("the request history cannot be searched ({e})"),
            Ok(_) => "it is not in the provider's request history yet".into(),
        };
        if self.resume.flags.retry_uncertain {
            // The user checked (the dashboard) and asked: submit, holding the claim.
            return Before::Submit(Some(Box::new(ticket)));
        }
        let message = format!(
            "{} (pid {}) claimed this request and stopped before writing its id; {why}: nothing is resubmitted by itself. Render again later (the history lists finished requests), or with --retry-uncertain once the dashboard shows no such request",
            old.owner.host, old.owner.pid
        );
        shared.mark_uncertain(&task.key);
        self.settle(task, Settle::Uncertain { attempts: 0, message });
        Before::Settled
    }

    /// The claimed request was accepted: its id goes into the claim.
    pub(super) async fn claim_submitted(&self, ticket: Option<&mut Box<Ticket>>, job: &Accepted) {
        let (Some(shared), Some(ticket)) = (&self.shared, ticket) else {
            return;
        };
        match shared.store.submitted(ticket, job).await {
            Ok(true) => {}
            Ok(false) => self.emit(Event::Notice(format!(
                "warning: request {} was accepted after this machine's claim lease ran out; another machine took the claim over (it finds this request in the history)",
                job.request_id
            ))),
            Err(e) => self.emit(Event::Notice(format!("warning: {e}"))),
        }
    }

    /// The claim of a submit that created nothing is given up (an uncertain one stays).
    pub(super) async fn claim_unused(&self, ticket: Option<Box<Ticket>>, task: &Task) {
        let (Some(shared), Some(ticket)) = (&self.shared, ticket) else {
            return;
        };
        if shared
            .uncertain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&task.key)
        {
            return;
        }
        if let Err(e) = shared.store.abandon(&ticket, "not submitted").await {
            self.emit(Event::Notice(format!("warning: {e}")));
        }
    }

    /// A verified clip goes to the store by content, and its claim points at it.
    pub(super) async fn publish(&self, task: &Task, job: &Accepted, clip: &ClipRecord) {
        let Some(shared) = &self.shared else {
            return;
        };
        let entry = Indexed {
            version: 1,
            request_key: task.key.clone(),
            api: self.resume.namespace.clone(),
            sha256: clip.sha256.clone(),
            bytes: clip.bytes,
            shot: self.shots[task.index].id.clone(),
            storyboard: shared.storyboard.clone(),
            request_id: Some(job.request_id.clone()),
            at: crate::record::journal::now(),
        };
        let path = self.resume.out.join(&clip.path);
        let end = Ended::Clip(clip.sha256.clone());
        let published = match shared.store.publish(&path, &entry).await {
            Ok(()) => shared.store.ended(&entry.api, &task.key, &end).await,
            Err(e) => Err(e),
        };
        if let Err(e) = published {
            self.emit(Event::Notice(format!("warning: the clip stays local: {e}")));
        }
    }

    /// A followed request ended without a clip: its claim frees the key.
    pub(super) async fn claim_failed(&self, task: &Task, job: &Accepted, error: &str) {
        let Some(shared) = &self.shared else {
            return;
        };
        let end = Ended::Failed {
            request_id: job.request_id.clone(),
            error: error.to_owned(),
        };
        if let Err(e) = shared.store.ended(&self.resume.namespace, &task.key, &end).await {
            self.emit(Event::Notice(format!("warning: {e}")));
        }
    }
}

/// Worker `i` of `n` sharing a store (`STORYBOARD_WORKER=i/n`, e.g. a Kubernetes Indexed Job's
/// `$JOB_COMPLETION_INDEX/N`) starts its walk through the storyboard at its own `i/n` of the
/// way, so the workers claim different requests first instead of all following the first ones.
pub(crate) fn spread<T>(tasks: &mut [T], shared: bool) {
    let Some((i, n)) = std::env::var("STORYBOARD_WORKER").ok().and_then(|w| worker(&w)) else {
        return;
    };
    if shared && !tasks.is_empty() {
        let at = tasks.len() * i / n;
        tasks.rotate_left(at % tasks.len());
    }
}

/// `i/n` with `i < n`.
fn worker(text: &str) -> Option<(usize, usize)> {
    let (i, n) = text.split_once('/')?;
    let (i, n) = (i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?);
    (n > 0 && i < n).then_some((i, n))
}

#[cfg(test)]
mod tests {
    #[test]
    fn workers_are_named_i_of_n() {
        assert_eq!(super::worker("2/4"), Some((2, 4)));
        assert_eq!(super::worker("4/4"), None);
        assert_eq!(super::worker("x"), None);
    }
}
