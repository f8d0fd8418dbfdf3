//! Every request body against the provider's own published schema (schemas/fal: fal-js's
//! endpoints.ts types; schemas/eachlabs: Eachlabs' model page): every example's planned bodies
//! validate, checked here with the jsonschema crate straight from the committed files; a body
//! the schema refuses is refused at plan time, naming file, shot and field, nothing sent.

use crate::common::{SandboxConfig, Test, root, storyboard};
use serde_json::Value;
use std::path::PathBuf;

/// Endpoints the examples use that have no published schema offline (say why in the report).
const NO_SNAPSHOT: &[&str] = &[
    // Eachlabs publishes no page for Kling v2.5 turbo available here; the sandbox assumes
    // fal's page for the same model (src/sandbox/schemas.rs).
    "kling-v2-5-turbo-pro-text-to-video",
];

fn snapshot(provider: &str, endpoint: &str) -> Option<Value> {
    let path: PathBuf = root().join("schemas").join(provider).join(format!("{endpoint}.json"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

#[test]
fn every_example_body_conforms_to_the_published_schema() {
    let mut checked = 0;
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 9, "{examples:?}");
    for file in examples {
        let o = storyboard().arg("plan").arg(&file).arg("--json").output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
        for shot in plan["shots"].as_array().unwrap() {
            let (provider, endpoint) = (shot["provider"].as_str().unwrap(), shot["endpoint"].as_str().unwrap());
            let Some(schema) = snapshot(provider, endpoint) else {
                assert!(
                    NO_SNAPSHOT.contains(&endpoint),
                    "{}: no snapshot for {endpoint}",
                    file.display()
                );
                continue;
            };
            let v = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = v
                .iter_errors(&shot["input"])
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{} shot {}: {errors:?}", file.display(), shot["id"]);
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} bodies checked");
}

/// A shot whose `params:` or inputs make a body the published schema refuses.
fn refused(model: &str, shot: &str) -> String {
    let t = Test::new();
    let yaml = format!("version: 1\nmodel: {model}\noutput: out\nshots:\n  - id: s\n    prompt: x\n{shot}");
    let file = t.storyboard(&yaml);
    let o = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{shot}: {err}");
    assert!(
        err.contains("s.yaml") && err.contains("shot `s`"),
        "names file and shot: {err}"
    );
    assert!(!t.out().exists(), "nothing written");
    err
}

#[test]
fn fields_the_published_schema_lacks_or_refuses_are_plan_time_problems() {
    let cases = [
        (
            "kling-v3-pro",
            "    params: { seed: 7 }\n",
            "field `params.seed`: `fal-ai/kling-video/v3/pro/text-to-video` takes no field `seed` per its published input (fal-js KlingVideoV3ProTextToVideoInput @381105e); it takes aspect_ratio, cfg_scale,",
        ),
        (
            "kling-v2.6-pro",
            "    start_image: https://example.com/a.png\n    params: { aspect_ratio: \"4:3\" }\n",
            "field `params.aspect_ratio`: `fal-ai/kling-video/v2.6/pro/image-to-video` takes no field `aspect_ratio`",
        ),
        (
            "kling-v3-pro",
            "    params: { shot_type: auto }\n",
            "field `params.shot_type`: \"auto\" is not a value `fal-ai/kling-video/v3/pro/text-to-video` takes for `shot_type` per its published input (fal-js KlingVideoV3ProTextToVideoInput @381105e) (allowed: \"customize\", \"intelligent\")",
        ),
        (
            "kling-v2.6-pro",
            "    start_image: https://example.com/a.png\n    params: { voice_ids: vc_1 }\n",
            "field `params.voice_ids`: `fal-ai/kling-video/v2.6/pro/image-to-video` takes an array for `voice_ids`",
        ),
        (
            "kling-v3-pro",
            "    params: { negative_promt: blur }\n",
            "did you mean `negative_prompt`?",
        ),
        (
            "kling-v3-pro",
            "    params: { elements: [{ frontal_image_url: https://example.com/f.png }] }\n",
            "takes no field `elements`",
        ),
    ];
    for (model, shot, says) in cases {
        let err = refused(model, shot);
        assert!(err.contains(says), "expected “{says}” in {err}");
    }
}

/// `render` plans first: the same refusal, and the sandbox sees no request at all.
#[tokio::test(flavor = "multi_thread")]
async fn render_sends_nothing_for_a_body_the_schema_refuses() {
    let t = Test::with(SandboxConfig::fast()).await;
    let yaml = "version: 1\nmodel: kling-o3-pro\noutput: out\nshots:\n  - id: ok\n    prompt: x\n    price_usd: 1\n  - id: s\n    prompt: y\n    price_usd: 1\n    params: { cfg_scale: 0.5 }\n";
    let file = t.storyboard(yaml);
    let o = t.render(&file, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("shot `s`, field `params.cfg_scale`"), "{err}");
    assert!(err.contains("O3ProTextToVideoInput"), "names fal's type: {err}");
    assert!(!t.out().exists(), "nothing written");
    assert_eq!(t.sb().stats()["jobs_created_total"], 0, "nothing sent");
    assert_eq!(t.sb().stats()["requests"]["upload"].as_u64().unwrap_or(0), 0);
}
