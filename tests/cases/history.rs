//! Money and history as the providers serve them: lost submits found pages deep in a busy,
//! day-old history (fal: `start`, `next_cursor`/`has_more`; Eachlabs: `limit`/`offset`),
//! results recovered a day after their submit, request ids checked before any use.

use crate::common::{SandboxConfig, Test, fast, fast_faults, get_json, root, stderr, storyboard};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

/// The one endpoint (or model) the sandbox created jobs for.
fn only_endpoint(sb: &crate::common::Sandbox) -> String {
    let created = sb.stats()["jobs_created"].as_object().unwrap().clone();
    assert_eq!(created.len(), 1, "{created:?}");
    created.keys().next().unwrap().clone()
}

/// Waits (bounded) until fal's history lists `n` finished requests of `endpoint` since 1970:
/// the history lists finished requests only.
async fn finished(sb: &crate::common::Sandbox, endpoint: &str, n: usize) {
    let url = format!(
        "{}/v1/models/requests/by-endpoint?endpoint_id={endpoint}&start=1970-01-01T00:00:00Z",
        sb.base_url()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = get_json(&url, "Key k").await;
        if v["items"].as_array().map_or(0, Vec::len) >= n || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A one-shot storyboard for `provider` rendered against a sandbox with `config` (which loses
/// the submit's answer): the render ends uncertain. The test, the storyboard, and the endpoint
/// (or model) the sandbox created the job for.
async fn lost_submit(config: SandboxConfig, provider: &str) -> (Test, PathBuf, String) {
    let t = Test::with(config).await;
    let file = one_shot(t.path(), provider);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(1), "uncertain: {}", stderr(&o));
    let endpoint = only_endpoint(t.sb());
    (t, file, endpoint)
}

fn one_shot(dir: &Path, provider: &str) -> PathBuf {
    crate::common::write(
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
    let (t, file, endpoint) = lost_submit(fast_faults("submit_drop=1"), "fal").await;
    finished(t.sb(), &endpoint, 1).await;
    t.sb().advance_clock(30 * HOUR);
    t.sb().seed_fal_history(&endpoint, 250, 29 * HOUR);
    let o = t.run("reconcile", &file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("adopted"), "{}", stderr(&o));
    assert!(
        t.sb().stats()["requests"]["history"].as_u64().unwrap() >= 3,
        "every page read"
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(t.sb().stats()["jobs_created_total"], 1, "nothing resubmitted");
}

/// The same for Eachlabs: 45 predictions after the lost one (its default page is 20): the
/// lookup pages with `limit`/`offset` and finds it.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_eachlabs_create_45_predictions_deep_is_found_and_followed() {
    let (t, file, model) = lost_submit(fast_faults("each_drop=1"), "eachlabs").await;
    t.sb().advance_clock(2 * HOUR);
    t.sb().seed_eachlabs_history("k", &model, 45, HOUR);
    let o = t.render(&file, &[]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("found request") && err.contains("adopted"), "{err}");
    assert_eq!(t.sb().stats()["jobs_created_total"], 1, "no second prediction");
    assert!(t.sb().stats()["requests"]["eachlabs_executions"].as_u64().unwrap() >= 1);
}

/// A render stopped right after its submit, resumed 30 hours later: the queue forgot the
/// result, and the request history (asked with an explicit `start`) still has it.
#[tokio::test(flavor = "multi_thread")]
async fn a_result_is_recovered_from_the_history_30_hours_after_its_submit() {
    let (t, file, endpoint) = lost_submit(
        SandboxConfig {
            result_ttl: Some(Duration::from_millis(1)),
            ..fast_faults("submit_drop=1")
        },
        "fal",
    )
    .await;
    finished(t.sb(), &endpoint, 1).await;
    // The job is adopted while the clock is still today; its result then expires for a day.
    let o = t.run("reconcile", &file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    t.sb().advance_clock(30 * HOUR);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(t.sb().stats()["jobs_created_total"], 1);
    let m = t.manifest();
    assert_eq!(m["shots"][0]["status"], "done", "{m}");
}

/// `adopt` with an id that is not a fal request id (a path, a query, a fragment): exit 2,
/// naming the shot and field, and nothing is sent or written.
#[tokio::test(flavor = "multi_thread")]
async fn adopt_refuses_a_malformed_request_id_and_sends_nothing() {
    let t = Test::with(fast()).await;
    let file = one_shot(t.path(), "fal");
    for id in [
        "../../../../x/y?z=1#f",
        "764cabcf-b745-4b3e-ae38-1200304cf45",
        "",
        "a b",
    ] {
        let o = t.run("adopt", &file, &["s0", id]).await;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{id}: {err}");
        assert!(err.contains("s0") && err.contains("not a fal request id"), "{err}");
    }
    assert_eq!(t.sb().stats()["requests"], serde_json::json!({}), "nothing sent");
    assert!(!t.out().exists(), "nothing written");
}

pub(crate) const V3_PRO: &str = "fal-ai/kling-video/v3/pro/text-to-video";

/// `storyboard ARGS` with its own price cache, the platform API at `api` and key `k`.
pub(crate) async fn priced(api: &str, cache: &Path, args: &[&str]) -> Output {
    let mut c = storyboard();
    c.args(args).env("XDG_CACHE_HOME", cache).env("FAL_KEY", "k");
    for var in [
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_API_URL",
        "STORYBOARD_FAL_STORAGE_URL",
    ] {
        c.env(var, api);
    }
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

/// A live price per image for a per-second endpoint: ignored with one message naming the
/// endpoint; the table prices the shot, and the budget still refuses it (nothing sent). (A live
/// price no model costs refuses the plan: `facts_live`.)
#[tokio::test(flavor = "multi_thread")]
async fn live_prices_in_another_unit_are_ignored_with_one_message() {
    let t = Test::with(fast()).await;
    let file = t.storyboard("version: 1\nmodel: kling-v3-pro\nbudget_usd: 1\noutput: out\nshots:\n  - id: a\n    prompt: x\n    duration: 5\n",
    );
    let file = file.to_str().unwrap();
    for (price, unit, why) in [(0.01, "image", "per image")] {
        let cache = tempfile::tempdir().unwrap();
        t.sb().set_price_per(V3_PRO, price, unit);
        let o = priced(&t.url(), cache.path(), &["models", "--refresh"]).await;
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}");
        let message = format!("fal's live price for {V3_PRO} is ignored");
        assert_eq!(out.matches(&message).count(), 1, "{out}");
        assert!(out.contains(why), "{out}");
        // The endpoint's own price line, under it (v3 pro's image-to-video is priced live).
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("  v3/pro/text-to-video "))
            .unwrap();
        let row = lines[at + 1];
        assert!(
            row.contains("$0.224/s audio off") && row.contains("table"),
            "the table's price: {row}"
        );
        let o = priced(&t.url(), cache.path(), &["plan", file, "--json"]).await;
        let p: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            p["shots"][0]["estimated_usd"],
            serde_json::json!(1.68),
            "the table: {p}"
        );
        let o = priced(&t.url(), cache.path(), &["render", file, "--yes"]).await;
        assert_eq!(o.status.code(), Some(3), "over budget_usd 1: {}", stderr(&o));
    }
    assert_eq!(t.sb().stats()["jobs_created_total"], 0);
}

/// A pricing API that streams forever: the read stops at 4 MiB (not at the 20 s timeout, not
/// gigabytes later), and the table is used.
#[tokio::test(flavor = "multi_thread")]
async fn a_pricing_answer_that_never_ends_is_cut_off_at_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        s.write_all(head.as_bytes()).await.unwrap();
        let body = [b' '; 65536];
        let mut sent = 0u64;
        let chunk = format!("{:x}\r\n", body.len());
        while s.write_all(chunk.as_bytes()).await.is_ok()
            && s.write_all(&body).await.is_ok()
            && s.write_all(b"\r\n").await.is_ok()
        {
            sent += body.len() as u64;
        }
        sent
    });
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = priced(&url, cache.path(), &["models", "--refresh"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("longer than 4 MiB") && out.contains("table"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "not the 20 s timeout");
    let sent = server.await.unwrap();
    assert!(
        sent < 16 << 20,
        "stopped reading near 4 MiB, the server sent {sent} bytes"
    );
}

/// After each fal job its billing event is read: the bill is kept per take in the manifest,
/// and `status` shows it beside the estimate, flagging a shot billed more than a cent away from
/// it (the sandbox bills v3 pro at the lower of fal's two published figures).
#[tokio::test(flavor = "multi_thread")]
async fn billed_costs_are_recorded_per_take_and_status_compares_them_with_the_estimate() {
    let t = Test::with(fast()).await;
    let file = t.storyboard("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: x\n  - id: b\n    model: kling-v3-pro\n    prompt: y\n    duration: 5\n",
    );
    let o = t.render(&file, &["--offline"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(t.sb().stats()["requests"]["billing_events"], 2);
    let o = t.run("status", &file, &["--json"]).await;
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (&st["shots"][0], &st["shots"][1]);
    assert_eq!(a["billed_usd"], a["estimated_usd"], "{st}");
    assert_eq!(a["billed_differs"], false);
    assert_eq!(b["estimated_usd"], serde_json::json!(1.68));
    assert_eq!(b["billed_usd"], serde_json::json!(0.84), "{st}");
    assert_eq!(b["billed_differs"], true);
    let o = t.run("status", &file, &[]).await;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("$0.84 (est. $1.68)"), "{text}");
    assert!(
        text.contains("1 differ from their estimate by more than a cent"),
        "{text}"
    );
    let m = t.manifest();
    assert_eq!(m["shots"][1]["takes"][0]["actual_usd"], serde_json::json!(0.84), "{m}");
}

/// A key without billing scope (403 at the billing events): said once, never a failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_without_billing_scope_is_said_once_and_fails_nothing() {
    let t = Test::with(fast()).await;
    t.sb().billing_scope(false);
    let file = t.storyboard("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: y\n");
    let o = t.render(&file, &["--offline"]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("billed cost not available with this key").count(),
        1,
        "{err}"
    );
    let o = t.run("status", &file, &["--json"]).await;
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["shots"][0]["billed_usd"], Value::Null, "{st}");
    assert_eq!(st["shots"][0]["state"], "done");
}

/// The journal's upload records, each `at` moved `days` into the past (time passing).
fn age_uploads(out: &Path, days: u64) {
    let path = out.join(".storyboard/journal.jsonl");
    let then = std::time::SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["event"] == "upload" {
                v["at"] = humantime::format_rfc3339_seconds(then).to_string().into();
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Each upload asks fal for a 7-day lifetime; a file uploaded longer ago than that (less a
/// day for the render) is uploaded again instead of sending a URL the CDN has deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_upload_past_its_lifetime_is_uploaded_again() {
    let t = Test::with(fast()).await;
    std::fs::create_dir_all(t.path().join("frames")).unwrap();
    let coat = root().join("examples/frames/coat.png");
    std::fs::copy(coat, t.path().join("frames/coat.png")).unwrap();
    let yaml = |prompt: &str| {
        format!(
            "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: {prompt}\n    start_image: ./frames/coat.png\n"
        )
    };
    let file = t.storyboard(&yaml("first"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let url = |t: &Test| {
        t.manifest()["shots"][0]["input"]["start_image_url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = url(&t);
    // A day later the upload is still good: reused.
    age_uploads(&t.out(), 1);
    let file = t.storyboard(&yaml("second"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(t.sb().stats()["requests"]["upload_initiate"], 1);
    // Eight days later the CDN has deleted it; the next render uploads it again.
    age_uploads(&t.out(), 8);
    t.sb().advance_clock(8 * 24 * HOUR);
    assert_eq!(reqwest::get(&first).await.unwrap().status(), 404, "the old URL is dead");
    let file = t.storyboard(&yaml("third"));
    let o = t.render(&file, &[]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("uploading ./frames/coat.png again"), "{err}");
    assert_eq!(t.sb().stats()["requests"]["upload_initiate"], 2);
    let again = url(&t);
    assert_ne!(again, first);
    assert_eq!(reqwest::get(&again).await.unwrap().status(), 200);
}

/// A 95 MB motion reference video (Kling takes up to 100 MB) goes up in 10 MiB parts, as
/// fal's JS client sends files above 90 MiB, and arrives whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_95_mb_video_is_uploaded_in_parts() {
    let t = Test::with(fast()).await;
    // A real clip followed by an MP4 `free` box up to 95 MB.
    let mut video = std::fs::read(root().join("src/sandbox/clips/16x9_5s.mp4")).unwrap();
    let pad = 95_000_000 - video.len();
    video.extend_from_slice(&(pad as u32).to_be_bytes());
    video.extend_from_slice(b"free");
    video.resize(95_000_000, 0);
    std::fs::write(t.path().join("ref.mp4"), &video).unwrap();
    let file = t.storyboard("version: 1\nmodel: kling-v2.6-pro\noutput: out\nshots:\n  - id: m\n    motion:\n      image: https://example.com/a.png\n      video: ./ref.mp4\n      orientation: video\n    prompt: dance\n    price_usd: 1\n",
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stats = t.sb().stats();
    assert_eq!(stats["requests"]["upload_part"], 10, "{stats}");
    assert_eq!(stats["requests"]["upload_complete"], 1, "{stats}");
    assert!(stats["requests"].get("upload").is_none(), "no single PUT: {stats}");
    let m = t.manifest();
    let url = m["shots"][0]["input"]["video_url"].as_str().unwrap();
    let back = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert!(back.as_ref() == video.as_slice(), "the file arrived whole");
}
