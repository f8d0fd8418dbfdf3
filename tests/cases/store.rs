//! A team's shared store (#27): several `render` processes, each with its own output folder,
//! render one storyboard against one sandbox and one store — moto, a real S3-compatible server
//! with conditional writes, started on loopback — and the sandbox's counters prove that every
//! request was submitted once across them.

use crate::common::{Moto, SandboxConfig, Test, files_below, open_store, storyboard, write};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

const SHOTS: usize = 12;

/// One sandbox, one store (a bucket in a fresh moto), a 12-shot storyboard.
pub(super) struct Team {
    pub(super) test: Test,
    moto: Moto,
    pub(super) file: std::path::PathBuf,
}

fn team(name: &str) -> Option<Team> {
    team_on(name, Duration::ZERO)
}

/// [`team`], the store taking `slow_put` between checking a conditional write and making it.
fn team_on(name: &str, slow_put: Duration) -> Option<Team> {
    team_with(name, slow_put, SandboxConfig::fast())
}

fn team_with(name: &str, slow_put: Duration, config: SandboxConfig) -> Option<Team> {
    let shots: String = (0..SHOTS)
        .map(|i| format!("  - id: s{i}\n    prompt: {name} shot {i}\n    duration: 3\n"))
        .collect();
    team_of(&shots, slow_put, config)
}

/// One sandbox, one store, and `film.yaml` with these shots (YAML list items) in the store.
pub(super) fn team_of(shots: &str, slow_put: Duration, config: SandboxConfig) -> Option<Team> {
    let python = crate::common::test_python()?;
    let test = Test::blocking(config);
    let moto =
        Moto::start_with(&python, None, slow_put).expect("moto[server] in the test venv (scripts/test installs it)");
    test.block_on(moto.bucket("films")).unwrap();
    let file = test.write(
        "film.yaml",
        &format!("version: 1\nmodel: kling-v3-standard\nstore: s3://films/team\nshots:\n{shots}"),
    );
    Some(Team { test, moto, file })
}

impl Team {
    /// `render` into `out` (the storyboard names the team's store), events as JSON lines on stdout.
    pub(super) fn spawn(&self, out: &str, lease: &str) -> Child {
        self.spawn_with(out, lease, &[])
    }

    fn spawn_with(&self, out: &str, lease: &str, extra: &[&str]) -> Child {
        self.spawn_file(&self.file, out, lease, extra)
    }

    /// `render FILE` into `out` (4 at a time unless `extra` says `--concurrency`).
    pub(super) fn spawn_file(&self, file: &std::path::Path, out: &str, lease: &str, extra: &[&str]) -> Child {
        self.render_command(file, out, lease, extra).spawn().unwrap()
    }

    /// The command [`Team::spawn_file`] runs.
    fn render_command(&self, file: &std::path::Path, out: &str, lease: &str, extra: &[&str]) -> std::process::Command {
        let url = self.test.sb().base_url();
        let concurrency: &[&str] = match extra.contains(&"--concurrency") {
            true => &[],
            false => &["--concurrency", "4"],
        };
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"));
        cmd.env_remove("EACHLABS_API_KEY")
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", crate::common::root().join("target/test-cache"))
            .arg("render")
            .arg(file)
            .args(["--yes", "--json", "--offline", "--out"])
            .arg(self.test.path().join(out))
            .args(concurrency)
            .args(extra)
            .env("FAL_KEY", "team-key")
            .env("STORYBOARD_FAL_URL", &url)
            .env("STORYBOARD_FAL_API_URL", &url)
            .env("STORYBOARD_FAL_STORAGE_URL", &url)
            .env("STORYBOARD_FAST_POLL", "1")
            .env_remove("STORYBOARD_STORE")
            .env("STORYBOARD_STORE_LEASE", lease)
            .envs(self.moto.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `storyboard <args>` against the team's sandbox and store (`STORYBOARD_STORE` names it).
    pub(super) fn command(&self, args: &[&str]) -> std::process::Command {
        let url = self.test.sb().base_url();
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"));
        cmd.args(args)
            .current_dir(self.test.path())
            .env("NO_COLOR", "1")
            .env("FAL_KEY", "team-key")
            .env("STORYBOARD_FAL_URL", &url)
            .env("STORYBOARD_FAL_API_URL", &url)
            .env("STORYBOARD_STORE", "s3://films/team")
            .envs(self.moto.env());
        cmd
    }

    /// `storyboard cancel` in folder `out`.
    fn cancel(&self, out: &str) -> std::process::Output {
        let file = self.file.to_string_lossy();
        self.command(&["cancel", &file, "--out", out]).output().unwrap()
    }

    /// Runs `f` on the team's store.
    pub(super) fn store<T>(&self, f: impl AsyncFnOnce(&storyboard::store::Backend) -> T) -> T {
        let store = open_store("s3://films/team", self.moto.env().into_iter()).unwrap();
        self.test.block_on(f(&store))
    }

    fn render(&self, out: &str) -> std::process::Output {
        self.spawn(out, "300").wait_with_output().unwrap()
    }

    pub(super) fn stat(&self, key: &str) -> u64 {
        let stats = self.test.sb().stats();
        match &stats[key] {
            Value::Object(m) => m.values().filter_map(Value::as_u64).sum(),
            v => v.as_u64().unwrap_or(0),
        }
    }

    /// How many requests of one kind the sandbox answered.
    fn requests(&self, kind: &str) -> u64 {
        self.test.sb().stats()["requests"][kind].as_u64().unwrap_or(0)
    }

    fn clips(&self, out: &str) -> Vec<Vec<u8>> {
        let dir = self.test.path().join(out);
        (0..SHOTS)
            .map(|i| std::fs::read(dir.join(format!("s{i}.mp4"))).unwrap_or_default())
            .collect()
    }
}

pub(super) fn ok(out: &std::process::Output, who: &str) {
    assert!(
        out.status.success(),
        "{who}: exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn two_machines_render_one_film_at_once_for_twelve_jobs_and_a_third_pays_nothing() {
    let Some(t) = team("two") else { return };
    two_machines_pay_once(&t);
}

/// The flake of #27 (13 jobs for 12 under load): moto checked `If-None-Match: *` and then wrote,
/// so two machines creating one claim in that window both held it and both submitted. A slow
/// store widens the window to 50 ms on every write: without atomic conditional writes both
/// machines take the first shots' claims every time.
#[test]
fn two_machines_on_a_slow_store_still_submit_each_request_once() {
    let Some(t) = team_on("slow", Duration::from_millis(50)) else {
        return;
    };
    two_machines_pay_once(&t);
}

fn two_machines_pay_once(t: &Team) {
    let (a, b) = (t.spawn("a", "300"), t.spawn("b", "300"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    ok(&a, "a");
    ok(&b, "b");
    assert_eq!(
        t.stat("jobs_created_total"),
        SHOTS as u64,
        "one job per request across both"
    );
    let clips = t.clips("a");
    assert!(clips.iter().all(|c| c.len() > 1000), "every clip in a");
    assert_eq!(clips, t.clips("b"), "b holds the very same bytes");
    let requests = t.stat("requests");
    let c = t.render("c");
    ok(&c, "c");
    assert_eq!(t.stat("requests"), requests, "no provider request at all for c");
    assert_eq!(t.stat("jobs_created_total"), SHOTS as u64);
    assert_eq!(t.clips("c"), clips);
}

/// Two workers (`STORYBOARD_WORKER` 0/2 and 1/2) each start on their own half; each fetches the
/// other's clips from the store as they are published, and both folders end with every clip,
/// one job per request, without a warning.
#[test]
fn two_workers_divide_a_film_and_each_folder_ends_with_every_clip() {
    let Some(t) = team("workers") else { return };
    let spawn = |out: &str, i: usize| {
        let mut cmd = t.render_command(&t.file, out, "300", &[]);
        cmd.env("STORYBOARD_WORKER", format!("{i}/2")).spawn().unwrap()
    };
    let (a, b) = (spawn("a", 0), spawn("b", 1));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    ok(&a, "a");
    ok(&b, "b");
    assert_eq!(t.stat("jobs_created_total"), SHOTS as u64, "one job per request");
    let clips = t.clips("a");
    assert!(clips.iter().all(|c| c.len() > 1000), "every clip in a");
    assert_eq!(clips, t.clips("b"), "b holds the very same bytes");
    for (out, who) in [(&a, "a"), (&b, "b")] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("warning"), "{who}: {err}");
    }
}

#[test]
fn a_machine_killed_mid_run_leaves_its_requests_to_the_other_with_no_second_job() {
    let Some(t) = team("kill") else { return };
    let mut a = t.spawn("a", "1");
    until_submitted(&mut a, 3);
    kill(a);
    let b = t.spawn("b", "1").wait_with_output().unwrap();
    if !b.status.success() {
        // A claim a was killed holding before its submit left: not in the request history, so
        // b sent nothing for it (uncertain) — until asked to, after checking.
        let events = String::from_utf8_lossy(&b.stdout);
        assert!(
            events.contains("\"uncertain\":") && !events.contains("\"failed\":"),
            "{events}"
        );
        assert!(
            t.stat("jobs_created_total") < SHOTS as u64,
            "an uncertain shot had no job"
        );
        let again = t
            .spawn_with("b", "1", &["--retry-uncertain"])
            .wait_with_output()
            .unwrap();
        ok(&again, "b --retry-uncertain");
    }
    assert_eq!(
        t.stat("jobs_created_total"),
        SHOTS as u64,
        "a's requests followed, never sent again"
    );
    assert!(t.clips("b").iter().all(|c| c.len() > 1000), "every clip in b");
}

#[test]
fn a_bad_store_url_is_refused_before_anything_is_sent_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.yaml", "version: 1\nshots:\n  - id: a\n    prompt: p\n");
    let out = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "--yes", "--store", "s3://key:secret@films/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AWS_ACCESS_KEY_ID") && !err.contains("secret"), "{err}");
    assert_eq!(files_below(dir.path()), ["s.yaml"], "nothing written");
}

#[test]
fn a_claim_left_without_a_request_id_past_its_lease_is_adopted_from_the_history() {
    let Some(t) = team("stale") else { return };
    ok(&t.render("a"), "a");
    // As if a machine had died between its submit and writing the request id: the claim holds
    // no request, its lease ran out long ago, and no clip is indexed.
    t.test.block_on(async {
        let store = open_store("s3://films/team", t.moto.env().into_iter()).unwrap();
        let name = store.list("claims").await.unwrap()[0].name.clone();
        let (bytes, version) = store.get(&name).await.unwrap().unwrap();
        let mut claim: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let fields = claim.as_object_mut().unwrap();
        for field in ["state", "job", "sha256"] {
            fields.remove(field);
        }
        fields.insert("claimed_at".into(), "2026-01-01T00:00:00Z".into());
        let body = serde_json::to_vec(&claim).unwrap().into();
        store.update(&name, body, &version).await.unwrap();
        store.delete(&name.replace("claims/", "index/")).await.unwrap();
    });
    let b = t.render("b");
    ok(&b, "b");
    let events = String::from_utf8_lossy(&b.stdout);
    assert!(events.contains("in the request history: adopted"), "{events}");
    assert_eq!(
        t.stat("jobs_created_total"),
        SHOTS as u64,
        "adopted, not submitted again"
    );
    assert_eq!(t.clips("b"), t.clips("a"));
}

/// Reads events from a render until `n` requests were submitted (its own or followed).
fn until_submitted(child: &mut Child, n: usize) {
    let events = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut submitted = 0;
    for line in events {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap_or(Value::Null);
        submitted += usize::from(v["state"] == "submitted");
        if submitted == n {
            return;
        }
    }
    panic!("the render ended after {submitted} submitted requests");
}

fn kill(mut child: Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
}

#[test]
fn a_finished_claim_whose_clip_left_the_store_is_followed_for_its_result_not_paid_again() {
    let Some(t) = team("gone-clip") else { return };
    ok(&t.render("a"), "a");
    t.store(async |store| {
        for take in store.list("takes").await.unwrap() {
            store.delete(&take.name).await.unwrap();
        }
    });
    let b = t.render("b");
    ok(&b, "b");
    assert_eq!(t.stat("jobs_created_total"), SHOTS as u64, "no second job");
    assert_eq!(t.clips("b"), t.clips("a"), "the finished requests' results, downloaded");
    let journal = std::fs::read_to_string(t.test.path().join("b/.storyboard/journal.jsonl")).unwrap();
    assert_eq!(journal.matches("\"event\":\"followed\"").count(), SHOTS, "{journal}");
    assert!(!journal.contains("\"event\":\"accepted\""), "none of b's own");
}

#[test]
fn cancel_in_a_folder_that_follows_another_machines_jobs_leaves_them_alone() {
    let queued = SandboxConfig {
        queue_time: Duration::from_secs(3600),
        ..SandboxConfig::fast()
    };
    let Some(t) = team_with("cancel", Duration::ZERO, queued) else {
        return;
    };
    let mut a = t.spawn("a", "300");
    until_submitted(&mut a, 4);
    // b follows a's four requests once their claims name them.
    let named = async |store: &storyboard::store::Backend| {
        let mut n = 0;
        for claim in store.list("claims").await.unwrap() {
            let (bytes, _) = store.get(&claim.name).await.unwrap().unwrap();
            n += usize::from(String::from_utf8_lossy(&bytes).contains("request_id"));
        }
        n
    };
    while t.store(named) < 4 {
        std::thread::yield_now();
    }
    let mut b = t.spawn("b", "300");
    until_submitted(&mut b, 4);
    kill(b);
    let out = t.cancel("b");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not cancelled here").count(), 4, "{err}");
    assert_eq!(t.requests("cancel"), 0, "b cancelled none of a's jobs");
    kill(a);
    let out = t.cancel("a");
    assert_eq!(t.requests("cancel"), 4, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn two_machines_picking_different_shots_at_once_both_keep_their_picks_in_both_folders() {
    let Some(t) = team_on("picks", Duration::from_millis(50)) else {
        return;
    };
    let (a, b) = (t.spawn("a", "300"), t.spawn("b", "300"));
    ok(&a.wait_with_output().unwrap(), "a");
    ok(&b.wait_with_output().unwrap(), "b");
    let file = t.file.to_string_lossy().into_owned();
    let picks: Vec<std::process::Child> = [
        ("a", vec!["s0", "1"]),
        ("b", vec!["s1", "1"]),
        ("a", vec!["s2", "--note", "warmer"]),
        ("b", vec!["s3", "--note", "slower"]),
        ("a", vec!["s4", "--redo"]),
        ("b", vec!["s5", "--redo"]),
    ]
    .into_iter()
    .map(|(out, args)| {
        let mut all = vec!["pick", file.as_str()];
        all.extend(args);
        all.extend(["--out", out]);
        t.command(&all).stdout(Stdio::null()).spawn().unwrap()
    })
    .collect();
    for p in picks {
        assert!(p.wait_with_output().unwrap().status.success());
    }
    for out in ["a", "b"] {
        let status = t.command(&["status", out, "--json"]).output().unwrap();
        let v: Value = serde_json::from_slice(&status.stdout).unwrap();
        let shot = |i: usize| &v["shots"][i];
        assert_eq!(
            (shot(0)["selected_take"].clone(), shot(1)["selected_take"].clone()),
            (1.into(), 1.into()),
            "{out}: {v}"
        );
        assert_eq!(
            (shot(2)["note"].clone(), shot(3)["note"].clone()),
            ("warmer".into(), "slower".into()),
            "{out}: {v}"
        );
        assert!(shot(4)["redo"] == true && shot(5)["redo"] == true, "{out}: {v}");
    }
}

#[test]
fn status_lists_the_takes_the_team_store_holds_that_this_folder_has_not() {
    let Some(t) = team("status") else { return };
    ok(&t.render("a"), "a");
    let file = t.file.to_string_lossy().into_owned();
    // A folder that never rendered (the storyboard's own, renders/film).
    let out = t.command(&["status", &file]).output().unwrap();
    ok(&out, "status");
    let text = String::from_utf8_lossy(&out.stdout);
    for i in 0..SHOTS {
        assert!(
            text.contains(&format!("s{i}: a take in the team store")),
            "s{i} listed as in the team store:\n{text}"
        );
    }
    assert!(text.contains("for $0"), "{text}");
    let json = t.command(&["status", &file, "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["in_team_store"].as_array().map(Vec::len), Some(SHOTS));
    // The folder that made them lists none.
    let a = t.test.path().join("a");
    let out = t.command(&["status", &a.to_string_lossy()]).output().unwrap();
    ok(&out, "status a");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("team store"));
}
