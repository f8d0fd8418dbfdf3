//! A team's shared store (#27): does dividing a render between machines through the store cost
//! time? One sandbox with fal's account limit (40 running jobs), one S3-compatible store (moto in
//! server mode, from the test virtualenv), a storyboard of 400 shots:
//!
//! - baseline: one process at concurrency 40, no store;
//! - one process at concurrency 40 with the store;
//! - two processes at concurrency 20 each, separate output folders, one store (the claims
//!   divide the work).
//!
//! It prints each makespan, the ratio to the baseline measured in the same run, the jobs the
//! sandbox created (exactly one per shot) and the store's requests per clip (moto's request log),
//! of which those numbering takes (`numbers/…`: one per clip for the machine that numbers it
//! first, two for each other machine that gets it).
//!
//! Run: `cargo bench --bench store` (after `bash scripts/test` once, which creates the Python
//! virtualenv with moto; without it the benchmark says so and stops). Under `cargo test` (no
//! `--bench` argument) it runs a small smoke version.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use storyboard::sandbox::{Sandbox, SandboxConfig};
use storyboard::store::Moto;

fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    std::env::var_os("STORYBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| venv.is_file().then_some(venv))
}

/// One run of the scenario: how many processes, each at what concurrency, with a store or not.
struct Run<'a> {
    name: &'a str,
    processes: usize,
    concurrency: usize,
    store: Option<&'a str>,
}

struct World {
    sb: Sandbox,
    moto: Moto,
    log: PathBuf,
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl World {
    fn spawn(&self, run: &Run, i: usize) -> Child {
        let url = self.sb.base_url();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_storyboard"));
        cmd.arg("render")
            .arg(&self.file)
            .args([
                "--yes",
                "--quiet",
                "--offline",
                "--concurrency",
                &run.concurrency.to_string(),
            ])
            .arg("--out")
            .arg(self.dir.path().join(format!("{}-{i}", run.name)))
            .env("FAL_KEY", "bench-key")
            .env("STORYBOARD_FAL_URL", &url)
            .env("STORYBOARD_FAL_API_URL", &url)
            .env("STORYBOARD_FAL_STORAGE_URL", &url)
            .env("NO_COLOR", "1")
            .env_remove("STORYBOARD_STORE")
            .envs(self.moto.env())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(store) = run.store {
            cmd.args(["--store", store]);
        }
        if run.processes > 1 {
            // Each worker starts its walk at its own share (as a Kubernetes Indexed Job's would):
            // without it both walk from the first shot and a follower's slot waits on the
            // other's job.
            cmd.env("STORYBOARD_WORKER", format!("{i}/{}", run.processes));
        }
        cmd.spawn().expect("storyboard binary")
    }

    /// Lines of moto's request log so far (one per S3 request): all, and those numbering takes
    /// (`numbers/…`). An answer of 4xx is logged in colour (`HTTP/1.1\x1b[0m"`): counted too.
    fn store_requests(&self) -> (usize, usize) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines = log.lines().filter(|l| l.contains(" HTTP/1.1"));
        lines.fold((0, 0), |(all, numbering), l| {
            (all + 1, numbering + usize::from(l.contains("/numbers/")))
        })
    }

    /// Runs `run` to the end: (makespan, jobs the sandbox created, store requests: all, and
    /// those numbering takes).
    fn measure(&self, run: &Run) -> (Duration, u64, (usize, usize)) {
        let (jobs0, store0) = (self.jobs(), self.store_requests());
        let t = Instant::now();
        let children: Vec<Child> = (0..run.processes).map(|i| self.spawn(run, i)).collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "{}: {}",
                run.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let store = self.store_requests();
        (
            t.elapsed(),
            self.jobs() - jobs0,
            (store.0 - store0.0, store.1 - store0.1),
        )
    }

    fn jobs(&self) -> u64 {
        self.sb.stats()["jobs_created_total"].as_u64().unwrap_or(0)
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let Some(python) = python() else {
        println!("store bench skipped: no Python with moto[server] (run `bash scripts/test` once)");
        return;
    };
    let (shots, limit, job) = match full {
        true => (400, 40, Duration::from_secs(1)),
        false => (16, 4, Duration::from_millis(60)),
    };
    let config = SandboxConfig {
        queue_time: Duration::from_millis(100),
        job_time: job,
        fal_max_running: Some(limit),
        ..SandboxConfig::fast()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sb = rt
        .block_on(Sandbox::start("127.0.0.1:0".parse().expect("addr"), config))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("moto.log");
    let moto = Moto::start_logging(
        &python.to_string_lossy(),
        Some(std::fs::File::create(&log).expect("log")),
    )
    .expect("moto[server] in the test venv");
    rt.block_on(moto.bucket("bench")).expect("bucket");
    let body: String = (0..shots)
        .map(|i| format!("  - id: s{i}\n    prompt: store bench shot {i}\n"))
        .collect();
    let file = dir.path().join("film.yaml");
    std::fs::write(&file, format!("version: 1\nmodel: kling-v2.6-pro\nshots:\n{body}")).expect("write");
    let world = World {
        sb,
        moto,
        log,
        dir,
        file,
    };
    let runs = [
        Run {
            name: "one",
            processes: 1,
            concurrency: limit,
            store: None,
        },
        Run {
            name: "one+store",
            processes: 1,
            concurrency: limit,
            store: Some("s3://bench/one"),
        },
        Run {
            name: "two+store",
            processes: 2,
            concurrency: limit / 2,
            store: Some("s3://bench/two"),
        },
    ];
    println!(
        "{shots} shots, account limit {limit} running jobs, {} s jobs",
        job.as_secs_f64()
    );
    let mut baseline = None;
    for run in &runs {
        let (t, jobs, (requests, numbering)) = world.measure(run);
        assert_eq!(jobs, shots as u64, "{}: exactly one job per shot", run.name);
        let base = *baseline.get_or_insert(t);
        println!(
            "{:<14} {} × concurrency {:>2}: {:>6.2} s  ({:.2}× the baseline)  jobs {jobs}  store requests per clip {:.1} (numbering takes {:.1})",
            run.name,
            run.processes,
            run.concurrency,
            t.as_secs_f64(),
            t.as_secs_f64() / base.as_secs_f64(),
            requests as f64 / shots as f64,
            numbering as f64 / shots as f64,
        );
    }
    // The request log kept for a closer look (`STORYBOARD_BENCH_MOTO_LOG=/tmp/moto.log`).
    if let Some(keep) = std::env::var_os("STORYBOARD_BENCH_MOTO_LOG") {
        std::fs::copy(&world.log, keep).expect("copy moto's log");
    }
}
