//! The families beyond Kling (#24): Veo 3.1, Seedance 2.0, Hailuo 2.3 and LTX-2.3, per shot.
//! Each family's text- and image-to-video shots plan to bodies that validate against the
//! endpoint's published snapshot (schemas/fal, checked here with jsonschema, not the planner's
//! own check) and to the exact price fal lists; a concept a model lacks is refused (exit 2,
//! naming the model and the field, nothing written).

use crate::common::{Test, root, storyboard, write};
use serde_json::{Value, json};
use std::path::Path;

fn plan(dir: &Path, yaml: &str) -> std::process::Output {
    storyboard()
        .arg("plan")
        .arg(write(dir, "s.yaml", yaml))
        .output()
        .unwrap()
}

/// `storyboard plan` of `yaml`, which must be refused (exit 2); its output and stderr.
fn refused(dir: &Path, yaml: &str) -> (std::process::Output, String) {
    let o = plan(dir, yaml);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{yaml}: {err}");
    (o, err)
}

/// The body against the committed snapshot file of its endpoint.
fn conforms(shot: &Value) {
    let endpoint = shot["endpoint"].as_str().unwrap();
    let path = root().join("schemas/fal").join(format!("{endpoint}.json"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&doc).unwrap();
    let mut input = shot["input"].clone();
    // Local files and chained frames are URLs by the time they are sent.
    for (_, val) in input.as_object_mut().unwrap().iter_mut() {
        if val.as_str().is_some_and(|s| s.starts_with("./") || s.starts_with('<')) {
            *val = json!("https://example.com/frame.png");
        }
    }
    let errs: Vec<String> = v.iter_errors(&input).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "{endpoint}: {errs:?} in {input}");
}

const FAMILIES: &str = r#"version: 1
model: veo3.1
shots:
  - { id: veo-t, prompt: a lighthouse at dusk, duration: 6, params: { resolution: 1080p } }
  - { id: veo-i, prompt: waves, start_image: "https://example.com/a.png", duration: 4, generate_audio: false }
  - { id: veo-f, model: veo3.1-fast, prompt: door opens, start_image: "https://example.com/a.png", end_image: "https://example.com/b.png", duration: 8 }
  - { id: sd-t, model: seedance-2-fast, prompt: a red kite, duration: 5 }
  - { id: sd-i, model: seedance-2, prompt: the kite lands, start_image: "https://example.com/a.png", end_image: "https://example.com/b.png", duration: 10 }
  - { id: hl-t, model: hailuo-2.3-pro, prompt: a snowboarder }
  - { id: hl-i, model: hailuo-2.3-standard, prompt: snow falls, start_image: "https://example.com/a.png", duration: 10 }
  - { id: ltx-t, model: ltx-2.3, prompt: rain on glass, duration: 8, params: { resolution: 1440p } }
  - { id: ltx-i, model: ltx-2.3, prompt: the glass clears, start_image: "https://example.com/a.png", end_image: "https://example.com/b.png" }
"#;

#[test]
fn every_family_plans_to_published_bodies_at_listed_prices() {
    let plan = Test::new().plan(FAMILIES);
    let shots = plan["shots"].as_array().unwrap();
    let expect = [
        // (id, endpoint, duration as sent, USD): fal's figures, docs/models-research.md.
        ("veo-t", "fal-ai/veo3.1", json!("6s"), 2.4), // 6 s × $0.40 (1080p, audio)
        ("veo-i", "fal-ai/veo3.1/image-to-video", json!("4s"), 0.8), // 4 s × $0.20 (no audio)
        (
            "veo-f",
            "fal-ai/veo3.1/fast/first-last-frame-to-video",
            json!("8s"),
            1.2,
        ), // 8 × $0.15
        ("sd-t", "bytedance/seedance-2.0/fast/text-to-video", json!("5"), 1.2096), // 108 000 tokens
        ("sd-i", "bytedance/seedance-2.0/image-to-video", json!("10"), 3.024),
        ("hl-t", "fal-ai/minimax/hailuo-2.3/pro/text-to-video", Value::Null, 0.49),
        (
            "hl-i",
            "fal-ai/minimax/hailuo-2.3/standard/image-to-video",
            json!("10"),
            0.56,
        ),
        ("ltx-t", "fal-ai/ltx-2.3/text-to-video", json!(8), 1.28), // 8 s × $0.16 (1440p)
        ("ltx-i", "fal-ai/ltx-2.3/image-to-video", json!(6), 0.36), // default 6 s × $0.06
    ];
    for (id, endpoint, duration, usd) in expect {
        let s = shots.iter().find(|s| s["id"] == id).unwrap();
        assert_eq!(s["endpoint"], endpoint, "{id}");
        assert_eq!(
            s["input"].get("duration").cloned().unwrap_or(Value::Null),
            duration,
            "{id}"
        );
        assert_eq!(s["estimated_usd"], json!(usd), "{id}");
        conforms(s);
    }
    let by = |id: &str| shots.iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(by("veo-f")["input"]["first_frame_url"], "https://example.com/a.png");
    assert_eq!(by("veo-f")["input"]["last_frame_url"], "https://example.com/b.png");
    assert_eq!(by("sd-i")["input"]["end_image_url"], "https://example.com/b.png");
    assert_eq!(by("hl-t")["seconds"], 6.0, "Hailuo pro renders 6 s");
    assert!(
        by("veo-t")["input"].get("negative_prompt").is_none(),
        "Kling's default is not Veo's"
    );
    let sd_big = by("sd-i");
    assert_eq!(sd_big["price_from"], "table 2026-11-30", "720p 16:9: exact");
}

#[test]
fn seedance_off_720p_is_an_estimate_said_beside_the_price() {
    let yaml =
        "version: 1\nmodel: seedance-2\nshots:\n  - { id: a, prompt: x, duration: 4, params: { resolution: 1080p } }\n";
    let plan = Test::new().plan(yaml);
    let s = &plan["shots"][0];
    assert_eq!(
        s["estimated_usd"],
        json!(2.7216),
        "1920×1080×4×24/1024 tokens at $0.014/1000"
    );
    assert!(
        s["price_from"].as_str().unwrap().contains("estimate"),
        "{}",
        s["price_from"]
    );
}

/// What a model lacks is refused at plan time, naming the model and the field, with a way out.
#[test]
fn concepts_a_model_lacks_are_refused_naming_model_and_field() {
    let t = Test::new();
    let cases = [
        (
            "  - { id: a, model: hailuo-2.3-standard, prompt: x, start_image: \"https://e.com/a.png\", end_image: \"https://e.com/b.png\" }\n",
            "end_image",
            "hailuo-2.3-standard takes no end image",
        ),
        (
            "  - id: a\n    model: seedance-2\n    beats: [{ prompt: a, duration: 4 }, { prompt: b, duration: 4 }]\n",
            "beats",
            "seedance-2 renders one prompt",
        ),
        (
            "  - { id: a, model: veo3.1, prompt: x, duration: 5 }\n",
            "duration",
            "veo3.1 renders 4 or 6 or 8",
        ),
        (
            "  - { id: a, model: hailuo-2.3-pro, prompt: x, generate_audio: true }\n",
            "generate_audio",
            "",
        ),
        (
            "  - { id: a, model: ltx-2.3, prompt: x, cfg_scale: 0.5 }\n",
            "cfg_scale",
            "",
        ),
    ];
    for (shot, field, words) in cases {
        let yaml = format!("version: 1\nmodel: kling-v3-pro\nshots:\n{shot}");
        let (o, err) = refused(t.path(), &yaml);
        assert!(err.contains(field) && err.contains(words), "{field}: {err}");
        assert!(o.stdout.is_empty());
    }
    let cast = "version: 1\nmodel: veo3.1\ncast:\n  mara: { frontal: \"https://e.com/f.png\", references: [\"https://e.com/r.png\"] }\nshots:\n  - { id: a, prompt: \"{{ cast('mara') }} waits\" }\n";
    let (_, err) = refused(t.path(), cast);
    assert!(err.contains("veo3.1 text-to-video takes no elements"), "{err}");
    assert!(
        err.contains("keep `model: veo3.1` and put the character's images under `references:`"),
        "{err}"
    );
    let voices = "version: 1\nmodel: veo3.1\nvoices:\n  v: vc_1\nshots:\n  - { id: a, prompt: \"{{ voice('v') }} speaks\", start_image: \"https://e.com/a.png\" }\n";
    let (_, err) = refused(t.path(), voices);
    assert!(
        err.contains("voices") && err.contains("veo3.1") && err.contains("kling-v2.6-pro"),
        "{err}"
    );
}

/// `storyboard init --model F` starts from any family with text-to-video (its own default
/// duration), and the starter plans; an image-only family or an unknown name exits 2.
#[test]
fn init_starts_from_any_family_and_models_groups_them() {
    let t = Test::new();
    for model in ["veo3.1", "seedance-2-fast", "hailuo-2.3-standard", "ltx-2.3-fast"] {
        let folder = t.path().join(model);
        let succeeds = |o: std::process::Output| {
            assert_eq!(
                o.status.code(),
                Some(0),
                "{model}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        succeeds(
            storyboard()
                .arg("init")
                .arg(&folder)
                .args(["--model", model])
                .output()
                .unwrap(),
        );
        let yaml = std::fs::read_to_string(folder.join("storyboard.yaml")).unwrap();
        assert!(yaml.contains(&format!("model: {model} ")), "{yaml}");
        succeeds(
            storyboard()
                .arg("plan")
                .arg(folder.join("storyboard.yaml"))
                .output()
                .unwrap(),
        );
    }
    for (model, words) in [
        ("hailuo-2.3-fast-pro", "from an image only"),
        ("veo31", "did you mean `veo3.1`"),
    ] {
        let o = storyboard()
            .arg("init")
            .arg(t.path().join("x"))
            .args(["--model", model])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains(words));
        assert!(!t.path().join("x/storyboard.yaml").exists());
    }
    let o = storyboard().arg("models").output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("inputs") && table.contains("first_frame_url + last_frame_url"),
        "{table}"
    );
    assert!(
        table.contains("per 1000 tokens") && table.contains("per video"),
        "{table}"
    );
    assert!(table.contains("price sources:") && table.contains("hailuo-2.3-standard: https://fal.ai/models/"));
}
