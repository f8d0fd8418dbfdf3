//! Continuity: shots that start on another shot's frame, and voices made from samples.

use crate::common::{SandboxConfig, Test, steady as fast, storyboard};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn chain_yaml(first: &str, last: &str) -> String {
    format!(
        "version: 1\noutput: out\nshots:\n  - id: arrival\n    prompt: {first}\n  - id: platform\n    prompt: The doors open and Mara steps out\n    start_image: {{ after: arrival }}\n  - id: embrace\n    prompt: {last}\n    start_image: {{ after: platform }}\n"
    )
}

/// Decodes an image or a video frame to raw RGB with ffmpeg (`select`: which frame).
fn rgb(input: &Path, select: Option<u64>) -> Vec<u8> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(input);
    if let Some(n) = select {
        cmd.args(["-vf", &format!("select=eq(n\\,{n})"), "-fps_mode", "passthrough"]);
    }
    let o = cmd
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn frame_count(clip: &Path) -> u64 {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(clip)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// ffmpeg present: a sandbox and a three-shot chain storyboard in a fresh folder.
async fn chain_setup(config: SandboxConfig) -> Option<(Test, std::path::PathBuf)> {
    if !crate::common::tool_present("ffmpeg") {
        return None;
    }
    let t = Test::with(config).await;
    let file = t.storyboard(&chain_yaml("A steam train pulls in", "Mara and Tomas embrace"));
    Some((t, file))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_renders_in_order_from_the_exact_last_frames() {
    let Some((t, file)) = chain_setup(fast()).await else {
        return;
    };
    let o = t.render(&file, &["--json", "--concurrency", "3"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |shot: &str, state: &str| {
        events
            .iter()
            .position(|e| e["shot"] == shot && e["state"] == state)
            .unwrap()
    };
    assert!(at("arrival", "done") < at("platform", "submitting"));
    assert!(at("platform", "done") < at("embrace", "submitting"));

    let m = t.manifest();
    for (shot, upstream) in [(1, "arrival"), (2, "platform")] {
        let url = m["shots"][shot]["input"]["start_image_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/files/uploads/", t.url())), "{url}");
        let png = t.path().join(format!("frame{shot}.png"));
        std::fs::write(&png, reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap();
        let clip = t.path().join(format!("out/{upstream}.mp4"));
        let last = frame_count(&clip) - 1;
        assert_eq!(
            rgb(&png, None),
            rgb(&clip, Some(last)),
            "{upstream}: the uploaded PNG is not its last frame"
        );
        assert_ne!(
            rgb(&png, None),
            rgb(&clip, Some(last - 5)),
            "the comparison can tell frames apart"
        );
    }
    assert_eq!(t.jobs(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_a_shot_re_renders_it_and_everything_downstream_only() {
    let Some((t, file)) = chain_setup(fast()).await else {
        return;
    };
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 3);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 3, "unchanged: all cached");
    t.storyboard(&chain_yaml("A steam train pulls in", "They embrace, laughing"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 4, "the last shot alone");
    t.storyboard(&chain_yaml("A diesel train pulls in", "They embrace, laughing"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(t.jobs(), 7, "the first shot and both that follow from it");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upstream_skips_its_dependents_and_the_rest_goes_on() {
    if !crate::common::tool_present("ffmpeg") {
        return;
    }
    let t = Test::with(fast()).await;
    let mut yaml = chain_yaml("\"breaks [sandbox:fail]\"", "Mara and Tomas embrace");
    yaml.push_str("  - id: elsewhere\n    prompt: A quiet street\n");
    let file = t.storyboard(&yaml);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    let m = t.manifest();
    let st = crate::common::shot_statuses(&m);
    assert_eq!(st, ["failed", "skipped", "skipped", "done"]);
    assert!(
        m["shots"][1]["error"]
            .as_str()
            .unwrap()
            .contains("`arrival` has no clip"),
        "{}",
        m["shots"][1]
    );
    assert!(
        m["shots"][2]["error"]
            .as_str()
            .unwrap()
            .contains("`platform` has no clip"),
        "{}",
        m["shots"][2]
    );
    assert_eq!(t.jobs(), 2);
    let status = storyboard().arg("status").arg(t.out()).output().unwrap();
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(table.contains("2 skipped"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_between_chained_shots_renders_nothing_twice() {
    let Some((t, file)) = chain_setup(SandboxConfig {
        job_time: Duration::from_millis(300),
        ..fast()
    })
    .await
    else {
        return;
    };
    let url = t.url();
    let f = file.clone();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
            .arg("render")
            .arg(&f)
            .args(["--yes", "--json"])
            .env("FAL_KEY", "k")
            .env("STORYBOARD_FAL_URL", &url)
            .env("STORYBOARD_FAL_API_URL", &url)
            .env("STORYBOARD_FAL_STORAGE_URL", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once `platform` is submitted: `arrival` is done, `platform` in flight.
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v["shot"] == "platform" && v["state"] == "submitted" {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(t.jobs(), 2);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(t.jobs(), 3);
    let st: Vec<String> = t.manifest()["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(st, ["cached", "done", "done"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn voices_from_samples_are_created_once_across_runs() {
    let t = Test::with(fast()).await;
    std::fs::create_dir_all(t.path().join("voices")).unwrap();
    std::fs::copy(
        crate::common::example("voices/mara.mp3"),
        t.path().join("voices/mara.mp3"),
    )
    .unwrap();
    let yaml = "version: 1\noutput: out\nvoices:\n  mara: { sample: ./voices/mara.mp3 }\nshots:\n  - id: a\n    prompt: \"{{ voice('mara') }} speaks\"\n    start_image: https://x.test/a.png\n  - id: b\n    prompt: \"{{ voice('mara') }} again\"\n    start_image: https://x.test/b.png\n";
    let file = t.storyboard(yaml);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.render(&file, &["--force"]).await.status.code(), Some(0));
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_created"]["fal-ai/kling-video/create-voice"], 1, "{stats}");
    let m = t.manifest();
    let id = m["shots"][0]["input"]["voice_ids"][0].as_str().unwrap();
    assert!(id.starts_with("vc_"), "{id}");
    assert_eq!(m["shots"][1]["input"]["voice_ids"][0], id);
    let remembered = std::fs::read_to_string(t.path().join(".storyboard/voices.json")).unwrap();
    assert!(remembered.contains(id));
}

fn plan_fails(yaml: &str, files: &[(&str, &[u8])], expect: &[&str]) {
    let t = Test::new();
    for (name, bytes) in files {
        let p = t.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let file = t.write("shots.yaml", yaml);
    let o = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in {err}");
    }
}

#[test]
fn references_to_unknown_shots_are_refused_with_a_suggestion() {
    plan_fails(
        "version: 1\nshots:\n  - id: arrival\n    prompt: a\n  - id: b\n    prompt: b\n    start_image: { after: arival }\n",
        &[],
        &[
            "shot `b`, field `start_image`",
            "no shot `arival`",
            "did you mean `arrival`",
        ],
    );
}

#[test]
fn a_shot_cannot_start_from_itself() {
    plan_fails(
        "version: 1\nshots:\n  - id: a\n    prompt: a\n    start_image: { after: a }\n",
        &[],
        &["shot `a`", "itself"],
    );
}

#[test]
fn cycles_are_refused_naming_the_shots() {
    plan_fails(
        "version: 1\nshots:\n  - id: a\n    prompt: a\n    start_image: { after: b }\n  - id: b\n    prompt: b\n    start_image: { after: a }\n",
        &[],
        &["cycle", "a → b → a"],
    );
}

#[test]
fn a_reference_into_a_matrix_shot_must_name_one_expansion() {
    plan_fails(
        "version: 1\nshots:\n  - id: \"close-{{ who }}\"\n    prompt: \"{{ who }}\"\n    matrix: { who: [mara, tomas] }\n  - id: next\n    prompt: n\n    start_image: { after: close }\n",
        &[],
        &[
            "shot `next`",
            "`close` expands to several shots (close-mara, close-tomas)",
            "name one",
        ],
    );
}

#[test]
fn a_frame_past_the_end_is_refused() {
    plan_fails(
        "version: 1\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n    start_image: { frame_of: a, at: 7 }\n",
        &[],
        &["shot `b`", "at 7 s is outside `a` (0–5 s)"],
    );
}

#[test]
fn chained_shots_on_eachlabs_point_at_fal() {
    plan_fails(
        "version: 1\nprovider: eachlabs\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n    start_image: { after: a }\n",
        &[],
        &["shot `b`", "provider: fal"],
    );
}

#[test]
fn voice_samples_are_checked_before_anything_is_sent() {
    plan_fails(
        "version: 1\nvoices:\n  mara: { sample: ./voices/none.wav }\nshots:\n  - prompt: a\n",
        &[],
        &["voice `mara`", "does not exist"],
    );
    plan_fails(
        "version: 1\nvoices:\n  mara: { sample: ./voices/mara.ogg }\nshots:\n  - prompt: a\n",
        &[("voices/mara.ogg", b"OggS")],
        &["voice `mara`", "wav/mp3/m4a/mp4/mov"],
    );
    plan_fails(
        "version: 1\nvoices:\n  mara: { sample: ./v.wav }\nshots:\n  - prompt: a\n",
        &[("v.wav", b"")],
        &["voice `mara`", "empty"],
    );
}

/// A sample goes up in one upload like a reference video: one larger than that is refused at
/// plan time (a sparse file, so the test writes nothing of the sort).
#[test]
fn a_voice_sample_larger_than_one_upload_is_refused() {
    let t = Test::new();
    let file = t.storyboard("version: 1\nvoices:\n  mara: { sample: ./big.wav }\nshots:\n  - prompt: a\n");
    let big = std::fs::File::create(t.path().join("big.wav")).unwrap();
    big.set_len(101 * 1024 * 1024).unwrap();
    let o = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("voice `mara`") && err.contains("1 byte to 100 MB"),
        "{err}"
    );
}

#[test]
fn a_voice_sample_must_be_5_to_30_seconds() {
    if !crate::common::tool_present("ffmpeg") {
        return;
    }
    let t = Test::new();
    let wav = t.path().join("short.wav");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "sine=d=2"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(o.status.success());
    let bytes = std::fs::read(&wav).unwrap();
    plan_fails(
        "version: 1\nvoices:\n  mara: { sample: ./short.wav }\nshots:\n  - prompt: a\n",
        &[("short.wav", &bytes)],
        &["voice `mara`", "2.0 s long", "5–30 s"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_storyboard_knows_chained_shots() {
    let Some((t, file)) = chain_setup(fast()).await else {
        return;
    };
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let o = storyboard().arg("status").arg(&file).arg("--json").output().unwrap();
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    let states: Vec<&str> = st["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["done", "done", "done"], "{st}");
    assert!(t.path().join("out/embrace.mp4").exists());
}

/// A chained shot cached on a later run keeps its provenance in the manifest: the request id
/// and the input actually sent (the uploaded frame's URL, not a placeholder).
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_chained_shot_names_the_request_and_input_that_made_its_clip() {
    let Some((t, file)) = chain_setup(fast()).await else {
        return;
    };
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let first = t.manifest();
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let again = t.manifest();
    for (a, b) in first["shots"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["shots"].as_array().unwrap())
    {
        assert_eq!(b["status"], "cached", "{b}");
        assert_eq!(a["request_id"], b["request_id"], "{b}");
        assert!(b["request_id"].is_string(), "{b}");
        assert_eq!(a["input"], b["input"], "{b}");
        assert!(!b["input"].to_string().contains("<last frame"), "{b}");
    }
}
