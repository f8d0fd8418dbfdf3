//! Shared takes: every verified clip by content (`takes/<sha256>.mp4`, create-if-absent) and
//! one index object per request key (`index/<api>-<key>.json` → the clip's sha256), so a render
//! on any machine that needs a request already rendered anywhere downloads it for $0.

use bytes::Bytes;
use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::backend::{Backend, Written};
use super::{StoreError, key_name};

/// `index/<api>-<key>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Indexed {
    /// Format version (1).
    pub version: u32,
    /// The request key.
    pub request_key: String,
    /// The API namespace.
    pub api: String,
    /// The clip: `takes/<sha256>.mp4`.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// The shot that first rendered it.
    pub shot: String,
    /// The storyboard it belongs to (its file name, without the extension).
    pub storyboard: String,
    /// The provider's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Its take number as a take of `shot` in `storyboard` (`numbers/…`), so that a machine
    /// fetching it for the same shot needs no request to number it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<u32>,
    /// When it was published (RFC 3339).
    pub at: String,
}

/// The object of a clip.
pub(crate) fn take_object(sha256: &str) -> String {
    format!("takes/{sha256}.mp4")
}

fn index_object(api: &str, key: &str) -> String {
    format!("index/{}.json", key_name(api, key))
}

/// Which of `keys` (request keys of `api`) have a clip in the store: one listing of the index.
pub(crate) async fn indexed(store: &Backend, api: &str, keys: &[String]) -> Result<Vec<String>, StoreError> {
    let listed: std::collections::HashSet<String> = store.list("index").await?.into_iter().map(|l| l.name).collect();
    Ok(keys
        .iter()
        .filter(|k| listed.contains(&index_object(api, k)))
        .cloned()
        .collect())
}

/// Publishes a verified clip and its index entry (both create-if-absent: the first clip of a
/// request key stays its clip).
pub(crate) async fn publish(store: &Backend, clip: &Utf8Path, entry: &Indexed) -> Result<(), StoreError> {
    let take = take_object(&entry.sha256);
    // A clip of one part is sent at once (a conditional PUT that finds it there costs what a
    // HEAD would); a larger one is looked for first, so it is not streamed for nothing.
    let small = entry.bytes <= super::backend::CHUNK as u64;
    if small || store.size(&take).await? != Some(entry.bytes) {
        // Lost: another machine published it meanwhile (whole: puts are atomic), or a crashed
        // writer left a partial object on a store without atomic puts: only a damaged object
        // of another size is replaced.
        if store.create_from_file(&take, clip, &entry.sha256).await? == Written::Lost
            && store.size(&take).await?.is_some_and(|n| n != entry.bytes)
        {
            store.delete(&take).await?;
            store.create_from_file(&take, clip, &entry.sha256).await?;
        }
    }
    let body = serde_json::to_vec_pretty(entry).unwrap_or_default();
    store
        .create(&index_object(&entry.api, &entry.request_key), Bytes::from(body))
        .await?;
    Ok(())
}

/// The clip a request key has in the store, if any.
pub(crate) async fn lookup(store: &Backend, api: &str, key: &str) -> Result<Option<Indexed>, StoreError> {
    let name = index_object(api, key);
    let Some((bytes, _)) = store.get(&name).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            object: name,
            why: e.to_string(),
        })
}

/// Streams `takes/<sha256>.mp4` to `dest` (atomically), verified by size and sha256 as it comes; `false`
/// when the store has no such clip (or a damaged one: it is not used).
pub(crate) async fn fetch(store: &Backend, sha256: &str, bytes: u64, dest: &Utf8Path) -> Result<bool, StoreError> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    store.get_to_file(&take_object(sha256), dest, bytes, sha256).await
}
