//! Frames first (issue #25), phase 2 as far as it goes: `frame:` on a shot and in `defaults:`
//! is planned — a frame request per shot (its own key, body, exact price) whose frame is the
//! video's start image — and the plan shows frames and videos apart. The bodies the planner
//! builds are sent to the sandbox over real HTTP, which checks them against fal's published
//! schemas. `render` renders each frame first, then its video from the frame's bytes.

use crate::common::{Test, fast, files_below, sha256_hex, stderr, storyboard};
use serde_json::{Value, json};
use std::time::Duration;

/// Four shots, every one with a frame from `defaults.frame`: Nano Banana 2 at 1K ($0.08 a
/// frame), Kling v2.6 pro image-to-video 5 s without audio ($0.07/s).
const FOUR: &str = r#"
version: 1
model: kling-v2.6-pro
defaults:
  duration: 5
  generate_audio: false
  frame:
    model: nano-banana-2
shots:
  - { id: one, prompt: "A lighthouse at dusk" }
  - { id: two, prompt: "Waves breaking", aspect_ratio: "9:16" }
  - { id: three, prompt: "A gull", frame: { resolution: 2K, prompt: "A gull on a post, {{ shot.id }}" } }
  - { id: four, prompt: "A boat", frame: { model: flux-2-pro } }
"#;

fn micros(v: &Value) -> u64 {
    (v.as_f64().unwrap() * 1e6).round() as u64
}

#[test]
fn each_shot_gets_a_frame_request_and_the_video_starts_from_it() {
    let t = Test::new();
    let plan = t.plan(FOUR);
    let shots = plan["shots"].as_array().unwrap();
    assert_eq!(shots.len(), 4);
    let frame = |i: usize| &shots[i]["frame"];
    for s in shots {
        assert_eq!(s["endpoint"], "fal-ai/kling-video/v2.6/pro/image-to-video", "{s}");
        assert_eq!(s["input"]["start_image_url"], "<frame>");
        assert_eq!(s["frame"]["field"], "start_image_url");
        assert_ne!(s["frame"]["request_key"], s["request_key"]);
    }
    assert_eq!(frame(0)["endpoint"], "fal-ai/nano-banana-2");
    let one = &frame(0)["input"];
    assert_eq!(
        one,
        &json!({"prompt": "A lighthouse at dusk", "aspect_ratio": "16:9", "resolution": "1K", "num_images": 1, "output_format": "png"})
    );
    assert_eq!(frame(1)["input"]["aspect_ratio"], "9:16", "the shot's aspect ratio");
    assert_eq!(frame(2)["input"]["prompt"], "A gull on a post, three");
    assert_eq!(frame(2)["input"]["resolution"], "2K");
    assert_eq!(frame(3)["endpoint"], "fal-ai/flux-2-pro");
    assert_eq!(frame(3)["input"]["image_size"], "landscape_16_9");
    assert!(frame(3)["price_from"].as_str().unwrap().contains("unconfirmed"));
    // Exact: 0.08 + 0.08 + 0.12 (2K) + 0.03 (FLUX.2, 1024×576 = 1 MP) and 4 × 5 s × $0.07.
    let frames: Vec<u64> = (0..4).map(|i| micros(&frame(i)["estimate"])).collect();
    assert_eq!(frames, [80_000, 80_000, 120_000, 30_000]);
    for s in shots {
        assert_eq!(micros(&s["estimated_usd"]), 350_000);
    }
    assert_eq!(micros(&plan["total_usd"]), 310_000 + 1_400_000);
}

#[test]
fn plan_shows_frames_and_videos_on_separate_lines_and_totals() {
    let t = Test::new();
    let file = t.storyboard(FOUR);
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("one frame") && text.contains("four frame"), "{text}");
    let lines = text.lines().filter(|l| l.contains(" frame ")).count();
    assert_eq!(lines, 4, "{text}");
    assert!(text.contains("(frames $0.31 · video $1.40; 4 frames)"), "{text}");
    assert!(text.contains("total: 4 shots · 20 s · $1.71"), "{text}");
}

#[test]
fn the_budget_covers_frames_and_videos() {
    let t = Test::new();
    let over = FOUR.replace("version: 1", "version: 1\nbudget_usd: 1.50");
    let file = t.storyboard(&over);
    let out = storyboard().args(["plan", "--check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "videos alone ($1.40) fit, frames do not");
    assert!(stderr(&out).contains("$1.71"), "{}", stderr(&out));
}

#[test]
fn a_cast_shot_frame_edits_the_cast_images() {
    let t = Test::new();
    let plan = t.plan(
        r#"
version: 1
model: kling-v3-pro
cast:
  mara:
    frontal: https://example.com/mara.png
    references: [https://example.com/mara-side.png]
shots:
  - id: meet
    prompt: '{{ cast("mara") }} opens the door'
    duration: 5
    frame: { model: seedream-4.5 }
"#,
    );
    let s = &plan["shots"][0];
    let f = &s["frame"];
    assert_eq!(f["endpoint"], "fal-ai/bytedance/seedream/v4.5/edit");
    assert_eq!(
        f["input"]["image_urls"],
        json!(["https://example.com/mara.png", "https://example.com/mara-side.png"])
    );
    assert_eq!(f["input"]["prompt"], "the character in image 1 opens the door");
    assert_eq!(f["cast"], json!(["mara"]));
    assert_eq!(micros(&f["estimate"]), 40_000);
    assert_eq!(
        s["input"]["prompt"], "@Element1 opens the door",
        "the video keeps its elements"
    );
    assert!(s["input"]["elements"].is_array());
}

#[test]
fn a_shot_with_its_own_start_image_takes_no_default_frame() {
    let t = Test::new();
    let plan = t.plan(
        "version: 1\ndefaults:\n  frame: {}\nshots:\n  - { id: a, prompt: x, start_image: 'https://example.com/a.png' }\n  - { id: b, prompt: y }\n",
    );
    assert!(plan["shots"][0].get("frame").is_none());
    assert_eq!(plan["shots"][1]["frame"]["endpoint"], "fal-ai/nano-banana-2");
}

/// Refused at plan time, naming the shot and field, nothing written.
fn refuses(yaml: &str, expect: &[&str]) {
    let t = Test::new();
    let file = t.write("shots.yaml", yaml);
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
    assert_eq!(files_below(t.path()), ["shots.yaml"]);
}

#[test]
fn bad_frames_are_refused_at_the_field() {
    let head = "version: 1\nshots:\n";
    refuses(
        &format!("{head}  - {{ id: a, prompt: x, frame: {{ model: nano-banana-3 }} }}\n"),
        &["frame.model", "unknown image model `nano-banana-3`", "did you mean"],
    );
    refuses(
        &format!("{head}  - {{ id: a, prompt: x, frame: {{ model: flux-2-pro, resolution: 2K }} }}\n"),
        &["frame.resolution", "takes no resolution"],
    );
    refuses(
        &format!("{head}  - {{ id: a, prompt: x, frame: {{ resolution: 3K }} }}\n"),
        &["frame.resolution", "0.5K"],
    );
    refuses(
        &format!("{head}  - {{ id: a, prompt: x, start_image: 'https://example.com/a.png', frame: {{}} }}\n"),
        &["frame", "already gives its first frame"],
    );
    refuses(
        "version: 1\ndefaults:\n  frame: { model: seedream }\nshots:\n  - { id: a, prompt: x, start_image: 'https://example.com/a.png' }\n",
        &["defaults.frame.model", "did you mean `seedream-4.5`"],
    );
    refuses(
        "version: 1\nmodel: kling-v3-turbo-pro\ndefaults:\n  frame: {}\nshots:\n  - { id: a, prompt: x }\n",
        &["field `frame`", "no image-to-video endpoint"],
    );
    refuses(
        &format!("{head}  - {{ id: a, prompt: x, frame: {{ prompt: '{{{{ nope }}}}' }} }}\n"),
        &["frame.prompt", "undefined variable"],
    );
}

/// The planner's frame bodies, sent as they are to the sandbox (which checks them against
/// fal's published schemas, strict like fal): every family's text-to-image body completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planned_frame_bodies_are_accepted_over_http() {
    let t = Test::with(fast()).await;
    let plan = t.plan(&FOUR.replace("frame: { model: flux-2-pro }", "frame: { model: seedream-4.5 }"));
    let mut bodies: Vec<(String, Value)> = plan["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["frame"]["endpoint"].as_str().unwrap().to_owned(),
                s["frame"]["input"].clone(),
            )
        })
        .collect();
    let flux = t.plan(FOUR);
    bodies.push(("fal-ai/flux-2-pro".into(), flux["shots"][3]["frame"]["input"].clone()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for (endpoint, body) in bodies {
        let r = http
            .post(format!("{}/{endpoint}", t.url()))
            .header("authorization", "Key test-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(code, 200, "{endpoint} refused {body}: {answer}");
        assert_eq!(answer["status"], "IN_QUEUE", "{answer}");
    }
    assert_eq!(t.sb().stats()["jobs_by_kind"]["image"], 5);
    assert_eq!(t.sb().stats()["jobs_by_kind"]["video"].as_u64().unwrap_or(0), 0);
}

/// FOUR's header, two shots of its own, rendered into `out`.
fn two_shots() -> String {
    let head = FOUR.split("shots:").next().unwrap();
    format!(
        "{head}output: ./out\nshots:\n  - {{ id: one, prompt: \"A lighthouse at dusk\" }}\n  - {{ id: two, prompt: \"Waves breaking\", frame: {{ prompt: \"Waves on rocks\" }} }}\n"
    )
}

/// (image jobs, video jobs) the sandbox created.
fn kinds(t: &Test) -> (u64, u64) {
    let s = t.sb().stats();
    let n = |k: &str| s["jobs_by_kind"][k].as_u64().unwrap_or(0);
    (n("image"), n("video"))
}

/// Two shots with frames over real HTTP: each frame rendered first, then its video submitted
/// with the frame's bytes uploaded as the start image; a re-render makes no job; editing one
/// frame prompt re-renders exactly that shot's frame and video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_render_first_and_the_videos_start_from_their_bytes() {
    let t = Test::with(fast()).await;
    let two = two_shots();
    let file = t.storyboard(&two);
    let out = t.render(&file, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(kinds(&t), (2, 2));
    let m = t.manifest();
    let frames = t.out().join(".storyboard/frames");
    for shot in m["shots"].as_array().unwrap() {
        let url = shot["input"]["start_image_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/files/uploads/", t.url())), "{url}");
        let sent = reqwest::get(url).await.unwrap().bytes().await.unwrap();
        let sha = sha256_hex(&sent);
        let take = frames.join(format!("frame-{sha}.png"));
        assert_eq!(
            std::fs::read(&take).unwrap(),
            sent.to_vec(),
            "{}: the upload is the frame take",
            shot["id"]
        );
        assert!(sent.starts_with(b"\x89PNG"), "a PNG frame");
    }
    let status = crate::common::text(&t.run("status", &file, &[]).await);
    assert!(
        status.contains(" 0 pending"),
        "status knows the framed shots are rendered: {status}"
    );
    let again = t.render(&file, &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(kinds(&t), (2, 2), "a re-render makes no job");
    t.storyboard(&two.replace("Waves on rocks", "Waves on the pier"));
    let edited = t.render(&file, &[]).await;
    assert_eq!(edited.status.code(), Some(0), "{}", stderr(&edited));
    assert_eq!(kinds(&t), (3, 3), "only the edited shot's frame and video");
}

/// A frame submit whose answer is lost (the job was created) is never sent again by itself:
/// its shot fails and says how to retry, the next render pays for nothing, and
/// `--retry-uncertain` sends it again. A 503 before any job is created is simply asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_submit_with_a_lost_answer_is_not_paid_twice() {
    let t = Test::with(crate::common::fast_faults("submit_503=1, submit_drop=1")).await;
    let file = t.storyboard(&two_shots());
    let out = t.render(&file, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("--retry-uncertain"), "{}", stderr(&out));
    assert_eq!(kinds(&t), (2, 1), "the dropped frame was created; one video");
    let again = t.render(&file, &[]).await;
    assert_ne!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(kinds(&t), (2, 1), "nothing is paid twice");
    let retried = t.render(&file, &["--retry-uncertain"]).await;
    assert_eq!(retried.status.code(), Some(0), "{}", stderr(&retried));
    assert_eq!(kinds(&t), (3, 2));
}
