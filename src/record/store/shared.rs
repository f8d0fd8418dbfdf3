//! The storage seam: the two things a render asks of a store, as traits with two
//! implementations — [`LocalOnly`], the default (one folder on one machine: no clip found
//! elsewhere, every claim granted at once, nothing written anywhere else), and a team's object
//! store ([`Backend`]). The runner (`run::Storage`) talks only to these traits.

use async_trait::async_trait;
use camino::Utf8Path;

use super::StoreError;
use super::backend::Backend;
use super::claims::{self, ClaimRequest, Claimed, Ended, Ticket};
use super::clips::{self, Indexed};
use super::numbers::{self, TakeOf};
use crate::record::journal::Accepted;
use std::collections::HashMap;

/// Clips by content, found by request key.
#[async_trait]
pub(crate) trait TakeStore: Send + Sync {
    /// The clip a request key has, if any machine published one.
    async fn find(&self, api: &str, key: &str) -> Result<Option<Indexed>, StoreError>;
    /// Downloads it to `dest`, verified; `false` when it is missing or damaged.
    async fn fetch(&self, found: &Indexed, dest: &Utf8Path) -> Result<bool, StoreError>;
    /// Publishes a verified clip under its request key.
    async fn publish(&self, clip: &Utf8Path, entry: &Indexed) -> Result<(), StoreError>;
    /// Which of these request keys have a clip (one listing, not a read each).
    async fn indexed(&self, api: &str, keys: &[String]) -> Result<Vec<String>, StoreError>;
    /// The team's number of a take (`None`: no team; the folder numbers it in journal order).
    /// `known`: this shot's numbers read before (number → sha256), extended.
    async fn number(&self, take: &TakeOf<'_>, known: &mut HashMap<u32, String>) -> Result<Option<u32>, StoreError>;
}

/// One submit per request key.
#[async_trait]
pub(crate) trait SubmitOnce: Send + Sync {
    /// Claims the key before a submit, or says who has it.
    async fn claim(&self, req: &ClaimRequest) -> Result<Claimed, StoreError>;
    /// The claimed request was accepted; `false` when the claim was taken over meanwhile.
    async fn submitted(&self, ticket: &mut Ticket, job: &Accepted) -> Result<bool, StoreError>;
    /// The claim is given up with nothing submitted.
    async fn abandon(&self, ticket: &Ticket, why: &str) -> Result<(), StoreError>;
    /// The request ended (a clip, or a failure).
    /// `mine`: this process's ticket of the claim, when it holds one (written from its version,
    /// without reading the claim first).
    async fn ended(&self, api: &str, key: &str, end: &Ended, mine: Option<Ticket>) -> Result<(), StoreError>;
}

#[async_trait]
impl TakeStore for Backend {
    async fn find(&self, api: &str, key: &str) -> Result<Option<Indexed>, StoreError> {
        clips::lookup(self, api, key).await
    }
    async fn fetch(&self, found: &Indexed, dest: &Utf8Path) -> Result<bool, StoreError> {
        clips::fetch(self, &found.sha256, found.bytes, dest).await
    }
    async fn publish(&self, clip: &Utf8Path, entry: &Indexed) -> Result<(), StoreError> {
        clips::publish(self, clip, entry).await
    }
    async fn indexed(&self, api: &str, keys: &[String]) -> Result<Vec<String>, StoreError> {
        clips::indexed(self, api, keys).await
    }
    async fn number(&self, take: &TakeOf<'_>, known: &mut HashMap<u32, String>) -> Result<Option<u32>, StoreError> {
        numbers::number(self, take, known).await.map(Some)
    }
}

#[async_trait]
impl SubmitOnce for Backend {
    async fn claim(&self, req: &ClaimRequest) -> Result<Claimed, StoreError> {
        claims::claim(self, req).await
    }
    async fn submitted(&self, ticket: &mut Ticket, job: &Accepted) -> Result<bool, StoreError> {
        claims::submitted(self, ticket, job).await
    }
    async fn abandon(&self, ticket: &Ticket, why: &str) -> Result<(), StoreError> {
        claims::abandon(self, ticket, why).await
    }
    async fn ended(&self, api: &str, key: &str, end: &Ended, mine: Option<Ticket>) -> Result<(), StoreError> {
        claims::ended(self, api, key, end, mine).await
    }
}

/// One folder on one machine: nothing shared.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalOnly;

#[async_trait]
impl TakeStore for LocalOnly {
    async fn find(&self, _: &str, _: &str) -> Result<Option<Indexed>, StoreError> {
        Ok(None)
    }
    async fn fetch(&self, _: &Indexed, _: &Utf8Path) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn publish(&self, _: &Utf8Path, _: &Indexed) -> Result<(), StoreError> {
        Ok(())
    }
    async fn indexed(&self, _: &str, _: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    async fn number(&self, _: &TakeOf<'_>, _: &mut HashMap<u32, String>) -> Result<Option<u32>, StoreError> {
        Ok(None)
    }
}

#[async_trait]
impl SubmitOnce for LocalOnly {
    async fn claim(&self, req: &ClaimRequest) -> Result<Claimed, StoreError> {
        Ok(Claimed::Submit(Box::new(Ticket::unshared(req))))
    }
    async fn submitted(&self, _: &mut Ticket, _: &Accepted) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn abandon(&self, _: &Ticket, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn ended(&self, _: &str, _: &str, _: &Ended, _: Option<Ticket>) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{LocalOnly, SubmitOnce, TakeStore};
    use crate::record::store::{ClaimRequest, Claimed};

    #[tokio::test]
    async fn one_folder_finds_no_clip_elsewhere_and_grants_every_claim_at_once() {
        let req = ClaimRequest {
            api: "sandbox".into(),
            request_key: "sha256:00".into(),
            endpoint: "fal-ai/x".into(),
            lease: std::time::Duration::from_secs(1),
            poll: std::time::Duration::from_secs(3600),
        };
        assert!(LocalOnly.find("sandbox", "sha256:00").await.unwrap().is_none());
        for _ in 0..2 {
            let Ok(Claimed::Submit(mut ticket)) = LocalOnly.claim(&req).await else {
                panic!("a local claim is granted at once");
            };
            assert!(LocalOnly.abandon(&ticket, "not submitted").await.is_ok());
            let job = super::Accepted {
                request_id: "r".into(),
                status_url: None,
                response_url: None,
                cancel_url: None,
            };
            assert!(LocalOnly.submitted(&mut ticket, &job).await.unwrap());
        }
    }
}
