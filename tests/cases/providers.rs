//! Eachlabs and local files against the sandbox: every status path, 429 back-off, 402, 401;
//! uploads once across runs; request bodies carry the uploaded URLs.

use crate::common::write;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use storyboard::sandbox::{Fault, FaultPlan, Sandbox, SandboxConfig};

async fn sandbox(config: SandboxConfig) -> Sandbox {
    crate::common::start_sandbox(config).await
}

fn fast() -> SandboxConfig {
    SandboxConfig {
        queue_time: Duration::from_millis(10),
        job_time: Duration::from_millis(60),
        ..SandboxConfig::fast()
    }
}

async fn render(url: &str, file: &Path, key: &str, args: &[&str]) -> Output {
    crate::common::render_against(url, file, key, args).await
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("out/manifest.json")).unwrap()).unwrap()
}

fn each_yaml(prompts: &[&str], extra: &str) -> String {
    let mut s = format!("version: 1\nprovider: eachlabs\noutput: out\n{extra}shots:\n");
    for (i, p) in prompts.iter().enumerate() {
        s.push_str(&format!("  - id: s{i}\n    prompt: \"{p}\"\n"));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_failures_in_every_spelling_become_failed_shots_with_the_message() {
    let sb = sandbox(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.yaml",
        &each_yaml(
            &[
                "fine",
                "x [sandbox:fail]",
                "x [sandbox:failed]",
                "x [sandbox:cancelled]",
            ],
            "",
        ),
    );
    let o = render(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(1));
    let m = manifest(dir.path());
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
    let sb = sandbox(SandboxConfig {
        eachlabs_max_in_flight: 2,
        job_time: Duration::from_millis(200),
        ..fast()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let prompts: Vec<String> = (0..6).map(|i| format!("shot {i}")).collect();
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let file = write(dir.path(), "s.yaml", &each_yaml(&refs, ""));
    let o = render(&sb.base_url(), &file, "k", &["--concurrency", "4"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("lowering concurrency"), "{err}");
    let stats = sb.stats();
    assert_eq!(stats["jobs_created_total"], 6, "{stats}");
    assert!(
        stats["faults_injected"]["each_429_limit"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_402_stops_new_submits_with_a_clear_message() {
    let sb = sandbox(SandboxConfig {
        faults: FaultPlan::first(Fault::Each402, 1),
        ..fast()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.yaml", &each_yaml(&["a", "b", "c"], ""));
    let o = render(&sb.base_url(), &file, "k", &["--concurrency", "1"]).await;
    // The account, not the shots: exit 4, every shot pending (nothing was created), one message.
    assert_eq!(o.status.code(), Some(4));
    let m = manifest(dir.path());
    let st = crate::common::shot_statuses(&m);
    assert_eq!(st, ["pending", "pending", "pending"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("balance is too low").count(), 1, "{err}");
    assert_eq!(sb.stats()["jobs_created_total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_401_names_the_key_variable() {
    let sb = sandbox(SandboxConfig {
        api_key: Some("the-right-key".into()),
        ..fast()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.yaml", &each_yaml(&["a", "b"], ""));
    let o = render(&sb.base_url(), &file, "a-wrong-key", &[]).await;
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("EACHLABS_API_KEY").count(), 1, "{err}");
    assert!(!err.contains("a-wrong-key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_files_are_uploaded_once_across_runs_and_sent_as_urls() {
    let sb = sandbox(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let frames = crate::common::root().join("examples/frames");
    std::fs::create_dir_all(dir.path().join("frames")).unwrap();
    for f in ["coat.png", "scarf.png"] {
        std::fs::copy(frames.join(f), dir.path().join("frames").join(f)).unwrap();
    }
    let yaml = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n    start_image: ./frames/coat.png\n  - id: b\n    prompt: b\n    start_image: frames/coat.png\n    end_image: ./frames/scarf.png\n  - id: c\n    prompt: c\n    start_image: ./frames/scarf.png\n";
    let file = write(dir.path(), "s.yaml", yaml);
    let o = render(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sb.stats()["requests"]["upload"], 2, "{}", sb.stats());
    let m = manifest(dir.path());
    let base = format!("{}/files/uploads/", sb.base_url());
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
    assert_eq!(
        back.as_ref(),
        std::fs::read(dir.path().join("frames/coat.png")).unwrap()
    );
    // A second run (forced) uploads nothing again and sends the same URLs.
    let o = render(&sb.base_url(), &file, "k", &["--force"]).await;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(sb.stats()["requests"]["upload"], 2);
    assert_eq!(manifest(dir.path())["shots"][0]["input"]["start_image_url"], a);
    assert_eq!(sb.stats()["jobs_created_total"], 6);
}

/// A create whose answer was lost (the prediction exists): the next render finds it in
/// Eachlabs' executions list (each prediction's input compared with the journaled body) and
/// follows it — no second prediction.
#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_predictions_whose_answer_was_lost_are_found_and_followed() {
    let sb = sandbox(SandboxConfig {
        faults: "each_drop=1".parse().unwrap(),
        ..fast()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.yaml", &each_yaml(&["a", "b"], ""));
    let o = render(&sb.base_url(), &file, "k", &["--concurrency", "1"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        crate::common::shot_statuses(&manifest(dir.path())),
        ["uncertain", "done"]
    );
    let o = render(&sb.base_url(), &file, "k", &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("found request") && err.contains("adopted"), "{err}");
    assert_eq!(sb.stats()["jobs_created_total"], 2, "no second prediction");
}
