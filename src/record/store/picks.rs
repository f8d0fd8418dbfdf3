//! One picks document per storyboard (`picks/<storyboard>.json`), changed by compare-and-swap
//! on its version and retried on conflict, so two directors picking different shots at the same
//! time both keep their picks. The document's type is the caller's (`takes::Picks`).
//!
//! [`TeamPicks`] wires it to an output folder: `pick` and the review page change the team's
//! document and then the folder's picks file to it; `status`, `review` and `assemble` first
//! bring the folder's file to the team's document ([`TeamPicks::pull`]). Picks name takes by
//! number, and take numbers are the team's: the store numbers every take a folder gets from a
//! render, a followed request or the store itself (`super::numbers`, recorded on its `Done`
//! line), so take 2 of a shot is the same clip in every folder. A take a folder had before it
//! shared a store, or made while the store failed, is numbered in the folder's journal order
//! in the numbers the store's takes leave free (`takes::register`).

use bytes::Bytes;
use camino::Utf8Path;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use super::StoreError;
use super::backend::{Backend, Version, Written};
use crate::record::takes::{PickError, Picks};

/// Conflicts tolerated before giving up (each waits a little, jittered).
const TRIES: u32 = 50;

/// The object of a storyboard's picks.
pub(crate) fn object(storyboard: &str) -> String {
    format!("picks/{}.json", super::board_name(storyboard))
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

/// The team's picks of one storyboard, for an output folder.
#[derive(Debug, Clone)]
pub(crate) struct TeamPicks {
    store: Backend,
    storyboard: String,
}

impl TeamPicks {
    /// The team's picks when a store is named (`STORYBOARD_STORE`, else the storyboard's
    /// `store:`), for the storyboard `stem`.
    pub(crate) fn named(storyboard_store: Option<&str>, stem: &str) -> Result<Option<TeamPicks>, StoreError> {
        let env = std::env::var("STORYBOARD_STORE").ok().filter(|s| !s.is_empty());
        let Some(url) = env.as_deref().or(storyboard_store) else {
            return Ok(None);
        };
        Ok(Some(TeamPicks {
            store: super::open(url)?,
            storyboard: stem.to_owned(),
        }))
    }

    /// Of `keys`, those with a take in the team's store under one of `apis`
    /// ([`super::status::indexed`]).
    pub(crate) fn in_store(
        &self,
        apis: &[String],
        keys: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        on_own_runtime(super::status::indexed(&self.store, apis, keys))
    }

    /// Brings the folder's picks file to the team's document; a team with none yet starts
    /// from this folder's picks.
    pub(crate) fn pull(&self, out: &Utf8Path) -> Result<(), PickError> {
        let team: Picks = on_own_runtime(read(&self.store, &self.storyboard)).map_err(shared)?;
        let team = match team.version {
            0 => self.change(out, |_| Ok(()))?.1,
            _ => team,
        };
        Picks::change(out, |p| {
            *p = team;
            Ok(())
        })
    }

    /// Changes the team's document by compare-and-swap (`f` runs again after a conflict), then
    /// the folder's picks file to it; `f`'s answer, and the document written.
    pub(crate) fn change<T: Send>(
        &self,
        out: &Utf8Path,
        mut f: impl FnMut(&mut Picks) -> Result<T, PickError> + Send,
    ) -> Result<(T, Picks), PickError> {
        let local = Picks::read(out)?;
        let (answer, team) = on_own_runtime(change(&self.store, &self.storyboard, |doc: &mut Picks| {
            if doc.version == 0 {
                *doc = local.clone();
            }
            let answer = f(doc)?;
            doc.version = 1;
            Ok::<_, PickError>((answer, doc.clone()))
        }))
        .map_err(shared)??;
        let written = team.clone();
        Picks::change(out, |p| {
            *p = written;
            Ok(())
        })?;
        Ok((answer, team))
    }
}

fn shared(e: StoreError) -> PickError {
    PickError::Shared(e.to_string())
}

/// Runs `fut` to its end on a runtime of its own (the commands that change picks are not
/// async, and may run on a runtime's thread).
fn on_own_runtime<T: Send>(fut: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(fut))
        })
        .join()
    })
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
    .unwrap_or_else(|e| panic!("cannot start a runtime for the shared store: {e}"))
}
