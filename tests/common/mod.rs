//! Helpers shared by the integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub mod lib;
mod test;

pub use lib::*;
pub use test::*;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example storyboard's path.
pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// The `storyboard` binary with a hermetic environment: no keys, no real base URLs.
pub fn storyboard() -> Command {
    let mut cmd = Command::cargo_bin("storyboard").expect("binary built");
    for var in [
        "FAL_KEY",
        "EACHLABS_API_KEY",
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_STORAGE_URL",
        "STORYBOARD_FAL_API_URL",
        "STORYBOARD_EACHLABS_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    // Off a terminal the tables fit COLUMNS (else 80): tests read every column unless they
    // ask for a width themselves (tests/cases/output.rs).
    cmd.env("COLUMNS", "1000");
    // Live prices fetched from test sandboxes are cached here, never in the user's cache.
    cmd.env("XDG_CACHE_HOME", root().join("target/test-cache"));
    cmd
}

/// Writes `text` as `name` inside `dir` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Every file below `dir` (relative paths), sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Starts a sandbox on a free loopback port.
pub async fn start_sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

/// Runs `storyboard render FILE --yes ARGS` with `key` as both providers' key and every base
/// URL pointed at the sandbox at `url` (on a blocking thread, so the sandbox keeps serving).
pub async fn render_against(url: &str, file: &Path, key: &str, args: &[&str]) -> std::process::Output {
    let mut with_yes = vec!["--yes"];
    with_yes.extend_from_slice(args);
    run_against(url, key, "render", file, &with_yes).await
}

/// Each shot's status in a manifest, in order.
pub fn shot_statuses(manifest: &serde_json::Value) -> Vec<String> {
    manifest["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether an external tool runs; without it the calling test is skipped, except under
/// `scripts/test` (STORYBOARD_REQUIRE_TOOLS), which installs every tool and so must find it.
pub fn tool_present(tool: &str) -> bool {
    let flag = if tool.starts_with("ff") {
        "-version"
    } else {
        "--version"
    };
    let ok = std::process::Command::new(tool)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("STORYBOARD_REQUIRE_TOOLS").is_err(),
            "{tool} is required (scripts/test installs it)"
        );
        eprintln!("skipping: {tool} not installed (run scripts/test)");
    }
    ok
}

/// The Python with fal-client and opentimelineio (`scripts/test` sets it up); `None` skips.
pub fn test_python() -> Option<String> {
    let p = std::env::var("STORYBOARD_TEST_PYTHON").ok();
    if p.is_none() {
        assert!(
            std::env::var("STORYBOARD_REQUIRE_TOOLS").is_err(),
            "STORYBOARD_TEST_PYTHON is required (scripts/test sets it)"
        );
        eprintln!("skipping: STORYBOARD_TEST_PYTHON not set (run scripts/test)");
    }
    p
}

/// Mounts a tmpfs of `size` at `dir` (root only; `None` elsewhere, and the test is skipped).
pub fn tmpfs(dir: &Path, size: &str) -> Option<()> {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
}

/// Resizes a mounted tmpfs, keeping its files.
pub fn remount(dir: &Path, size: &str) {
    let ok = std::process::Command::new("mount")
        .args(["-o", &format!("remount,size={size}")])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "remount");
}

/// Unmounts a tmpfs.
pub fn umount(dir: &Path) {
    let _ = std::process::Command::new("umount").arg(dir).status();
}

/// Every provider base URL set to the sandbox at `url`, for `Command::envs`.
pub fn sandbox_urls(url: &str) -> [(&'static str, String); 4] {
    [
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_STORAGE_URL",
        "STORYBOARD_FAL_API_URL",
        "STORYBOARD_EACHLABS_URL",
    ]
    .map(|var| (var, url.to_owned()))
}

/// A command's stdout and stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `storyboard ARGS[0] FILE ARGS[1..]`.
pub fn run(args: &[&str], file: &Path) -> std::process::Output {
    storyboard().arg(args[0]).arg(file).args(&args[1..]).output().unwrap()
}

/// `storyboard ARGS` started with stdout piped (stderr as `stderr` says); the child and the
/// first line it printed, after `prefix`.
pub fn start_printing(
    args: &[&std::ffi::OsStr],
    stderr: std::process::Stdio,
    prefix: &str,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (child, rest)
}

/// `storyboard review FILE`, started; the child and the URL it printed.
pub fn start_review(file: &Path) -> (std::process::Child, String) {
    start_printing(
        &["review".as_ref(), file.as_os_str()],
        std::process::Stdio::null(),
        "review: ",
    )
}

/// Kills the process `pid` if it still runs after `secs` (a hang: a bug), unless [`Watchdog::done`]
/// is called first. The limit only ends a hang; no test measures time with it.
pub struct Watchdog {
    tx: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    /// Starts watching `pid`.
    pub fn new(pid: u32, secs: u64) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(std::time::Duration::from_secs(secs)).is_err() {
                // SAFETY: kill(2) on the pid of a child the test started and has not reaped.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                return true;
            }
            false
        });
        Watchdog { tx, thread }
    }

    /// Stops watching; whether the process had to be killed.
    pub fn done(self) -> bool {
        let _ = self.tx.send(());
        self.thread.join().unwrap()
    }
}

/// Waits for `child`; a child still running after `secs` is killed and `None` returned.
pub fn wait_or_kill(child: std::process::Child, secs: u64) -> Option<std::process::Output> {
    let dog = Watchdog::new(child.id(), secs);
    let out = child.wait_with_output().unwrap();
    (!dog.done()).then_some(out)
}

/// Like [`wait_or_kill`], with the child's peak memory (resident set, in KiB) as the kernel
/// measured it.
#[cfg(unix)]
pub fn wait_measured(mut child: std::process::Child, secs: u64) -> Option<(std::process::Output, u64)> {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let dog = Watchdog::new(child.id(), secs);
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 on the pid of our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let out = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (!dog.done()).then_some((out, usage.ru_maxrss as u64))
}

/// Drives the live review page at `url` in headless Chromium (`review_browser.py`): picks take
/// `take` of `shot`, saves `target/review-screenshots/<name>.png` (a PNG, looked at by a person),
/// then stops the review server `child`. What the page showed; the script must succeed and the
/// page log nothing to the console.
pub async fn review_in_browser(
    py: &str,
    url: &str,
    child: &mut std::process::Child,
    (name, shot, take): (&str, &str, &str),
) -> serde_json::Value {
    let dir = root().join("target/review-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let mut cmd = std::process::Command::new(py);
    cmd.arg(root().join("tests/conformance/review_browser.py"))
        .arg(url)
        .arg(&screenshot)
        .args([shot, take]);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{}", text(&o));
    let seen: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(seen["console"], serde_json::json!([]), "no console errors: {seen}");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "screenshot");
    seen
}
