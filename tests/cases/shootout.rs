//! Shoot-outs (#24): a shot names several models (`models:`, or `render --compare m1,m2 --only
//! SHOT`); each model renders one take of the shot, priced on its own line and rendered
//! concurrently against the sandbox; the manifest and the plan carry each take's model; picking
//! one selects it like any take.

use crate::common::{Test, fast, manifest, plan_json, run, text};
use serde_json::Value;

const SHOOTOUT: &str = "version: 1\noutput: out\nshots:\n  - id: duel\n    models: [kling-v3-standard, veo3.1-fast, seedance-2-fast]\n    prompt: two riders face each other at dawn\n    duration: 4\n";

#[tokio::test(flavor = "multi_thread")]
async fn three_models_render_three_takes_of_one_shot_and_the_second_can_be_picked() {
    let t = Test::new();
    let file = t.storyboard(SHOOTOUT);
    let plan = plan_json(&file, &[]);
    let shots = plan["shots"].as_array().unwrap();
    let lines: Vec<(&str, &str, u64, f64)> = shots
        .iter()
        .map(|s| {
            let usd = s["estimated_usd"].as_f64().unwrap();
            (
                s["id"].as_str().unwrap(),
                s["model"].as_str().unwrap(),
                s["take"].as_u64().unwrap(),
                usd,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("duel-take1", "kling-v3-standard", 1, 0.504), // 4 s × $0.126 (audio)
            ("duel-take2", "veo3.1-fast", 2, 0.6),         // 4 s × $0.15 (audio)
            ("duel-take3", "seedance-2-fast", 3, 0.96768), // 86 400 tokens × $0.0112/1000
        ]
    );
    assert_eq!(plan["total_usd"].as_f64().unwrap(), 2.07168);

    let t = t.sandbox(fast()).await;
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.sb().stats()["jobs_created_total"], 3, "one job per model");
    let out = t.out();
    let m = manifest(&out);
    let duel = m["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "duel")
        .unwrap();
    let takes = duel["takes"].as_array().unwrap();
    assert_eq!(takes.len(), 3, "{duel}");
    // The store numbers takes as their clips arrive (takes.rs); each take keeps its endpoint.
    let mut endpoints: Vec<&str> = takes.iter().map(|t| t["endpoint"].as_str().unwrap_or("")).collect();
    endpoints.sort_unstable();
    assert_eq!(
        endpoints,
        [
            "bytedance/seedance-2.0/fast/text-to-video",
            "fal-ai/kling-video/v3/standard/text-to-video",
            "fal-ai/veo3.1/fast",
        ],
        "{duel}"
    );

    let veo = takes.iter().find(|t| t["endpoint"] == "fal-ai/veo3.1/fast").unwrap();
    assert_eq!(veo["estimated_usd"], 0.6);
    assert_eq!(
        veo["actual_usd"], 0.6,
        "billed by the sandbox's platform API at fal's list price"
    );
    let o = run(&["pick", "duel", "2"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let take2 = takes.iter().find(|t| t["take"] == 2).unwrap();
    let clip = std::fs::read(out.join(take2["clip"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(
        std::fs::read(out.join("duel.mp4")).unwrap(),
        clip,
        "duel.mp4 is Veo's take"
    );
    // `status --json` names the model of every take.
    let o = run(&["status", "--json"], &file);
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = st["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shot"] == "duel")
        .unwrap();
    let made_by = row["take_models"].as_array().unwrap();
    let mut models: Vec<&str> = made_by.iter().map(|t| t["model"].as_str().unwrap()).collect();
    models.sort_unstable();
    models.dedup();
    assert_eq!(models.len(), 3, "{row}");
    let second = made_by.iter().find(|t| t["take"] == 2).unwrap();
    assert_eq!(second["endpoint"], take2["endpoint"], "{row}");
}

#[test]
fn compare_makes_a_shot_a_shootout_and_bad_shootouts_are_refused() {
    let t = Test::new();
    let file = t.storyboard("version: 1\nshots:\n  - { id: a, prompt: x, duration: 6 }\n  - { id: b, prompt: y }\n");
    let o = run(
        &[
            "render",
            "--dry-run",
            "--compare",
            "ltx-2.3,hailuo-2.3-standard",
            "--only",
            "a",
        ],
        &file,
    );
    let shown = text(&o);
    assert_eq!(o.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("a-take1") && shown.contains("fal-ai/ltx-2.3/text-to-video"),
        "{shown}"
    );
    assert!(
        shown.contains("a-take2") && shown.contains("hailuo-2.3/standard"),
        "{shown}"
    );
    for (models, words) in [
        ("[veo3.1]", "at least two models"),
        ("[veo3.1, veo3.1]", "named twice"),
        ("[veo3.1, sora-2]", "unknown model `sora-2`"),
    ] {
        let f = t.write(
            "bad.yaml",
            &format!("version: 1\nshots:\n  - {{ id: a, prompt: x, models: {models} }}\n"),
        );
        let o = run(&["plan"], &f);
        assert_eq!(o.status.code(), Some(2), "{models}: {}", text(&o));
        assert!(text(&o).contains(words), "{models}: {}", text(&o));
    }
}
