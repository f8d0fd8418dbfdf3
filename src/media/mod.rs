//! Media files seen from outside: ffprobe's reading of a clip or sample, the MP4 `mvhd`
//! duration when ffprobe is missing, and frames taken with ffmpeg. A leaf: it imports no other
//! stage, so the planner and the assembler can both use it.

pub(crate) mod frames;
pub(crate) mod mp4;

use camino::Utf8Path;
use serde_json::Value;
use std::process::Command;

/// The parts of ffprobe's answer that decide between stream copy and re-encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    /// Video codec.
    pub codec: String,
    /// Frame size.
    pub width: u64,
    /// Frame size.
    pub height: u64,
    /// Frames per second (`30/1`).
    pub frame_rate: String,
    /// Has an audio stream.
    pub audio: bool,
}

/// Whether a tool answers `NAME -version` (ffmpeg, ffprobe).
pub(crate) fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The duration of any media file by ffprobe; `None` without ffprobe (or when it cannot tell).
pub fn probe_duration(path: &Utf8Path) -> Option<f64> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=nw=1:nk=1",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

/// ffprobe's view of a clip; `None` without ffprobe.
pub(crate) fn probe(path: &Utf8Path) -> Option<(f64, Probe)> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,r_frame_rate:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&o.stdout).ok()?;
    let streams = v["streams"].as_array()?;
    let video = streams.iter().find(|s| s["codec_type"] == "video")?;
    let duration = v["format"]["duration"].as_str()?.parse().ok()?;
    Some((
        duration,
        Probe {
            codec: video["codec_name"].as_str().unwrap_or("").to_owned(),
            width: video["width"].as_u64().unwrap_or(0),
            height: video["height"].as_u64().unwrap_or(0),
            frame_rate: video["r_frame_rate"].as_str().unwrap_or("30/1").to_owned(),
            audio: streams.iter().any(|s| s["codec_type"] == "audio"),
        },
    ))
}
