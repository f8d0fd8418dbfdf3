//! The output folder's journal is read once per command (#21): each command opens the folder
//! once and its stages share what was read; only a render refreshes it, at named points
//! (under the lock, after reconciling, at the end, before assembling). Counted through the
//! `STORYBOARD_DEBUG_STATE_READS` lines each read writes to stderr.

use std::path::Path;

use crate::common::{Test, fast, sandbox_urls, storyboard, text, write};

const TWO: &str =
    "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a quiet harbour\n  - id: b\n    prompt: a red boat\n";

/// Runs `storyboard <args[0]> FILE <args[1..]>` against the sandbox with reads counted.
async fn counted(url: &str, file: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = storyboard();
    cmd.arg(args[0]).arg(file).args(&args[1..]);
    cmd.env("FAL_KEY", "sandbox-key")
        .env("STORYBOARD_FAST_POLL", "1")
        .env("STORYBOARD_DEBUG_STATE_READS", "1");
    for (var, value) in sandbox_urls(url) {
        cmd.env(var, value);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// (reads, refreshes) of the journal a command made.
fn reads(o: &std::process::Output) -> (usize, usize) {
    let err = String::from_utf8_lossy(&o.stderr);
    let count = |what: &str| err.lines().filter(|l| *l == format!("debug: journal {what}")).count();
    (count("read"), count("refreshed"))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_command_reads_the_journal_once() {
    let t = Test::with(fast()).await;
    let url = t.url();
    let file = t.write("shots.yaml", TWO);
    let o = counted(&url, &file, &["render", "--yes", "--assemble"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (read, refreshed) = reads(&o);
    assert_eq!(read, 1, "render: {}", text(&o));
    assert!(
        refreshed <= 4,
        "render refreshes at its named points only: {}",
        text(&o)
    );
    assert_eq!(t.jobs(), 2);
    let o = counted(&url, &file, &["pick", "a", "--redo", "--note", "again"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(reads(&o), (1, 0), "pick of two changes: {}", text(&o));
    for args in [
        &["plan"][..],
        &["status"][..],
        &["status", "--json"][..],
        &["clean", "--dry-run"][..],
        &["assemble"][..],
        &["reconcile"][..],
    ] {
        let o = counted(&url, &file, args).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert_eq!(reads(&o), (1, 0), "{args:?}: {}", text(&o));
    }
    let o = counted(&url, &file, &["render", "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(reads(&o).0, 1, "a render with a redo: {}", text(&o));
    assert_eq!(t.jobs(), 3, "the redo, nothing else");
}

/// One policy for the picks: a corrupt picks file is an error naming it (exit 2), never
/// silently skipped — in `status`, `assemble`, `plan` and `render` alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_picks_file_is_an_error_naming_it() {
    let t = Test::with(fast()).await;
    let url = t.url();
    let file = t.write("shots.yaml", TWO);
    let o = counted(&url, &file, &["render", "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    write(&t.out().join(".storyboard"), "picks.json", "{ not json");
    for args in [
        &["status"][..],
        &["assemble"][..],
        &["plan"][..],
        &["render", "--yes"][..],
    ] {
        let o = counted(&url, &file, args).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("picks.json"), "{args:?} names the file: {}", text(&o));
    }
    assert_eq!(t.jobs(), 2, "nothing sent");
}
