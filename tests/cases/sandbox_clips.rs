//! The sandbox's clips are ones an editor can use: the asked duration and aspect ratio at
//! 24 fps, audio when asked, each take visibly its own, decoding without a complaint.

use crate::common::{Test, manifest, probe_duration, storyboard, tool_present, write};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const STORYBOARD: &str = "version: 1
model: kling-v3-pro
output: out
shots:
  - id: market
    prompt: A night market in the rain, neon signs reflecting in puddles
    duration: 7
    generate_audio: true
    takes: 2
  - id: alley
    prompt: A cat crosses a wet alley
    duration: 6
    aspect_ratio: \"9:16\"
    generate_audio: false
";

/// `ffprobe -show_entries stream=...` as one `key=value|...` line per stream.
fn streams(clip: &Path) -> Vec<String> {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name,profile,width,height,r_frame_rate,duration")
        .args(["-of", "compact=p=0"])
        .arg(clip)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()
}

fn field<'a>(stream: &'a str, key: &str) -> &'a str {
    stream
        .split('|')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {stream}"))
}

/// What `ffmpeg -v error` says while decoding every frame and sample (nothing, for a clean file).
fn decode_errors(clip: &Path) -> String {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The first frame as raw RGB.
fn first_frame(clip: &Path) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success() && !o.stdout.is_empty());
    o.stdout
}

/// `render --sandbox --assemble` of the storyboard in `dir` (the built-in sandbox): the output
/// folder and its manifest.
fn render_builtin(dir: &Path) -> (PathBuf, Value) {
    let file = write(dir, "film.yaml", STORYBOARD);
    let out = dir.join("out");
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "--assemble", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    (out, m)
}

#[test]
fn a_seven_second_v3_shot_with_audio_is_seven_seconds_at_24_fps_with_an_audio_stream() {
    if !tool_present("ffprobe") || !tool_present("ffmpeg") {
        return;
    }
    let t = Test::new();
    let (out, _) = render_builtin(t.path());
    let market = out.join("market.mp4");
    let s = streams(&market);
    assert_eq!(s.len(), 2, "{s:?}");
    let video = s.iter().find(|l| l.contains("codec_type=video")).unwrap();
    assert_eq!(
        (
            field(video, "codec_name"),
            field(video, "profile"),
            field(video, "r_frame_rate")
        ),
        ("h264", "Constrained Baseline", "24/1"),
    );
    assert_eq!((field(video, "width"), field(video, "height")), ("320", "180"));
    let secs: f64 = field(video, "duration").parse().unwrap();
    assert!((secs - 7.0).abs() <= 1.0 / 24.0, "{secs} s");
    let audio = s
        .iter()
        .find(|l| l.contains("codec_type=audio"))
        .expect("an audio stream");
    let asecs: f64 = field(audio, "duration").parse().unwrap();
    assert!(
        field(audio, "codec_name") == "aac" && (asecs - 7.0).abs() <= 0.03,
        "{audio}"
    );
    assert_eq!(decode_errors(&market), "", "ffmpeg decodes it without a complaint");

    let alley = streams(&out.join("alley.mp4"));
    assert_eq!(alley.len(), 1, "no audio asked, none sent: {alley:?}");
    assert_eq!((field(&alley[0], "width"), field(&alley[0], "height")), ("180", "320"));
    assert!((field(&alley[0], "duration").parse::<f64>().unwrap() - 6.0).abs() <= 1.0 / 24.0);
}

#[test]
fn two_takes_of_a_shot_differ_from_their_first_frame() {
    if !tool_present("ffmpeg") {
        return;
    }
    let t = Test::new();
    let (out, manifest) = render_builtin(t.path());
    let takes = manifest["shots"][0]["takes"].as_array().unwrap();
    let clips: Vec<PathBuf> = takes
        .iter()
        .map(|t| out.join(t["clip"]["path"].as_str().unwrap()))
        .collect();
    assert_eq!(clips.len(), 2);
    let (a, b) = (first_frame(&clips[0]), first_frame(&clips[1]));
    assert_eq!(a.len(), 320 * 180 * 3);
    assert_ne!(a, b, "each take is drawn in its own colour with its own job id");
    assert_eq!(decode_errors(&clips[1]), "");
}

#[test]
fn the_cut_of_a_seven_and_a_six_second_shot_is_thirteen_seconds() {
    if !tool_present("ffmpeg") || !tool_present("ffprobe") {
        return;
    }
    let t = Test::new();
    let (out, _) = render_builtin(t.path());
    let cut = camino::Utf8PathBuf::from_path_buf(out.join("film.mp4")).unwrap();
    let secs = probe_duration(&cut).expect("ffprobe reads the cut");
    assert!((secs - 13.0).abs() < 0.1, "{secs} s");
}
