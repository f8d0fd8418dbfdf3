//! The cast: characters defined once and sent as Kling elements with every shot that names
//! them — bodies field by field, element numbering, the voice-control price, uploads once,
//! exactly the shots with a changed character re-rendered, and every bad input refused first.

use crate::common::{
    Sandbox, SandboxConfig, Test, plan_json, render_against, root, shot_statuses, start_sandbox, write,
};
use serde_json::json;
use std::path::Path;

/// A folder with the example's cast images, a voice sample and a small video.
fn folder() -> Test {
    let dir = Test::new();
    std::fs::create_dir_all(dir.path().join("cast")).unwrap();
    for f in ["mara-front", "mara-left", "mara-right", "tomas-front", "tomas-side"] {
        let from = root().join(format!("examples/cast/{f}.png"));
        std::fs::copy(from, dir.path().join(format!("cast/{f}.png"))).unwrap();
    }
    std::fs::copy(root().join("examples/voices/mara.mp3"), dir.path().join("mara.mp3")).unwrap();
    std::fs::copy(
        root().join("src/sandbox/clips/16x9_5s.mp4"),
        dir.path().join("cast/tram.mp4"),
    )
    .unwrap();
    dir
}

const CAST: &str = r#"version: 1
model: kling-v3-pro
output: out
voices:
  mara: { sample: ./mara.mp3 }
cast:
  mara:
    frontal: ./cast/mara-front.png
    references: [./cast/mara-left.png, ./cast/mara-right.png]
    voice: mara
  tomas:
    frontal: https://example.com/tomas.png
    references: [./cast/tomas-side.png]
  tram:
    video: ./cast/tram.mp4
"#;

fn storyboard_with(dir: &Path, shots: &str) -> std::path::PathBuf {
    write(dir, "s.yaml", &format!("{CAST}shots:\n{shots}"))
}

/// Kling 3.0 takes elements on image-to-video only: every shot has a start image.
const THREE: &str = r#"  - id: a
    prompt: '{{ cast("mara") }} waits'
    start_image: https://example.com/bench.png
  - id: b
    prompt: '{{ cast("tomas") }} walks in with {{ cast("tram") }}'
    start_image: https://example.com/bench.png
  - id: c
    prompt: '{{ cast("tomas") }} greets {{ cast("mara") }}, and {{ cast("tomas") }} smiles'
    start_image: https://example.com/bench.png
"#;

#[test]
fn elements_are_sent_field_by_field_and_numbered_per_shot() {
    let dir = folder();
    let p = plan_json(&storyboard_with(dir.path(), THREE), &[]);
    let s = |i: usize| &p["shots"][i]["input"];
    assert_eq!(s(0)["prompt"], "@Element1 waits");
    assert_eq!(
        s(0)["elements"],
        json!([{"frontal_image_url": "./cast/mara-front.png",
                "reference_image_urls": ["./cast/mara-left.png", "./cast/mara-right.png"],
                "voice_id": "<voice from ./mara.mp3>"}])
    );
    assert_eq!(s(1)["prompt"], "@Element1 walks in with @Element2");
    assert_eq!(s(1)["elements"][1], json!({"video_url": "./cast/tram.mp4"}));
    // c names tomas first: he is @Element1 there, mara @Element2; one element per character.
    assert_eq!(s(2)["prompt"], "@Element1 greets @Element2, and @Element1 smiles");
    assert_eq!(s(2)["elements"].as_array().unwrap().len(), 2);
    assert_eq!(
        s(2)["elements"][0]["frontal_image_url"],
        "https://example.com/tomas.png"
    );
    assert_eq!(s(2)["elements"][1]["voice_id"], "<voice from ./mara.mp3>");
    // Voice control: a bound voice prices the shot at $0.392/s; without one, $0.336/s (v3 pro's
    // higher published figures).
    assert_eq!(p["shots"][0]["estimated_usd"], json!(1.96));
    assert_eq!(p["shots"][1]["estimated_usd"], json!(1.68));
    assert_eq!(p["shots"][2]["estimated_usd"], json!(1.96));
}

const V3: &str = "fal-ai/kling-video/v3/pro/image-to-video";

fn stat(sb: &Sandbox, path: &[&str]) -> u64 {
    let mut v = sb.stats();
    for p in path {
        v = v[*p].clone();
    }
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_character_re_renders_exactly_its_shots_and_files_upload_once() {
    let t = folder().sandbox(SandboxConfig::fast()).await;
    let file = storyboard_with(t.path(), THREE);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stat(t.sb(), &["jobs_created", V3]), 3);
    assert_eq!(
        stat(t.sb(), &["jobs_created", "fal-ai/kling-video/create-voice"]),
        1,
        "mara's voice, once"
    );
    // mara's three images, tomas' side view, the tram video and the voice sample: once each,
    // though mara is in two shots.
    assert_eq!(stat(t.sb(), &["requests", "upload"]), 6);
    let m = t.manifest();
    let sent = &m["shots"][2]["input"]["elements"];
    assert!(
        sent[1]["frontal_image_url"].as_str().unwrap().starts_with(&t.url()),
        "uploaded: {sent}"
    );
    assert!(
        sent[1]["voice_id"].as_str().unwrap().starts_with("vc_"),
        "the created voice: {sent}"
    );
    assert_eq!(m["shots"][2]["cast"][0]["name"], "tomas");

    // A second run sends nothing; replacing mara's left view re-renders a and c, not b.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        (
            stat(t.sb(), &["jobs_created", V3]),
            stat(t.sb(), &["requests", "upload"])
        ),
        (3, 6)
    );
    std::fs::copy(
        t.path().join("cast/tomas-side.png"),
        t.path().join("cast/mara-left.png"),
    )
    .unwrap();
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stat(t.sb(), &["jobs_created", V3]), 5, "a and c again, b cached");
    assert_eq!(
        stat(t.sb(), &["requests", "upload"]),
        6,
        "the new content was uploaded before (tomas-side)"
    );
    let st = shot_statuses(&t.manifest());
    assert_eq!(st, ["done", "cached", "done"]);
}

/// Each bad cast input: exit 2, named, nothing sent, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn bad_cast_inputs_are_refused_before_anything_is_sent() {
    let sb = start_sandbox(SandboxConfig::fast()).await;
    let shot = |extra: &str, prompt: &str| format!("  - id: s\n    prompt: '{prompt}'\n{extra}");
    let cases: Vec<(String, String, &str)> = vec![
        (String::new(), shot("", r#"{{ cast("mra") }}"#), "did you mean `mara`"),
        (
            String::new(),
            shot("", r#"{{ cast("tomas") }}"#),
            "kling-v3-pro text-to-video takes no elements (its published input has no `elements`), so `cast()` cannot send characters to it: give the shot a `start_image` (image-to-video takes them), or use `model: kling-o3-pro` with `references:` (reference-to-video)",
        ),
        (
            String::new(),
            shot("    model: kling-o3-pro\n    price_usd: 1\n", r#"{{ cast("tomas") }}"#),
            "kling-o3-pro text-to-video takes no elements (its published input has no `elements`), so `cast()` cannot send characters to it: give the shot `references:` (reference-to-video takes them)",
        ),
        (String::new(), shot("    model: kling-v2.6-pro\n", r#"{{ cast("tomas") }}"#), "kling-v2.6-pro text-to-video takes no elements"),
        (String::new(), shot("    model: kling-v3-turbo-pro\n", r#"{{ cast("tomas") }}"#), "use `model: kling-o3-pro` with `references:`"),
        (
            String::new(),
            shot("    model: kling-o3-pro\n    start_image: https://a.example/x.png\n    price_usd: 1\n", r#"{{ cast("tomas") }}"#),
            "kling-o3-pro image-to-video takes no elements",
        ),
        (
            "  tram2: { video: ./cast/tram.mp4 }\n".into(),
            shot("    start_image: https://a.example/x.png\n", r#"{{ cast("tram") }} {{ cast("tram2") }}"#),
            "at most one video element",
        ),
        (
            String::new(),
            shot(
                "    model: kling-o3-pro\n    price_usd: 1\n    references: [https://a.example/1.png, https://a.example/2.png]\n",
                r#"{{ cast("tram") }} {{ cast("mara") }} {{ cast("tomas") }}"#,
            ),
            "at most 4",
        ),
        ("  kid: { frontal: ./cast/tomas-side.png, references: [] }\n".into(), shot("", "x"), "0 reference images"),
        (
            "  kid: { frontal: ./cast/tomas-side.png, references: [./cast/mara-left.png, ./cast/mara-left.png, ./cast/mara-left.png, ./cast/mara-left.png] }\n".into(),
            shot("", "x"),
            "4 reference images",
        ),
        ("  kid: { frontal: ./cast/nobody.png, references: [./cast/mara-left.png] }\n".into(), shot("", "x"), "does not exist"),
        ("  kid: { video: ./cast/tram.mp4, voice: kid }\n".into(), shot("", "x"), "no voice `kid` under `voices:`"),
    ];
    for (member, shots, says) in cases {
        let t = folder();
        let text = CAST.replace("cast:\n", &format!("cast:\n{member}"));
        let file = t.storyboard(&format!("{text}shots:\n{shots}"));
        let o = render_against(&sb.base_url(), &file, "k", &[]).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{says}: {err}");
        assert!(err.contains(says), "expected “{says}” in {err}");
        assert!(!t.out().exists(), "{says}: nothing written");
    }
    assert_eq!(stat(&sb, &["jobs_created_total"]), 0, "nothing sent");
    assert_eq!(stat(&sb, &["requests", "upload"]), 0);
}
