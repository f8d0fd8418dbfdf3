//! Money and history as the providers serve them: lost submits found pages deep in a busy,
//! day-old history (fal: `start`, `next_cursor`/`has_more`; Eachlabs: `limit`/`offset`),
//! results recovered a day after their submit, request ids checked before any use.

use crate::common::{render_against, storyboard, write};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use storyboard::sandbox::{Sandbox, SandboxConfig};

const HOUR: Duration = Duration::from_secs(3600);

fn fast(faults: &str) -> SandboxConfig {
    SandboxConfig {
        queue_time: Duration::from_millis(10),
        job_time: Duration::from_millis(40),
        faults: faults.parse().unwrap(),
        ..SandboxConfig::fast()
    }
}

/// `storyboard CMD FILE ARGS` with every base URL at the sandbox and `k` as both keys.
async fn run(url: &str, cmd: &str, file: &Path, args: &[&str]) -> Output {
    let mut c = storyboard();
    c.arg(cmd).arg(file).args(args);
    c.env("FAL_KEY", "k")
        .env("EACHLABS_API_KEY", "k")
        .env("STORYBOARD_FAST_POLL", "1");
    for var in [
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_STORAGE_URL",
        "STORYBOARD_FAL_API_URL",
        "STORYBOARD_EACHLABS_URL",
    ] {
        c.env(var, url);
    }
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one endpoint (or model) the sandbox created jobs for.
fn only_endpoint(sb: &Sandbox) -> String {
    let created = sb.stats()["jobs_created"].as_object().unwrap().clone();
    assert_eq!(created.len(), 1, "{created:?}");
    created.keys().next().unwrap().clone()
}

/// Waits (bounded) until fal's history lists `n` finished requests of `endpoint` since 1970:
/// the history lists finished requests only.
async fn finished(sb: &Sandbox, endpoint: &str, n: usize) {
    let url = format!(
        "{}/v1/models/requests/by-endpoint?endpoint_id={endpoint}&start=1970-01-01T00:00:00Z",
        sb.base_url()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = reqwest::Client::new()
            .get(&url)
            .header("authorization", "Key k")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["items"].as_array().map_or(0, Vec::len) >= n || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn one_shot(dir: &Path, provider: &str) -> std::path::PathBuf {
    write(
        dir,
        "s.yaml",
        &format!(
            "version: 1\nprovider: {provider}\noutput: out\nshots:\n  - id: s0\n    prompt: a lighthouse at dusk\n"
        ),
    )
}

/// A submit whose answer was lost, then 250 more requests over 30 hours: the lookup sends
/// `start` from the journaled submit time (fal's default window is the last 24 h) and reads
/// every page (100 a page), finds the job three pages deep and adopts it: nothing paid twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_fal_submit_250_requests_deep_and_30_hours_old_is_found_and_adopted() {
    let sb = crate::common::start_sandbox(fast("submit_drop=1")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = one_shot(dir.path(), "fal");
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(1), "uncertain: {}", stderr(&o));
    let endpoint = only_endpoint(&sb);
    finished(&sb, &endpoint, 1).await;
    sb.advance_clock(30 * HOUR);
    sb.seed_fal_history(&endpoint, 250, 29 * HOUR);
    let o = run(&sb.base_url(), "reconcile", &file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("adopted"), "{}", stderr(&o));
    assert!(
        sb.stats()["requests"]["history"].as_u64().unwrap() >= 3,
        "every page read"
    );
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(sb.stats()["jobs_created_total"], 1, "nothing resubmitted");
}

/// The same for Eachlabs: 45 predictions after the lost one (its default page is 20): the
/// lookup pages with `limit`/`offset` and finds it.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_eachlabs_create_45_predictions_deep_is_found_and_followed() {
    let sb = crate::common::start_sandbox(fast("each_drop=1")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = one_shot(dir.path(), "eachlabs");
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(1), "uncertain: {}", stderr(&o));
    let model = only_endpoint(&sb);
    sb.advance_clock(2 * HOUR);
    sb.seed_eachlabs_history("k", &model, 45, HOUR);
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("found request") && err.contains("adopted"), "{err}");
    assert_eq!(sb.stats()["jobs_created_total"], 1, "no second prediction");
    assert!(sb.stats()["requests"]["eachlabs_executions"].as_u64().unwrap() >= 1);
}

/// A render stopped right after its submit, resumed 30 hours later: the queue forgot the
/// result, and the request history (asked with an explicit `start`) still has it.
#[tokio::test(flavor = "multi_thread")]
async fn a_result_is_recovered_from_the_history_30_hours_after_its_submit() {
    let sb = crate::common::start_sandbox(SandboxConfig {
        result_ttl: Some(Duration::from_millis(1)),
        ..fast("submit_drop=1")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = one_shot(dir.path(), "fal");
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(1), "uncertain: {}", stderr(&o));
    let endpoint = only_endpoint(&sb);
    finished(&sb, &endpoint, 1).await;
    // The job is adopted while the clock is still today; its result then expires for a day.
    let o = run(&sb.base_url(), "reconcile", &file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    sb.advance_clock(30 * HOUR);
    let o = render_against(&sb.base_url(), &file, "k", &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(sb.stats()["jobs_created_total"], 1);
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["shots"][0]["status"], "done", "{m}");
}

/// `adopt` with an id that is not a fal request id (a path, a query, a fragment): exit 2,
/// naming the shot and field, and nothing is sent or written.
#[tokio::test(flavor = "multi_thread")]
async fn adopt_refuses_a_malformed_request_id_and_sends_nothing() {
    let sb = crate::common::start_sandbox(fast("")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = one_shot(dir.path(), "fal");
    for id in [
        "../../../../x/y?z=1#f",
        "764cabcf-b745-4b3e-ae38-1200304cf45",
        "",
        "a b",
    ] {
        let o = run(&sb.base_url(), "adopt", &file, &["s0", id]).await;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{id}: {err}");
        assert!(err.contains("s0") && err.contains("not a fal request id"), "{err}");
    }
    assert_eq!(sb.stats()["requests"], serde_json::json!({}), "nothing sent");
    assert!(!dir.path().join("out").exists(), "nothing written");
}
