//! Hand-off: `render --assemble` on every example gives a cut as long as its clips, a timeline
//! that OpenTimelineIO loads, and a review page that loads cleanly in headless Chromium.

use crate::common::SandboxConfig;
use crate::common::{Test, probe_duration, root, storyboard};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A media file's duration, read by ffprobe (`storyboard::media::probe_duration`).
fn ffprobe_duration(path: &Path) -> f64 {
    let path = camino::Utf8Path::from_path(path).expect("a UTF-8 path");
    probe_duration(path).expect("ffprobe reads the duration")
}

/// Whether a media file has an audio stream (ffprobe).
fn has_audio(path: &Path) -> bool {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=index",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

/// Loads `page` in headless Chromium: the console lines it logged, its DOM, and a screenshot.
fn chromium(page: &Path, screenshot: &Path) -> (Vec<String>, String) {
    let profile = tempfile::tempdir().unwrap();
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .args([
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--log-level=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let url = format!("file://{}", page.display());
    let mut dump = Command::new("chromium");
    base(&mut dump);
    let o = dump.arg("--dump-dom").arg(&url).output().unwrap();
    let console = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    let mut shot = Command::new("chromium");
    base(&mut shot);
    let s = shot
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(s.status.success());
    (console, String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn the_browser_check_catches_console_errors() {
    if !crate::common::tool_present("chromium") {
        return;
    }
    let t = Test::new();
    let page = t.write(
        "bad.html",
        "<html><body><video controls></video><script>console.error('broken page')</script></body></html>",
    );
    let (console, dom) = chromium(&page, &t.path().join("bad.png"));
    assert!(console.iter().any(|l| l.contains("broken page")), "{console:?}");
    assert_eq!(dom.matches("<video").count(), 1);
}

#[test]
fn render_assemble_on_every_example_hands_off_a_cut_a_timeline_and_a_review_page() {
    if !crate::common::tool_present("ffmpeg") || !crate::common::tool_present("chromium") {
        return;
    }
    let Some(py) = crate::common::test_python() else { return };
    let shots_dir = root().join("target/review-screenshots");
    std::fs::create_dir_all(&shots_dir).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    for name in &names {
        let t = Test::new();
        let out = t.out();
        let o = storyboard()
            .arg("render")
            .arg(root().join("examples").join(name))
            .args(["--sandbox", "--assemble", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{name}: {err}");
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
        // Each shot's selected take, at `<id>.mp4`.
        let shots = manifest["shots"].as_array().unwrap();
        assert!(shots.iter().all(|s| s["selected_take"].is_u64()), "{name}: {manifest}");
        let clips: Vec<PathBuf> = shots
            .iter()
            .map(|s| out.join(format!("{}.mp4", s["id"].as_str().unwrap())))
            .collect();
        let takes: usize = shots.iter().map(|s| s["takes"].as_array().unwrap().len()).sum();
        let sum: f64 = clips.iter().map(|c| ffprobe_duration(c)).sum();

        let find = |ext: &str| -> PathBuf {
            std::fs::read_dir(&out)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|e| e == ext) && !clips.contains(p))
                .unwrap_or_else(|| panic!("{name}: no .{ext} written: {err}"))
        };
        let cut = find("mp4");
        let cut_len = ffprobe_duration(&cut);
        assert!((cut_len - sum).abs() < 0.1, "{name}: cut {cut_len} s vs clips {sum} s");

        let otio = find("otio");
        let check = Command::new(&py)
            .arg(root().join("tests/conformance/otio_check.py"))
            .arg(&otio)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let seen: Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(seen["clips"].as_u64(), Some(clips.len() as u64), "{name}: {seen}");
        assert!(
            (seen["seconds"].as_f64().unwrap() - sum).abs() < 0.1,
            "{name}: {seen} vs {sum}"
        );
        // The sound: an audio track when any clip has an audio stream, a clip where it has one.
        let sound: Vec<&str> = clips
            .iter()
            .map(|c| if has_audio(c) { "Clip" } else { "Gap" })
            .collect();
        let audio: Vec<Vec<&str>> = seen["audio"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["kind"].as_str().unwrap())
                    .collect()
            })
            .collect();
        match sound.contains(&"Clip") {
            true => assert_eq!(audio, [sound], "{name}: {seen}"),
            false => assert!(audio.is_empty(), "{name}: {seen}"),
        }
        // An editor's formats, by OpenTimelineIO's own adapters, read back whole.
        assert_eq!(
            seen["converted"]["edl"].as_u64(),
            Some(clips.len() as u64),
            "{name}: {seen}"
        );
        assert!(
            seen["converted"]["xml"].as_u64() >= Some(clips.len() as u64),
            "{name}: {seen}"
        );
        assert_eq!(seen["missing"], serde_json::json!([]), "{name}: {seen}");

        let shot = shots_dir.join(format!("{}.png", name.trim_end_matches(".yaml")));
        let (console, dom) = chromium(&out.join("review.html"), &shot);
        assert!(console.is_empty(), "{name}: console output: {console:?}");
        assert_eq!(
            dom.matches("<video").count(),
            takes + 1,
            "{name}: every take, and the cut"
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: screenshot");
    }
}

/// Renders `yaml` against a fresh sandbox (kept alive by the returned handle).
async fn rendered(yaml: &str) -> (Test, PathBuf, std::process::Output) {
    let t = Test::with(SandboxConfig {
        job_time: Duration::from_millis(40),
        ..SandboxConfig::fast()
    })
    .await;
    let file = t.storyboard(yaml);
    let o = t.render(&file, &[]).await;
    (t, file, o)
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_shots_are_left_out_with_a_warning_and_strict_refuses() {
    let (t, file, o) = rendered(
        "version: 1\ntitle: Mixed\noutput: out\nshots:\n  - id: good\n    prompt: fine\n  - id: bad\n    prompt: \"x [sandbox:fail]\"\n",
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let o = storyboard().arg("assemble").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("left out") && err.contains("bad"), "{err}");
    let review = std::fs::read_to_string(t.path().join("out/review.html")).unwrap();
    assert!(review.contains("class=\"shot failed\""), "failed shots stand out");
    assert_eq!(review.matches("<video").count(), 2, "the good shot's take and the cut");
    // The failed shot is a gap of its planned 5 s, in the cut and in the timeline.
    if crate::common::tool_present("ffmpeg") {
        let cut = ffprobe_duration(&t.path().join("out/mixed.mp4"));
        let good = ffprobe_duration(&t.path().join("out/good.mp4"));
        assert!(
            (cut - (good + 5.0)).abs() < 0.1,
            "cut {cut} s = good {good} s + a 5 s gap"
        );
    }
    if let Some(py) = crate::common::test_python() {
        let check = Command::new(&py)
            .arg(root().join("tests/conformance/otio_check.py"))
            .arg(t.path().join("out/mixed.otio"))
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        let seen: Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(seen["items"][0]["kind"], "Clip", "{seen}");
        assert_eq!(seen["items"][1]["kind"], "Gap", "{seen}");
        assert_eq!(seen["items"][1]["name"], "bad", "{seen}");
        assert_eq!(seen["items"][1]["seconds"].as_f64(), Some(5.0), "{seen}");
        assert_eq!(seen["items"][1]["markers"][0], "missing", "{seen}");
    }
    let o = storyboard()
        .arg("assemble")
        .arg(&file)
        .arg("--strict")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--strict"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_ffmpeg_the_timeline_and_page_are_still_written_with_durations_from_the_files() {
    let (t, file, o) = rendered(
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n    duration: 10\n",
    )
    .await;
    assert_eq!(o.status.code(), Some(0));
    let empty = tempfile::tempdir().unwrap();
    let o = storyboard()
        .arg("assemble")
        .arg(&file)
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("ffmpeg is not installed"), "{err}");
    let otio: Value = serde_json::from_str(&std::fs::read_to_string(t.path().join("out/s.otio")).unwrap()).unwrap();
    let clips = otio["tracks"]["children"][0]["children"].as_array().unwrap();
    let frames: Vec<f64> = clips
        .iter()
        .map(|c| c["source_range"]["duration"]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(frames, [150.0, 300.0], "durations read from the MP4 mvhd box at 30 fps");
    assert!(t.path().join("out/review.html").exists());
}
