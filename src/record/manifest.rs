//! `manifest.json`: the record of every clip a render produced, written atomically (temporary
//! file, fsync, rename) by the ledger — at most every 250 ms during a render, and at its end.

use camino::{Utf8Path, Utf8PathBuf};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::record::takes::Edge;

/// The manifest of one output folder.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(title = "manifest", description = crate::record::folder::layout::MANIFEST_DESCRIPTION)]
pub(crate) struct Manifest {
    /// Format version (2: shots list their takes; 1 had one record per request).
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
pub(crate) enum ShotStatus {
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

/// The manifest's format version.
pub(crate) const VERSION: u32 = 2;

/// One shot of the storyboard: this render's request for it, every take it has had and the
/// selected one (`<id>.mp4`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub(crate) struct ShotRecord {
    /// The shot id (its selected take is `<id>.mp4`).
    pub id: String,
    /// This render's request for the shot (the first, when `takes:` asks for several).
    #[serde(flatten)]
    pub request: RequestRecord,
    /// This render's further requests for the shot (`takes:` beyond the first, a redo).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<RequestRecord>,
    /// Every take the shot has had whose clip is kept, oldest first.
    #[serde(default)]
    pub takes: Vec<TakeRecord>,
    /// The selected take's number; `null` when the shot has no clip (a gap in the cut).
    pub selected_take: Option<u32>,
    /// The selected take was made from an earlier request than the one the storyboard asks
    /// for now (an edited prompt or setting not rendered yet, or a pick of an earlier take):
    /// it stays in the cut, marked stale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The planned duration in seconds (a shot with no clip is a gap this long in the cut).
    #[serde(default)]
    pub seconds: f64,
    /// The voices of `<<<voice_N>>>` markers in the prompt, by name, in marker order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voices: Vec<String>,
    /// The characters sent with the shot (`cast()`), in `@ElementN` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cast: Vec<CastRecord>,
    /// The director's note (`storyboard pick` or the review page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A redo waits for the next render (`storyboard pick --redo`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redo: bool,
    /// Frames first: every frame take the shot has had whose image is kept, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<TakeRecord>,
    /// The frame take its next video animates: the pick (`storyboard pick --frame N`), else the
    /// newest of its frame request (`frame_request_key`; with `frame: {takes: N}` the first of
    /// the N), else the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_frame: Option<u32>,
    /// The end frame takes likewise (`end_frame:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end_frames: Vec<TakeRecord>,
    /// The end frame take its next video ends on, by the same rule as `selected_frame`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_end_frame: Option<u32>,
}

/// The frame a video take was made from (frames first).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub(crate) struct FrameOf {
    /// Its frame take number.
    pub take: u32,
    /// The frame image's sha256.
    pub sha256: String,
}

/// A character of a shot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub(crate) struct CastRecord {
    /// The name under `cast:`.
    pub name: String,
    /// Its element number (`@Element1` is 1).
    pub element: u32,
    /// Its frontal image: a URL, or a copy kept in the output folder (`.storyboard/cast/`).
    pub frontal: Option<String>,
}

/// One take: a clip the shot got, and what produced it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub(crate) struct TakeRecord {
    /// Take number (1, 2, … in the order the shot's clips were made).
    pub take: u32,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// The request key.
    pub request_key: String,
    /// Endpoint id (fal) or model slug (Eachlabs), when journaled.
    pub endpoint: Option<String>,
    /// The input actually sent, when journaled.
    pub input: Option<Map<String, Value>>,
    /// The clip in the output folder's store (`.storyboard/clips/<sha256>.mp4`).
    pub clip: ClipRecord,
    /// Estimated USD it was rendered at.
    pub estimated_usd: Option<f64>,
    /// What the provider billed for it, in USD, when known: fal's billing events
    /// (`cost_estimate_nano_usd`, readable with a billing-scoped key), Eachlabs' reported cost.
    pub actual_usd: Option<f64>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Made by the built-in sandbox (not a real clip).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// The director's note about this take (`storyboard pick SHOT N --note`, the review page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The frame take this video was made from (frames first), when the journal tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameOf>,
    /// The end frame take it ends on (`end_frame:`), likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_frame: Option<FrameOf>,
}

/// One request of a render.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub(crate) struct RequestRecord {
    /// The request's name in progress lines and `--only`: the shot id, or `<id>-take<n>` for
    /// `takes:`, `<id> redo` for a redo. (A version 1 manifest has none: the shot id is taken.)
    #[serde(default)]
    pub label: String,
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
    /// Frames first: the frame request whose image the video animates unless another frame
    /// take is picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_request_key: Option<String>,
    /// The end frame request likewise (`end_frame:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_frame_request_key: Option<String>,
    /// The provider's request id, once accepted.
    pub request_id: Option<String>,
    /// Estimated USD; `null` when unpriced.
    pub estimated_usd: Option<f64>,
    /// What the provider billed, when known (fal's billing events; Eachlabs `metrics.cost`).
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
pub(crate) struct ClipRecord {
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

/// One end of a shot's frames (frames first): the first frame's fields or the end frame's.
impl ShotRecord {
    /// Its frame takes at `edge`, and the one selected.
    pub(crate) fn frames_at(&self, edge: Edge) -> (&[TakeRecord], Option<u32>) {
        match edge {
            Edge::Start => (&self.frames, self.selected_frame),
            Edge::End => (&self.end_frames, self.selected_end_frame),
        }
    }

    /// The frame requests at `edge` of its requests (the render's current ones).
    pub(crate) fn frame_keys(&self, edge: Edge) -> impl Iterator<Item = &String> {
        std::iter::once(&self.request)
            .chain(&self.more)
            .filter_map(move |r| match edge {
                Edge::Start => r.frame_request_key.as_ref(),
                Edge::End => r.end_frame_request_key.as_ref(),
            })
    }
}

impl TakeRecord {
    /// The frame take at `edge` this video take was made from.
    pub(crate) fn made_from(&self, edge: Edge) -> Option<&FrameOf> {
        match edge {
            Edge::Start => self.frame.as_ref(),
            Edge::End => self.end_frame.as_ref(),
        }
    }
}

/// Groups a render's requests (in plan order, each with its shot id) into shots, in order of
/// first appearance; and where each request went: (shot, 0 for the first request, n for
/// `more[n - 1]`).
pub(crate) fn group(requests: Vec<(String, RequestRecord)>) -> (Vec<ShotRecord>, Vec<(usize, usize)>) {
    let mut shots: Vec<ShotRecord> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut locate = Vec::with_capacity(requests.len());
    for (id, request) in requests {
        match at.get(&id) {
            Some(&s) => {
                shots[s].more.push(request);
                locate.push((s, shots[s].more.len()));
            }
            None => {
                at.insert(id.clone(), shots.len());
                locate.push((shots.len(), 0));
                shots.push(ShotRecord {
                    id,
                    request,
                    more: Vec::new(),
                    takes: Vec::new(),
                    selected_take: None,
                    stale: false,
                    seconds: 0.0,
                    voices: Vec::new(),
                    cast: Vec::new(),
                    note: None,
                    redo: false,
                    frames: Vec::new(),
                    selected_frame: None,
                    end_frames: Vec::new(),
                    selected_end_frame: None,
                });
            }
        }
    }
    (shots, locate)
}

impl Manifest {
    /// Every request of the render, shot by shot.
    pub(crate) fn requests(&self) -> impl Iterator<Item = &RequestRecord> {
        self.shots
            .iter()
            .flat_map(|s| std::iter::once(&s.request).chain(&s.more))
    }

    /// The file's bytes: pretty JSON with every registered key masked.
    pub(crate) fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        Ok(crate::secrets::redact_bytes(bytes))
    }

    /// Reads a manifest; `None` when there is none or it cannot be read (not a regular file,
    /// over 64 MiB, or a shot id no storyboard could have).
    pub(crate) fn read(path: &Utf8Path) -> Option<Manifest> {
        let bytes = crate::files::read_limited(path, 64 << 20, false).ok()??;
        let mut m: Manifest = serde_json::from_slice(&bytes).ok()?;
        if m.shots.iter().any(|s| crate::files::check_id(&s.id).is_err()) {
            return None;
        }
        for s in &mut m.shots {
            if s.request.label.is_empty() {
                s.request.label = s.id.clone();
            }
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_manifest_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::record::folder::layout::manifest(&Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap());
        let v1 = r#"{"version":1,"storyboard":"s.yaml","title":null,"generator":"storyboard 0.1.0",
            "started_at":"t","finished_at":"t","estimated_usd":0.7,"shots":[{"id":"a","status":"done",
            "provider":"fal","endpoint":"e","input":{},"request_key":"k","request_id":"r",
            "estimated_usd":0.7,"clip":{"path":"a.mp4","bytes":1,"sha256":"x","source_url":"u"},
            "submitted_at":null,"completed_at":null,"attempts":1,"error":null}]}"#;
        std::fs::write(&path, v1).unwrap();
        let m = Manifest::read(&path).expect("read");
        assert_eq!(m.shots[0].request.label, "a");
        assert_eq!(m.shots[0].request.status, ShotStatus::Done);
        assert!(m.shots[0].takes.is_empty() && m.shots[0].selected_take.is_none());
    }
}
