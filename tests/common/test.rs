//! One builder for "a sandbox, a storyboard, a command" (after `just`'s `tests/test.rs`):
//! a temporary folder, optionally a sandbox on loopback, and the commands run against both.
//!
//! ```ignore
//! let t = Test::with(fast()).await;
//! let file = t.storyboard(&shots_yaml(2, ""));
//! let o = t.render(&file, &[]).await;
//! assert_eq!(t.jobs(), 2);
//! ```

use super::lib::{Sandbox, SandboxConfig};
use super::{render_against, start_sandbox, storyboard, text, write};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

/// The key the builder's commands send unless [`Test::key`] names another.
pub const TEST_KEY: &str = "k";

/// A temporary folder, an optional sandbox, and the key commands send to it.
pub struct Test {
    dir: TempDir,
    sandbox: Option<Sandbox>,
    key: String,
    /// For tests that are not async: the runtime serving the sandbox (dropped after it).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Test {
    /// A fresh folder and no sandbox.
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
            sandbox: None,
            key: TEST_KEY.to_owned(),
            runtime: None,
        }
    }

    /// A fresh folder and a sandbox started with `config` on a runtime of its own, for tests
    /// that are not async (the sandbox serves while the test waits on a child).
    pub fn blocking(config: SandboxConfig) -> Test {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sandbox = runtime.block_on(start_sandbox(config));
        Test {
            sandbox: Some(sandbox),
            runtime: Some(runtime),
            ..Test::new()
        }
    }

    /// A fresh folder and a sandbox started with `config`.
    pub async fn with(config: SandboxConfig) -> Test {
        Test::new().sandbox(config).await
    }

    /// Starts a sandbox with `config` for this test.
    pub async fn sandbox(mut self, config: SandboxConfig) -> Test {
        self.sandbox = Some(start_sandbox(config).await);
        self
    }

    /// The same sandbox and key with a fresh folder.
    pub fn new_folder(self) -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
            ..self
        }
    }

    /// Sends `key` as both providers' key.
    pub fn key(mut self, key: &str) -> Test {
        key.clone_into(&mut self.key);
        self
    }

    /// Runs `future` on the runtime of a [`Test::blocking`] test.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().expect("Test::blocking").block_on(future)
    }

    /// The test's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The output folder storyboards written by the tests name (`output: out`).
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// The running sandbox (panics if the test started none).
    pub fn sb(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("Test::with starts a sandbox")
    }

    /// The sandbox's base URL.
    pub fn url(&self) -> String {
        self.sb().base_url()
    }

    /// Writes `text` as `name` inside the folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        write(self.path(), name, text)
    }

    /// Writes the storyboard `s.yaml`.
    pub fn storyboard(&self, yaml: &str) -> PathBuf {
        self.write("s.yaml", yaml)
    }

    /// Writes `yaml` as the storyboard and plans it (`plan --json`, which must succeed).
    pub fn plan(&self, yaml: &str) -> Value {
        plan_json(&self.storyboard(yaml), &[])
    }

    /// `storyboard render FILE --yes ARGS` against the sandbox.
    pub async fn render(&self, file: &Path, args: &[&str]) -> Output {
        render_against(&self.url(), file, &self.key, args).await
    }

    /// `storyboard CMD FILE ARGS` against the sandbox (keys and every base URL set).
    pub async fn run(&self, cmd: &str, file: &Path, args: &[&str]) -> Output {
        run_against(&self.url(), &self.key, cmd, file, args).await
    }

    /// How many jobs the sandbox created.
    pub fn jobs(&self) -> u64 {
        jobs(self.sb())
    }

    /// `out/manifest.json`.
    pub fn manifest(&self) -> Value {
        manifest(&self.out())
    }
}

/// `storyboard CMD FILE ARGS` with `key` as both keys and every base URL at `url`, on a
/// blocking thread so the sandbox keeps serving.
pub async fn run_against(url: &str, key: &str, cmd: &str, file: &Path, args: &[&str]) -> Output {
    let mut c = storyboard();
    c.arg(cmd).arg(file).args(args);
    c.env("FAL_KEY", key)
        .env("EACHLABS_API_KEY", key)
        .env("STORYBOARD_FAST_POLL", "1")
        .envs(super::sandbox_urls(url));
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

/// The sandbox timings most tests use: 10 ms in the queue, 40 ms a job.
pub fn fast() -> SandboxConfig {
    timed(Duration::from_millis(10), Duration::from_millis(40))
}

/// Like [`fast`] with 60 ms jobs (the tests of uploads, Eachlabs and chained shots).
pub fn steady() -> SandboxConfig {
    timed(Duration::from_millis(10), Duration::from_millis(60))
}

/// The sandbox's own fast settings with `queue` in the queue and `job` a job.
pub fn timed(queue: Duration, job: Duration) -> SandboxConfig {
    SandboxConfig {
        queue_time: queue,
        job_time: job,
        ..SandboxConfig::fast()
    }
}

/// Like [`fast`] with the fault plan `faults` (e.g. `"submit_drop=1"`).
pub fn fast_faults(faults: &str) -> SandboxConfig {
    SandboxConfig {
        faults: faults.parse().unwrap(),
        ..fast()
    }
}

/// How many jobs `sb` created.
pub fn jobs(sb: &Sandbox) -> u64 {
    sb.stats()["jobs_created_total"].as_u64().unwrap()
}

/// The manifest in the output folder `out`.
pub fn manifest(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `storyboard plan FILE --json ARGS`, which must succeed; its JSON.
pub fn plan_json(file: &Path, args: &[&str]) -> Value {
    let o = storyboard()
        .arg("plan")
        .arg(file)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// GET `url` with the `authorization` header `auth`; the JSON answer.
pub async fn get_json(url: &str, auth: &str) -> Value {
    reqwest::Client::new()
        .get(url)
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
