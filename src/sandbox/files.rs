//! The file host: real playable MP4 clips (committed fixtures, see `clips/README.md`),
//! padded on request to any size and streamed without holding it in memory; uploaded files;
//! range requests and Content-Length.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Fault, Inner, Outcome, Shared, json_response};

/// Which fixture a job's clip is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSpec {
    /// `16x9`, `9x16` or `1x1`.
    pub aspect: &'static str,
    /// One of [`FIXTURE_SECONDS`]: the requested duration, or the closest fixture to it.
    pub seconds: u32,
    /// With an audio track.
    pub audio: bool,
}

/// The durations of the committed fixtures. A request for another length (Seedance's 7, 9,
/// 11–15 s; LTX fast's 12–20 s) gets the closest one (longer on a tie): the sandbox does not
/// encode video, and a fixture per second per aspect per audio would be ~70 files.
pub const FIXTURE_SECONDS: [u32; 5] = [4, 5, 6, 8, 10];

/// The seconds a request's `duration` asks for, as each family writes it: `"10"` (Kling,
/// Hailuo, Seedance), `"8s"` (Veo), `8` (LTX). `auto` (Seedance) and no field are `None`.
fn requested_seconds(duration: Option<&Value>) -> Option<u32> {
    match duration? {
        Value::String(s) => s.strip_suffix('s').unwrap_or(s).parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// The fixture closest to `seconds` (longer on a tie).
fn closest_fixture(seconds: u32) -> u32 {
    FIXTURE_SECONDS
        .into_iter()
        .min_by_key(|f| (f.abs_diff(seconds), u32::MAX - f))
        .unwrap_or(5)
}

impl ClipSpec {
    /// The clip a request asks for: its aspect ratio (16:9 when it has none, as for
    /// image-to-video), duration (the requested seconds, or the closest fixture; none or
    /// `auto`: 5 s; motion control: 10 s for orientation `video`, 5 s for `image`), and audio
    /// (`generate_audio`, `keep_original_sound`).
    pub fn from_input(input: &Value, audio_default: bool) -> ClipSpec {
        let aspect = match input.get("aspect_ratio").and_then(Value::as_str) {
            Some("9:16") => "9x16",
            Some("1:1") => "1x1",
            _ => "16x9",
        };
        let seconds = match (
            requested_seconds(input.get("duration")),
            input.get("character_orientation"),
        ) {
            (Some(s), _) => closest_fixture(s),
            (None, Some(o)) if o == "video" => 10,
            _ => 5,
        };
        let audio = input
            .get("generate_audio")
            .or_else(|| input.get("keep_original_sound"))
            .and_then(Value::as_bool)
            .unwrap_or(audio_default);
        ClipSpec { aspect, seconds, audio }
    }

    fn fixture(self) -> &'static [u8] {
        macro_rules! clips {
            ($aspect:literal) => {
                match (self.seconds, self.audio) {
                    (4, false) => include_bytes!(concat!("clips/", $aspect, "_4s.mp4")).as_slice(),
                    (4, true) => include_bytes!(concat!("clips/", $aspect, "_4s_audio.mp4")).as_slice(),
                    (5, false) => include_bytes!(concat!("clips/", $aspect, "_5s.mp4")).as_slice(),
                    (5, true) => include_bytes!(concat!("clips/", $aspect, "_5s_audio.mp4")).as_slice(),
                    (6, false) => include_bytes!(concat!("clips/", $aspect, "_6s.mp4")).as_slice(),
                    (6, true) => include_bytes!(concat!("clips/", $aspect, "_6s_audio.mp4")).as_slice(),
                    (8, false) => include_bytes!(concat!("clips/", $aspect, "_8s.mp4")).as_slice(),
                    (8, true) => include_bytes!(concat!("clips/", $aspect, "_8s_audio.mp4")).as_slice(),
                    (_, false) => include_bytes!(concat!("clips/", $aspect, "_10s.mp4")).as_slice(),
                    (_, true) => include_bytes!(concat!("clips/", $aspect, "_10s_audio.mp4")).as_slice(),
                }
            };
        }
        match self.aspect {
            "16x9" => clips!("16x9"),
            "9x16" => clips!("9x16"),
            _ => clips!("1x1"),
        }
    }
}

/// The bytes of a clip: the fixture, a `free` box naming the job (so every job's clip is its
/// own file, as a real model's would be), then (when padding) a `free` box of zeros.
struct Clip {
    fixture: Vec<u8>,
    total: u64,
}

impl Clip {
    fn new(state: &Shared, spec: &ClipSpec, job: &str) -> Clip {
        let mut fixture = spec.fixture().to_vec();
        fixture.extend_from_slice(&(8 + job.len() as u32).to_be_bytes());
        fixture.extend_from_slice(b"free");
        fixture.extend_from_slice(job.as_bytes());
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

/// The size of a job's clip, as the result's `file_size` reports it.
pub fn clip_len(state: &Shared, spec: &ClipSpec, job: &str) -> u64 {
    Clip::new(state, spec, job).total
}

const CHUNK: u64 = 64 * 1024;

/// `GET /files/{id}/output.mp4` (a job's clip) and `GET /files/uploads/{token}/{name}`.
pub(super) fn serve(state: &Shared, segs: &[&str], headers: &HeaderMap, head: bool) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("download");
    if let ["uploads", token, _name] = segs {
        return match inner.uploads.get(*token) {
            Some(super::Upload {
                content_type,
                bytes: Some(bytes),
            }) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", content_type.as_str())
                .header("content-length", bytes.len())
                .body(if head { Body::empty() } else { Body::from(bytes.clone()) })
                .unwrap_or_default(),
            _ => json_response(StatusCode::NOT_FOUND, json!({"detail": "File not found"})),
        };
    }
    let id = segs.first().copied().unwrap_or("").trim_end_matches(".mp4");
    let spec = inner
        .jobs
        .get(id)
        .map(|j| &j.outcome)
        .or_else(|| inner.predictions.get(id).map(|p| &p.outcome))
        .and_then(|o| match o {
            Outcome::Clip(spec) => Some(*spec),
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
mod clip_tests {
    use super::*;

    /// Each family's way of writing a duration picks the fixture of that length, or the closest.
    #[test]
    fn a_requested_duration_picks_its_fixture_or_the_closest() {
        let secs = |input: Value| ClipSpec::from_input(&input, false).seconds;
        assert_eq!(secs(json!({"duration": "8s"})), 8, "Veo");
        assert_eq!(secs(json!({"duration": "4s"})), 4);
        assert_eq!(secs(json!({"duration": "6"})), 6, "Hailuo");
        assert_eq!(secs(json!({"duration": 8})), 8, "LTX");
        assert_eq!(secs(json!({"duration": "10"})), 10, "Kling");
        assert_eq!(secs(json!({"duration": "5"})), 5);
        assert_eq!(secs(json!({"duration": "7"})), 8, "closest, longer on a tie");
        assert_eq!(secs(json!({"duration": "3"})), 4);
        assert_eq!(secs(json!({"duration": 20})), 10);
        assert_eq!(secs(json!({"duration": "auto"})), 5, "Seedance auto");
        assert_eq!(secs(json!({"prompt": "x"})), 5);
        for s in FIXTURE_SECONDS {
            for aspect in ["16x9", "9x16", "1x1"] {
                for audio in [false, true] {
                    let clip = ClipSpec {
                        aspect,
                        seconds: s,
                        audio,
                    }
                    .fixture();
                    assert!(clip.len() > 1000, "{aspect} {s}s {audio}");
                }
            }
        }
    }
}
