//! An OpenTimelineIO timeline (JSON written directly: there is no official Rust binding):
//! Timeline → Stack → a video Track and, when any clip carries sound, an audio Track → one Clip
//! per shot, each an ExternalReference to the clip file with its real duration (a Gap where a
//! shot has no clip, or no sound on the audio track). OpenTimelineIO's own adapters turn it into
//! an EDL (CMX 3600) and FCP XML (a conformance test runs them).

use serde_json::{Value, json};

use super::Clip;

/// Frames per second of a clip (`30/1` → 30), 30 when unknown (Kling renders 30 fps).
fn rate(clip: &Clip) -> f64 {
    clip.probe
        .as_ref()
        .and_then(|p| {
            let (n, d) = p.frame_rate.split_once('/')?;
            let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
            (n > 0.0 && d > 0.0).then_some(n / d)
        })
        .unwrap_or(30.0)
}

fn time(value: f64, rate: f64) -> Value {
    json!({"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": value})
}

fn range(duration_s: f64, rate: f64) -> Value {
    json!({"OTIO_SCHEMA": "TimeRange.1", "start_time": time(0.0, rate), "duration": time((duration_s * rate).round(), rate)})
}

/// Whether a shot's clip carries sound: as ffprobe saw it, or (without ffprobe) as requested.
fn has_audio(c: &Clip) -> bool {
    c.rel.is_some()
        && match &c.probe {
            Some(p) => p.audio,
            None => c.record.request.input.get("generate_audio") == Some(&Value::Bool(true)),
        }
}

/// A gap of a shot's duration (on the audio track: a shot without sound).
fn silence(c: &Clip) -> Value {
    json!({
        "OTIO_SCHEMA": "Gap.1",
        "metadata": {},
        "name": c.record.id,
        "source_range": range(c.duration, rate(c)),
        "effects": [],
        "markers": [],
        "enabled": true,
    })
}

/// One track of a kind (`Video`, `Audio`).
fn track(name: &str, kind: &str, children: Vec<Value>) -> Value {
    json!({
        "OTIO_SCHEMA": "Track.1",
        "metadata": {},
        "name": name,
        "source_range": null,
        "effects": [],
        "markers": [],
        "enabled": true,
        "kind": kind,
        "children": children,
    })
}

/// One shot on the track: its selected take as a clip, or a gap of its planned duration with
/// a marker saying why (so the timeline keeps the storyboard's timing).
fn item(c: &Clip) -> Value {
    let r = rate(c);
    let take = c.take();
    let meta = json!({"storyboard": {
        "shot": c.record.id,
        "take": c.record.selected_take,
        "endpoint": take.and_then(|t| t.endpoint.clone()).unwrap_or_else(|| c.record.request.endpoint.clone()),
        "prompt": take.and_then(|t| t.input.as_ref()?.get("prompt").cloned()).or_else(|| c.record.request.input.get("prompt").cloned()),
        "request_id": take.and_then(|t| t.request_id.clone()),
        "sha256": take.map(|t| t.clip.sha256.clone()),
        "stale": c.record.stale,
    }});
    let Some(rel) = &c.rel else {
        let why = format!("no clip for shot {} ({:?})", c.record.id, c.record.request.status).to_lowercase();
        return json!({
            "OTIO_SCHEMA": "Gap.1",
            "metadata": meta,
            "name": c.record.id,
            "source_range": range(c.duration, r),
            "effects": [],
            "markers": [{
                "OTIO_SCHEMA": "Marker.2",
                "metadata": {},
                "name": "missing",
                "marked_range": range(c.duration, r),
                "color": "RED",
                "comment": why,
            }],
            "enabled": true,
        });
    };
    json!({
        "OTIO_SCHEMA": "Clip.2",
        "metadata": meta,
        "name": c.record.id,
        "source_range": range(c.duration, r),
        "effects": [],
        "markers": stale_marker(c, r),
        "enabled": true,
        "media_references": {"DEFAULT_MEDIA": {
            "OTIO_SCHEMA": "ExternalReference.1",
            "metadata": {},
            "name": rel,
            "available_range": range(c.duration, r),
            "available_image_bounds": null,
            "target_url": rel,
        }},
        "active_media_reference_key": "DEFAULT_MEDIA",
    })
}

/// A stale take's marker (made from an earlier request than the storyboard's current one: in
/// the cut until the current request is rendered); none for a current take.
fn stale_marker(c: &Clip, r: f64) -> Vec<Value> {
    if !c.record.stale {
        return Vec::new();
    }
    let why = format!(
        "stale: take {} of shot {} was made from an earlier prompt or settings; render the shot to replace it",
        c.record.selected_take.unwrap_or_default(),
        c.record.id
    );
    vec![json!({
        "OTIO_SCHEMA": "Marker.2",
        "metadata": {"storyboard": {"stale": true}},
        "name": "stale",
        "marked_range": range(c.duration, r),
        "color": "ORANGE",
        "comment": why,
    })]
}

/// The timeline document (clip paths relative to the timeline's own folder, the output folder).
pub(crate) fn timeline(title: &str, clips: &[Clip]) -> String {
    let mut tracks = vec![track("Video 1", "Video", clips.iter().map(item).collect())];
    if clips.iter().any(has_audio) {
        let sound = |c: &Clip| if has_audio(c) { item(c) } else { silence(c) };
        tracks.push(track("Audio 1", "Audio", clips.iter().map(sound).collect()));
    }
    let doc = json!({
        "OTIO_SCHEMA": "Timeline.1",
        "metadata": {"storyboard": {"generator": format!("storyboard {}", env!("CARGO_PKG_VERSION"))}},
        "name": title,
        "global_start_time": null,
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "metadata": {},
            "name": "tracks",
            "source_range": null,
            "effects": [],
            "markers": [],
            "enabled": true,
            "children": tracks,
        },
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// What a timeline storyboard wrote put in the cut: each shot's clip sha256 (`None`: a gap),
/// read back from its video track; `None` when there is no readable timeline.
pub(crate) fn assembled(path: &camino::Utf8Path) -> Option<Vec<(String, Option<String>)>> {
    let bytes = crate::files::read_limited(path, crate::record::folder::MAX_STATE_BYTES, false).ok()??;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    let video = doc["tracks"]["children"].as_array()?.first()?["children"].as_array()?;
    video
        .iter()
        .map(|item| {
            let meta = &item["metadata"]["storyboard"];
            let sha = meta["sha256"].as_str().filter(|_| item["OTIO_SCHEMA"] == "Clip.2");
            Some((meta["shot"].as_str()?.to_owned(), sha.map(str::to_owned)))
        })
        .collect()
}
