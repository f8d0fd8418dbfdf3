//! `render` against the sandbox over real HTTP: clips, manifest, concurrency, every fault
//! knob, resume and cache, budget and confirmation, and keys that never leak.

use crate::common::{
    Fault, FaultPlan, SandboxConfig, Test, example, fast, files_below, manifest, root, sha256_hex, storyboard, text,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KEY: &str = "sk-test-SECRET-4242";

/// A test with a sandbox started with `config`, sending [`KEY`].
async fn test(config: SandboxConfig) -> Test {
    Test::with(config).await.key(KEY)
}

/// `shot=status` for each shot of a manifest.
fn statuses(m: &Value) -> Vec<String> {
    m["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}={}", s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect()
}

fn assert_valid_manifest(out: &Path) {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/manifest.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let m = manifest(out);
    let errors: Vec<String> = validator.iter_errors(&m).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "manifest does not match its schema: {errors:?}");
    for s in m["shots"].as_array().unwrap() {
        if let Some(clip) = s["clip"].as_object() {
            let path = out.join(clip["path"].as_str().unwrap());
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len() as u64, clip["bytes"].as_u64().unwrap());
            assert_eq!(sha256_hex(&bytes), clip["sha256"].as_str().unwrap());
        }
    }
    assert!(
        !files_below(out).iter().any(|f| f.ends_with(".part")),
        "partial files left: {:?}",
        files_below(out)
    );
}

/// A storyboard of `n` text-to-video shots writing into `dir/out`.
fn shots_yaml(n: usize, extra: &str) -> String {
    let mut s = format!("version: 1\noutput: out\n{extra}shots:\n");
    for i in 0..n {
        s.push_str(&format!("  - id: s{i}\n    prompt: shot number {i}\n"));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_renders_in_the_sandbox_with_a_valid_manifest() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    let ffmpeg = crate::common::tool_present("ffmpeg");
    for name in &names {
        let source = std::fs::read_to_string(root().join("examples").join(name)).unwrap();
        if !ffmpeg && source.contains("{ after:") {
            eprintln!("skipping {name}: chained shots need ffmpeg");
            continue;
        }
        let t = Test::new();
        let out = t.out();
        let mut cmd = storyboard();
        cmd.arg("render")
            .arg(example(name))
            .arg("--sandbox")
            .arg("--out")
            .arg(&out);
        let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        assert_valid_manifest(&out);
        let m = manifest(&out);
        assert!(
            m["shots"].as_array().unwrap().iter().all(|s| s["status"] == "done"),
            "{name}: {:?}",
            statuses(&m)
        );
        assert!(m["finished_at"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_never_exceeds_the_limit_and_is_used() {
    let t = test(SandboxConfig {
        job_time: Duration::from_millis(150),
        ..fast()
    })
    .await;
    let file = t.storyboard(&shots_yaml(12, ""));
    let o = t.render(&file, &["--concurrency", "3"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_created_total"], 12);
    assert_eq!(stats["max_in_flight"], 3, "{stats}");
    assert_valid_manifest(&t.out());
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_end_in_clips_with_nothing_submitted_twice() {
    let plans = [
        FaultPlan::first(Fault::Submit429, 3),
        FaultPlan::first(Fault::Submit503, 2),
        FaultPlan::first(Fault::Status5xx, 3).with(Fault::StreamOff, 6),
        FaultPlan::first(Fault::Result5xx, 3),
        FaultPlan::first(Fault::StreamDrop, 4),
        FaultPlan::first(Fault::Truncate, 3),
    ];
    for plan in plans {
        let t = test(SandboxConfig {
            faults: plan.clone(),
            clip_bytes: Some(300_000),
            ..fast()
        })
        .await;
        let file = t.storyboard(&shots_yaml(6, ""));
        let o = t.render(&file, &["--concurrency", "3"]).await;
        assert_eq!(o.status.code(), Some(0), "{plan:?}: {}", text(&o));
        assert_eq!(t.jobs(), 6, "{plan:?}");
        let injected = t.sb().stats()["faults_injected"].clone();
        for (fault, rule) in &plan.rules {
            assert_eq!(injected[fault.name()], rule.first, "{plan:?}: {injected}");
        }
        assert_valid_manifest(&t.out());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_jobs_are_recorded_and_the_rest_go_on() {
    let t = test(fast()).await;
    let yaml = "version: 1\noutput: out\nshots:\n  - id: ok\n    prompt: fine\n  - id: broken\n    prompt: \"breaks [sandbox:fail]\"\n  - id: refused\n    prompt: \"flagged [sandbox:reject]\"\n  - id: also-ok\n    prompt: fine too\n";
    let file = t.storyboard(yaml);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = t.manifest();
    assert_eq!(
        statuses(&m),
        ["ok=done", "broken=failed", "refused=failed", "also-ok=done"]
    );
    assert!(
        m["shots"][1]["error"].as_str().unwrap().contains("Runner disconnected"),
        "{}",
        m["shots"][1]
    );
    assert!(
        m["shots"][2]["error"]
            .as_str()
            .unwrap()
            .contains("flagged by the content checker"),
        "{}",
        m["shots"][2]
    );
    assert!(m["shots"][1]["request_id"].is_string());
    assert_valid_manifest(&t.out());
    let st = storyboard().arg("status").arg(t.out()).output().unwrap();
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(table.contains("2 done") && table.contains("2 failed"), "{table}");
    assert!(
        table.contains("verified") && table.contains("Runner disconnected"),
        "{table}"
    );
    // Failures are never cached: the next run submits them again, and only them.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(t.jobs(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ambiguous_submit_is_uncertain_and_never_silently_repeated() {
    // Without a request history to look it up in (the adoption path is tested in crash.rs).
    let t = test(SandboxConfig {
        faults: "submit_drop=1,history_off~1.0".parse().unwrap(),
        ..fast()
    })
    .await;
    let file = t.storyboard(&shots_yaml(3, ""));
    let o = t.render(&file, &["--concurrency", "1"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--retry-uncertain"),
        "{}",
        text(&o)
    );
    let m = t.manifest();
    assert_eq!(statuses(&m), ["s0=uncertain", "s1=done", "s2=done"]);
    assert_eq!(t.jobs(), 3, "the dropped submit did create a job");
    // A plain re-run leaves it alone.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(t.jobs(), 3);
    assert_eq!(statuses(&t.manifest()), ["s0=uncertain", "s1=cached", "s2=cached"]);
    // After checking, the user asks for it again: one more job.
    let o = t.render(&file, &["--retry-uncertain"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 4);
    assert_valid_manifest(&t.out());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_result_is_said_plainly_and_resubmitted_only_when_asked() {
    // Gone means: the queue forgot the result and the request history cannot give it either.
    let t = test(SandboxConfig {
        result_ttl: Some(Duration::ZERO),
        job_time: Duration::from_millis(40),
        faults: "history_off~1.0".parse().unwrap(),
        ..fast()
    })
    .await;
    let file = t.storyboard(&shots_yaml(1, ""));
    // A result of zero lifetime is gone by the time anyone asks for it.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    let m = t.manifest();
    let err = m["shots"][0]["error"].as_str().unwrap();
    assert!(err.contains("gone") && err.contains("--resubmit-expired"), "{err}");
    assert!(
        err.contains("request history") && err.contains("not available"),
        "says what was tried: {err}"
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(t.jobs(), 1, "not resubmitted without --resubmit-expired");
    let _ = t.render(&file, &["--resubmit-expired"]).await;
    assert_eq!(t.jobs(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn re_runs_render_only_what_changed() {
    let t = test(fast()).await;
    let v1 = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: alpha\n  - id: b\n    prompt: beta\n  - id: c\n    prompt: gamma\n";
    let file = t.storyboard(v1);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 3);
    // Unchanged: nothing.
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 3);
    // Reordered and renamed: nothing (the renamed clip is copied).
    t.storyboard("version: 1\noutput: out\nshots:\n  - id: c\n    prompt: gamma\n  - id: bee\n    prompt: beta\n  - id: a\n    prompt: alpha\n",
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 3);
    assert!(t.path().join("out/bee.mp4").exists());
    // One prompt edited: one job.
    t.storyboard("version: 1\noutput: out\nshots:\n  - id: c\n    prompt: gamma\n  - id: bee\n    prompt: beta, edited\n  - id: a\n    prompt: alpha\n",
    );
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 4);
    // --only with --force: exactly the selected ones.
    assert_eq!(
        t.render(&file, &["--force", "--only", "a", "c*"]).await.status.code(),
        Some(0)
    );
    assert_eq!(t.jobs(), 6);
    assert_eq!(statuses(&t.manifest()), ["c=done", "bee=cached", "a=done"]);
    assert_valid_manifest(&t.out());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_request_twice_is_submitted_once_and_copied() {
    let t = test(fast()).await;
    let file =
        t.storyboard("version: 1\noutput: out\nshots:\n  - id: one\n    prompt: same\n  - id: two\n    prompt: same\n");
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 1);
    let m = t.manifest();
    assert_eq!(m["shots"][0]["clip"]["sha256"], m["shots"][1]["clip"]["sha256"]);
    assert_valid_manifest(&t.out());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_never_appear_in_output_or_files() {
    let t = test(SandboxConfig {
        faults: FaultPlan::first(Fault::Submit429, 1).with(Fault::FailJob, 1),
        ..fast()
    })
    .await;
    let file = t.storyboard(&shots_yaml(3, ""));
    let mut outputs = Vec::new();
    outputs.push(t.render(&file, &[]).await);
    outputs.push(t.render(&file, &["--json"]).await);
    for o in &outputs {
        assert!(!text(o).contains("SECRET-4242"), "key leaked: {}", text(o));
    }
    for f in files_below(t.path()) {
        let bytes = std::fs::read(t.path().join(&f)).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("SECRET-4242"),
            "key leaked into {f}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_events_are_one_object_per_line() {
    let t = test(fast()).await;
    let file = t.storyboard(&shots_yaml(2, ""));
    let o = t.render(&file, &["--json"]).await;
    assert_eq!(o.status.code(), Some(0));
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done: Vec<&Value> = events.iter().filter(|e| e["state"] == "done").collect();
    assert_eq!(done.len(), 2);
    assert!(done[0]["path"].as_str().unwrap().ends_with(".mp4"));
    assert!(
        events
            .iter()
            .any(|e| e["state"] == "submitted" && e["request_id"].is_string())
    );
    assert_eq!(events.last().unwrap()["state"], "summary");
}

#[tokio::test(flavor = "multi_thread")]
async fn budget_and_confirmation_are_checked_before_any_request() {
    let t = test(fast()).await;
    let file = t.storyboard(&shots_yaml(3, "budget_usd: 1\n"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exceeds the budget"));
    let o = t.render(&file, &["--max-cost", "0.5"]).await;
    assert_eq!(o.status.code(), Some(3));
    // Without a terminal and without --yes, a paid render needs a covering budget.
    let file2 = t.write("t.yaml", &shots_yaml(1, ""));
    let o = t.run("render", &file2, &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    assert_eq!(t.jobs(), 0);
    assert!(!t.out().exists(), "nothing is written before confirmation");
    // With a budget that covers it, no --yes is needed.
    let file3 = t.write("u.yaml", &shots_yaml(1, "budget_usd: 5\n"));
    let o = t.run("render", &file3, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 1);
}

#[test]
fn a_missing_key_mentions_sandbox_and_plan() {
    let t = Test::new();
    let file = t.storyboard(&shots_yaml(1, ""));
    let o = storyboard().arg("render").arg(&file).arg("--yes").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("FAL_KEY") && err.contains("--sandbox") && err.contains("plan"),
        "{err}"
    );
}

#[test]
fn plain_http_is_refused_for_non_loopback_hosts() {
    let t = Test::new();
    let file = t.storyboard(&shots_yaml(1, ""));
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .arg("--yes")
        .env("FAL_KEY", KEY)
        .env("STORYBOARD_FAL_URL", "http://example.com")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("loopback"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_render_on_a_folder_in_use_refuses_before_any_request() {
    let t = test(fast()).await;
    let file = t.storyboard(&shots_yaml(2, ""));
    let lock_path: PathBuf = t.path().join("out/.storyboard/lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.try_lock().unwrap();
    std::fs::write(&lock_path, "4242").unwrap();
    let o = t.render(&file, &[]).await;
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another render") && err.contains("4242"), "{err}");
    assert_eq!(t.jobs(), 0);
    drop(held);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn eachlabs_renders_and_reports_its_cost() {
    let t = test(fast()).await;
    let file = t.storyboard(&shots_yaml(2, "provider: eachlabs\n"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = t.manifest();
    assert_eq!(m["shots"][0]["status"], "done");
    assert_eq!(m["shots"][0]["actual_usd"], json!(0.7));
    assert_eq!(t.sb().stats()["jobs_created"]["kling-v2-6-pro-text-to-video"], 2);
    assert_valid_manifest(&t.out());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_renders_started_at_once_on_one_folder_pay_once() {
    let t = test(SandboxConfig {
        job_time: Duration::from_millis(800),
        ..fast()
    })
    .await;
    let file = t.storyboard(&shots_yaml(3, ""));
    let (a, b) = tokio::join!(t.render(&file, &[]), t.render(&file, &[]));
    let codes = [a.status.code(), b.status.code()];
    assert!(codes.contains(&Some(0)), "{} {}", text(&a), text(&b));
    let loser = if a.status.code() == Some(0) { &b } else { &a };
    assert_ne!(loser.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&loser.stderr).contains("another render"),
        "{}",
        text(loser)
    );
    assert_eq!(t.jobs(), 3);
}

/// Every verified clip is kept (`.storyboard/clips/<sha256>.mp4`): edit a prompt, render, put
/// it back, render — the revert sends nothing and restores the first clip byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn reverting_an_edit_is_free_and_restores_the_first_clip() {
    let t = test(fast()).await;
    let v1 = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: alpha\n";
    let file = t.storyboard(v1);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let first = std::fs::read(t.path().join("out/a.mp4")).unwrap();
    t.storyboard(&v1.replace("alpha", "beta"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(t.jobs(), 2);
    assert_ne!(
        std::fs::read(t.path().join("out/a.mp4")).unwrap(),
        first,
        "the edit rendered a new clip"
    );
    t.storyboard(v1);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 2, "the revert sent nothing");
    assert_eq!(
        std::fs::read(t.path().join("out/a.mp4")).unwrap(),
        first,
        "byte for byte"
    );
    assert_eq!(statuses(&t.manifest()), ["a=cached"]);
}
