//! Submit once per request key across machines. Before submitting, a machine creates
//! `claims/<api>-<key>.json` (create-if-absent) holding who claimed it and when; it writes the
//! provider's request id into it (compare-and-swap on its version) as soon as it is known, and
//! the clip (or the failure) when the request ends. A machine that finds a claim follows that
//! request instead of submitting. A claim still without a request id after its lease (its
//! machine died mid-submit) is taken over by one machine, which must settle it through the
//! provider's request history by exact body before anything is submitted — never a blind
//! resubmit.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

use super::backend::{Backend, Version, Written};
use super::{Owner, StoreError, key_name};
use crate::record::journal::Accepted;

/// Where a claim is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClaimState {
    /// Claimed; the submit may be on the wire.
    #[default]
    Submitting,
    /// The provider accepted it: `job` says where to follow it.
    Submitted,
    /// Finished: `sha256` is the clip (`takes/<sha256>.mp4`).
    Done,
    /// Ended without a clip, or never submitted: the next machine may claim it again.
    Failed,
}

/// `claims/<api>-<key>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Claim {
    /// Format version (1).
    pub version: u32,
    /// The request key.
    pub request_key: String,
    /// The API namespace (`sandbox` or a base URL).
    pub api: String,
    /// The endpoint the request goes to.
    pub endpoint: String,
    /// Who claimed it.
    pub owner: Owner,
    /// When (RFC 3339, the claimer's clock).
    pub claimed_at: String,
    /// How long the claimer may take to write the request id.
    pub lease_seconds: u64,
    /// Where it is in its life.
    #[serde(default)]
    pub state: ClaimState,
    /// The provider's request, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Accepted>,
    /// The clip, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Random per write: no two writes of a claim are the same bytes (a shared folder's
    /// versions are content hashes).
    #[serde(default)]
    pub write: u64,
}

impl Claim {
    /// Whether its claimer's lease to write a request id has run out.
    pub(crate) fn expired(&self, now: SystemTime) -> bool {
        let Ok(at) = humantime::parse_rfc3339_weak(&self.claimed_at) else {
            return true;
        };
        now.duration_since(at).unwrap_or_default() > Duration::from_secs(self.lease_seconds)
    }
}

/// What a machine asks for before submitting.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    /// The API namespace.
    pub api: String,
    /// The request key.
    pub request_key: String,
    /// The endpoint.
    pub endpoint: String,
    /// How long a claimer may take to write the request id (`STORYBOARD_STORE_LEASE`).
    pub lease: Duration,
    /// How often to look again while another machine is submitting.
    pub poll: Duration,
}

/// A claim this process holds, at the version it last wrote.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    name: String,
    claim: Claim,
    version: Version,
}

impl Ticket {
    fn held(name: String, claim: Claim, version: Version) -> Box<Ticket> {
        Box::new(Ticket { name, claim, version })
    }

    /// The ticket of a render with no shared store (never written anywhere).
    pub(crate) fn unshared(req: &ClaimRequest) -> Ticket {
        Ticket {
            name: String::new(),
            claim: fresh(req),
            version: Version::default(),
        }
    }
}

/// What claiming found.
#[derive(Debug)]
pub(crate) enum Claimed {
    /// Nobody had it: submit, then [`submitted`].
    Submit(Box<Ticket>),
    /// Its claimer died before writing a request id (the previous claim is given): this
    /// process now holds it and must look the request up in the provider's history by its
    /// exact body; found → [`submitted`] with it; not found → [`abandon`] (nothing submitted).
    Settle(Box<Ticket>, Box<Claim>),
    /// Another machine's request: follow it.
    Follow(Accepted),
    /// Finished elsewhere: its clip's sha256, and the request it came from (when the claim
    /// names it: followed for its result when the clip is not in the store whole).
    Finished(String, Option<Accepted>),
}

fn object(api: &str, key: &str) -> String {
    format!("claims/{}.json", key_name(api, key))
}

fn encode(claim: &Claim) -> Bytes {
    let claim = Claim {
        write: fastrand::u64(..),
        ..claim.clone()
    };
    Bytes::from(serde_json::to_vec_pretty(&claim).unwrap_or_default())
}

fn decode(name: &str, bytes: &[u8]) -> Result<Claim, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        object: name.to_owned(),
        why: e.to_string(),
    })
}

fn fresh(req: &ClaimRequest) -> Claim {
    Claim {
        version: 1,
        request_key: req.request_key.clone(),
        api: req.api.clone(),
        endpoint: req.endpoint.clone(),
        owner: Owner::me(),
        claimed_at: crate::record::journal::now(),
        lease_seconds: req.lease.as_secs().max(1),
        state: ClaimState::Submitting,
        job: None,
        sha256: None,
        error: None,
        write: 0,
    }
}

/// Claims the request key, or says who has it. Waits (polling) while another machine is
/// within its lease to write a request id.
pub(crate) async fn claim(store: &Backend, req: &ClaimRequest) -> Result<Claimed, StoreError> {
    let name = object(&req.api, &req.request_key);
    loop {
        let mine = fresh(req);
        let body = encode(&mine);
        if let Written::Done(version) = store.create(&name, body.clone()).await? {
            return Ok(Claimed::Submit(Ticket::held(name, mine, version)));
        }
        let Some((bytes, version)) = store.get(&name).await? else {
            continue;
        };
        if bytes == body {
            // This very create went through and its answer was lost (the client retried it
            // and met the object; the bytes hold a random nonce): the claim is held.
            return Ok(Claimed::Submit(Ticket::held(name, mine, version)));
        }
        let theirs = decode(&name, &bytes)?;
        match (&theirs.state, &theirs.job, &theirs.sha256) {
            (ClaimState::Done, job, Some(sha)) => return Ok(Claimed::Finished(sha.clone(), job.clone())),
            (ClaimState::Failed, _, _) => {
                if let Written::Done(version) = store.update(&name, encode(&mine), &version).await? {
                    return Ok(Claimed::Submit(Ticket::held(name, mine, version)));
                }
            }
            (_, Some(job), _) => return Ok(Claimed::Follow(job.clone())),
            _ if theirs.expired(SystemTime::now()) => {
                if let Written::Done(version) = store.update(&name, encode(&mine), &version).await? {
                    return Ok(Claimed::Settle(Ticket::held(name, mine, version), Box::new(theirs)));
                }
            }
            _ => tokio::time::sleep(req.poll).await,
        }
    }
}

/// Writes the accepted request into the claim; `false` when the claim was taken over meanwhile
/// (this process's lease ran out): the request is still this process's to follow.
pub(crate) async fn submitted(store: &Backend, ticket: &mut Ticket, job: &Accepted) -> Result<bool, StoreError> {
    let mut next = ticket.claim.clone();
    next.state = ClaimState::Submitted;
    next.job = Some(job.clone());
    let body = encode(&next);
    let version = match store.update(&ticket.name, body.clone(), &ticket.version).await? {
        Written::Done(version) => version,
        // Lost, or written with its answer lost (the client retried and met its own write).
        Written::Lost => match store.get(&ticket.name).await? {
            Some((bytes, version)) if bytes == body => version,
            _ => return Ok(false),
        },
    };
    ticket.claim = next;
    ticket.version = version;
    Ok(true)
}

/// Gives a claim up without a request (nothing was submitted): the next machine may claim it.
pub(crate) async fn abandon(store: &Backend, ticket: &Ticket, why: &str) -> Result<(), StoreError> {
    let mut next = ticket.claim.clone();
    next.state = ClaimState::Failed;
    next.error = Some(why.to_owned());
    store.update(&ticket.name, encode(&next), &ticket.version).await?;
    Ok(())
}

/// How a request ended, for its claim.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Its clip.
    Clip(String),
    /// The request `request_id` ended without one (the next machine may claim the key again).
    Failed {
        /// The request that failed (a newer claim is left alone).
        request_id: String,
        /// Why.
        error: String,
    },
}

/// Records the end of a request in its claim (by whichever machine saw it end), retrying the
/// compare-and-swap when another machine wrote in between.
pub(crate) async fn ended(
    store: &Backend,
    api: &str,
    key: &str,
    end: &Ended,
    mut mine: Option<Ticket>,
) -> Result<(), StoreError> {
    let name = object(api, key);
    for _ in 0..20 {
        // This process's own claim at the version it wrote: trusted only by a write that
        // succeeds (another machine may have written since; then the claim is read).
        let known = mine.take().filter(|t| t.name == name);
        let trusted = known.is_none();
        let (claim, version) = match known {
            Some(t) => (t.claim, t.version),
            None => match store.get(&name).await? {
                Some((bytes, version)) => (decode(&name, &bytes)?, version),
                None => return Ok(()),
            },
        };
        let Some(next) = ending(claim, end) else {
            if trusted {
                return Ok(());
            }
            continue;
        };
        if store.update(&name, encode(&next), &version).await? != Written::Lost {
            return Ok(());
        }
    }
    Ok(())
}

/// The claim once the request ended as `end`; `None` when there is nothing to write (the clip
/// is already there; a failure of another request than the claim's).
fn ending(mut claim: Claim, end: &Ended) -> Option<Claim> {
    match end {
        Ended::Clip(sha) if claim.sha256.as_ref() == Some(sha) => return None,
        Ended::Clip(sha) => {
            claim.state = ClaimState::Done;
            claim.sha256 = Some(sha.clone());
        }
        Ended::Failed { request_id, error } => {
            let same = claim.job.as_ref().is_some_and(|j| &j.request_id == request_id);
            if !same || claim.state != ClaimState::Submitted {
                return None;
            }
            claim.state = ClaimState::Failed;
            claim.error = Some(error.clone());
        }
    }
    Some(claim)
}

/// The claim of a request key, if any.
#[cfg(test)]
pub(crate) async fn read(store: &Backend, api: &str, key: &str) -> Result<Option<Claim>, StoreError> {
    let name = object(api, key);
    match store.get(&name).await? {
        Some((bytes, _)) => decode(&name, &bytes).map(Some),
        None => Ok(None),
    }
}
