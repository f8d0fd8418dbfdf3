//! Eachlabs and local files against the sandbox: every status path, 429 back-off, 402, 401;
//! uploads once across runs; request bodies carry the uploaded URLs.

use crate::common::{Fault, FaultPlan, SandboxConfig, Test, steady as fast};
use std::time::Duration;

fn each_yaml(prompts: &[&str], extra: &str) -> String {
    let mut s = format!("version: 1\nprovider: eachlabs\noutput: out\n{extra}shots:\n");
    for (i, p) in prompts.iter().enumerate() {
        s.push_str(&format!("  - id: s{i}\n    prompt: \"{p}\"\n"));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_failures_in_every_spelling_become_failed_shots_with_the_message() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&each_yaml(
        &[
            "fine",
            "x [sandbox:fail]",
            "x [sandbox:failed]",
            "x [sandbox:cancelled]",
        ],
        "",
    ));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    let m = t.manifest();
    let shots = m["shots"].as_array().unwrap();
    assert_eq!(shots[0]["status"], "done");
    for (i, word) in [
        (1, "prediction error"),
        (2, "prediction failed"),
        (3, "prediction cancelled"),
    ] {
        assert_eq!(shots[i]["status"], "failed");
        assert!(shots[i]["error"].as_str().unwrap().contains(word), "{}", shots[i]);
    }
    // Every parameter is sent explicitly (Eachlabs' default duration is 10, not 5).
    assert_eq!(shots[0]["input"]["duration"], "5");
    assert_eq!(shots[0]["input"]["generate_audio"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_429_backs_off_lowers_concurrency_and_creates_nothing_extra() {
    let t = Test::with(SandboxConfig {
        eachlabs_max_in_flight: 2,
        job_time: Duration::from_millis(200),
        ..fast()
    })
    .await;
    let prompts: Vec<String> = (0..6).map(|i| format!("shot {i}")).collect();
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let file = t.storyboard(&each_yaml(&refs, ""));
    let o = t.render(&file, &["--concurrency", "4"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("lowering concurrency"), "{err}");
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_created_total"], 6, "{stats}");
    assert!(
        stats["faults_injected"]["each_429_limit"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_402_stops_new_submits_with_a_clear_message() {
    let t = Test::with(SandboxConfig {
        faults: FaultPlan::first(Fault::Each402, 1),
        ..fast()
    })
    .await;
    let file = t.storyboard(&each_yaml(&["a", "b", "c"], ""));
    let o = t.render(&file, &["--concurrency", "1"]).await;
    // The account, not the shots: exit 4, every shot pending (nothing was created), one message.
    assert_eq!(o.status.code(), Some(4));
    let m = t.manifest();
    let st = crate::common::shot_statuses(&m);
    assert_eq!(st, ["pending", "pending", "pending"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("balance is too low").count(), 1, "{err}");
    assert_eq!(t.sb().stats()["jobs_created_total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_401_names_the_key_variable() {
    let t = Test::with(SandboxConfig {
        api_key: Some("the-right-key".into()),
        ..fast()
    })
    .await
    .key("a-wrong-key");
    let file = t.storyboard(&each_yaml(&["a", "b"], ""));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("EACHLABS_API_KEY").count(), 1, "{err}");
    assert!(!err.contains("a-wrong-key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_files_are_uploaded_once_across_runs_and_sent_as_urls() {
    let t = Test::with(fast()).await;
    let frames = crate::common::root().join("examples/frames");
    std::fs::create_dir_all(t.path().join("frames")).unwrap();
    for f in ["coat.png", "scarf.png"] {
        std::fs::copy(frames.join(f), t.path().join("frames").join(f)).unwrap();
    }
    let yaml = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n    start_image: ./frames/coat.png\n  - id: b\n    prompt: b\n    start_image: frames/coat.png\n    end_image: ./frames/scarf.png\n  - id: c\n    prompt: c\n    start_image: ./frames/scarf.png\n";
    let file = t.storyboard(yaml);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(t.sb().stats()["requests"]["upload"], 2, "{}", t.sb().stats());
    let m = t.manifest();
    let base = format!("{}/files/uploads/", t.url());
    let a = m["shots"][0]["input"]["start_image_url"].as_str().unwrap();
    assert!(a.starts_with(&base), "{a}");
    assert_eq!(m["shots"][1]["input"]["start_image_url"], a);
    assert!(
        m["shots"][1]["input"]["end_image_url"]
            .as_str()
            .unwrap()
            .starts_with(&base)
    );
    // The uploaded file is the local one.
    let back = reqwest::get(a).await.unwrap().bytes().await.unwrap();
    assert_eq!(back.as_ref(), std::fs::read(t.path().join("frames/coat.png")).unwrap());
    // A second run (forced) uploads nothing again and sends the same URLs.
    let o = t.render(&file, &["--force"]).await;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(t.sb().stats()["requests"]["upload"], 2);
    assert_eq!(t.manifest()["shots"][0]["input"]["start_image_url"], a);
    assert_eq!(t.sb().stats()["jobs_created_total"], 6);
}

/// A create whose answer was lost (the prediction exists): the next render finds it in
/// Eachlabs' executions list (each prediction's input compared with the journaled body) and
/// follows it — no second prediction.
#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_predictions_whose_answer_was_lost_are_found_and_followed() {
    let t = Test::with(SandboxConfig {
        faults: "each_drop=1".parse().unwrap(),
        ..fast()
    })
    .await;
    let file = t.storyboard(&each_yaml(&["a", "b"], ""));
    let o = t.render(&file, &["--concurrency", "1"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(crate::common::shot_statuses(&t.manifest()), ["uncertain", "done"]);
    let o = t.render(&file, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("found request") && err.contains("adopted"), "{err}");
    assert_eq!(t.sb().stats()["jobs_created_total"], 2, "no second prediction");
}
