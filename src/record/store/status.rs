//! `storyboard store status` (objects, bytes, takes per storyboard, claims by state) and
//! `storyboard store gc` (clips nothing names; claims are never removed).

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use super::backend::{Backend, Listed};
use super::claims::Claim;
use super::clips::Indexed;
use super::{StoreError, key_name};

/// What a store holds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    /// Every object.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Clips (`takes/`).
    pub takes: usize,
    /// Their bytes.
    pub take_bytes: u64,
    /// Index entries per storyboard.
    pub storyboards: BTreeMap<String, usize>,
    /// Claims per state (`submitting`, `submitted`, `done`, `failed`).
    pub claims: BTreeMap<String, usize>,
    /// Picks documents.
    pub picks: usize,
}

/// Reads every object's size, the index entries and the claims.
pub(crate) async fn summarize(store: &Backend) -> Result<Summary, StoreError> {
    let mut s = Summary::default();
    for dir in ["takes", "index", "claims", "picks", "numbers"] {
        for o in store.list(dir).await? {
            s.objects += 1;
            s.bytes += o.bytes;
            match dir {
                "takes" => {
                    s.takes += 1;
                    s.take_bytes += o.bytes;
                }
                "picks" => s.picks += 1,
                _ => {}
            }
        }
    }
    for entry in index(store).await? {
        *s.storyboards.entry(entry.storyboard).or_default() += 1;
    }
    for (_, claim) in claims(store).await? {
        let state = serde_json::to_value(claim.state).ok();
        let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or("?").to_owned();
        *s.claims.entry(state).or_default() += 1;
    }
    Ok(s)
}

async fn index(store: &Backend) -> Result<Vec<Indexed>, StoreError> {
    let mut out = Vec::new();
    for o in store.list("index").await? {
        if let Some((bytes, _)) = store.get(&o.name).await?
            && let Ok(entry) = serde_json::from_slice::<Indexed>(&bytes)
        {
            out.push(entry);
        }
    }
    Ok(out)
}

async fn claims(store: &Backend) -> Result<Vec<(Listed, Claim)>, StoreError> {
    let mut out = Vec::new();
    for o in store.list("claims").await? {
        if let Some((bytes, _)) = store.get(&o.name).await?
            && let Ok(claim) = serde_json::from_slice::<Claim>(&bytes)
        {
            out.push((o, claim));
        }
    }
    Ok(out)
}

/// Objects younger than this are left alone by gc (a publish or a takeover may be under way).
pub(crate) const GC_MIN_AGE: Duration = Duration::from_secs(3600);

fn old(o: &Listed, now: SystemTime) -> bool {
    now.duration_since(o.modified).unwrap_or_default() >= GC_MIN_AGE
}

/// One object gc removes (or would), and why.
#[derive(Debug, Serialize)]
pub(crate) struct Garbage {
    /// The object.
    pub object: String,
    /// Its size.
    pub bytes: u64,
    /// Why it can go.
    pub why: &'static str,
}

/// What gc removes: clips no index entry or claim names (a publish that died between the
/// clip and its index; nothing can find them) and staged uploads (`uploads/…`, a streamed
/// publish that died before its copy) when older than [`GC_MIN_AGE`], each clip named again
/// by nothing in a fresh read of the index and the claims just before it goes. Claims are never
/// removed: a store has no delete-if-unchanged, and a failed claim deleted just as another
/// machine claimed it again would let a third submit the same request (a failed claim is
/// claimed afresh by compare-and-swap anyway). Removes them unless `dry_run`.
pub(crate) async fn gc(store: &Backend, dry_run: bool) -> Result<Vec<Garbage>, StoreError> {
    let first = named(store).await?;
    let (mut out, now) = (Vec::new(), SystemTime::now());
    for o in store.list("takes").await? {
        let sha = o.name.trim_start_matches("takes/").trim_end_matches(".mp4");
        if !first.contains(sha) && old(&o, now) {
            out.push(Garbage {
                object: o.name,
                bytes: o.bytes,
                why: "no index entry or claim names this clip",
            });
        }
    }
    for o in store.list("uploads").await? {
        if old(&o, now) {
            out.push(Garbage {
                object: o.name,
                bytes: o.bytes,
                why: "a staged upload whose publish died before copying it into place",
            });
        }
    }
    if !dry_run {
        let again = named(store).await?;
        out.retain(|g| !again.contains(g.object.trim_start_matches("takes/").trim_end_matches(".mp4")));
        for g in &out {
            store.delete(&g.object).await?;
        }
    }
    Ok(out)
}

/// Every clip an index entry or a claim names.
async fn named(store: &Backend) -> Result<HashSet<String>, StoreError> {
    let mut named: HashSet<String> = index(store).await?.into_iter().map(|e| e.sha256).collect();
    named.extend(claims(store).await?.into_iter().filter_map(|(_, c)| c.sha256));
    Ok(named)
}

/// Of `keys`, those whose clip the store holds under one of the API namespaces `apis` (one
/// listing of `index/`): a render anywhere fetches them for $0, with no provider request.
pub(crate) async fn indexed(store: &Backend, apis: &[String], keys: &[String]) -> Result<HashSet<String>, StoreError> {
    let names: HashSet<String> = store.list("index").await?.into_iter().map(|o| o.name).collect();
    let held = |key: &String| {
        apis.iter()
            .any(|api| names.contains(&format!("index/{}.json", key_name(api, key))))
    };
    Ok(keys.iter().filter(|k| held(k)).cloned().collect())
}
