//! The crash harness: `render` is killed with SIGKILL at seeded points (right after a submit,
//! mid-stream, mid-download, between shots, and at random moments), then run again until the
//! storyboard is complete. The sandbox (in this process, so it outlives every kill) proves with
//! its counters that every job was created exactly once and none was lost.

use crate::common::{SandboxConfig, Test, files_below, get_json, manifest, sha256_hex, storyboard, timed, write};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SHOTS: usize = 6;

/// Where to kill: after the `nth` event of a kind, or after a delay.
#[derive(Debug, Clone, Copy)]
enum Point {
    After(&'static str, usize),
    Delay(Duration),
}

fn points(seed: u64) -> Vec<Point> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let kinds = ["submitted", "queued", "running", "downloading", "done"];
    (0..3)
        .map(|_| {
            if rng.u8(..4) == 0 {
                Point::Delay(Duration::from_millis(rng.u64(5..400)))
            } else {
                Point::After(kinds[rng.usize(..kinds.len())], rng.usize(1..=3))
            }
        })
        .collect()
}

/// One render, killed at `point` (if it gets there); returns whether it finished by itself.
fn run_once(url: &str, file: &Path, point: Option<Point>, extra: &[&str]) -> (bool, Option<i32>) {
    run_once_with(url, file, point, extra, "KILL")
}

/// Sends `signal` (`KILL`, `TERM`) to a child at once (a direct syscall: a `kill` process
/// would land the signal milliseconds later, at another point of the run).
fn send(child: &mut std::process::Child, signal: &str) -> bool {
    let sig = if signal == "TERM" { libc::SIGTERM } else { libc::SIGKILL };
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) == 0 }
}

/// One render, stopped with `signal` at `point`; returns whether it finished by itself.
fn run_once_with(url: &str, file: &Path, point: Option<Point>, extra: &[&str], signal: &str) -> (bool, Option<i32>) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
        .arg("render")
        .arg(file)
        .args(["--yes", "--json", "--concurrency", "1"])
        .args(extra)
        .env("FAL_KEY", "crash-key")
        .env("STORYBOARD_FAL_URL", url)
        .env("STORYBOARD_FAL_API_URL", url)
        .env("STORYBOARD_FAL_STORAGE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut seen = 0;
    let mut killed = false;
    if let Some(point) = point {
        match point {
            Point::After(kind, nth) => {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if v["state"] == kind {
                        seen += 1;
                        if seen == nth {
                            killed = send(&mut child, signal);
                            break;
                        }
                    }
                }
            }
            Point::Delay(d) => {
                std::thread::sleep(d.saturating_sub(started.elapsed()));
                killed = child.try_wait().unwrap().is_none() && send(&mut child, signal);
            }
        }
    } else {
        std::io::copy(&mut BufReader::new(stdout), &mut std::io::sink()).unwrap();
    }
    let status = child.wait().unwrap();
    (!killed, status.code())
}

/// `storyboard CMD FILE ARGS` with key `k` and fal's queue and platform API at `url`.
fn fal(cmd: &str, url: &str, file: &Path, args: &[&str]) -> std::process::Output {
    storyboard()
        .arg(cmd)
        .arg(file)
        .args(args)
        .env("FAL_KEY", "k")
        .env("STORYBOARD_FAL_URL", url)
        .env("STORYBOARD_FAL_API_URL", url)
        .output()
        .unwrap()
}

#[test]
fn killed_renders_complete_on_rerun_with_every_job_created_exactly_once() {
    let mut kills = 0;
    let mut retried_uncertain = 0;
    let mut in_window = 0;
    for seed in 0..10u64 {
        let t = Test::blocking(SandboxConfig {
            queue_time: Duration::from_millis(30),
            job_time: Duration::from_millis(120),
            clip_bytes: Some(4_000_000),
            ..SandboxConfig::fast()
        });
        let mut yaml = String::from("version: 1\noutput: out\nshots:\n");
        for i in 0..SHOTS {
            yaml.push_str(&format!("  - id: shot{i}\n    prompt: take {i} of seed {seed}\n"));
        }
        let file = t.storyboard(&yaml);
        for point in points(seed) {
            let (finished, _) = run_once(&t.url(), &file, Some(point), &[]);
            if !finished {
                kills += 1;
            }
            let out = t.out();
            if out.join("manifest.json").exists() {
                // The manifest is valid JSON after every kill.
                manifest(&out);
            }
        }
        // Run to completion.
        let (_, code) = run_once(&t.url(), &file, None, &[]);
        let out = t.out();
        let mut m = manifest(&out);
        if code != Some(0) {
            // A kill between a submit leaving and its id being journaled leaves the shot
            // `uncertain`: never resubmitted by itself. The user checks their dashboard (here:
            // the sandbox's count) and retries only if nothing was created.
            let uncertain = m["shots"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["status"] == "uncertain")
                .count();
            assert!(uncertain > 0, "seed {seed}: exit {code:?} without uncertain shots: {m}");
            let ids: std::collections::HashSet<&str> = m["shots"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["request_id"].as_str())
                .collect();
            let created = t.sb().stats()["jobs_created_total"].as_u64().unwrap() as usize;
            if created > ids.len() {
                // Killed after the request left and before its answer arrived: the one window no
                // client can close. It was reported uncertain and not resubmitted; that is all
                // a client can do. The user would find it on their dashboard.
                assert_eq!(created, ids.len() + uncertain, "seed {seed}: more jobs than submits");
                assert_eq!(created, SHOTS, "seed {seed}: nothing was submitted twice");
                in_window += 1;
                continue;
            }
            retried_uncertain += uncertain;
            let (_, code) = run_once(&t.url(), &file, None, &["--retry-uncertain"]);
            assert_eq!(code, Some(0), "seed {seed}");
            m = manifest(&out);
        }
        let stats = t.sb().stats();
        assert_eq!(
            stats["jobs_created_total"].as_u64(),
            Some(SHOTS as u64),
            "seed {seed}: {stats}"
        );
        for s in m["shots"].as_array().unwrap() {
            assert!(s["status"] == "done" || s["status"] == "cached", "seed {seed}: {s}");
            let clip = &s["clip"];
            let bytes = std::fs::read(out.join(clip["path"].as_str().unwrap())).unwrap();
            assert_eq!(bytes.len() as u64, clip["bytes"].as_u64().unwrap());
            let sha = sha256_hex(&bytes);
            assert_eq!(sha, clip["sha256"].as_str().unwrap(), "seed {seed}");
        }
        assert!(
            !files_below(&out)
                .iter()
                .any(|f| f.ends_with(".part") || f.ends_with(".tmp")),
            "seed {seed}: {:?}",
            files_below(&out)
        );
    }
    eprintln!(
        "crash harness: {kills} kills over 10 storyboards, {retried_uncertain} uncertain submits retried after checking, {in_window} killed inside the submit window"
    );
    assert!(kills >= 20, "only {kills} kills landed");
    assert!(
        in_window <= 1,
        "{in_window} of 10 storyboards lost a job in the submit window"
    );
}

type Events = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// Starts `render FILE --yes --json ARGS` and reads its events until `n` shots were submitted.
fn render_until_submitted(url: &str, file: &Path, args: &[&str], n: usize) -> (std::process::Child, Events) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
        .arg("render")
        .arg(file)
        .args(["--yes", "--json"])
        .args(args)
        .env("FAL_KEY", "k")
        .env("STORYBOARD_FAL_URL", url)
        .env("STORYBOARD_FAL_API_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut submitted = 0;
    for line in lines.by_ref() {
        if serde_json::from_str::<Value>(&line.unwrap()).is_ok_and(|v| v["state"] == "submitted") {
            submitted += 1;
            if submitted == n {
                break;
            }
        }
    }
    (child, lines)
}

#[test]
fn sigterm_and_second_ctrl_c_stop_at_once_and_keep_request_ids() {
    let (t, file) = staged(timed(Duration::from_millis(50), Duration::from_secs(2)), 2);
    let (mut child, _events) = render_until_submitted(&t.url(), &file, &[], 2);
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let m = t.manifest();
    assert!(
        m["shots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["request_id"].is_string() && s["status"] == "pending"),
        "{m}"
    );
    // `status` (no network) sees both in flight, with their request ids.
    let st = storyboard().arg("status").arg(&file).arg("--json").output().unwrap();
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    for shot in st["shots"].as_array().unwrap() {
        assert_eq!(shot["state"], "in flight", "{st}");
        assert!(shot["request_id"].is_string());
    }
    assert_eq!(st["committed_usd"], serde_json::json!(1.4));
    // The next render follows both jobs instead of submitting them again.
    let o = fal("render", &t.url(), &file, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("following request"));
    assert_eq!(t.sb().stats()["jobs_created_total"], 2);
}

#[test]
fn first_ctrl_c_submits_nothing_new_and_lets_in_flight_shots_finish() {
    let (t, file) = staged(timed(Duration::from_millis(50), Duration::from_millis(600)), 4);
    let (mut child, lines) = render_until_submitted(&t.url(), &file, &["--concurrency", "2"], 2);
    std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let done = rest
        .iter()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["state"] == "done"))
        .count();
    assert_eq!(done, 2, "{rest:?}");
    assert_eq!(t.sb().stats()["jobs_created_total"], 2);
    let m = t.manifest();
    let st = crate::common::shot_statuses(&m);
    assert_eq!(st.iter().filter(|s| **s == "done").count(), 2);
    assert_eq!(st.iter().filter(|s| **s == "pending").count(), 2);
}

#[test]
fn sigterm_during_a_submit_waits_for_its_answer_so_nothing_is_uncertain() {
    let config = SandboxConfig {
        submit_delay: Duration::from_millis(1500),
        ..SandboxConfig::fast()
    };
    let (t, file) = staged(config, 1);
    let (finished, code) = run_once_with(&t.url(), &file, Some(Point::After("submitting", 1)), &[], "TERM");
    assert!(!finished);
    assert_eq!(code, Some(130));
    // The answer arrived during the grace and was journaled: the shot is in flight (or even
    // finished), never uncertain.
    let m = t.manifest();
    assert!(
        m["shots"][0]["status"] == "pending" || m["shots"][0]["status"] == "done",
        "{m}"
    );
    assert!(m["shots"][0]["request_id"].is_string(), "{m}");
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(t.sb().stats()["jobs_created_total"], 1);
}

/// The harness with SIGTERM (timeouts, `docker stop`) at seeded points while submits are slow:
/// every re-run ends with jobs created == shots, and no shot is ever uncertain.
#[test]
fn terminated_renders_complete_on_rerun_with_every_job_created_exactly_once() {
    let mut stops = 0;
    for seed in 0..5u64 {
        let config = SandboxConfig {
            queue_time: Duration::from_millis(30),
            job_time: Duration::from_millis(120),
            submit_delay: Duration::from_millis(150),
            ..SandboxConfig::fast()
        };
        let t = Test::blocking(config);
        let shots: String = (0..SHOTS)
            .map(|i| format!("  - id: shot{i}\n    prompt: term {i} of {seed}\n"))
            .collect();
        let file = t.storyboard(&format!("version: 1\noutput: out\nshots:\n{shots}"));
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..3 {
            let point = match rng.u8(..3) {
                0 => Point::Delay(Duration::from_millis(rng.u64(5..600))),
                1 => Point::After("submitting", rng.usize(1..=3)),
                _ => Point::After("submitted", rng.usize(1..=3)),
            };
            let (finished, code) = run_once_with(&t.url(), &file, Some(point), &[], "TERM");
            if !finished {
                stops += 1;
                // 130 once the handler is installed; before that (start-up, nothing sent yet)
                // the default action ends the process.
                assert!(matches!(code, Some(130) | Some(0) | None), "seed {seed}: exit {code:?}");
            }
        }
        let (_, code) = run_once(&t.url(), &file, None, &[]);
        let m = t.manifest();
        assert_eq!(code, Some(0), "seed {seed}: {m}");
        assert_eq!(
            t.sb().stats()["jobs_created_total"].as_u64(),
            Some(SHOTS as u64),
            "seed {seed}"
        );
    }
    assert!(stops >= 8, "only {stops} SIGTERMs landed");
}

/// The harness on a full disk: each storyboard renders into a small tmpfs that fills part way
/// (a different size per seed, with a SIGTERM at a seeded point on top), then the disk is
/// enlarged and the render run again: jobs created == shots, every clip intact. Root only
/// (mounting a tmpfs); skipped elsewhere.
#[test]
fn renders_on_a_full_disk_complete_on_rerun_with_every_job_created_exactly_once() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk");
        std::fs::create_dir_all(&disk).unwrap();
        let mut rng = fastrand::Rng::with_seed(seed);
        if crate::common::tmpfs(&disk, &format!("{}k", rng.u32(140..360))).is_none() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let config = SandboxConfig {
            clip_bytes: Some(50_000),
            ..SandboxConfig::fast()
        };
        let t = Test::blocking(config);
        let shots: String = (0..SHOTS)
            .map(|i| format!("  - id: shot{i}\n    prompt: disk {i} of {seed}\n"))
            .collect();
        let file = write(&disk, "s.yaml", &format!("version: 1\noutput: out\nshots:\n{shots}"));
        let point = Point::After(["submitted", "downloading", "done"][rng.usize(..3)], rng.usize(1..=4));
        run_once_with(&t.sb().base_url(), &file, Some(point), &[], "TERM");
        run_once(&t.sb().base_url(), &file, None, &[]);
        crate::common::remount(&disk, "8m");
        let (_, code) = run_once(&t.sb().base_url(), &file, None, &[]);
        let out = disk.join("out");
        let m = manifest(&out);
        let created = t.sb().stats()["jobs_created_total"].as_u64();
        let intact = m["shots"].as_array().unwrap().iter().all(|s| {
            let clip = &s["clip"];
            std::fs::read(out.join(clip["path"].as_str().unwrap_or("-")))
                .is_ok_and(|b| sha256_hex(&b) == clip["sha256"].as_str().unwrap_or(""))
        });
        let leftovers = files_below(&out)
            .iter()
            .any(|f| f.ends_with(".part") || f.ends_with(".tmp"));
        crate::common::umount(&disk);
        assert_eq!(code, Some(0), "seed {seed}: {m}");
        assert_eq!(created, Some(SHOTS as u64), "seed {seed}");
        assert!(intact, "seed {seed}: {m}");
        assert!(!leftovers, "seed {seed}");
    }
}

/// Money on the real network: a finished job's clip is never paid twice. Downloads fail (the CDN
/// answers 404) until the queue's result window has passed; the next render downloads from the
/// journaled URL without asking the queue and without a new job.
#[test]
fn clips_whose_download_failed_are_fetched_from_the_journaled_url_after_the_result_expired() {
    let config = SandboxConfig {
        result_ttl: Some(Duration::from_millis(50)),
        faults: "file_404=3".parse().unwrap(),
        ..SandboxConfig::fast()
    };
    let (t, file) = staged(config, 3);
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(1), "every download failed");
    let results_asked = t.sb().stats()["requests"]["result"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // let the queue's results expire
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(0));
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_created_total"], 3, "no job paid twice");
    assert_eq!(
        stats["requests"]["result"].as_u64().unwrap(),
        results_asked,
        "the queue was not asked again"
    );
    let m = t.manifest();
    assert!(
        m["shots"].as_array().unwrap().iter().all(|s| s["status"] == "done"),
        "{m}"
    );
}

/// Killed after the submit, the job finishes while nothing follows it and its queue result
/// expires: the next render finds the output in fal's request history (the platform API) and
/// downloads it — no new job, nothing `gone`.
#[test]
fn a_job_whose_queue_result_expired_is_recovered_from_the_request_history() {
    let config = SandboxConfig {
        queue_time: Duration::from_millis(50),
        job_time: Duration::from_millis(300),
        result_ttl: Some(Duration::from_millis(50)),
        ..SandboxConfig::fast()
    };
    let (t, file) = staged(config, 1);
    let (finished, _) = run_once(&t.url(), &file, Some(Point::After("submitted", 1)), &[]);
    assert!(!finished);
    std::thread::sleep(Duration::from_millis(700)); // the job ends and its result expires
    let o = fal("render", &t.url(), &file, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let stats = t.sb().stats();
    assert_eq!(stats["jobs_created_total"], 1);
    assert!(stats["requests"]["history"].as_u64().unwrap_or(0) >= 1, "{stats}");
    let m = t.manifest();
    assert_eq!(m["shots"][0]["status"], "done", "{m}");
}

/// Submit answers lost (the job exists; the answer never came): `reconcile` finds each job in
/// fal's request history by its exact input and adopts it; the next render creates nothing.
#[test]
fn reconcile_adopts_jobs_whose_submit_answer_was_lost() {
    let config = SandboxConfig {
        faults: "submit_drop=2".parse().unwrap(),
        ..SandboxConfig::fast()
    };
    let (t, file) = staged(config, 3);
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(1), "two submits uncertain");
    assert_eq!(t.sb().stats()["jobs_created_total"], 3);
    std::thread::sleep(Duration::from_millis(300)); // the dropped jobs finish (history lists finished ones)
    let o = fal("reconcile", &t.url(), &file, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("adopted").count(), 2, "{err}");
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(t.sb().stats()["jobs_created_total"], 3, "nothing resubmitted");
}

/// `cancel` on queued jobs: cancelled at the provider (never run, never billed), journaled, and
/// shown by `status`; the next render submits them again.
#[test]
fn cancel_removes_queued_jobs_and_status_reports_them() {
    let (t, file) = staged(timed(Duration::from_secs(30), Duration::from_millis(50)), 2);
    // Killed with `s0` submitted (queued for 30 s) and `s1` not yet sent.
    let (finished, _) = run_once(&t.url(), &file, Some(Point::After("submitted", 1)), &[]);
    assert!(!finished);
    let o = fal("cancel", &t.url(), &file, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("cancelled while queued: not billed").count(), 1, "{err}");
    assert_eq!(t.sb().stats()["requests"]["cancel"], 1);
    let st = storyboard().arg("status").arg(&file).arg("--json").output().unwrap();
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["shots"][0]["state"], "cancelled", "{st}");
    assert_eq!(st["shots"][1]["state"], "pending", "{st}");
    // The next render says so before its estimate, which counts it again (a budget stops it here).
    let o = fal("render", &t.url(), &file, &["--yes", "--max-cost", "0.01"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("1 shot was cancelled earlier (storyboard cancel) is submitted again"),
        "{err}"
    );
    assert!(err.contains("to render: 2 shots"), "{err}");
}

/// The manual case: the user finds the request on the dashboard (here: the sandbox's history)
/// and adopts it; the next render follows it instead of submitting.
#[test]
fn adopt_follows_a_request_found_on_the_dashboard() {
    let config = SandboxConfig {
        faults: "submit_drop=1".parse().unwrap(),
        ..SandboxConfig::fast()
    };
    let (t, file) = staged(config, 1);
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(1), "uncertain");
    std::thread::sleep(Duration::from_millis(300));
    let url = format!(
        "{}/v1/models/requests/by-endpoint?endpoint_id=fal-ai/kling-video/v2.6/pro/text-to-video",
        t.url()
    );
    let history = t.block_on(get_json(&url, "Key k"));
    let id = history["items"][0]["request_id"].as_str().unwrap().to_owned();
    let o = fal("adopt", &t.url(), &file, &["s0", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, code) = run_once(&t.url(), &file, None, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(t.sb().stats()["jobs_created_total"], 1);
    assert_eq!(t.manifest()["shots"][0]["request_id"], id.as_str());
}

/// At the start of a render, uncertain fal submits are looked for in the request history: a
/// dropped answer costs nothing more. Without a history, it says so and resubmits nothing.
#[test]
fn render_reconciles_uncertain_submits_by_itself_and_never_resubmits_them() {
    for (faults, adopted) in [("submit_drop=1", true), ("submit_drop=1,history_off~1.0", false)] {
        let config = SandboxConfig {
            faults: faults.parse().unwrap(),
            ..SandboxConfig::fast()
        };
        let (t, file) = staged(config, 1);
        let (_, code) = run_once(&t.url(), &file, None, &[]);
        assert_eq!(code, Some(1), "uncertain");
        std::thread::sleep(Duration::from_millis(300));
        let o = fal("render", &t.url(), &file, &["--yes"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(t.sb().stats()["jobs_created_total"], 1, "{faults}: {err}");
        if adopted {
            assert_eq!(o.status.code(), Some(0), "{err}");
            assert!(err.contains("found request") && err.contains("adopted"), "{err}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert!(err.contains("request history is not available"), "{err}");
        }
    }
}

/// A sandbox with `config` (alive while the returned runtime is) and a storyboard of `n`
/// one-line shots `s0`… rendering into `out/`.
fn staged(config: SandboxConfig, n: usize) -> (Test, std::path::PathBuf) {
    let t = Test::blocking(config);
    let shots: String = (0..n).map(|i| format!("  - id: s{i}\n    prompt: p{i}\n")).collect();
    let file = t.storyboard(&format!("version: 1\noutput: out\nshots:\n{shots}"));
    (t, file)
}

/// The red-team campaign of issue #22, against one long-lived sandbox whose account already
/// holds 300 earlier requests and gets 30 more after every kill (so a lost submit sinks pages
/// deep in the history, newest first): renders of eight storyboards are
/// SIGKILLed at least 50 times at varying moments — many inside the submit window (the answer
/// is slow, the job already exists) — then run until done, without `--retry-uncertain`. Every
/// job paid for is found (pages deep) and downloaded, and none is created twice.
#[test]
fn a_kill_campaign_against_a_busy_account_loses_no_paid_job_and_pays_none_twice() {
    let t = Test::blocking(SandboxConfig {
        queue_time: Duration::from_millis(20),
        job_time: Duration::from_millis(60),
        submit_delay: Duration::from_millis(60),
        ..SandboxConfig::fast()
    });
    const ENDPOINT: &str = "fal-ai/kling-video/v2.6/pro/text-to-video";
    t.sb().seed_fal_history(ENDPOINT, 300, Duration::from_secs(7200));
    let (boards, shots) = (8, 8);
    let mut kills = 0;
    let mut dirs = Vec::new();
    for board in 0..boards {
        let dir = tempfile::tempdir().unwrap();
        let yaml: String = (0..shots)
            .map(|i| format!("  - id: s{i}\n    prompt: shot {i} of board {board}\n"))
            .collect();
        let file = write(
            dir.path(),
            "s.yaml",
            &format!("version: 1\noutput: out\nshots:\n{yaml}"),
        );
        let mut rng = fastrand::Rng::with_seed(board);
        // Nine kills that land per storyboard (a run that finishes by itself ends its turn).
        let mut landed = 0;
        while landed < 9 {
            let point = match rng.u8(..3) {
                0 => Point::After("submitted", rng.usize(1..=2)),
                _ => Point::Delay(Duration::from_millis(rng.u64(20..200))),
            };
            match run_once(&t.sb().base_url(), &file, Some(point), &[]) {
                (false, _) => {
                    landed += 1;
                    // Other work on the account goes on: a request killed in its submit window
                    // sinks pages deep below newer ones.
                    t.sb().seed_fal_history(ENDPOINT, 30, Duration::from_millis(1));
                }
                (true, Some(0)) => break,
                (true, _) => {}
            }
        }
        kills += landed;
        dirs.push((dir, file));
    }
    // Run each until nothing more can be done by itself: a job killed in its submit window is
    // adopted from the history once it has finished.
    let mut ids = std::collections::HashSet::new();
    let mut uncertain = Vec::new();
    for (dir, file) in &dirs {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(150)); // jobs killed in flight finish
            if fal("render", &t.sb().base_url(), file, &["--yes"]).status.code() == Some(0) {
                break;
            }
        }
        let m = manifest(&dir.path().join("out"));
        for s in m["shots"].as_array().unwrap() {
            match s["status"].as_str() {
                Some("done" | "cached") => assert!(ids.insert(s["request_id"].as_str().unwrap().to_owned())),
                Some("uncertain") => uncertain.push(file),
                _ => panic!("{s}"),
            }
        }
    }
    // None lost: every job the account was billed for is a clip on disk. The shots still
    // uncertain were killed before their submit left (nothing was created: the dashboard, here
    // the sandbox's count, says so), and only then are they retried.
    assert_eq!(
        t.sb().stats()["jobs_created_total"].as_u64(),
        Some(ids.len() as u64),
        "a paid job was lost"
    );
    for file in uncertain {
        let o = fal("render", &t.sb().base_url(), file, &["--yes", "--retry-uncertain"]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let stats = t.sb().stats();
    eprintln!(
        "kill campaign: {kills} kills, {} history pages read",
        stats["requests"]["history"]
    );
    assert!(kills >= 50, "only {kills} kills landed");
    assert_eq!(
        stats["jobs_created_total"].as_u64(),
        Some(boards * shots as u64),
        "{stats}"
    );
}
