//! The commands printed after an interruption are commands to copy: run as printed, they
//! resume (nothing paid twice) or cancel in the right folder.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Test, timed};
use serde_json::Value;

/// Environment that points every base URL at the sandbox at `url`.
pub(super) fn at_sandbox(cmd: &mut Command, url: &str) {
    cmd.env("FAL_KEY", "k").env("STORYBOARD_FAST_POLL", "1");
    cmd.envs(crate::common::sandbox_urls(url));
}

/// The backticked command in `text` that starts with `start`.
pub(super) fn quoted<'a>(text: &'a str, start: &str) -> &'a str {
    let from = text
        .find(&format!("`{start}"))
        .unwrap_or_else(|| panic!("no `{start} in {text}"))
        + 1;
    let len = text[from..].find('`').unwrap();
    &text[from..from + len]
}

#[test]
fn the_resume_hint_of_a_forced_render_into_another_folder_resumes_without_paying_again() {
    let t = Test::blocking(timed(Duration::from_millis(50), Duration::from_secs(3)));
    let url = t.url();
    let shots: String = (0..4).map(|i| format!("  - id: s{i}\n    prompt: p{i}\n")).collect();
    t.write("my ad.yaml", &format!("version: 1\nshots:\n{shots}"));

    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("storyboard"));
    cmd.current_dir(t.path())
        .args([
            "render",
            "my ad.yaml",
            "--force",
            "--out",
            "renders/ad emu",
            "--yes",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    at_sandbox(&mut cmd, &url);
    let mut child = cmd.spawn().unwrap();
    let mut events = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut submitted = 0;
    while submitted < 4 {
        let line = events.next().expect("render ended before 4 submits").unwrap();
        if serde_json::from_str::<Value>(&line).is_ok_and(|v| v["state"] == "submitted") {
            submitted += 1;
        }
    }
    // Two Ctrl-Cs: stop at once, leaving the four jobs in flight.
    for _ in 0..2 {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut err: String = events.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{err}");
    let resume = quoted(&err, "storyboard render");
    assert!(!resume.contains("--force"), "{resume}");
    assert!(resume.contains("--out 'renders/ad emu'"), "{resume}");
    let cancel = quoted(&err, "storyboard cancel");
    assert!(
        cancel.starts_with("storyboard cancel 'my ad.yaml' --out 'renders/ad emu'"),
        "{cancel}"
    );

    // Run the hint exactly as printed (through a shell, as a user pastes it).
    let bin = assert_cmd::cargo::cargo_bin("storyboard");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut again = Command::new("sh");
    again.current_dir(t.path()).args(["-c", resume]).env("PATH", path);
    at_sandbox(&mut again, &url);
    let o = again.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(t.sb().stats()["jobs_created_total"], 4, "the resume created no new job");
    assert!(t.path().join("renders/ad emu/s3.mp4").is_file());
}
