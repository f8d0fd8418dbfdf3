//! The file host: real playable MP4 clips (made per job by `synth`: the asked duration and
//! aspect ratio at 24 fps, audio when asked, the job drawn in), padded on request to any size
//! and streamed; uploaded files; range requests and Content-Length.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Fault, Inner, Outcome, Shared, json_response};
use storyboard_synth as synth;

/// What a job's clip is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClipSpec {
    /// `16x9` (320×180), `9x16` (180×320) or `1x1` (240×240).
    pub aspect: &'static str,
    /// Whole seconds, as asked.
    pub seconds: u32,
    /// With an audio track.
    pub audio: bool,
    /// Drawn in the clip: the prompt's first words.
    pub title: String,
    /// Drawn in the clip: the endpoint or model that made it.
    pub model: String,
}

impl ClipSpec {
    /// The clip a request to `model` asks for: its aspect ratio (16:9 when it has none, as for
    /// image-to-video), duration (`duration` as a string or number, "6" or "6s"; motion
    /// control: 10 s for orientation `video`, 5 s for `image`; else 5 s), audio
    /// (`generate_audio`, `keep_original_sound`), and the prompt to draw.
    pub(super) fn from_input(input: &Value, model: &str, audio_default: bool) -> ClipSpec {
        let aspect = match input.get("aspect_ratio").and_then(Value::as_str) {
            Some("9:16") => "9x16",
            Some("1:1") => "1x1",
            _ => "16x9",
        };
        let asked = match input.get("duration") {
            Some(Value::Number(n)) => n.as_f64().map(|s| s.round() as u32),
            Some(Value::String(s)) => s
                .trim()
                .trim_end_matches('s')
                .trim()
                .parse::<f64>()
                .ok()
                .map(|s| s.round() as u32),
            _ => None,
        };
        let seconds = match (asked, input.get("character_orientation")) {
            (Some(s), _) => s.clamp(1, 60),
            (None, Some(o)) if o == "video" => 10,
            _ => 5,
        };
        let audio = input
            .get("generate_audio")
            .or_else(|| input.get("keep_original_sound"))
            .and_then(Value::as_bool)
            .unwrap_or(audio_default);
        let prompt = input
            .get("prompt")
            .and_then(Value::as_str)
            .or_else(|| input.pointer("/multi_prompt/0/prompt").and_then(Value::as_str))
            .unwrap_or("");
        let title: String = prompt.split_whitespace().take(12).collect::<Vec<_>>().join(" ");
        let model = model.strip_prefix("fal-ai/").unwrap_or(model).to_owned();
        ClipSpec {
            aspect,
            seconds,
            audio,
            title,
            model,
        }
    }

    /// The displayed size.
    fn size(&self) -> (u32, u32) {
        match self.aspect {
            "9x16" => (180, 320),
            "1x1" => (240, 240),
            _ => (320, 180),
        }
    }
}

/// The clips made most recently, by job id: a result fetch and the downloads (and their
/// retries and ranges) that follow share one making of the clip.
#[derive(Default)]
pub(super) struct ClipCache(
    std::sync::Mutex<std::collections::VecDeque<(String, Arc<Vec<u8>>)>>,
    /// Every clip's length once made, by job id (history listings report hundreds of sizes).
    std::sync::Mutex<std::collections::HashMap<String, u64>>,
);

impl ClipCache {
    /// How many clips are kept (a few MB each at most).
    const KEEP: usize = 16;

    pub(super) fn get_or_make(&self, job: &str, make: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, clip)) = lock().iter().find(|(id, _)| id == job) {
            return clip.clone();
        }
        let clip = Arc::new(make());
        let mut kept = lock();
        kept.push_back((job.to_owned(), clip.clone()));
        if kept.len() > Self::KEEP {
            kept.pop_front();
        }
        clip
    }
}

/// The bytes of a clip: the MP4 made for the job, then (when padding) a `free` box of zeros.
struct Clip {
    fixture: Arc<Vec<u8>>,
    total: u64,
}

impl Clip {
    fn new(state: &Shared, spec: &ClipSpec, job: &str) -> Clip {
        let (width, height) = spec.size();
        let fixture = state.clips.get_or_make(job, || {
            synth::mp4(&synth::Spec {
                width,
                height,
                seconds: spec.seconds,
                audio: spec.audio,
                title: &spec.title,
                model: &spec.model,
                job,
            })
        });
        let flen = fixture.len() as u64;
        let total = match state.config.clip_bytes {
            Some(want) if want >= flen + 16 => want,
            _ => flen,
        };
        Clip { fixture, total }
    }

    /// The `free` box header for `pad` bytes (64-bit size form, 16 bytes).
    fn pad_header(&self) -> [u8; 16] {
        let pad = self.total - self.fixture.len() as u64;
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&1u32.to_be_bytes());
        h[4..8].copy_from_slice(b"free");
        h[8..].copy_from_slice(&pad.to_be_bytes());
        h
    }

    /// Bytes `[start, end)` of the clip.
    fn slice(&self, start: u64, end: u64) -> Bytes {
        let flen = self.fixture.len() as u64;
        let mut out = Vec::with_capacity((end - start) as usize);
        let header = self.pad_header();
        let mut pos = start;
        while pos < end {
            if pos < flen {
                let stop = end.min(flen);
                out.extend_from_slice(&self.fixture[pos as usize..stop as usize]);
                pos = stop;
            } else if pos < flen + 16 {
                let stop = end.min(flen + 16);
                out.extend_from_slice(&header[(pos - flen) as usize..(stop - flen) as usize]);
                pos = stop;
            } else {
                out.resize(out.len() + (end - pos) as usize, 0);
                pos = end;
            }
        }
        Bytes::from(out)
    }
}

/// The size of a job's clip, as the result's `file_size` reports it (made once per job).
pub(super) fn clip_len(state: &Shared, spec: &ClipSpec, job: &str) -> u64 {
    let lens = || state.clips.1.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&len) = lens().get(job) {
        return len;
    }
    let len = Clip::new(state, spec, job).total;
    lens().insert(job.to_owned(), len);
    len
}

const CHUNK: u64 = 64 * 1024;

/// `GET /files/{id}/output.mp4` (a job's clip) and `GET /files/uploads/{token}/{name}`.
pub(super) fn serve(state: &Shared, segs: &[&str], headers: &HeaderMap, head: bool) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("download");
    if let ["uploads", token, _name] = segs {
        let now = inner.wall_now();
        return match inner.uploads.get(*token) {
            Some(super::Upload {
                content_type,
                bytes: Some(bytes),
                expires,
                ..
            }) if expires.is_none_or(|e| now < e) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", content_type.as_str())
                .header("content-length", bytes.len())
                .body(if head { Body::empty() } else { Body::from(bytes.clone()) })
                .unwrap_or_default(),
            _ => json_response(StatusCode::NOT_FOUND, json!({"detail": "File not found"})),
        };
    }
    let id = segs.first().copied().unwrap_or("").trim_end_matches(".mp4");
    if let Some(spec) = inner
        .jobs
        .get(id)
        .and_then(|j| super::images::spec_of(&j.outcome))
        .cloned()
    {
        drop(inner);
        return super::images::serve(state, &spec, id, segs.get(1).copied().unwrap_or(""), head);
    }
    let spec = inner
        .jobs
        .get(id)
        .map(|j| &j.outcome)
        .or_else(|| inner.predictions.get(id).map(|p| &p.outcome))
        .and_then(|o| match o {
            Outcome::Clip(spec) => Some(spec.clone()),
            _ => None,
        });
    let Some(spec) = spec else {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "File not found"}));
    };
    if !head && inner.fault(&state.config.faults, Fault::File404) {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "File not found"}));
    }
    let truncate = !head && inner.fault(&state.config.faults, Fault::Truncate);
    if headers.contains_key("range") {
        inner.count("download_range");
    }
    drop(inner);
    let clip = Clip::new(state, &spec, id);
    let (status, start, end) = match range(headers, clip.total) {
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Ok(None) => (StatusCode::OK, 0, clip.total),
        Err(()) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header("content-range", format!("bytes */{}", clip.total))
                .body(Body::empty())
                .unwrap_or_default();
        }
    };
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "video/mp4")
        .header("accept-ranges", "bytes")
        .header("content-length", end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header("content-range", format!("bytes {start}-{}/{}", end - 1, clip.total));
    }
    if head {
        return builder.body(Body::empty()).unwrap_or_default();
    }
    // A truncated download sends half of what Content-Length promised, then fails.
    let stop = if truncate { start + (end - start) / 2 } else { end };
    let stream = futures::stream::unfold((clip, start, false), move |(clip, pos, failed)| async move {
        if pos >= stop {
            if truncate && !failed {
                return Some((Err(std::io::Error::other("connection reset")), (clip, pos, true)));
            }
            return None;
        }
        let next = (pos + CHUNK).min(stop);
        let bytes = clip.slice(pos, next);
        Some((Ok::<Bytes, std::io::Error>(bytes), (clip, next, failed)))
    });
    builder.body(Body::from_stream(stream)).unwrap_or_default()
}

/// One `bytes=a-b` range (`Ok(None)` when there is none or it is not understood).
fn range(headers: &HeaderMap, total: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim().parse::<u64>().ok(), b.trim().parse::<u64>().ok()) {
        (Some(s), Some(e)) => (s, e.saturating_add(1).min(total)),
        (Some(s), None) => (s, total),
        (None, Some(suffix)) => (total.saturating_sub(suffix), total),
        (None, None) => return Ok(None),
    };
    if start >= total || start >= end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `PUT /__upload/{token}`: the bytes of an initiated (fal) or presigned (Eachlabs) upload.
pub(super) fn receive_upload(state: &Shared, token: Option<&str>, headers: &HeaderMap, body: Bytes) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("upload");
    let Some(upload) = token.and_then(|t| inner.uploads.get_mut(t)) else {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "Unknown upload"}));
    };
    let sent_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if sent_type != upload.content_type {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"detail": format!("Content-Type `{sent_type}` does not match the signed `{}`", upload.content_type)}),
        );
    }
    upload.bytes = Some(body);
    state.keep(&mut inner);
    json_response(StatusCode::OK, json!({}))
}

/// How long an upload is kept: `X-Fal-Object-Lifecycle` (fal-js `storage.ts`; the Python
/// client may send `X-Fal-Object-Lifecycle-Preference`, ../shared/reference/protocol.md §2) as JSON
/// `{"expiration_duration_seconds": N}`, else the account's lifetime. A header that is not
/// that JSON is refused (422).
pub(super) fn lifetime(state: &Shared, headers: &HeaderMap) -> Result<Option<Duration>, Box<Response<Body>>> {
    let header = ["x-fal-object-lifecycle", "x-fal-object-lifecycle-preference"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()));
    let Some(text) = header else {
        return Ok(state.config.upload_lifetime);
    };
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match v.get("expiration_duration_seconds") {
        None if v.is_object() => Ok(state.config.upload_lifetime),
        Some(n) if n.as_u64().is_some() => Ok(n.as_u64().map(Duration::from_secs)),
        _ => Err(Box::new(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": "X-Fal-Object-Lifecycle must be JSON like {\"expiration_duration_seconds\": 604800}"}),
        ))),
    }
}

/// Sets an initiated upload's expiry (from the sandbox's clock) and whether it comes in parts.
pub(super) fn opened(state: &Shared, token: &str, lifetime: Option<Duration>, multipart: bool) {
    let mut inner = state.lock();
    let now = inner.wall_now();
    if let Some(u) = inner.uploads.get_mut(token) {
        u.expires = lifetime.map(|l| now + l);
        u.parts = multipart.then(BTreeMap::new);
    }
}

/// `PUT /__upload/{token}/{n}`: part `n` (1–10000) of a multipart upload; answers
/// `{partNumber, etag}` (fal-js reads the body) and an `ETag` header (the Python client's).
pub(super) fn receive_part(state: &Shared, token: &str, n: &str, body: Bytes) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("upload_part");
    let Some(parts) = inner.uploads.get_mut(token).and_then(|u| u.parts.as_mut()) else {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "Unknown multipart upload"}));
    };
    let Some(n) = n.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"detail": "part number must be 1 to 10000"}),
        );
    };
    let etag = etag_of(&body);
    parts.insert(n, body);
    let mut r = json_response(StatusCode::OK, json!({"partNumber": n, "etag": etag}));
    if let Ok(v) = format!("\"{etag}\"").parse() {
        r.headers_mut().insert("etag", v);
    }
    r
}

fn etag_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `POST /__upload/{token}/complete` `{"parts": [{"partNumber", "etag"}]}`: every part, in
/// order, each with the etag its PUT answered; the file is then served whole.
pub(super) fn complete(state: &Shared, token: &str, body: &[u8]) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("upload_complete");
    let Some(upload) = inner.uploads.get_mut(token).filter(|u| u.parts.is_some()) else {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "Unknown multipart upload"}));
    };
    let listed: Vec<(u64, String)> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["parts"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| Some((p["partNumber"].as_u64()?, p["etag"].as_str()?.to_owned())))
        .collect();
    let parts = upload
        .parts
        .as_ref()
        .map(|p| p.iter().collect::<Vec<_>>())
        .unwrap_or_default();
    let matches = listed.len() == parts.len()
        && listed
            .iter()
            .zip(&parts)
            .all(|((n, etag), (m, bytes))| *n == u64::from(**m) && *etag == etag_of(bytes));
    if parts.is_empty() || !matches {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"detail": "parts must list every uploaded part in order with its etag"}),
        );
    }
    let mut whole = Vec::with_capacity(parts.iter().map(|(_, b)| b.len()).sum());
    for (_, b) in &parts {
        whole.extend_from_slice(b);
    }
    upload.bytes = Some(Bytes::from(whole));
    upload.parts = None;
    state.keep(&mut inner);
    json_response(StatusCode::OK, json!({}))
}

/// A stable voice id for a sample: by the uploaded bytes when the URL is one of ours, else by
/// the URL.
pub(super) fn voice_id_for(inner: &Inner, url: &str, _app: &str) -> String {
    let content = url
        .split("/files/uploads/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|token| inner.uploads.get(token))
        .and_then(|u| u.bytes.clone());
    let digest = match content {
        Some(bytes) => Sha256::digest(&bytes),
        None => Sha256::digest(url.as_bytes()),
    };
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("vc_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_spec_takes_the_asked_duration_aspect_audio_and_prompt() {
        let spec = ClipSpec::from_input(
            &json!({"prompt": "A night market in the rain", "duration": "7", "aspect_ratio": "9:16", "generate_audio": true}),
            "fal-ai/kling-video/v3/pro/text-to-video",
            false,
        );
        assert_eq!((spec.aspect, spec.seconds, spec.audio), ("9x16", 7, true));
        assert_eq!(
            (spec.title.as_str(), spec.model.as_str()),
            ("A night market in the rain", "kling-video/v3/pro/text-to-video")
        );
        let seconds = |input: Value| ClipSpec::from_input(&input, "m", true).seconds;
        assert_eq!(seconds(json!({"duration": "6s"})), 6);
        assert_eq!(seconds(json!({"duration": 12})), 12);
        assert_eq!(seconds(json!({"character_orientation": "video"})), 10);
        assert_eq!(seconds(json!({"character_orientation": "image"})), 5);
        assert_eq!(seconds(json!({})), 5);
        let other = ClipSpec::from_input(&json!({"keep_original_sound": false}), "m", true);
        assert_eq!((other.aspect, other.audio), ("16x9", false));
    }
}
