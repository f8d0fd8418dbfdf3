//! Hostile state, outputs and servers (red team round 2): damaged or crafted state files,
//! files planted or swapped for devices, FIFOs and links, a user's own files in the output
//! folder, and servers echoing parts of a key. Each test reproduces one hole of issue #23.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use super::hostile::{fake_fal, one_shot, written};
use crate::common::{SandboxConfig, Test, render_against, run, start_review, text, tool_present, wait_or_kill, write};

const TWO: &str =
    "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a quiet harbour\n  - id: b\n    prompt: a red boat\n";

/// Rewrites every journal line holding `needle` with a byte that is not UTF-8 in it.
fn damage_lines(out: &Path, needle: &str) {
    let path = out.join(".storyboard/journal.jsonl");
    let bytes = std::fs::read(&path).unwrap();
    let mut damaged = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if String::from_utf8_lossy(line).contains(needle) {
            damaged.extend_from_slice(&line[..1]);
            damaged.push(0xff);
            damaged.extend_from_slice(&line[1..]);
        } else {
            damaged.extend_from_slice(line);
        }
    }
    std::fs::write(&path, damaged).unwrap();
}

/// Hole 1: one line that is not UTF-8 costs that line, never the journal, and a request the
/// journal knew about is never sent again without the user's flag.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_journal_line_costs_that_line_and_never_a_second_job() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = t.write("shots.yaml", TWO);
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let journal = out.join(".storyboard/journal.jsonl");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.splice(0..0, b"\xff\xfe not a record\n".iter().copied());
    std::fs::write(&journal, bytes).unwrap();
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("line 1"), "the damaged line is named: {}", text(&o));
    assert_eq!(t.jobs(), 2, "nothing bought twice");
    // Every record of b damaged: b is known to the journal, so it is not sent again unasked.
    damage_lines(&out, "\"shot\":\"b\"");
    let o = t.render(&file, &[]).await;
    assert_eq!(t.jobs(), 2, "b was submitted again: {}", text(&o));
    assert!(text(&o).contains("--retry-uncertain"), "{}", text(&o));
}

/// Hole 2: `clean` keeps what the storyboard it is given uses, whatever the last render was.
#[tokio::test(flavor = "multi_thread")]
async fn clean_decides_from_the_storyboard_it_is_given() {
    let t = Test::with(SandboxConfig::fast()).await;
    let a = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: the first idea\n";
    let file = t.write("shots.yaml", a);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    t.write("shots.yaml", &a.replace("first", "second"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    t.write("shots.yaml", a);
    let o = run(&["clean"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 2, "clean removed a take the storyboard uses: {}", text(&o));
}

/// Hole 5: a user's own clip under a shot's name is never replaced or deleted, by `pick` of
/// another shot or by a render.
#[tokio::test(flavor = "multi_thread")]
async fn a_users_own_clip_under_a_shot_name_is_never_replaced() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = t.write("shots.yaml", TWO);
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    // A new file (the render's a.mp4 may be a hard link to the store: never written through).
    std::fs::remove_file(out.join("a.mp4")).unwrap();
    std::fs::write(out.join("a.mp4"), "my graded cut of a\n").unwrap();
    let o = run(&["pick", "b", "1"], &file);
    assert!(text(&o).contains("a.mp4"), "the user is told: {}", text(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("a.mp4")).unwrap(),
        "my graded cut of a\n"
    );
    let o = t.render(&file, &[]).await;
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("a.mp4")).unwrap(),
        "my graded cut of a\n"
    );
}

/// Hole 6: ffmpeg writes the cut into a fresh temporary, never through a planted link.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_cut_is_never_written_through_a_planted_link() {
    if !tool_present("ffmpeg") {
        return;
    }
    let t = Test::with(SandboxConfig::fast()).await;
    let file = one_shot(t.path());
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let victim = t.write("victim.txt", "precious\n");
    std::os::unix::fs::symlink(&victim, t.path().join("out/.shots.mp4.part")).unwrap();
    let o = run(&["assemble"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(t.path().join("out/shots.mp4").is_file());
}

/// Hole 7: `render` never overwrites a foreign `manifest.json`, `assemble` never a foreign
/// review page, timeline or cut.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_manifest_review_timeline_and_cut_are_never_overwritten() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = one_shot(t.path());
    let mine = t.write("out/manifest.json", "{\"name\": \"my web app\"}\n");
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("manifest.json"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "{\"name\": \"my web app\"}\n");
    assert_eq!(t.jobs(), 0, "nothing sent");
    std::fs::remove_file(&mine).unwrap();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let own = ["review.html", "shots.otio", "shots.mp4"];
    for name in own {
        t.write(&format!("out/{name}"), "the user's own\n");
    }
    let o = run(&["assemble"], &file);
    for name in own {
        let kept = std::fs::read_to_string(t.out().join(name)).unwrap();
        assert_eq!(kept, "the user's own\n", "{name} was overwritten: {}", text(&o));
        assert!(text(&o).contains(name), "the user is told about {name}: {}", text(&o));
    }
    // Files assemble wrote itself are rewritten freely.
    for name in own {
        std::fs::remove_file(t.out().join(name)).unwrap();
    }
    assert_eq!(run(&["assemble"], &file).status.code(), Some(0));
    let o = run(&["assemble"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("not written by storyboard"), "{}", text(&o));
}

/// Hole 8: shot ids and clip paths read back from the manifest and journal are checked like a
/// storyboard's: a crafted folder never makes storyboard write or delete outside it.
#[tokio::test(flavor = "multi_thread")]
async fn crafted_ids_in_state_files_never_reach_outside_the_folder() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = one_shot(t.path());
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let wedding = t.write("videos/wedding.mp4", "the wedding\n");
    for state in ["manifest.json", ".storyboard/journal.jsonl"] {
        let path = out.join(state);
        let t = std::fs::read_to_string(&path).unwrap();
        let t = t
            .replace("\"id\": \"a\"", "\"id\": \"../videos/wedding\"")
            .replace("\"shot\":\"a\"", "\"shot\":\"../videos/wedding\"");
        std::fs::write(&path, t).unwrap();
    }
    let o = run(&["assemble"], &file);
    assert_eq!(
        std::fs::read_to_string(&wedding).unwrap(),
        "the wedding\n",
        "{}",
        text(&o)
    );
}

/// Hole 9: a link anywhere in a media path (here the folder `frames`) is held to the rule
/// "links point inside the storyboard's folder".
#[cfg(unix)]
#[test]
fn a_link_in_a_folder_of_a_media_path_is_held_to_the_rule() {
    let t = Test::new();
    let private = tempfile::tempdir().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(2_000, 0);
    std::fs::write(private.path().join("passport.png"), png).unwrap();
    std::os::unix::fs::symlink(private.path(), t.path().join("frames")).unwrap();
    let file = t.write(
        "shots.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a harbour\n    start_image: ./frames/passport.png\n",
    );
    let o = run(&["plan"], &file);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("links may only point inside"), "{}", text(&o));
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// `storyboard ARGS FILE` started in the background (never hangs the test: see wait_or_kill).
fn spawn(args: &[&str], file: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"));
    cmd.arg(args[0]).arg(file).args(&args[1..]);
    cmd.env_remove("FAL_KEY").env_remove("EACHLABS_API_KEY");
    // A run-away read fails at 4 GB of address space instead of exhausting the machine.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 4 << 30,
                    rlim_max: 4 << 30,
                };
                libc::setrlimit(libc::RLIMIT_AS, &limit);
                Ok(())
            });
        }
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Hole 10: a `.env` that is a device or a FIFO is refused at once, naming it.
#[cfg(unix)]
#[test]
fn a_dotenv_that_is_a_device_or_a_fifo_is_refused() {
    for kind in ["zero", "fifo"] {
        let t = Test::new();
        let file = one_shot(t.path());
        match kind {
            "zero" => std::os::unix::fs::symlink("/dev/zero", t.path().join(".env")).unwrap(),
            _ => mkfifo(&t.path().join(".env")),
        }
        let o = wait_or_kill(spawn(&["render", "--sandbox", "--yes"], &file), 60);
        let o = o.unwrap_or_else(|| panic!("render hung on a .env that is {kind}"));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(".env"), "{}", text(&o));
    }
}

/// Hole 11: `watch` stays stoppable by Ctrl-C whatever the file becomes.
#[cfg(unix)]
#[test]
fn watch_stays_stoppable_when_the_file_becomes_a_fifo_or_a_device() {
    use std::io::{BufRead, BufReader};
    for kind in ["fifo", "zero"] {
        let t = Test::new();
        let file = one_shot(t.path());
        let mut child = spawn(&["watch", "--interval-ms", "20"], &file);
        let dog = crate::common::Watchdog::new(child.id(), 60);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("total:")));
        std::fs::remove_file(&file).unwrap();
        match kind {
            "zero" => std::os::unix::fs::symlink("/dev/zero", &file).unwrap(),
            _ => mkfifo(&file),
        }
        let said = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("waiting for the next save"));
        assert!(said.is_some(), "watch said nothing of the {kind}");
        // SAFETY: SIGINT to the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        assert!(!dog.done(), "Ctrl-C did not stop watch ({kind})");
        assert_eq!(status.code(), Some(0));
    }
}

/// Hole 12: state files linked to a device are refused, never read without end.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn state_files_linked_to_a_device_are_refused() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = one_shot(t.path());
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    for state in [".storyboard/picks.json", ".storyboard/journal.jsonl", "manifest.json"] {
        let path = out.join(state);
        let saved = std::fs::read(&path).ok();
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        for args in [&["plan"][..], &["status"][..], &["render", "--sandbox", "--yes"][..]] {
            let o = crate::common::wait_measured(spawn(args, &file), 60);
            let (o, kib) = o.unwrap_or_else(|| panic!("`{}` hung on {state} linked to /dev/zero", args[0]));
            assert!(o.status.code().is_some(), "{state} {args:?}: {}", text(&o));
            assert!(
                kib < 256 << 10,
                "`{}` read {state} without end ({kib} KiB): {}",
                args[0],
                text(&o)
            );
        }
        std::fs::remove_file(&path).unwrap();
        if let Some(bytes) = saved {
            std::fs::write(&path, bytes).unwrap();
        }
    }
    assert_eq!(t.jobs(), 1);
}

/// Hole 14: the review server serves only regular files in the folder that storyboard wrote:
/// never through a link, never a file the user put there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_review_server_serves_only_files_storyboard_wrote() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = one_shot(t.path());
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let secret = t.write("secret.txt", "root:x:0:0\n");
    std::os::unix::fs::symlink(&secret, out.join("x.mp4")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", out.join("z.mp4")).unwrap();
    write(&out, "mine.mp4", "the user's own clip\n");
    let (mut child, url) = start_review(&file);
    let (base, query) = url.split_once("/?").unwrap();
    let token = query.strip_prefix("token=").unwrap().to_owned();
    let http = reqwest::Client::new();
    let media = |path: &str| {
        http.get(format!("{base}/media/{path}"))
            .header("cookie", format!("storyboard_token={token}"))
            .send()
    };
    let statuses = [
        media("a.mp4").await.unwrap().status().as_u16(),
        media("x.mp4").await.unwrap().status().as_u16(),
        media("z.mp4").await.unwrap().status().as_u16(),
        media("mine.mp4").await.unwrap().status().as_u16(),
    ];
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, [200, 404, 404, 404], "a.mp4, link, device, the user's own");
}

/// Hole 15: a server echoing the secret half of `ID:SECRET`, the URL-encoded key or its base64
/// never gets them printed or stored.
#[tokio::test(flavor = "multi_thread")]
async fn parts_and_encodings_of_a_key_are_masked() {
    let key = "a1b2c3d4-id-77:9f8e7d6c5b4a39281706secretpart";
    let secret = "9f8e7d6c5b4a39281706secretpart";
    let encoded = "a1b2c3d4-id-77%3A9f8e7d6c5b4a39281706secretpart";
    let b64 = base64_of(key);
    let echo = format!("bad key: secret {secret}; url {encoded}; basic {b64}");
    let (url, _) = fake_fal((422, json!({"detail": echo}))).await;
    let t = Test::new();
    let o = render_against(&url, &one_shot(t.path()), key, &[]).await;
    let all = format!("{}{}", text(&o), written(t.path()));
    assert!(all.contains("bad key"), "the message is kept: {all}");
    for part in [secret, encoded, b64.as_str(), "9f8e7d6c5b4a"] {
        assert!(!all.contains(part), "`{part}` was shown or stored: {all}");
    }
}

/// Standard base64 (the tests' own, so they do not share the code under test).
fn base64_of(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - c.len()));
        for i in 0..=c.len() {
            out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
        out.push_str(&"=".repeat(3 - c.len()));
    }
    out
}

/// Hole 17: `pick` checks a take's content, not only its size, before placing it.
#[tokio::test(flavor = "multi_thread")]
async fn pick_never_places_a_changed_clip() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = t.write(
        "shots.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a harbour\n    takes: 2\n",
    );
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let take1 = m["shots"][0]["takes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["take"] == 1)
        .unwrap()["clip"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let store: PathBuf = out.join(take1);
    let mut bytes = std::fs::read(&store).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::remove_file(&store).unwrap();
    std::fs::write(&store, &bytes).unwrap();
    let o = run(&["pick", "a", "1"], &file);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("take 1 selected"), "{}", text(&o));
    assert_ne!(
        std::fs::read(out.join("a.mp4")).unwrap(),
        bytes,
        "the changed clip was placed"
    );
}
