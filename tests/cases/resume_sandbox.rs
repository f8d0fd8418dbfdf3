//! `render --sandbox` can be resumed: the built-in sandbox keeps its jobs in the output folder
//! (`.storyboard/sandbox/`), so a re-run after Ctrl-C follows the jobs already submitted instead
//! of submitting them again, as against a real provider.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::resume_hints::quoted;
use crate::common::{Sandbox, Test, Watchdog, sha256_hex};
use serde_json::Value;

/// The kept sandbox's state file, when it is there and whole.
fn kept_state(out: &Path) -> Option<Value> {
    let text = std::fs::read(out.join(".storyboard/sandbox/state.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The kept jobs, in submit order.
fn kept_jobs(out: &Path) -> Vec<Value> {
    kept_state(out)
        .and_then(|s| s["jobs"].as_array().cloned())
        .unwrap_or_default()
}

/// `storyboard` in `dir` with no key and no provider URL (the built-in sandbox needs neither).
fn storyboard_in(dir: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("storyboard"));
    cmd.current_dir(dir).env("NO_COLOR", "1").env("COLUMNS", "1000");
    for var in [
        "FAL_KEY",
        "EACHLABS_API_KEY",
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_API_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Six shots, four rendered at a time; the last starts from a local image (uploaded once, by
/// the first run, and sent by the second).
fn six_shots(t: &Test) {
    let shots: String = (0..6)
        .map(|i| format!("  - id: s{i}\n    prompt: shot number {i}\n"))
        .collect();
    let frame = crate::common::root().join("examples/cast/mara-front.png");
    std::fs::copy(frame, t.path().join("frame.png")).unwrap();
    t.write(
        "ad.yaml",
        &format!("version: 1\nshots:\n{shots}    start_image: ./frame.png\n"),
    );
}

/// Starts `render ad.yaml --sandbox --out OUT -j 4`, waits until the kept sandbox holds four
/// jobs, then presses Ctrl-C twice (stop at once); the render's stderr.
fn interrupted_after_four_submits(t: &Test, out: &str) -> String {
    let child = storyboard_in(t.path())
        .args(["render", "ad.yaml", "--sandbox", "--out", out, "-j", "4", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dog = Watchdog::new(child.id(), 60);
    // Polls the sandbox's state file (the test's only waiting; nothing is asserted on time).
    while kept_jobs(&t.path().join(out)).len() < 4 {
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..2 {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, err) = ended(child, dog);
    assert_eq!(code, Some(130), "{err}");
    err
}

/// How a child ended: its exit code and stderr; a hang (the watchdog killed it) fails.
fn ended(mut child: std::process::Child, dog: Watchdog) -> (Option<i32>, String) {
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let code = child.wait().unwrap().code();
    assert!(!dog.done(), "it hung: {err}");
    (code, err)
}

/// `.storyboard/voices.json` beside the storyboard.
fn voices_json(t: &Test) -> Value {
    serde_json::from_slice(&std::fs::read(t.path().join(".storyboard/voices.json")).unwrap()).unwrap()
}

/// The clip of each shot in `out` (`s0.mp4` …), by shot id.
fn clips(out: &Path) -> Vec<(String, Vec<u8>)> {
    (0..6)
        .map(|i| {
            let name = format!("s{i}");
            let bytes = std::fs::read(out.join(format!("{name}.mp4"))).unwrap_or_default();
            (name, bytes)
        })
        .collect()
}

#[test]
fn a_sandbox_render_interrupted_after_four_submits_resumes_them_without_new_jobs() {
    let t = Test::new();
    six_shots(&t);
    let err = interrupted_after_four_submits(&t, "emu");
    let out = t.path().join("emu");
    let first: Vec<Value> = kept_jobs(&out);
    assert_eq!(first.len(), 4, "{first:?}");
    let resume = quoted(&err, "storyboard render");
    assert!(resume.contains("--sandbox") && resume.contains("--out emu"), "{resume}");

    // The hint, run as printed (through a shell, as a user pastes it).
    let bin = assert_cmd::cargo::cargo_bin("storyboard");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = Command::new("sh");
    sh.current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "1000")
        .env("PATH", path);
    sh.env_remove("FAL_KEY").env_remove("STORYBOARD_FAL_URL");
    let o = sh.args(["-c", resume]).output().unwrap();
    let text = crate::common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("{} resumed", first.len())), "{text}");

    // Every shot rendered once: the first run's jobs were followed, not submitted again.
    let jobs = kept_jobs(&out);
    assert_eq!(jobs.len(), 6, "one job per shot: {jobs:#?}");
    let again: Vec<&Value> = jobs.iter().filter(|j| j["start"] == 2).collect();
    assert_eq!(again.len(), 6 - first.len(), "{jobs:#?}");
    for j in &first {
        assert!(
            jobs.iter()
                .any(|k| k["request_id"] == j["request_id"] && k["start"] == 1),
            "{j} kept"
        );
        assert!(!again.iter().any(|k| k["input"] == j["input"]), "{j} submitted again");
    }
    same_clips_as_the_sandbox_serves(&out);
}

/// Each clip on disk is byte for byte the clip the sandbox serves for the shot's request (the
/// sandbox, started again from the folder, serves the same bytes), and its manifest sha256.
fn same_clips_as_the_sandbox_serves(out: &Path) {
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = camino::Utf8PathBuf::from_path_buf(out.join(".storyboard/sandbox")).unwrap();
    let sandbox: Sandbox = rt.block_on(Sandbox::rehearsal(Some(&dir))).unwrap().unwrap();
    for (shot, bytes) in clips(out) {
        let record = manifest["shots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == shot.as_str())
            .unwrap();
        let id = record["request_id"].as_str().unwrap();
        let url = format!("{}/files/{id}/output.mp4", sandbox.base_url());
        let served = rt.block_on(async { reqwest::get(&url).await.unwrap().bytes().await.unwrap() });
        assert!(!bytes.is_empty(), "{shot}.mp4 written");
        assert_eq!(
            sha256_hex(&bytes),
            sha256_hex(&served),
            "{shot}.mp4 is the clip of {id}"
        );
    }
    // The image uploaded by the first run (once: the second sent the URL it journaled) is
    // still served as uploaded.
    let uploads = kept_state(out).map(|s| s["uploads"].clone()).unwrap_or_default();
    assert_eq!(uploads.as_array().map(Vec::len), Some(1), "{uploads}");
    let s5 = &manifest["shots"][5]["input"]["start_image_url"];
    let url = s5.as_str().unwrap_or_default();
    assert!(url.starts_with(&sandbox.base_url()), "{s5}");
    let served = rt.block_on(async { reqwest::get(url).await.unwrap().bytes().await.unwrap() });
    let local = std::fs::read(out.parent().unwrap().join("frame.png")).unwrap();
    assert_eq!(sha256_hex(&served), sha256_hex(&local), "{url}");
}

/// One shot with a voice (mara's, created from a sample) and three without.
const VOICED: &str = r#"version: 1
model: kling-v3-pro
output: out
voices:
  mara: { sample: ./mara.mp3 }
cast:
  mara:
    frontal: https://example.com/mara.png
    references: [https://example.com/mara-left.png]
    voice: mara
shots:
  - id: talk
    prompt: '{{ cast("mara") }} says hello'
    start_image: https://example.com/bench.png
  - id: u1
    prompt: an empty street
    start_image: https://example.com/bench.png
  - id: u2
    prompt: a tram passes
    start_image: https://example.com/bench.png
  - id: u3
    prompt: rain on the window
    start_image: https://example.com/bench.png
"#;

const CREATE_VOICE: &str = "fal-ai/kling-video/create-voice";

/// A folder with mara's sample and the storyboard `yaml`, against a sandbox holding voices.
fn voiced_folder(yaml: &str) -> Test {
    let t = Test::blocking(crate::common::fast());
    std::fs::copy(
        crate::common::root().join("examples/voices/mara.mp3"),
        t.path().join("mara.mp3"),
    )
    .unwrap();
    t.write("v.yaml", yaml);
    t.sb().hold_voices(true);
    t
}

/// `render v.yaml` against the test's sandbox, started.
fn spawn_render(t: &Test) -> std::process::Child {
    let mut cmd = storyboard_in(t.path());
    cmd.args(["render", "v.yaml", "--yes", "-j", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    super::resume_hints::at_sandbox(&mut cmd, &t.url());
    cmd.spawn().unwrap()
}

/// Polls the sandbox's counters until `until` holds; panics if the render ends first.
fn wait_for(t: &Test, child: &mut std::process::Child, until: impl Fn(&Value) -> bool) -> Value {
    loop {
        let stats = t.sb().stats();
        if until(&stats) {
            return stats;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the render ended ({status}) first: {stats}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shots_without_a_voice_are_submitted_while_the_voice_is_created() {
    let t = voiced_folder(VOICED);
    let mut child = spawn_render(&t);
    let dog = Watchdog::new(child.id(), 60);
    // While the voice creation is held, the three shots without a voice are submitted.
    let stats = wait_for(&t, &mut child, |s| s["jobs_by_kind"]["video"] == 3);
    assert_eq!(stats["jobs_created"][CREATE_VOICE], 1, "{stats}");
    t.sb().hold_voices(false);
    let (code, err) = ended(child, dog);
    assert_eq!(code, Some(0), "{err}");
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_by_kind"]["video"], 4, "{stats}");
    assert_eq!(stats["jobs_created"][CREATE_VOICE], 1, "{stats}");
    let m = crate::common::manifest(&t.path().join("out"));
    let talk = m["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "talk")
        .unwrap();
    let voice = talk["input"]["elements"][0]["voice_id"].as_str().unwrap_or_default();
    assert!(voice.starts_with("vc_"), "the created voice was sent: {talk}");
    // The journal agrees: the voiced shot was submitted after the three others.
    let journal = std::fs::read_to_string(t.path().join("out/.storyboard/journal.jsonl")).unwrap();
    let accepted: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event"] == "accepted")
        .map(|r| r["shot"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(accepted.last().map(String::as_str), Some("talk"), "{journal}");
}

#[test]
fn ctrl_c_during_a_voice_creation_stops_at_once_and_the_voice_is_never_paid_twice() {
    let one: String = VOICED.lines().take(14).map(|l| format!("{l}\n")).collect();
    let t = voiced_folder(&one);
    let mut child = spawn_render(&t);
    let dog = Watchdog::new(child.id(), 60);
    wait_for(&t, &mut child, |s| s["jobs_created"][CREATE_VOICE] == 1);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    // It ends while the voice is still held: it did not wait for the creation.
    let (code, err) = ended(child, dog);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("Ctrl-C"), "{err}");
    assert!(err.contains("voice `mara` was still being created"), "{err}");
    let voices = voices_json(&t);
    assert!(voices["in_flight"].to_string().contains("request_id"), "{voices}");

    // The next render follows the creation job instead of paying for another one.
    t.sb().hold_voices(false);
    let again = spawn_render(&t);
    let dog = Watchdog::new(again.id(), 60);
    let (code, err) = ended(again, dog);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(t.sb().stats()["jobs_created"][CREATE_VOICE], 1, "the voice, once");
    let voices = voices_json(&t);
    assert!(!voices["in_flight"].to_string().contains("request_id"), "{voices}");
}
