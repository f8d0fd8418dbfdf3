//! A job as the provider knows it: where to follow it, and where its clip is (journaled as
//! they are, so a later process can follow or download without asking again).

use serde::{Deserialize, Serialize};

/// A job the provider accepted: everything needed to follow it, kept in the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Accepted {
    /// The provider's request id.
    pub request_id: String,
    /// fal: where to poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    /// fal: where the result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
    /// fal: where to cancel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
}

impl Accepted {
    /// A job known by its id alone (Eachlabs follows predictions by id).
    pub(crate) fn by_id(id: &str) -> Accepted {
        Accepted {
            request_id: id.to_owned(),
            status_url: None,
            response_url: None,
            cancel_url: None,
        }
    }
}

/// A finished job's clip (journaled the moment it is known, so a failed download can be
/// retried from it later without asking the queue again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClipSource {
    /// Where to download it.
    pub url: String,
    /// The size the provider reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The cost the provider reported (Eachlabs `metrics.cost`), in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}
