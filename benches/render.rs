//! Render throughput against the sandbox, with the official Python client measured on the
//! same workload in the same run.
//!
//! Run: `cargo bench --bench render` (after `bash scripts/test` once, which creates the Python
//! virtualenv with fal-client; without it the Python column is skipped).
//!
//! 1. 48 shots at concurrency 8 with 1 s jobs: makespan against the ideal ⌈N/C⌉·T, HTTP requests
//!    per clip, and the delay from a job's completion to its result fetch (p50).
//! 2. 16 clips of 50 MB downloading at once: peak RSS of the render process.
//! 3. Scale: 250 and 2,000 shots at concurrency 40 with 0.5 s jobs: makespan against the ideal
//!    and the render process's CPU time per shot (bookkeeping must grow linearly).
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke version.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use storyboard::sandbox::{Sandbox, SandboxConfig};

fn storyboard_yaml(n: usize) -> String {
    let mut s = String::from("version: 1\noutput: out\nshots:\n");
    for i in 0..n {
        s.push_str(&format!("  - id: s{i}\n    prompt: benchmark shot {i}\n"));
    }
    s
}

/// CPU time (user + system) of the waited-for children of this process so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs the real binary; returns (wall time, peak RSS in KiB read from /proc while it ran,
/// CPU time of the render process).
fn render(url: &str, file: &Path, concurrency: usize) -> (Duration, u64, Duration) {
    let cpu_before = children_cpu();
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_storyboard"))
        .arg("render")
        .arg(file)
        .args(["--yes", "--quiet", "--concurrency", &concurrency.to_string()])
        .env("FAL_KEY", "bench-key")
        .env("STORYBOARD_FAL_URL", url)
        .env("STORYBOARD_FAL_API_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("storyboard binary");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(peak);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(child.wait().expect("wait").success(), "render failed: {err}");
    (t.elapsed(), peak, children_cpu().saturating_sub(cpu_before))
}

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("STORYBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python"));
    p.exists().then_some(p)
}

fn requests_per_clip(stats: &serde_json::Value, n: usize) -> f64 {
    let r = &stats["requests"];
    let sum: u64 = ["submit", "status", "stream", "result", "download"]
        .iter()
        .map(|k| r[k].as_u64().unwrap_or(0))
        .sum();
    sum as f64 / n as f64
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, c, job) = if full {
        (48, 8, Duration::from_secs(1))
    } else {
        (8, 4, Duration::from_millis(100))
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = SandboxConfig {
        queue_time: Duration::ZERO,
        job_time: job,
        keep_alive: Duration::from_secs(15),
        ..SandboxConfig::default()
    };

    // 1. Makespan, requests per clip, result latency: storyboard.
    let sb = rt
        .block_on(Sandbox::start("127.0.0.1:0".parse().expect("addr"), config.clone()))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bench.yaml");
    std::fs::write(&file, storyboard_yaml(n)).expect("write");
    let (took, _, _) = render(&sb.base_url(), &file, c);
    let stats = sb.stats();
    assert_eq!(stats["jobs_created_total"].as_u64(), Some(n as u64));
    let ideal = job.as_secs_f64() * n.div_ceil(c) as f64;
    println!(
        "workload: {n} shots, concurrency {c}, {:.1} s jobs; ideal makespan ⌈N/C⌉·T = {ideal:.2} s",
        job.as_secs_f64()
    );
    println!(
        "storyboard : makespan {:.2} s = {:.3}× ideal · {:.2} requests/clip · result fetched {:.1} ms after completion (p50), {:.1} ms (max)",
        took.as_secs_f64(),
        took.as_secs_f64() / ideal,
        requests_per_clip(&stats, n),
        stats["result_latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        stats["result_latency_ms"]["max"].as_f64().unwrap_or(f64::NAN),
    );
    drop(sb);

    // The same workload through fal's Python client.
    match python() {
        Some(py) => {
            let sb = rt
                .block_on(Sandbox::start("127.0.0.1:0".parse().expect("addr"), config.clone()))
                .expect("sandbox");
            let out = tempfile::tempdir().expect("tempdir");
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/fal_client_bench.py");
            let o = Command::new(py)
                .arg(script)
                .env("SANDBOX_URL", sb.base_url())
                .env("N", n.to_string())
                .env("C", c.to_string())
                .env("OUT", out.path())
                .output()
                .expect("python");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            let py_took = v["makespan_s"].as_f64().unwrap_or(f64::NAN);
            let stats = sb.stats();
            println!(
                "fal-client : makespan {py_took:.2} s = {:.3}× ideal · {:.2} requests/clip · result fetched {:.1} ms after completion (p50), {:.1} ms (max)",
                py_took / ideal,
                requests_per_clip(&stats, n),
                stats["result_latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
                stats["result_latency_ms"]["max"].as_f64().unwrap_or(f64::NAN),
            );
        }
        None => println!("fal-client : skipped (run `bash scripts/test` once to create target/test-venv)"),
    }

    // 2. Peak RSS while 16 big clips download at once.
    let (clips, size) = if full { (16, 50_000_000) } else { (4, 5_000_000) };
    let sb = rt
        .block_on(Sandbox::start(
            "127.0.0.1:0".parse().expect("addr"),
            SandboxConfig {
                queue_time: Duration::ZERO,
                job_time: Duration::from_millis(200),
                clip_bytes: Some(size),
                ..SandboxConfig::default()
            },
        ))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, storyboard_yaml(clips)).expect("write");
    let (took, peak_kib, _) = render(&sb.base_url(), &file, clips);
    let total_mb = (clips as u64 * size) as f64 / 1e6;
    println!(
        "downloads  : {clips} clips × {:.0} MB at once in {:.2} s ({:.0} MB/s) · peak RSS {:.1} MB = {:.3} of the bytes downloaded",
        size as f64 / 1e6,
        took.as_secs_f64(),
        total_mb / took.as_secs_f64(),
        peak_kib as f64 / 1024.0,
        (peak_kib as f64 * 1024.0) / (clips as f64 * size as f64),
    );

    scale(&rt, full);
}

/// Scale: makespan and CPU per shot at 250 and 2,000 shots (concurrency 40, 0.5 s jobs); the
/// render's own bookkeeping must not grow faster than the number of shots.
fn scale(rt: &tokio::runtime::Runtime, full: bool) {
    let (sizes, c, job) = if full {
        (vec![250, 2000], 40, Duration::from_millis(500))
    } else {
        (vec![20, 80], 10, Duration::from_millis(50))
    };
    let mut per_shot = Vec::new();
    for n in sizes {
        let sb = rt
            .block_on(Sandbox::start(
                "127.0.0.1:0".parse().expect("addr"),
                SandboxConfig {
                    queue_time: Duration::ZERO,
                    job_time: job,
                    keep_alive: Duration::from_secs(15),
                    ..SandboxConfig::default()
                },
            ))
            .expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("scale.yaml");
        std::fs::write(&file, storyboard_yaml(n)).expect("write");
        let (took, peak_kib, cpu) = render(&sb.base_url(), &file, c);
        assert_eq!(sb.stats()["jobs_created_total"].as_u64(), Some(n as u64));
        let ideal = job.as_secs_f64() * n.div_ceil(c) as f64;
        let cpu_ms = cpu.as_secs_f64() * 1e3 / n as f64;
        per_shot.push(cpu_ms);
        println!(
            "scale      : {n} shots, concurrency {c}, {:.2} s jobs: makespan {:.2} s = {:.3}× ideal ({ideal:.2} s) · CPU {:.2} s = {cpu_ms:.2} ms/shot ({:.2}× the first row) · peak RSS {:.1} MB",
            job.as_secs_f64(),
            took.as_secs_f64(),
            took.as_secs_f64() / ideal,
            cpu.as_secs_f64(),
            cpu_ms / per_shot[0],
            peak_kib as f64 / 1024.0,
        );
    }
}
