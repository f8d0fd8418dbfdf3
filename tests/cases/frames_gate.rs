//! Frames first (#25), the approval gate over real HTTP against the sandbox: with
//! `approve: frames` a render makes the frames only; `pick --frame N` chooses the frame each
//! video animates (the sandbox receives exactly that frame's bytes); picking another frame
//! re-renders only that shot's video, and putting the pick back costs nothing.

use crate::common::{Test, fast, sha256_hex, stderr};
use serde_json::Value;

/// Four shots with frames and the gate: Nano Banana 2 at 1K ($0.08 a frame), Kling v2.6 pro
/// image-to-video 5 s without audio ($0.35 a video).
const GATED: &str = r#"
version: 1
model: kling-v2.6-pro
approve: frames
output: ./out
defaults:
  duration: 5
  generate_audio: false
  frame:
    model: nano-banana-2
shots:
  - { id: one, prompt: "A lighthouse at dusk" }
  - { id: two, prompt: "Waves breaking", frame: { prompt: "Waves on rocks" } }
  - { id: three, prompt: "A gull" }
  - { id: four, prompt: "A boat" }
"#;

/// (image jobs, video jobs) the sandbox created.
pub(crate) fn kinds(t: &Test) -> (u64, u64) {
    let s = t.sb().stats();
    let n = |k: &str| s["jobs_by_kind"][k].as_u64().unwrap_or(0);
    (n("image"), n("video"))
}

/// The sha256 of each frame take of `shot`, in take order, as the journal recorded them.
fn frame_takes(t: &Test, shot: &str) -> Vec<String> {
    let journal = std::fs::read_to_string(t.out().join(".storyboard/journal.jsonl")).unwrap();
    let mut shas: Vec<String> = Vec::new();
    for line in journal.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let sha = r["clip"]["sha256"].as_str().map(str::to_owned);
        if r["shot"] == format!("{shot}.frame") && r["event"] == "done" && !shas.contains(sha.as_ref().unwrap()) {
            shas.push(sha.unwrap());
        }
    }
    shas
}

/// The sha256 of the start image the sandbox holds for each shot's video (fetched from the
/// sandbox's upload store, not read from the client's files); shots whose video waits for a
/// frame pick are left out.
async fn sent_frames(t: &Test) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for shot in t.manifest()["shots"].as_array().unwrap() {
        let url = shot["input"]["start_image_url"].as_str().unwrap();
        if url == "<frame>" {
            continue;
        }
        assert!(url.starts_with(&format!("{}/files/uploads/", t.url())), "{url}");
        let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
        sent.push((shot["id"].as_str().unwrap().to_owned(), sha256_hex(&bytes)));
    }
    sent
}

/// GATED without the gate, its shots before `stop`.
fn ungated_before(stop: &str) -> String {
    let head = GATED.replace("approve: frames\n", "");
    head.split(&format!("  - {{ id: {stop}")).next().unwrap().to_owned()
}

/// `status --json`, and the state of shot `id` in it.
pub(crate) async fn status_of(t: &Test, file: &std::path::Path, id: &str) -> (Value, Value) {
    let status = t.run("status", file, &["--json"]).await;
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    let shot = json["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
        .clone();
    (json, shot)
}

/// Runs a command that must succeed; its stdout and stderr.
pub(crate) async fn ok(t: &Test, cmd: &str, file: &std::path::Path, args: &[&str]) -> String {
    let out = if cmd == "render" {
        t.render(file, args).await
    } else {
        t.run(cmd, file, args).await
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{cmd} {args:?}: {}",
        crate::common::text(&out)
    );
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_renders_frames_then_animates_exactly_the_picked_ones() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(GATED);
    let plan = ok(&t, "plan", &file, &[]).await;
    assert!(
        plan.contains("(frames $0.32 · video $1.40; 4 frames)"),
        "both priced: {plan}"
    );
    assert!(plan.contains("each video waits for its frame's"), "{plan}");
    let first = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (4, 0), "frames only: no video job");
    assert!(
        first.contains("to render: 4 frames for $0.32"),
        "the frames alone: {first}"
    );
    assert!(first.contains("4 shots wait for a frame pick"), "{first}");
    assert!(
        first.contains("storyboard pick ") && first.contains(" --frame N"),
        "{first}"
    );
    assert!(first.contains("storyboard review "), "{first}");
    assert!(first.contains("frames: 4 made this run"), "{first}");
    let status = ok(&t, "status", &file, &[]).await;
    assert!(status.contains("  frames: *1 (* animated;"), "{status}");

    // A second frame of `two` (its prompt edited): still no video.
    let file = t.storyboard(&GATED.replace("Waves on rocks", "Waves on the pier"));
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (5, 0));
    let two = frame_takes(&t, "two");
    assert_eq!(two.len(), 2, "two frame takes: {two:?}");

    // Frame 1 of `two` (not the newest) and each other shot's only frame.
    ok(&t, "pick", &file, &["two", "--frame", "1"]).await;
    for shot in ["one", "three", "four"] {
        ok(&t, "pick", &file, &[shot, "--frame", "1"]).await;
    }
    let (json, two_state) = status_of(&t, &file, "two").await;
    assert_eq!(two_state["selected_frame"], 1, "{two_state}");
    assert_eq!(two_state["frames"].as_array().unwrap().len(), 2, "{two_state}");
    assert_eq!(
        (json["frames_usd"].as_f64().unwrap() * 100.0).round(),
        40.0,
        "five frames: {json}"
    );
    let videos = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (5, 4), "four videos, no frame again");
    assert!(videos.contains("to render: 4 shots for $1.40"), "videos only: {videos}");
    assert!(!videos.contains("wait for a frame pick"), "{videos}");
    for (shot, sha) in sent_frames(&t).await {
        assert_eq!(sha, frame_takes(&t, &shot)[0], "{shot} animates its picked frame");
    }
    let m = t.manifest();
    let rec = &m["shots"][1];
    assert_eq!(rec["id"], "two");
    assert_eq!(rec["frames"].as_array().unwrap().len(), 2, "{rec}");
    assert_eq!(rec["selected_frame"], 1, "{rec}");
    assert_eq!(rec["frames"][0]["clip"]["sha256"], two[0].as_str());
    assert_eq!(rec["takes"][0]["frame"]["take"], 1, "the video names its frame: {rec}");
    assert_eq!(rec["takes"][0]["frame"]["sha256"], two[0].as_str());

    // Another frame for `two`: only its video; back to frame 1: nothing at all.
    ok(&t, "pick", &file, &["two", "--frame", "2"]).await;
    let changed = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (5, 5), "one video: {changed}");
    let sent = sent_frames(&t).await;
    assert_eq!(sent[1], ("two".to_owned(), two[1].clone()));
    ok(&t, "pick", &file, &["two", "--frame", "1"]).await;
    let back = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (5, 5), "reverting the pick is free: {back}");
    assert_eq!(sent_frames(&t).await[1], ("two".to_owned(), two[0].clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picking_a_frame_take_that_does_not_exist_is_refused() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(GATED);
    ok(&t, "render", &file, &[]).await;
    let out = t.run("pick", &file, &["one", "--frame", "3"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`one.frame` has no take 3 (takes: 1)"),
        "{}",
        stderr(&out)
    );
}

/// Without the gate one render does both; `--redo-frame` asks one new frame take (priced,
/// then animated and kept selected); picking the first frame back costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_redo_makes_a_new_frame_take_and_its_video() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&ungated_before("two"));
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (1, 1), "no gate: the frame, then its video");
    let said = ok(&t, "pick", &file, &["one", "--redo-frame"]).await;
    assert!(said.contains("one new frame take on the next render"), "{said}");
    let redo = ok(&t, "render", &file, &[]).await;
    assert!(
        redo.contains("to render: 1 shot + 1 frame for $0.43"),
        "a frame and its video: {redo}"
    );
    assert_eq!(kinds(&t), (2, 2));
    let takes = frame_takes(&t, "one");
    assert_eq!(takes.len(), 2);
    assert_eq!(sent_frames(&t).await[0].1, takes[1], "the redo's frame is animated");
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (2, 2), "the redo's frame stays selected");
    assert_eq!(sent_frames(&t).await[0].1, takes[1]);
    ok(&t, "pick", &file, &["one", "--frame", "1"]).await;
    let back = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (2, 2), "the first video is a kept take: {back}");
    assert_eq!(sent_frames(&t).await[0].1, takes[0]);

    // The redo's video picked, then the first frame: the video pick is let go, so the cut
    // shows the first frame's video again (kept: $0).
    ok(&t, "pick", &file, &["one", "2"]).await;
    let said = ok(&t, "pick", &file, &["one", "--frame", "1"]).await;
    assert!(
        said.contains("the pick of video take 2 (made from another frame) is let go"),
        "{said}"
    );
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (2, 2));
    let rec = &t.manifest()["shots"][0];
    assert_eq!(rec["selected_take"], 1, "{rec}");
    assert_eq!(rec["takes"][0]["frame"]["take"], 1, "{rec}");
}

/// A cast shot's frame is an edit of the cast's images: the sandbox fetched exactly the
/// uploaded frontal and reference images (their bytes), in order, for the frame request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_shot_frame_request_carries_the_cast_images() {
    let t = Test::with(fast()).await;
    std::fs::create_dir_all(t.path().join("cast")).unwrap();
    let mut shas = Vec::new();
    for f in ["mara-front", "mara-left"] {
        let bytes = std::fs::read(crate::common::root().join(format!("examples/cast/{f}.png"))).unwrap();
        std::fs::write(t.path().join(format!("cast/{f}.png")), &bytes).unwrap();
        shas.push(sha256_hex(&bytes));
    }
    let file = t.storyboard(
        r#"
version: 1
model: kling-v3-pro
approve: frames
output: ./out
cast:
  mara: { frontal: ./cast/mara-front.png, references: [./cast/mara-left.png] }
shots:
  - id: meet
    prompt: '{{ cast("mara") }} opens the door'
    duration: 5
    generate_audio: false
    frame: { model: nano-banana-2 }
"#,
    );
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (1, 0));
    let frame = &t.manifest()["shots"][0]["frames"][0];
    let id = frame["request_id"].as_str().unwrap();
    let got = t.sb().received(id).unwrap();
    assert_eq!(got["endpoint"], "fal-ai/nano-banana-2/edit", "{got}");
    let fetched: Vec<&str> = got["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(fetched, shas, "the cast's frontal, then its reference: {got}");
}

/// The review page shows each frame take as an image above the videos; a click picks one
/// (through the same code as `pick --frame`) and `status` shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_director_picks_a_frame_on_the_review_page_in_chromium() {
    if !crate::common::tool_present("chromium") || !crate::common::tool_present("chromedriver") {
        return;
    }
    let Some(py) = crate::common::test_python() else { return };
    let t = Test::with(fast()).await;
    let file = t.storyboard(&ungated_before("three"));
    ok(&t, "render", &file, &[]).await;
    ok(&t, "pick", &file, &["two", "--redo-frame"]).await;
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (3, 3));
    let (seen, shot) = pick_in_browser(&py, &file, "review-frames.png", &["two", "1"]).await;
    assert_eq!(seen["console"], serde_json::json!([]), "no console errors: {seen}");
    assert_eq!(seen["frames"], 3, "one frame of one, two of two: {seen}");
    assert!(
        seen["widths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w.as_u64().unwrap() > 0),
        "{seen}"
    );
    assert_eq!(seen["selected"], 1, "{seen}");
    assert!(
        seen["summary"].as_str().unwrap().contains("frames $0.24"),
        "the page's money line counts the three frames paid: {seen}"
    );
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    let two = status_of(&t, &file, "two").await.1;
    assert_eq!(
        two["selected_frame"], 1,
        "status shows the frame picked in the browser: {two}"
    );
}

/// Serves the review page of `file`, runs `review_frames_browser.py` in headless Chromium with
/// `args` (SHOT FRAME [end]), the screenshot at `target/review-screenshots/<name>`; what the
/// browser saw, and the screenshot's path.
pub(crate) async fn pick_in_browser(
    py: &str,
    file: &std::path::Path,
    name: &str,
    args: &[&str],
) -> (Value, std::path::PathBuf) {
    let (mut child, url) = crate::common::start_review(file);
    let dir = crate::common::root().join("target/review-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(name);
    let mut cmd = std::process::Command::new(py);
    cmd.arg(crate::common::root().join("tests/conformance/review_frames_browser.py"))
        .arg(&url)
        .arg(&shot)
        .args(args);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{}", crate::common::text(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), shot)
}

/// `frame: {takes: 3}` makes three frames of a shot to choose from (priced exactly, frames
/// only under the gate); the video animates the picked one; asking a fourth pays for that
/// frame alone, and the videos already made stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_takes_give_several_frames_to_pick_from_and_a_new_one_pays_only_itself() {
    let t = Test::with(fast()).await;
    let three = GATED
        .replace("    model: nano-banana-2\n", "    model: nano-banana-2\n    takes: 3\n")
        .split("  - { id: three")
        .next()
        .unwrap()
        .to_owned();
    let file = t.storyboard(&three);
    let plan = ok(&t, "plan", &file, &[]).await;
    assert!(plan.contains("one frames ×3") && plan.contains("$0.24"), "{plan}");
    assert!(plan.contains("(frames $0.48 · video $0.70; 6 frames)"), "{plan}");
    let first = ok(&t, "render", &file, &[]).await;
    assert!(first.contains("to render: 6 frames for $0.48"), "{first}");
    assert_eq!(kinds(&t), (6, 0), "three frames of each shot, no video");
    let one = frame_takes(&t, "one");
    assert_eq!(one.len(), 3, "three distinct frames: {one:?}");
    let (_, state) = status_of(&t, &file, "one").await;
    assert_eq!(state["frames"].as_array().unwrap().len(), 3, "{state}");
    // Until a pick, the frame of the shot's own frame request (takes are numbered as they
    // arrive, so not always take 1).
    let rec = t.manifest()["shots"][0].clone();
    let own = rec["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["request_key"] == rec["frame_request_key"])
        .unwrap_or_else(|| panic!("the frame request's take: {rec}"))["take"]
        .clone();
    assert_eq!(state["selected_frame"], own, "{state}");

    ok(&t, "pick", &file, &["one", "--frame", "3"]).await;
    let video = ok(&t, "render", &file, &[]).await;
    assert!(video.contains("to render: 1 shot for $0.35"), "{video}");
    assert_eq!(kinds(&t), (6, 1), "only the picked shot's video");
    assert_eq!(sent_frames(&t).await[0], ("one".to_owned(), one[2].clone()));

    let four = t.storyboard(&three.replace("takes: 3", "takes: 4"));
    let more = ok(&t, "render", &four, &[]).await;
    assert!(more.contains("to render: 2 frames for $0.16"), "{more}");
    assert_eq!(kinds(&t), (8, 1), "the fourth frames only");
    assert_eq!(frame_takes(&t, "one").len(), 4);
    assert_eq!(
        sent_frames(&t).await[0],
        ("one".to_owned(), one[2].clone()),
        "the pick holds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_takes_out_of_range_are_refused_at_their_line() {
    let t = Test::with(fast()).await;
    for (takes, says) in [("0", "must be at least 1"), ("21", "at most 20 frames of one shot")] {
        let file = t.storyboard(&GATED.replace(
            "frame: { prompt: \"Waves on rocks\" }",
            &format!("frame: {{ prompt: \"Waves on rocks\", takes: {takes} }}"),
        ));
        let out = t.run("plan", &file, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(":13:") && err.contains("frame.takes") && err.contains(says),
            "{err}"
        );
    }
    assert_eq!(kinds(&t), (0, 0));
}

/// A frame picked, then its prompt edited: the pick is let go, the new frame is made and
/// animated (what `plan` priced); picking the first frame back afterwards holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_edited_after_its_pick_is_made_and_animated_and_the_old_one_can_be_picked_back() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&ungated_before("two"));
    ok(&t, "render", &file, &[]).await;
    ok(&t, "pick", &file, &["one", "--frame", "1"]).await;
    let edited = t.storyboard(&ungated_before("two").replace("A lighthouse at dusk", "A lighthouse at night"));
    let plan = ok(&t, "plan", &edited, &[]).await;
    assert!(plan.contains("$0.43"), "{plan}");
    let render = ok(&t, "render", &edited, &[]).await;
    assert!(
        render.contains("to render: 1 shot + 1 frame for $0.43"),
        "render agrees with plan: {render}"
    );
    assert_eq!(kinds(&t), (2, 2));
    let frames = frame_takes(&t, "one");
    assert_eq!(sent_frames(&t).await[0].1, frames[1], "the edited frame is animated");
    ok(&t, "pick", &edited, &["one", "--frame", "1"]).await;
    // The shot's prompt changed too (the frame's is the shot's): one new video of frame 1.
    let back = ok(&t, "render", &edited, &[]).await;
    assert!(back.contains("to render: 1 shot for $0.35"), "no frame again: {back}");
    assert_eq!(kinds(&t), (2, 3));
    assert_eq!(sent_frames(&t).await[0].1, frames[0], "the picked first frame holds");
}

/// Two shots whose frames are the same request (one frame prompt for both): the frame is made
/// and paid once, and each shot lists it and can pick it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shots_sharing_a_frame_request_both_list_it_and_pick_it() {
    let t = Test::with(fast()).await;
    let shared = GATED
        .replace(
            "    model: nano-banana-2\n",
            "    model: nano-banana-2\n    prompt: \"A harbour\"\n",
        )
        .replace(", frame: { prompt: \"Waves on rocks\" }", "");
    let file = t.storyboard(shared.split("  - { id: three").next().unwrap());
    let first = ok(&t, "render", &file, &[]).await;
    assert!(first.contains("to render: 1 frame for $0.08"), "{first}");
    assert_eq!(kinds(&t), (1, 0));
    for shot in ["one", "two"] {
        let said = ok(&t, "pick", &file, &[shot, "--frame", "1"]).await;
        assert!(said.contains("frame take 1 selected"), "{said}");
    }
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (1, 2), "both videos from the one frame");
    let (json, _) = status_of(&t, &file, "two").await;
    assert_eq!(
        (json["frames_usd"].as_f64().unwrap() * 100.0).round(),
        8.0,
        "paid once: {json}"
    );
}
