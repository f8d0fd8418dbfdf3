//! Where takes are shared and submits claimed, through the storage seam
//! (`record::store::shared`: [`TakeStore`], [`SubmitOnce`]): [`LocalOnly`] by default (one
//! folder on one machine: nothing found elsewhere, every claim granted at once), or a team's
//! store (`--store`, `STORYBOARD_STORE`). Before a submit, a clip any machine published is
//! fetched ($0, no provider request); a request another machine claimed is followed; otherwise
//! this machine claims the request key, submits, and writes the request id into the claim. A
//! claim left without a request id past its lease is settled from the provider's request
//! history by exact body — never resubmitted blindly. Every verified clip is published by
//! content. The runner calls the same steps whichever store it has.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Event, Runner, Settle, Task, failed};
use crate::provider::Accepted;
use crate::record::manifest::ClipRecord;
use crate::record::store::clips::Indexed;
use crate::record::store::numbers::TakeOf;
use crate::record::store::shared::LocalOnly;
use crate::record::store::{Backend, Claim, ClaimRequest, Claimed, Ended, SubmitOnce, TakeStore, Ticket};

/// The store a render's takes and claims go to, and what this render knows of it.
pub(crate) struct Storage {
    /// Clips by content, found by request key.
    takes: Arc<dyn TakeStore>,
    /// One submit per request key.
    claims: Arc<dyn SubmitOnce>,
    /// The storyboard's name (its file name without the extension), for the index.
    storyboard: String,
    /// How long a claimer may take to write the request id (`STORYBOARD_STORE_LEASE`).
    lease: Duration,
    /// How often to look at a claim another machine is submitting.
    poll: Duration,
    /// This machine is worker `i` of `n` (`STORYBOARD_WORKER`), when the work is divided.
    worker: Option<(usize, usize)>,
    /// Request keys whose submit became uncertain here: their claims stay (settled later).
    uncertain: Mutex<HashSet<String>>,
    /// Take numbers the team's store gave: by (shot, sha256).
    numbers: Mutex<HashMap<(String, String), u32>>,
    /// The store's numbers read so far, by shot (number → sha256; they never change).
    known: Mutex<HashMap<String, HashMap<u32, String>>>,
    /// Numbering failed once (said once; the takes are numbered in journal order).
    unnumbered: AtomicBool,
    /// The claims this machine holds, by request key, at the version it last wrote (ending
    /// one then needs no read).
    tickets: Mutex<HashMap<String, Ticket>>,
    /// Clips being fetched into the folder, by request key: each fetched once even when this
    /// worker's walk and [`Runner::fetch_ahead`] want it at the same time (`None`: not there).
    ahead: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Option<Indexed>>>>>,
}

/// How a team's store is used by one render.
#[derive(Debug, Clone)]
pub(crate) struct Team {
    /// The storyboard's name (its file name without the extension), for the index.
    pub storyboard: String,
    /// How long a claimer may take to write the request id (`STORYBOARD_STORE_LEASE`).
    pub lease: Duration,
    /// How often to look at a claim another machine is submitting.
    pub poll: Duration,
    /// This machine is worker `i` of `n` (`STORYBOARD_WORKER=i/n`).
    pub worker: Option<(usize, usize)>,
}

impl Default for Storage {
    /// One folder on one machine: nothing shared.
    fn default() -> Storage {
        let local = Arc::new(LocalOnly);
        Storage::with(local.clone(), local, &Team::default())
    }
}

impl Default for Team {
    fn default() -> Team {
        Team {
            storyboard: String::new(),
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(2),
            worker: None,
        }
    }
}

impl Storage {
    /// A team's store, shared with other machines.
    pub(crate) fn shared(store: Backend, team: &Team) -> Storage {
        let store = Arc::new(store);
        Storage::with(store.clone(), store, team)
    }

    fn with(takes: Arc<dyn TakeStore>, claims: Arc<dyn SubmitOnce>, team: &Team) -> Storage {
        Storage {
            takes,
            claims,
            storyboard: team.storyboard.clone(),
            lease: team.lease,
            poll: team.poll,
            worker: team.worker,
            uncertain: Mutex::default(),
            numbers: Mutex::default(),
            known: Mutex::default(),
            unnumbered: AtomicBool::new(false),
            tickets: Mutex::new(HashMap::new()),
            ahead: Mutex::new(HashMap::new()),
        }
    }

    /// The number the team's store gave `shot`'s take with this clip in this render, if any.
    pub(super) fn take_of(&self, shot: &str, sha256: &str) -> Option<u32> {
        let numbers = self.numbers.lock().unwrap_or_else(|e| e.into_inner());
        numbers.get(&(shot.to_owned(), sha256.to_owned())).copied()
    }

    /// The submit of `key` became uncertain: its claim must stay until the history settles it.
    pub(super) fn mark_uncertain(&self, key: &str) {
        self.uncertain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
    }

    fn is_uncertain(&self, key: &str) -> bool {
        self.uncertain.lock().unwrap_or_else(|e| e.into_inner()).contains(key)
    }

    /// Worker `i` of `n` (e.g. a Kubernetes Indexed Job's `$JOB_COMPLETION_INDEX/N`) starts
    /// its walk through the storyboard at its own `i/n` of the way, so the workers claim
    /// different requests first instead of all following the first ones.
    pub(super) fn spread<T>(&self, tasks: &mut [T]) {
        if let Some((i, n)) = self.worker
            && !tasks.is_empty()
        {
            let at = tasks.len() * i / n;
            tasks.rotate_left(at % tasks.len());
        }
    }
}

/// What to do instead of (or before) a submit.
pub(super) enum Before {
    /// The shot is settled (fetched from the store, or failed/stopped).
    Settled,
    /// Follow this request (another machine's, or one found in the request history).
    Follow(Accepted),
    /// Submit; with the claim to write the request id into.
    Submit(Box<Ticket>),
}

impl Runner {
    /// Before a submit: a clip the store holds is fetched, a request claimed elsewhere is
    /// followed, else the request key is claimed.
    pub(super) async fn before_submit(&self, task: &Task) -> Before {
        if self.fetch_stored(task).await {
            return Before::Settled;
        }
        let req = ClaimRequest {
            api: self.resume.namespace.clone(),
            request_key: task.key.clone(),
            endpoint: self.shots[task.index].endpoint.clone(),
            lease: self.store.lease,
            poll: self.store.poll,
        };
        let stop = self.limits.stop();
        let claimed = tokio::select! {
            c = self.store.claims.claim(&req) => c,
            _ = stop.reached(1) => {
                self.settle(task, Settle::Pending(stop.reason()));
                return Before::Settled;
            }
        };
        match claimed {
            Ok(Claimed::Submit(ticket)) => Before::Submit(ticket),
            Ok(Claimed::Follow(job)) => self.follow_theirs(task, job),
            Ok(Claimed::Finished(..)) if self.fetch_stored(task).await => Before::Settled,
            // The claim names the request: its result is downloaded (a new bill never).
            Ok(Claimed::Finished(_, Some(job))) => self.follow_theirs(task, job),
            Ok(Claimed::Finished(sha, None)) => {
                let why = format!(
                    "the shared store's claim names clip {sha} but neither holds it whole nor names its request; run `storyboard store gc` and render again"
                );
                self.settle(task, failed(None, why));
                Before::Settled
            }
            Ok(Claimed::Settle(ticket, old)) => self.settle_stale(task, *ticket, *old).await,
            Err(e) => {
                self.settle(task, failed(None, format!("{e}; nothing was submitted")));
                Before::Settled
            }
        }
    }

    /// Another machine's request, followed here: journaled as followed (this folder's
    /// `cancel` leaves it alone; the next render here follows it again).
    fn follow_theirs(&self, task: &Task, job: Accepted) -> Before {
        self.took(task, &job, 0, true);
        Before::Follow(job)
    }

    /// A clip this request key has in the store, fetched into the folder's takes and settled.
    async fn fetch_stored(&self, task: &Task) -> bool {
        let cell = self.fetch_cell(&task.key);
        let fetched = cell.get_or_init(|| self.fetch_clip(&task.key)).await.clone();
        // Taken: a later look (after a claim says the request ended) fetches afresh.
        self.store
            .ahead
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task.key);
        let Some(found) = fetched else {
            return false;
        };
        let kept = crate::record::folder::layout::kept_clip(&found.sha256);
        let clip = ClipRecord {
            path: kept,
            bytes: found.bytes,
            sha256: found.sha256.clone(),
            source_url: format!("store:takes/{}.mp4", found.sha256),
        };
        // The shot's take (a fetched clip is not copied to the task's other shots).
        self.numbered_in(task, &found);
        let shot = &self.shots[task.index].shot;
        self.number_take(shot, &task.key, &found.sha256).await;
        let how = match self.adopt_take(task.index, &task.key, &clip, found.request_id.clone()) {
            Ok(clip) => Settle::Cached(clip),
            Err(e) => failed(None, format!("cannot keep the clip: {e}")),
        };
        self.settle(task, how);
        true
    }

    /// Worker `i` of `n`: the clips the other workers' shares (`keys`, in this walk's order)
    /// publish are fetched into the folder while this worker's own share runs — one listing of
    /// the index a second (or each poll, when polling is faster), a few downloads at a time —
    /// so that its walk, when it gets there, finds them here instead of downloading them all at
    /// its end. Settles nothing; ends when
    /// every one is fetched, the store fails, or the run stops.
    pub(super) async fn fetch_ahead(&self, mut keys: Vec<String>) {
        use futures::StreamExt;
        let api = self.resume.namespace.clone();
        while !keys.is_empty() && self.limits.stop().level() == 0 {
            let Ok(there) = self.store.takes.indexed(&api, &keys).await else {
                return;
            };
            keys.retain(|k| !there.contains(k));
            let fetches = futures::stream::iter(there).map(|key| self.fetch_one_ahead(key));
            fetches.buffer_unordered(4).collect::<Vec<()>>().await;
            tokio::time::sleep(self.store.poll.min(Duration::from_secs(1))).await;
        }
    }

    /// One clip of another worker's share into the folder's takes (nothing settled).
    async fn fetch_one_ahead(&self, key: String) {
        let cell = self.fetch_cell(&key);
        cell.get_or_init(|| self.fetch_clip(&key)).await;
    }

    /// The fetch of a request key's clip, shared by whoever wants it first.
    fn fetch_cell(&self, key: &str) -> Arc<tokio::sync::OnceCell<Option<Indexed>>> {
        let mut ahead = self.store.ahead.lock().unwrap_or_else(|e| e.into_inner());
        ahead.entry(key.to_owned()).or_default().clone()
    }

    /// The clip the store has for a request key, in the folder's takes (downloaded unless it
    /// is there intact); `None` when the store has none or it could not be fetched (said).
    async fn fetch_clip(&self, key: &str) -> Option<Indexed> {
        let takes = &self.store.takes;
        let found = match takes.find(&self.resume.namespace, key).await {
            Ok(found) => found?,
            Err(e) => return self.warn(&e, None),
        };
        let dest = self
            .resume
            .out
            .join(crate::record::folder::layout::kept_clip(&found.sha256));
        if crate::digest::verify(&dest, found.bytes, &found.sha256) {
            return Some(found);
        }
        match takes.fetch(&found, &dest).await {
            Ok(true) => Some(found),
            Ok(false) => None,
            Err(e) => self.warn(&e, None),
        }
    }

    /// The request keys of the other workers' shares, in this worker's walk order (none
    /// without a worker split): what [`Runner::fetch_ahead`] looks for.
    pub(super) fn others_shares(&self, tasks: &[Task]) -> Vec<String> {
        let Some((_, n)) = self.store.worker.filter(|(_, n)| *n > 1) else {
            return Vec::new();
        };
        let own = tasks.len().div_ceil(n);
        let plain =
            |t: &&Task| t.fate == crate::decide::Fate::Submit && t.upstream.is_empty() && !self.shots[t.index].framed();
        tasks.iter().skip(own).filter(plain).map(|t| t.key.clone()).collect()
    }

    /// A store's failure is a warning (the render goes on); `then` is the answer.
    fn warn<T>(&self, e: &dyn std::fmt::Display, then: T) -> T {
        self.books.emit(Event::Notice(format!("warning: {e}")));
        then
    }

    /// A claim whose machine died before writing a request id: looked up in the provider's
    /// request history by its exact body; found → followed; not found → uncertain, nothing sent.
    async fn settle_stale(&self, task: &Task, mut ticket: Ticket, old: Claim) -> Before {
        let endpoint = &self.shots[task.index].endpoint;
        let since = humantime::parse_rfc3339_weak(&old.claimed_at)
            .map(|t| t - Duration::from_secs(300))
            .map_or_else(
                |_| old.claimed_at.clone(),
                |t| humantime::format_rfc3339_seconds(t).to_string(),
            );
        let provider = self.account.provider();
        let found = provider.find_sent(endpoint, &since, &task.input).await;
        if let Ok(ids) = &found
            && let Some(id) = ids.first()
        {
            let job = provider.job(endpoint, id);
            if let Err(e) = self.store.claims.submitted(&mut ticket, &job).await {
                self.warn(&e, ());
            }
            self.books.emit(Event::Notice(format!(
                "{}: {} claimed this request and stopped before writing its id; found request {id} in the request history: adopted",
                self.shots[task.index].id, old.owner.host
            )));
            return self.follow_theirs(task, job);
        }
        let why = match found {
            Err(e) => format!("the request history cannot be searched ({e})"),
            Ok(_) => "it is not in the provider's request history yet".into(),
        };
        if self.resume.flags.retry_uncertain {
            // The user checked (the dashboard) and asked: submit, holding the claim.
            return Before::Submit(Box::new(ticket));
        }
        let message = format!(
            "{} (pid {}) claimed this request and stopped before writing its id; {why}: nothing is resubmitted by itself. Render again later (the history lists finished requests), or with --retry-uncertain once the dashboard shows no such request",
            old.owner.host, old.owner.pid
        );
        self.store.mark_uncertain(&task.key);
        self.settle(task, Settle::Uncertain { attempts: 0, message });
        Before::Settled
    }

    /// The claimed request was accepted: its id goes into the claim (kept with its version, to
    /// end the claim without reading it).
    pub(super) async fn claim_submitted(&self, key: &str, ticket: &mut Ticket, job: &Accepted) {
        match self.store.claims.submitted(ticket, job).await {
            Ok(true) => {
                let mut tickets = self.store.tickets.lock().unwrap_or_else(|e| e.into_inner());
                tickets.insert(key.to_owned(), ticket.clone());
            }
            Ok(false) => self.books.emit(Event::Notice(format!(
                "warning: request {} was accepted after this machine's claim lease ran out; another machine took the claim over (it finds this request in the history)",
                job.request_id
            ))),
            Err(e) => self.warn(&e, ()),
        }
    }

    /// The claim of a submit that created nothing is given up (an uncertain one stays).
    pub(super) async fn claim_unused(&self, ticket: &Ticket, task: &Task) {
        if self.store.is_uncertain(&task.key) {
            return;
        }
        if let Err(e) = self.store.claims.abandon(ticket, "not submitted").await {
            self.warn(&e, ());
        }
    }

    /// A verified clip goes to the store by content (numbered first: its index entry carries
    /// the number), and its claim points at it.
    pub(super) async fn publish(&self, task: &Task, job: &Accepted, clip: &ClipRecord) {
        self.number_takes(task, &clip.sha256).await;
        let entry = Indexed {
            version: 1,
            request_key: task.key.clone(),
            api: self.resume.namespace.clone(),
            sha256: clip.sha256.clone(),
            bytes: clip.bytes,
            shot: self.shots[task.index].id.clone(),
            storyboard: self.store.storyboard.clone(),
            request_id: Some(job.request_id.clone()),
            take: self.store.take_of(&self.shots[task.index].shot, &clip.sha256),
            at: crate::record::journal::now(),
        };
        let path = self.resume.out.join(&clip.path);
        let end = Ended::Clip(clip.sha256.clone());
        let published = match self.store.takes.publish(&path, &entry).await {
            Ok(()) => {
                let mine = self.own_ticket(&task.key);
                self.store.claims.ended(&entry.api, &task.key, &end, mine).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = published {
            self.books
                .emit(Event::Notice(format!("warning: the clip stays local: {e}")));
        }
    }

    /// The number an index entry carries, for the shot of `task` it was published for (no
    /// request needed to number that take).
    fn numbered_in(&self, task: &Task, found: &Indexed) {
        let Some(n) = found.take.filter(|_| found.storyboard == self.store.storyboard) else {
            return;
        };
        if let Some(i) = task.indices().find(|i| self.shots[*i].id == found.shot) {
            let mut numbers = self.store.numbers.lock().unwrap_or_else(|e| e.into_inner());
            numbers.insert((self.shots[i].shot.clone(), found.sha256.clone()), n);
        }
    }

    /// The team's numbers for this clip as a take of each shot of `task` (a request two shots
    /// share is a take of both), remembered for their `Done` records ([`Storage::take_of`]).
    pub(super) async fn number_takes(&self, task: &Task, sha256: &str) {
        for i in task.indices() {
            self.number_take(&self.shots[i].shot, &task.key, sha256).await;
        }
    }

    /// The team's number of `shot`'s take with this clip; `None` without a team store, or
    /// when the store fails (one warning a render: the take is numbered in journal order).
    pub(super) async fn number_take(&self, shot: &str, key: &str, sha256: &str) -> Option<u32> {
        let store = &self.store;
        if let Some(n) = store.take_of(shot, sha256) {
            return Some(n);
        }
        let mut known = {
            let known = store.known.lock().unwrap_or_else(|e| e.into_inner());
            known.get(shot).cloned().unwrap_or_default()
        };
        let take = TakeOf {
            storyboard: &store.storyboard,
            shot,
            sha256,
            request_key: key,
        };
        let numbered = store.takes.number(&take, &mut known).await;
        store
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(shot.to_owned())
            .or_default()
            .extend(known);
        let n = match numbered {
            Ok(n) => n?,
            Err(e) if !store.unnumbered.swap(true, Ordering::Relaxed) => {
                return self.warn(
                    &format!("{e}; takes made now are numbered in this folder's order"),
                    None,
                );
            }
            Err(_) => return None,
        };
        let mut numbers = store.numbers.lock().unwrap_or_else(|e| e.into_inner());
        numbers.insert((shot.to_owned(), sha256.to_owned()), n);
        Some(n)
    }

    /// This machine's claim of a request key, taken out (a claim is ended once).
    fn own_ticket(&self, key: &str) -> Option<Ticket> {
        self.store.tickets.lock().unwrap_or_else(|e| e.into_inner()).remove(key)
    }

    /// A followed request ended without a clip: its claim frees the key.
    pub(super) async fn claim_failed(&self, task: &Task, job: &Accepted, error: &str) {
        let end = Ended::Failed {
            request_id: job.request_id.clone(),
            error: error.to_owned(),
        };
        let mine = self.own_ticket(&task.key);
        if let Err(e) = self
            .store
            .claims
            .ended(&self.resume.namespace, &task.key, &end, mine)
            .await
        {
            self.warn(&e, ());
        }
    }
}

/// `i/n` with `i < n` (`STORYBOARD_WORKER`).
pub(crate) fn worker(text: &str) -> Option<(usize, usize)> {
    let (i, n) = text.split_once('/')?;
    let (i, n) = (i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?);
    (n > 0 && i < n).then_some((i, n))
}

#[cfg(test)]
mod tests {
    use super::{LocalOnly, Storage, Team};
    use std::sync::Arc;

    #[test]
    fn workers_are_named_i_of_n() {
        assert_eq!(super::worker("2/4"), Some((2, 4)));
        assert_eq!(super::worker("4/4"), None);
        assert_eq!(super::worker("x"), None);
    }

    #[test]
    fn worker_i_of_n_starts_its_walk_i_over_n_of_the_way_and_a_local_render_at_the_start() {
        let mut tasks: Vec<usize> = (0..8).collect();
        Storage::default().spread(&mut tasks);
        assert_eq!(tasks, (0..8).collect::<Vec<_>>());
        let team = Team {
            worker: Some((1, 4)),
            ..Team::default()
        };
        let local = Arc::new(LocalOnly);
        Storage::with(local.clone(), local, &team).spread(&mut tasks);
        assert_eq!(tasks, vec![2, 3, 4, 5, 6, 7, 0, 1]);
    }
}
