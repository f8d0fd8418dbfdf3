//! Frames first (#25), the end frame: `end_frame:` is made by an image model before the video
//! like the first frame, picked and redone the same way (`pick --end-frame N`,
//! `--redo-end-frame`), and sent as the video's end image (checked from the sandbox's uploads).

use super::frames_gate::{kinds, ok, pick_in_browser, status_of};
use crate::common::{Test, fast, sha256_hex, stderr};
use serde_json::Value;

/// One shot from a closed door to an open one, gated; Nano Banana 2 at 1K ($0.08 a frame),
/// Kling v2.6 pro image-to-video 5 s without audio ($0.35), which takes an end image.
const DOOR: &str = r#"
version: 1
model: kling-v2.6-pro
approve: frames
output: ./out
defaults:
  duration: 5
  generate_audio: false
shots:
  - id: door
    prompt: "The door swings open onto a sunlit garden"
    frame: { prompt: "A closed wooden door in a dim hallway" }
    end_frame: { prompt: "An open door onto a sunlit garden" }
"#;

/// `plan --json` of a storyboard.
async fn json_plan(t: &Test, yaml: &str) -> Value {
    let out = t.run("plan", &t.storyboard(yaml), &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sha256 of the image the sandbox holds at the video's `field` (its upload store).
async fn sent(t: &Test, field: &str) -> String {
    let url = t.manifest()["shots"][0]["input"][field].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/files/uploads/", t.url())), "{url}");
    sha256_hex(&reqwest::get(&url).await.unwrap().bytes().await.unwrap())
}

/// The sha256 of the shot's `end_frames` (or `frames`) takes, in take order.
fn takes_of(t: &Test, list: &str) -> Vec<String> {
    let m = t.manifest();
    let takes = m["shots"][0][list].as_array().cloned().unwrap_or_default();
    takes
        .iter()
        .map(|f| f["clip"]["sha256"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_frame_is_made_picked_and_sent_as_the_end_image() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(DOOR);
    let plan = ok(&t, "plan", &file, &[]).await;
    assert!(
        plan.contains("door end frame") && plan.contains("(frames $0.16 · video $0.35; 2 frames)"),
        "{plan}"
    );
    let first = ok(&t, "render", &file, &[]).await;
    assert!(first.contains("to render: 2 frames for $0.16"), "{first}");
    assert_eq!(kinds(&t), (2, 0), "both frames, no video");
    let status = ok(&t, "status", &file, &[]).await;
    assert!(status.contains("  end frames: *1 (* ends on;"), "{status}");

    // The first frame picked, the end frame not yet: the video still waits.
    ok(&t, "pick", &file, &["door", "--frame", "1"]).await;
    let waits = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (2, 0), "{waits}");
    assert!(waits.contains("1 shot waits for a frame pick"), "{waits}");
    ok(&t, "pick", &file, &["door", "--end-frame", "1"]).await;
    let video = ok(&t, "render", &file, &[]).await;
    assert!(video.contains("to render: 1 shot for $0.35"), "{video}");
    assert_eq!(kinds(&t), (2, 1));
    let (starts, ends) = (takes_of(&t, "frames"), takes_of(&t, "end_frames"));
    assert_eq!(sent(&t, "start_image_url").await, starts[0]);
    assert_eq!(sent(&t, "end_image_url").await, ends[0], "the end frame's bytes");
    assert_ne!(starts[0], ends[0], "two different frames");

    // A new end frame: priced and made (the gate shows it before its video), then ended on;
    // picking the first back is free.
    ok(&t, "pick", &file, &["door", "--redo-end-frame"]).await;
    let redo = ok(&t, "render", &file, &[]).await;
    assert!(redo.contains("to render: 1 frame for $0.08"), "{redo}");
    assert!(redo.contains("its end frame waits for a pick"), "{redo}");
    assert!(
        redo.contains("frames: 1 made this run"),
        "the new end frame only: {redo}"
    );
    assert_eq!(kinds(&t), (3, 1));
    let animated = ok(&t, "render", &file, &[]).await;
    assert!(
        animated.contains("to render: 1 shot for $0.35"),
        "the redo's frame is picked: {animated}"
    );
    assert_eq!(kinds(&t), (3, 2));
    let ends = takes_of(&t, "end_frames");
    assert_eq!(ends.len(), 2);
    assert_eq!(sent(&t, "end_image_url").await, ends[1]);
    let rec = &t.manifest()["shots"][0];
    assert_eq!(rec["selected_end_frame"], 2, "{rec}");
    assert_eq!(
        rec["takes"][1]["end_frame"]["take"], 2,
        "the video names its end frame: {rec}"
    );
    ok(&t, "pick", &file, &["door", "--end-frame", "1"]).await;
    let back = ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (3, 2), "the first video is a kept take: {back}");
    assert_eq!(sent(&t, "end_image_url").await, ends[0]);

    // Notes stay with the frame take they are about.
    let said = ok(
        &t,
        "pick",
        &file,
        &["door", "--end-frame", "2", "--note", "the garden is right"],
    )
    .await;
    assert!(said.contains("note kept with end frame take 2"), "{said}");
    ok(&t, "pick", &file, &["door", "--frame", "1", "--note", "too dark"]).await;
    ok(&t, "assemble", &file, &[]).await;
    let rec = &t.manifest()["shots"][0];
    assert_eq!(rec["end_frames"][1]["note"], "the garden is right", "{rec}");
    assert_eq!(rec["frames"][0]["note"], "too dark", "{rec}");
    assert!(rec["end_frames"][0].get("note").is_none(), "{rec}");

    // A shot without an end frame refuses end frame picks and redos, writing nothing.
    let plain = t.storyboard(
        &DOOR
            .replace("approve: frames\n", "")
            .replace("shots:\n", "shots:\n  - { id: plain, prompt: \"A cat\" }\n"),
    );
    ok(&t, "render", &plain, &[]).await;
    let picks = std::fs::read(t.out().join(".storyboard/picks.json")).unwrap();
    let refused = t.run("pick", &plain, &["plain", "--redo-end-frame"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("shot `plain` has no `end_frame:`"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(t.out().join(".storyboard/picks.json")).unwrap(), picks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_frame_the_shot_cannot_send_is_refused_at_its_line() {
    let t = Test::with(fast()).await;
    let cases = [
        (DOOR.replace("kling-v2.6-pro", "hailuo-2.3-pro"), "takes no end image"),
        (
            DOOR.replace(", end_frame", "").replace(
                "end_frame: { prompt: \"An open door onto a sunlit garden\" }",
                "end_frame: { model: nano-banana-2 }",
            ),
            "an end frame needs its own `prompt:`",
        ),
        (
            DOOR.replace("    frame: { prompt: \"A closed wooden door in a dim hallway\" }\n", ""),
            "an end frame needs a first frame",
        ),
        (
            DOOR.replace(
                "    end_frame:",
                "    end_image: https://example.com/open.png\n    end_frame:",
            ),
            "the shot already gives its end image",
        ),
        (
            DOOR.replace(
                "  - id: door\n",
                "  - { id: hall, prompt: \"A hallway\" }\n  - id: door\n    start_image: { after: hall }\n",
            )
            .replace("    frame: { prompt: \"A closed wooden door in a dim hallway\" }\n", ""),
            "a start image taken from another shot",
        ),
    ];
    for (yaml, says) in cases {
        let file = t.storyboard(&yaml);
        let out = t.run("plan", &file, &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{says}: {err}");
        assert!(err.contains("field `end_frame`") && err.contains(says), "{says}: {err}");
    }
    assert_eq!(kinds(&t), (0, 0));
}

/// Veo 3.1 makes a first-and-last-frame shot on its own endpoint; an `end_image` of the user's
/// goes with a made first frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_frame_chooses_the_models_first_last_endpoint_and_an_end_image_goes_with_a_frame() {
    let t = Test::with(fast()).await;
    let veo = DOOR
        .replace("kling-v2.6-pro", "veo3.1")
        .replace("duration: 5", "duration: 8");
    let plan = json_plan(&t, &veo).await;
    let shot = &plan["shots"][0];
    assert_eq!(shot["endpoint"], "fal-ai/veo3.1/first-last-frame-to-video", "{shot}");
    assert_eq!(shot["end_frame"]["edge"], "end", "{shot}");
    assert_eq!(shot["input"]["last_frame_url"], "<end frame>", "{shot}");
    let own = DOOR.replace(
        "    end_frame: { prompt: \"An open door onto a sunlit garden\" }",
        "    end_image: https://example.com/open.png",
    );
    let plan = json_plan(&t, &own).await;
    assert_eq!(
        plan["shots"][0]["input"]["end_image_url"],
        "https://example.com/open.png"
    );
}

/// The review page shows the end frames as a second row; a click picks one (through the same
/// code as `pick --end-frame`) and `status` shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_director_picks_an_end_frame_on_the_review_page_in_chromium() {
    if !crate::common::tool_present("chromium") || !crate::common::tool_present("chromedriver") {
        return;
    }
    let Some(py) = crate::common::test_python() else { return };
    let t = Test::with(fast()).await;
    let file = t.storyboard(&DOOR.replace("approve: frames\n", ""));
    ok(&t, "render", &file, &[]).await;
    ok(&t, "pick", &file, &["door", "--redo-end-frame"]).await;
    ok(&t, "render", &file, &[]).await;
    assert_eq!(kinds(&t), (3, 2), "no gate: the frames, then the videos");
    let (seen, shot) = pick_in_browser(&py, &file, "review-end-frames.png", &["door", "1", "end"]).await;
    assert_eq!(seen["console"], serde_json::json!([]), "no console errors: {seen}");
    assert_eq!(seen["frames"], 3, "one first frame, two end frames: {seen}");
    assert_eq!(seen["selected"], 1, "{seen}");
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    let door = &status_of(&t, &file, "door").await.1;
    assert_eq!(
        door["selected_end_frame"], 1,
        "status shows the end frame picked in the browser: {door}"
    );
    assert_eq!(door["selected_frame"], 1, "the first frame untouched: {door}");
}
