//! Kling 3.0 and O3: request bodies field by field (against kling-v3-and-platform.md), exact
//! prices, beats, references, per-shot models, the bad inputs refused before anything is sent,
//! and live prices from fal's pricing API.

use crate::common::{SandboxConfig, Test, storyboard, write};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

fn shot<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

const FILM: &str = r#"version: 1
model: kling-v3-pro
shots:
  - id: hero
    prompt: the hero walks in
    duration: 12
  - id: still
    model: kling-v3-standard
    prompt: a quiet street
    duration: 15
    generate_audio: false
  - id: door
    start_image: https://example.com/door.png
    end_image: https://example.com/open.png
    prompt: the door opens
    duration: 3
  - id: o3-door
    model: kling-o3-standard
    start_image: https://example.com/door.png
    prompt: the door opens
  - id: o3-text
    model: kling-o3-pro
    prompt: snow falls
    price_usd: 1
  - id: beats
    beats:
      - { prompt: "wide {{ 1 + 1 }}", duration: 4 }
      - { prompt: close, duration: 6 }
    shot_type: intelligent
  - id: refs
    model: kling-o3-standard
    references: [https://example.com/a.png, https://example.com/b.png]
    prompt: "@Image1 meets @Image2"
    price_usd: 1
"#;

#[test]
fn v3_and_o3_bodies_follow_the_reference_field_by_field() {
    let plan = Test::new().plan(FILM);
    let hero = shot(&plan, "hero");
    assert_eq!(hero["endpoint"], "fal-ai/kling-video/v3/pro/text-to-video");
    assert_eq!(
        hero["input"],
        json!({"prompt": "the hero walks in", "duration": "12", "aspect_ratio": "16:9",
               "negative_prompt": "blur, distort, and low quality", "cfg_scale": 0.5, "generate_audio": true})
    );
    assert_eq!(
        shot(&plan, "still")["endpoint"],
        "fal-ai/kling-video/v3/standard/text-to-video"
    );
    let door = shot(&plan, "door");
    assert_eq!(door["endpoint"], "fal-ai/kling-video/v3/pro/image-to-video");
    assert_eq!(
        door["input"]["start_image_url"], "https://example.com/door.png",
        "v3: start_image_url"
    );
    assert_eq!(door["input"]["end_image_url"], "https://example.com/open.png");
    assert!(
        door["input"].get("aspect_ratio").is_none(),
        "image-to-video takes the image's ratio"
    );
    let o3 = shot(&plan, "o3-door");
    assert_eq!(o3["endpoint"], "fal-ai/kling-video/o3/standard/image-to-video");
    assert_eq!(
        o3["input"]["image_url"], "https://example.com/door.png",
        "O3: image_url"
    );
    assert!(o3["input"].get("start_image_url").is_none());
    assert!(o3["input"].get("cfg_scale").is_none() && o3["input"].get("negative_prompt").is_none());
    assert_eq!(o3["input"]["generate_audio"], false, "O3 makes no audio unless asked");
    assert_eq!(o3["input"]["duration"], "5");
    let beats = shot(&plan, "beats");
    assert_eq!(
        beats["input"]["multi_prompt"],
        json!([{"prompt": "wide 2", "duration": "4"}, {"prompt": "close", "duration": "6"}])
    );
    assert_eq!(beats["input"]["shot_type"], "intelligent");
    assert_eq!(
        beats["input"]["duration"], "10",
        "the shot's duration is the beats' sum"
    );
    assert!(beats["input"].get("prompt").is_none());
    let refs = shot(&plan, "refs");
    assert_eq!(refs["endpoint"], "fal-ai/kling-video/o3/standard/reference-to-video");
    assert_eq!(
        refs["input"]["image_urls"],
        json!(["https://example.com/a.png", "https://example.com/b.png"])
    );
}

#[test]
fn v3_prices_are_exact_and_name_their_source() {
    let plan = Test::new().plan(FILM);
    assert_eq!(
        shot(&plan, "hero")["estimated_usd"],
        json!(4.032),
        "v3 pro, 12 s, audio on: $0.336/s, the higher of fal's two figures"
    );
    assert_eq!(
        shot(&plan, "still")["estimated_usd"],
        json!(1.26),
        "v3 standard, 15 s, audio off"
    );
    assert_eq!(
        shot(&plan, "beats")["estimated_usd"],
        json!(3.36),
        "beats priced by their total (v3 pro, 10 s, audio on)"
    );
    let from = shot(&plan, "hero")["price_from"].as_str().unwrap().to_owned();
    assert!(from.starts_with("table 20"), "{from}");
    assert!(
        from.contains("v3 pro: fal's pages say $0.112 or $0.224/s; the live price settles it"),
        "{from}"
    );
    assert_eq!(shot(&plan, "o3-text")["price_from"], "price_usd");
}

/// Each bad input: exit 2, the shot and field named, nothing sent and nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn bad_v3_inputs_are_refused_before_anything_is_sent() {
    let sb = crate::common::start_sandbox(SandboxConfig::fast()).await;
    let beats = |n: usize, secs: u64| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("{{ prompt: b{i}, duration: {secs} }}"))
            .collect();
        format!("beats: [{}]", list.join(", "))
    };
    let cases: Vec<(String, &str)> = vec![
        ("prompt: x\n    duration: 16".into(), "3 to 15 seconds"),
        ("prompt: x\n    duration: 2".into(), "3 to 15 seconds"),
        (beats(7, 2), "1 to 6"),
        (beats(4, 4), "add up to 16 s"),
        (format!("{}\n    duration: 9", beats(2, 4)), "`duration` is 9 s"),
        (format!("prompt: x\n    {}", beats(2, 4)), "not both"),
        (
            "prompt: x\n    model: kling-o3-pro\n    price_usd: 1\n    cfg_scale: 0.4".into(),
            "does not take `cfg_scale`",
        ),
        (
            "prompt: x\n    start_image: https://a.example/x.png\n    aspect_ratio: \"9:16\"".into(),
            "does not take `aspect_ratio`",
        ),
        (
            "prompt: x\n    references: [https://a.example/x.png]".into(),
            "no reference-to-video endpoint",
        ),
        (
            "prompt: \"<<<voice_1>>> hi\"\n    voices: [mara]".into(),
            "binds voices to characters",
        ),
    ];
    for (shot, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "version: 1\nmodel: kling-v3-pro\noutput: out\nvoices:\n  mara: vc_1\nshots:\n  - id: s\n    {shot}\n"
        );
        let file = write(dir.path(), "s.yaml", &yaml);
        let o: Output = crate::common::render_against(&sb.base_url(), &file, "k", &[]).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{shot}: {err}");
        assert!(err.contains(says), "{shot}: expected “{says}” in {err}");
        assert!(
            err.contains("shot `s`") || err.contains("s.yaml:"),
            "names the shot: {err}"
        );
        assert!(!dir.path().join("out").exists(), "{shot}: nothing written");
    }
    assert_eq!(sb.stats()["jobs_created_total"], 0, "nothing sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_change_at_fal_reaches_the_estimate_with_its_source() {
    let sb = crate::common::start_sandbox(SandboxConfig::fast()).await;
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.yaml",
        "version: 1\nmodel: kling-v3-pro\nshots:\n  - id: a\n    prompt: x\n    duration: 5\n",
    );
    let run = |args: &[&str], key: Option<&str>| {
        let mut cmd = storyboard();
        cmd.args(args)
            .env("XDG_CACHE_HOME", cache.path())
            .env("STORYBOARD_FAL_API_URL", sb.base_url());
        if let Some(k) = key {
            cmd.env("FAL_KEY", k);
        }
        cmd.output().unwrap()
    };
    let plan = |file: &Path| -> Value {
        let o = run(&["plan", file.to_str().unwrap(), "--json"], None);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // No key: the table, and it says so.
    let o = run(&["models", "--refresh"], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("no FAL_KEY") && out.contains("the catalog's table"),
        "{out}"
    );
    assert_eq!(
        plan(&file)["shots"][0]["estimated_usd"],
        json!(1.68),
        "table: 5 s × $0.336"
    );

    sb.set_price("fal-ai/kling-video/v3/pro/text-to-video", 0.4);
    let o = run(&["models", "--refresh"], Some("k"));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("live"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let p = plan(&file);
    // The live unit price is the silent tier; the audio tier is never below it: 0.40/s × 5 s.
    assert_eq!(p["shots"][0]["estimated_usd"], json!(2.0), "{p}");
    let from = p["shots"][0]["price_from"].as_str().unwrap();
    assert!(from.starts_with("live ") && from.contains("+$0.32 vs table"), "{from}");
    let text = run(&["plan", file.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&text.stdout).contains("prices: live from fal"));

    // A paid render fetches live prices itself (its own cache is empty), `--offline` does not.
    let o = crate::common::render_against(&sb.base_url(), &file, "k", &["--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0));
    let o = crate::common::render_against(&sb.base_url(), &file, "k", &["--offline", "--max-cost", "0.5"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "the table's $1.68 is over 0.5: {err}");
    assert!(err.contains("--offline") && err.contains("table"), "{err}");
    let before = sb.stats()["requests"]["pricing"].as_u64().unwrap_or(0);
    let o = crate::common::render_against(&sb.base_url(), &file, "k", &["--max-cost", "0.5"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("$2.00") && err.contains("live"),
        "the render priced live: {err}"
    );
    assert_eq!(sb.stats()["requests"]["pricing"].as_u64().unwrap_or(0), before + 1);
}
