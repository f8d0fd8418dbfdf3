//! Takes, picks, redos, notes, clean and the review server: every paid clip is kept, and the
//! director chooses.

use crate::common::{Test, fast, manifest, probe_duration, review_in_browser, root, run, start_review, text};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `storyboard status FILE --json`: shot id → (take numbers, selected take).
fn takes_of(file: &Path, shot: &str) -> (Vec<u64>, Option<u64>) {
    let o = run(&["status", "--json"], file);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let s = v["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shot"] == shot)
        .unwrap_or_else(|| panic!("no {shot} in {v}"));
    let takes = s["takes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    (takes, s["selected_take"].as_u64())
}

/// The store file of take `n` of `shot`, from the manifest.
fn take_file(out: &Path, shot: &str, n: u64) -> std::path::PathBuf {
    let m = manifest(out);
    let s = m["shots"].as_array().unwrap().iter().find(|s| s["id"] == shot).unwrap();
    let t = s["takes"].as_array().unwrap().iter().find(|t| t["take"] == n).unwrap();
    out.join(t["clip"]["path"].as_str().unwrap())
}

const THREE_TAKES: &str = "version: 1\ntitle: Takes\noutput: out\nshots:\n  - id: reunion\n    prompt: two friends meet\n    takes: 3\n  - id: after\n    prompt: the train leaves\n";

#[tokio::test(flavor = "multi_thread")]
async fn three_takes_are_one_shot_and_the_picked_one_is_in_the_file_the_cut_and_the_timeline() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(THREE_TAKES);
    let out = t.out();
    // `--only reunion` names the shot, not its takes.
    let o = t.render(&file, &["--only", "reunion"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 3);
    assert_eq!(
        takes_of(&file, "reunion"),
        (vec![1, 2, 3], Some(3)),
        "the newest is selected"
    );
    assert!(
        !out.join("reunion-take1.mp4").exists(),
        "takes live in the store, not beside the shots"
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 4, "only `after` was new");

    let o = run(&["pick", "reunion", "2"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(takes_of(&file, "reunion").1, Some(2));
    let take2 = std::fs::read(take_file(&out, "reunion", 2)).unwrap();
    assert_eq!(
        std::fs::read(out.join("reunion.mp4")).unwrap(),
        take2,
        "reunion.mp4 is take 2"
    );
    assert_ne!(std::fs::read(take_file(&out, "reunion", 3)).unwrap(), take2);

    // A render changes nothing: the pick holds, nothing is bought.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!((t.jobs(), takes_of(&file, "reunion").1), (4, Some(2)));

    let o = run(&["assemble"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    if let Some(py) = crate::common::test_python() {
        let check = Command::new(&py)
            .arg(root().join("tests/conformance/otio_check.py"))
            .arg(out.join("takes.otio"))
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        let seen: Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(
            seen["names"],
            serde_json::json!(["reunion", "after"]),
            "one clip per shot: {seen}"
        );
        // The timeline's clip paths resolve from the timeline's own folder.
        let target = out.join(seen["targets"][0].as_str().unwrap());
        assert_eq!(std::fs::read(target).unwrap(), take2, "the timeline plays take 2");
    }
    if crate::common::tool_present("ffprobe") {
        let d = |p: &Path| probe_duration(camino::Utf8Path::from_path(p).unwrap()).unwrap();
        let cut = d(&out.join("takes.mp4"));
        let want = d(&out.join("reunion.mp4")) + d(&out.join("after.mp4"));
        assert!(
            (cut - want).abs() < 0.1,
            "the cut holds one take of reunion: {cut} s vs {want} s"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redo_is_priced_rendered_once_and_stays_selected() {
    let t = Test::with(fast()).await;
    let file = t.storyboard("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: alpha\n");
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let o = run(&["pick", "a", "--redo", "--note", "slower"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = run(&["plan"], &file);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("a redo") && plan.contains("$1.40"),
        "the redo is in the estimate:\n{plan}"
    );
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 2);
    assert_eq!(takes_of(&file, "a"), (vec![1, 2], Some(2)));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 2, "a redo is one new take, once");
    assert_eq!(takes_of(&file, "a"), (vec![1, 2], Some(2)), "and it stays selected");
    let o = run(&["status"], &file);
    assert!(String::from_utf8_lossy(&o.stdout).contains("slower"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_removes_only_takes_nobody_uses_and_nothing_is_bought_again() {
    let t = Test::with(fast()).await;
    let v =
        |p: &str| format!("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: {p}\n  - id: b\n    prompt: bee\n");
    let file = t.storyboard(&v("one"));
    for p in ["one", "two", "three"] {
        t.storyboard(&v(p));
        assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    }
    assert_eq!(t.jobs(), 4);
    assert_eq!(run(&["pick", "a", "1"], &file).status.code(), Some(0));
    let out = t.out();
    let files = [1, 2, 3].map(|n| take_file(&out, "a", n));
    let dry = run(&["clean", "--dry-run"], &file);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("a take 2"),
        "{}",
        text(&dry)
    );
    assert!(files.iter().all(|f| f.exists()), "--dry-run removes nothing");
    let o = run(&["clean"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("freed"), "{}", text(&o));
    assert!(files[0].exists(), "the selected take stays");
    assert!(!files[1].exists(), "take 2: neither selected nor asked for");
    assert!(
        files[2].exists(),
        "take 3 is what the storyboard asks for now: kept, never bought again"
    );
    assert!(take_file(&out, "b", 1).exists());
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 4, "nothing bought again");
    assert_eq!(
        takes_of(&file, "a"),
        (vec![1, 3], Some(1)),
        "the pick holds; take 2 is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_picks_say_what_exists_and_change_nothing() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(THREE_TAKES);
    let o = run(&["pick", "reunion", "1"], &file);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("render the storyboard first"),
        "{}",
        text(&o)
    );
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let o = run(&["pick", "reunoin", "1"], &file);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean `reunion`"),
        "{}",
        text(&o)
    );
    let o = run(&["pick", "reunion", "7"], &file);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("takes: 1, 2, 3"),
        "{}",
        text(&o)
    );
    assert!(!t.path().join("out/.storyboard/picks.json").exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn picks_survive_a_kill_at_any_moment() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(THREE_TAKES);
    let out = t.out();
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let takes: Vec<Vec<u8>> = (1..=3)
        .map(|n| std::fs::read(take_file(&out, "reunion", n)).unwrap())
        .collect();
    for i in 0..24u64 {
        let take = (i % 3 + 1).to_string();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
            .arg("pick")
            .arg(&file)
            .args(["reunion", &take])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Fault injection, not a timing assertion: kill at a different moment each time.
        std::thread::sleep(Duration::from_micros(i * 400));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let picks = std::fs::read(out.join(".storyboard/picks.json")).unwrap_or_else(|_| b"{}".to_vec());
        assert!(
            serde_json::from_slice::<Value>(&picks).is_ok(),
            "picks.json is whole after kill {i}"
        );
        if let Ok(file) = std::fs::read(out.join("reunion.mp4")) {
            assert!(takes.contains(&file), "reunion.mp4 is a whole take after kill {i}");
        }
    }
    assert_eq!(run(&["pick", "reunion", "2"], &file).status.code(), Some(0));
    assert_eq!(takes_of(&file, "reunion").1, Some(2));
    assert_eq!(std::fs::read(out.join("reunion.mp4")).unwrap(), takes[1]);
}

/// `storyboard review` started on a free port; its URL.
#[tokio::test(flavor = "multi_thread")]
async fn the_review_page_refuses_requests_without_its_token_or_from_another_site() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(THREE_TAKES);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let (mut child, url) = start_review(&file);
    let (base, query) = url.split_once("/?").unwrap();
    let token = query.strip_prefix("token=").unwrap().to_owned();
    let http = reqwest::Client::new();
    let get = |u: String| http.get(u).send();
    assert_eq!(get(url.clone()).await.unwrap().status(), 200);
    assert_eq!(get(format!("{base}/")).await.unwrap().status(), 403, "no token");
    assert_eq!(
        get(format!("{base}/?token=x{token}")).await.unwrap().status(),
        403,
        "wrong token"
    );
    let evil_host = http.get(&url).header("host", "evil.example:80").send().await.unwrap();
    assert_eq!(evil_host.status(), 403, "DNS rebinding: another Host");
    let pick = |origin: Option<&str>, with_token: bool| {
        let mut req = http
            .post(format!("{base}/api/pick"))
            .json(&serde_json::json!({"shot": "reunion", "take": 1}));
        if with_token {
            req = req.header("x-storyboard-token", &token);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    assert_eq!(
        pick(None, false).await.unwrap().status(),
        403,
        "a change needs the token header"
    );
    assert_eq!(
        pick(Some("https://evil.example"), true).await.unwrap().status(),
        403,
        "another site"
    );
    assert_eq!(takes_of(&file, "reunion").1, Some(3), "nothing changed");
    let media = |path: &str| {
        http.get(format!("{base}/media/{path}"))
            .header("cookie", format!("storyboard_token={token}"))
            .send()
    };
    assert_eq!(media("reunion.mp4").await.unwrap().status(), 200);
    assert_eq!(
        media("manifest.json").await.unwrap().status(),
        404,
        "only clips, posters and the cut"
    );
    assert_eq!(media(".storyboard/journal.jsonl").await.unwrap().status(), 404);
    assert_eq!(pick(None, true).await.unwrap().status(), 200);
    assert_eq!(takes_of(&file, "reunion").1, Some(1));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_director_picks_a_take_on_the_review_page_in_chromium() {
    if !crate::common::tool_present("chromium") || !crate::common::tool_present("chromedriver") {
        return;
    }
    let Some(py) = crate::common::test_python() else { return };
    let t = Test::with(fast()).await;
    let file = t.storyboard(THREE_TAKES);
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(run(&["assemble"], &file).status.code(), Some(0));
    assert_eq!(takes_of(&file, "reunion").1, Some(3));
    let (mut child, url) = start_review(&file);
    let seen = review_in_browser(&py, &url, &mut child, ("review-live", "reunion", "2")).await;
    assert_eq!(seen["takes"], 4, "three takes of reunion, one of after: {seen}");
    assert_eq!(seen["redo_shown"], true, "the page says a redo waits: {seen}");
    assert_eq!(
        takes_of(&file, "reunion").1,
        Some(2),
        "status shows the take picked in the browser"
    );
}
