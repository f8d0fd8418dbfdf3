//! Take numbers that agree across folders: `numbers/<storyboard>/<shot>/<n>.json` says which
//! clip is take `n` of a shot (the team's picks name takes by number, so take 2 must be the
//! same clip in every folder). A take is numbered by walking n = 1, 2, …: a create-if-absent
//! of `n` holding this clip wins the number; a number held by this clip is its number; a
//! number held by another clip is passed. Objects are never changed or removed and every
//! walker starts at 1, so one clip gets one number everywhere. Frame takes (`<shot>.frame`)
//! are numbered the same way. Not under `takes/`: gc reads that as clips.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::StoreError;
use super::backend::{Backend, Written};

/// `numbers/<storyboard>/<shot>/<n>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Numbered {
    /// Format version (1).
    pub version: u32,
    /// The clip that is this take.
    pub sha256: String,
    /// The request key that made it (for a reader; not compared).
    pub request_key: String,
}

/// The take to number: whose, and which clip.
#[derive(Debug, Clone)]
pub(crate) struct TakeOf<'a> {
    /// The storyboard's name (as its picks document is named).
    pub storyboard: &'a str,
    /// The shot id (`<shot>.frame` for a frame take).
    pub shot: &'a str,
    /// The clip.
    pub sha256: &'a str,
    /// The request that made it.
    pub request_key: &'a str,
}

/// Takes numbered beyond this are refused (a walk never runs away).
const MOST: u32 = 10_000;

/// The object of take `n` of a shot.
pub(crate) fn object(storyboard: &str, shot: &str, n: u32) -> String {
    format!("numbers/{}/{shot}/{n}.json", super::board_name(storyboard))
}

/// The team's number of this take, walking from 1. `known`: numbers already read for this
/// shot (number → sha256; immutable, so never read twice), extended with what the walk reads.
/// One request for the first take of a shot; two per number another clip already holds.
pub(crate) async fn number(
    store: &Backend,
    take: &TakeOf<'_>,
    known: &mut HashMap<u32, String>,
) -> Result<u32, StoreError> {
    let body = Numbered {
        version: 1,
        sha256: take.sha256.to_owned(),
        request_key: take.request_key.to_owned(),
    };
    let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let mut n = 1;
    while n <= MOST {
        let sha = match known.get(&n) {
            Some(sha) => sha.clone(),
            None => holder(store, take, n, &body).await?,
        };
        let mine = sha == take.sha256;
        known.insert(n, sha);
        if mine {
            return Ok(n);
        }
        n += 1;
    }
    Err(StoreError::Backend {
        object: object(take.storyboard, take.shot, MOST),
        what: "number",
        why: format!("the shot has more than {MOST} takes"),
    })
}

/// Whose take `n` is: created for this clip when nobody had it, else read.
async fn holder(store: &Backend, take: &TakeOf<'_>, n: u32, body: &Bytes) -> Result<String, StoreError> {
    let name = object(take.storyboard, take.shot, n);
    if let Written::Done(_) = store.create(&name, body.clone()).await? {
        return Ok(take.sha256.to_owned());
    }
    let corrupt = |why: String| StoreError::Corrupt {
        object: name.clone(),
        why,
    };
    // Numbers are never removed: one that exists and then does not was removed by hand.
    let Some((bytes, _)) = store.get(&name).await? else {
        return Err(corrupt("it was removed while being read".into()));
    };
    serde_json::from_slice::<Numbered>(&bytes)
        .map(|held| held.sha256)
        .map_err(|e| corrupt(e.to_string()))
}
