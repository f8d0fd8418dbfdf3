//! `manifest.json`: the record of every clip a render produced (DESIGN §5), written
//! atomically (temporary file, fsync, rename) after every finished shot.

use camino::{Utf8Path, Utf8PathBuf};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The manifest of one output folder.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(title = "manifest", description = "manifest.json written by `storyboard render`")]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The storyboard file this was rendered from.
    pub storyboard: String,
    /// The storyboard's title.
    pub title: Option<String>,
    /// `storyboard <version>`.
    pub generator: String,
    /// When the render started (RFC 3339, UTC).
    pub started_at: String,
    /// When it finished; `null` while running.
    pub finished_at: Option<String>,
    /// Estimated USD of the rendered shots (priced shots only).
    pub estimated_usd: f64,
    /// Shots in storyboard order.
    pub shots: Vec<ShotRecord>,
}

/// Where a shot stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ShotStatus {
    /// Rendered in this run.
    Done,
    /// Unchanged and already on disk: nothing was sent.
    Cached,
    /// The provider reported a failure, or the clip could not be fetched.
    Failed,
    /// The submit went out and no answer came back: it may or may not have been created (and billed).
    Uncertain,
    /// Not rendered yet.
    Pending,
    /// Not rendered because a shot it starts from (`start_image: { after: … }`) has no clip.
    Skipped,
}

/// One shot of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ShotRecord {
    /// The shot id.
    pub id: String,
    /// Where it stands.
    pub status: ShotStatus,
    /// `fal` or `eachlabs`.
    pub provider: String,
    /// Endpoint id (fal) or model slug (Eachlabs).
    pub endpoint: String,
    /// The request body sent (uploaded files as their URLs).
    pub input: Map<String, Value>,
    /// The cache key: `sha256:` of provider + endpoint + input + take.
    pub request_key: String,
    /// The provider's request id, once accepted.
    pub request_id: Option<String>,
    /// Estimated USD; `null` when unpriced.
    pub estimated_usd: Option<f64>,
    /// Cost the provider reported, when it does (Eachlabs `metrics.cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_usd: Option<f64>,
    /// The clip on disk.
    pub clip: Option<ClipRecord>,
    /// When the request was accepted.
    pub submitted_at: Option<String>,
    /// When the clip was on disk (or the failure known).
    pub completed_at: Option<String>,
    /// Submit attempts made.
    pub attempts: u32,
    /// Why the shot failed or is uncertain.
    pub error: Option<String>,
}

/// A clip on disk.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ClipRecord {
    /// Path relative to the output folder.
    #[schemars(with = "String")]
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the content, hex.
    pub sha256: String,
    /// Where it was downloaded from.
    pub source_url: String,
}

impl Manifest {
    /// Reads a manifest; `None` when there is none or it cannot be read.
    pub fn read(path: &Utf8Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}
