//! One picks document per storyboard (`picks/<storyboard>.json`), changed by compare-and-swap
//! on its version and retried on conflict, so two directors picking different shots at the same
//! time both keep their picks. The document's type is the caller's (`takes::Picks`).
#![cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "shared picks are not wired to `pick` and the review page yet (#27)"
    )
)]

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use super::StoreError;
use super::backend::{Backend, Version, Written};

/// Conflicts tolerated before giving up (each waits a little, jittered).
const TRIES: u32 = 50;

/// The object of a storyboard's picks.
pub(crate) fn object(storyboard: &str) -> String {
    format!("picks/{}.json", storyboard.replace(['/', '\\'], "_"))
}

async fn current<T: DeserializeOwned + Default>(
    store: &Backend,
    name: &str,
) -> Result<(T, Option<Version>), StoreError> {
    match store.get(name).await? {
        None => Ok((T::default(), None)),
        Some((bytes, version)) => serde_json::from_slice(&bytes)
            .map(|doc| (doc, Some(version)))
            .map_err(|e| StoreError::Corrupt {
                object: name.to_owned(),
                why: e.to_string(),
            }),
    }
}

/// The storyboard's picks (none yet: the default).
pub(crate) async fn read<T: DeserializeOwned + Default>(store: &Backend, storyboard: &str) -> Result<T, StoreError> {
    Ok(current(store, &object(storyboard)).await?.0)
}

/// Applies `change` to the latest picks and writes them if nobody wrote in between; otherwise
/// reads again and applies `change` again. `change` returning `Err` writes nothing.
pub(crate) async fn change<T, R, E>(
    store: &Backend,
    storyboard: &str,
    mut change: impl FnMut(&mut T) -> Result<R, E>,
) -> Result<Result<R, E>, StoreError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let name = object(storyboard);
    for n in 0..TRIES {
        let (mut doc, version) = current::<T>(store, &name).await?;
        let out = match change(&mut doc) {
            Ok(out) => out,
            Err(e) => return Ok(Err(e)),
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&doc).unwrap_or_default());
        let written = match &version {
            None => store.create(&name, body).await?,
            Some(v) => store.update(&name, body, v).await?,
        };
        if let Written::Done(_) = written {
            return Ok(Ok(out));
        }
        let wait = 5 + u64::from(n.min(10)) * 5;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=wait))).await;
    }
    Err(StoreError::Backend {
        object: name,
        what: "change",
        why: format!("{TRIES} writers in a row changed it first; try again"),
    })
}
