//! Hostile servers, planted files and full disks (red-team reproductions): keys go only to the
//! configured origin and are never written or shown; temporary files never follow links; the
//! output folder belongs to one storyboard; a journal that cannot be written stops submits.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::{SandboxConfig, Test, files_below, remount, render_against, sha256_hex, tmpfs, umount, write};

const KEY: &str = "fal-secret-key-0123456789abcdef";

/// What a fake server saw: (method, path, had an Authorization header).
pub(crate) type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// Serves `app` on `ip`:0 until the test ends; its address.
pub(crate) async fn serve(ip: [u8; 4], app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A server that records every request and answers 404.
async fn thief() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap| {
        let s = s.clone();
        async move {
            s.lock()
                .unwrap()
                .push((m.to_string(), u.path().to_owned(), h.contains_key("authorization")));
            StatusCode::NOT_FOUND
        }
    });
    // Another loopback address: another origin.
    (serve([127, 0, 0, 2], app).await, seen)
}

/// A fal queue that answers the submit with `submit` (status, body), then completes the job at
/// the documented URLs and serves a small clip; it records what it saw.
pub(crate) async fn fake_fal(submit: (u16, Value)) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let a = addr_cell.clone();
    let clip = std::fs::read(crate::common::root().join("src/sandbox/clips").join(first_clip())).unwrap();
    let app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap| {
        let (s, a, submit, clip) = (s.clone(), a.clone(), submit.clone(), clip.clone());
        async move {
            let path = u.path().to_owned();
            s.lock()
                .unwrap()
                .push((m.to_string(), path.clone(), h.contains_key("authorization")));
            let base = format!("http://{}", a.lock().unwrap().unwrap());
            let json = |code: u16, v: Value| -> Response {
                (StatusCode::from_u16(code).unwrap(), axum::Json(v)).into_response()
            };
            match (m.as_str(), path.as_str()) {
                ("POST", p) if p.ends_with("text-to-video") => json(submit.0, submit.1),
                (_, p) if p.ends_with("/status/stream") => StatusCode::NOT_FOUND.into_response(),
                (_, p) if p.ends_with(&format!("/requests/{ID}/status")) => json(200, json!({"status": "COMPLETED"})),
                (_, p) if p.ends_with(&format!("/requests/{ID}")) => json(
                    200,
                    json!({"video": {"url": format!("{base}/clip.mp4"), "file_size": clip.len()}}),
                ),
                ("GET", "/clip.mp4") => Response::new(Body::from(clip)),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let addr = serve([127, 0, 0, 1], app).await;
    *addr_cell.lock().unwrap() = Some(addr);
    (format!("http://{addr}"), seen)
}

fn first_clip() -> String {
    let dir = crate::common::root().join("src/sandbox/clips");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mp4"))
        .collect();
    names.sort();
    names.remove(0)
}

/// A request id of fal's form (a UUID).
const ID: &str = "764cabcf-b745-4b3e-ae38-1200304cf45b";

pub(crate) fn one_shot(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "shots.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a quiet harbour\n",
    )
}

/// Every file the render wrote, as text (journal, manifest, …).
pub(crate) fn written(dir: &Path) -> String {
    files_below(&dir.join("out"))
        .iter()
        .filter(|f| !f.ends_with(".mp4"))
        .map(|f| std::fs::read_to_string(dir.join("out").join(f)).unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_never_sent_to_a_url_the_server_returns_on_another_origin() {
    let (thief, stolen) = thief().await;
    let t = format!("http://{thief}/fal-ai/kling-video/requests/{ID}");
    let (url, seen) = fake_fal((
        200,
        json!({"request_id": ID, "status_url": format!("{t}/status"), "response_url": t, "cancel_url": format!("{t}/cancel")}),
    ))
    .await;
    let t = Test::new();
    let out = render_against(&url, &one_shot(t.path()), KEY, &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stolen.lock().unwrap().is_empty(),
        "the other origin was called: {:?}",
        stolen.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(_, p, auth)| p.ends_with(&format!("/requests/{ID}")) && *auth),
        "{seen:?}"
    );
    // The clip itself is fetched without the key.
    let download = seen.iter().find(|(_, p, _)| p == "/clip.mp4").expect("downloaded");
    assert!(!download.2, "the download carried the key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_echoed_by_an_error_body_is_never_printed_or_stored() {
    let (url, _) = fake_fal((422, json!({"detail": format!("invalid request for key {KEY}")}))).await;
    for args in [&[][..], &["--json"][..]] {
        let t = Test::new();
        let out = render_against(&url, &one_shot(t.path()), KEY, args).await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("invalid request for key") || stdout.contains("invalid request for key"));
        let files = written(t.path());
        assert!(
            files.contains("invalid request for key"),
            "the message is kept: {files}"
        );
        for (what, text) in [("stdout", &*stdout), ("stderr", &*stderr), ("files", files.as_str())] {
            assert!(!text.contains(KEY), "{what} holds the key: {text}");
            assert!(
                !text.contains("0123456789abcdef"),
                "{what} holds part of the key: {text}"
            );
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn links_planted_in_the_output_folder_redirect_no_write() {
    use std::os::unix::fs::symlink;
    let t = Test::with(SandboxConfig::fast()).await;
    let outside = tempfile::tempdir().unwrap();
    let victim = write(outside.path(), "victim.txt", "precious\n");
    let out = t.out();
    std::fs::create_dir_all(out.join(".storyboard")).unwrap();
    symlink(&victim, out.join(".a.mp4.part")).unwrap();
    symlink(&victim, out.join("manifest.json.tmp")).unwrap();
    let o = t.render(&one_shot(t.path()), &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::metadata(out.join("a.mp4")).unwrap().len() > 0);
    assert!(!out.join("manifest.json.tmp").exists(), "no temporary left behind");

    // A journal that is a link is never written through: nothing is sent.
    let t = Test::with(SandboxConfig::fast()).await;
    let out = t.out();
    std::fs::create_dir_all(out.join(".storyboard")).unwrap();
    symlink(&victim, out.join(".storyboard/journal.jsonl")).unwrap();
    let o = t.render(&one_shot(t.path()), &[]).await;
    assert_ne!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(t.jobs(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_folder_belongs_to_one_storyboard_and_files_it_did_not_write_are_kept() {
    let t = Test::with(SandboxConfig::fast()).await;
    let one = one_shot(t.path());
    let two = t.write(
        "two.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: another film\n",
    );
    let o = t.render(&one, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let clip = std::fs::read(t.path().join("out/a.mp4")).unwrap();
    let o = t.render(&two, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds the renders of another storyboard") && err.contains("--out"),
        "{err}"
    );
    assert_eq!(std::fs::read(t.path().join("out/a.mp4")).unwrap(), clip);
    assert_eq!(t.jobs(), 1);
    // The first storyboard still renders there (cached).
    let o = t.render(&one, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // A user's own a.mp4 is never overwritten.
    let t = t.new_folder();
    let mine = t.write("out/a.mp4", "my own video\n");
    let o = t.render(&one_shot(t.path()), &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("was not written by storyboard"), "{err}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own video\n");
    assert_eq!(t.jobs(), 1, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_loses_nothing_and_pays_nothing_twice() {
    let t = Test::new();
    let disk = t.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    if tmpfs(&disk, "200k").is_none() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let config = SandboxConfig {
        clip_bytes: Some(60_000),
        ..SandboxConfig::fast()
    };
    let t = t.sandbox(config).await;
    let shots: String = (0..6)
        .map(|i| format!("  - id: s{i}\n    prompt: shot {i}\n"))
        .collect();
    let file = write(
        &disk,
        "shots.yaml",
        &format!("version: 1\noutput: out\nconcurrency: 2\nshots:\n{shots}"),
    );
    let first = t.render(&file, &[]).await;
    assert_ne!(first.status.code(), Some(0), "the disk was meant to fill up");
    let journal = std::fs::read_to_string(disk.join("out/.storyboard/journal.jsonl")).unwrap_or_default();
    for line in journal.lines().filter(|l| !l.is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "a glued or torn record: {line:?}"
        );
    }
    assert!(
        !disk.join("out/manifest.json.tmp").exists(),
        "a temporary manifest was left"
    );
    // Space is freed; the next render finishes every shot without a second job for any.
    remount(&disk, "4m");
    let second = t.render(&file, &["--json"]).await;
    let created = t.jobs();
    let manifest: Value = std::fs::read_to_string(disk.join("out/manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    umount(&disk);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&second.stderr),
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(created, 6, "jobs created for 6 shots");
    assert!(
        crate::common::shot_statuses(&manifest)
            .iter()
            .all(|s| s == "done" || s == "cached")
    );
}

/// A refused key or an exhausted balance costs one request and one message: the first submit of
/// a run goes out alone, and its refusal stops every other (exit 4, shots pending).
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_or_an_empty_balance_costs_one_submit_and_one_message() {
    let shots: String = (0..8)
        .map(|i| format!("  - id: s{i}\n    prompt: shot {i}\n"))
        .collect();
    let yaml = format!("version: 1\noutput: out\nconcurrency: 4\nshots:\n{shots}");
    let cases = [
        (
            SandboxConfig {
                api_key: Some("the-right-key".into()),
                ..SandboxConfig::fast()
            },
            "check FAL_KEY",
        ),
        (
            SandboxConfig {
                faults: "account_locked~1.0".parse().unwrap(),
                ..SandboxConfig::fast()
            },
            "the balance is exhausted; top up",
        ),
    ];
    for (config, says) in cases {
        let t = Test::with(config).await;
        let file = t.write("shots.yaml", &yaml);
        let o = render_against(&t.url(), &file, "a-wrong-key", &[]).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        assert_eq!(err.matches(says).count(), 1, "one message: {err}");
        let r = &t.sb().stats()["requests"];
        let sent = r["submit"].as_u64().unwrap_or(0) + r["unauthorized"].as_u64().unwrap_or(0);
        assert_eq!(sent, 1, "one submit: {err}");
        assert_eq!(t.jobs(), 0);
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(t.path().join("out/manifest.json")).unwrap()).unwrap();
        assert!(crate::common::shot_statuses(&m).iter().all(|s| s == "pending"), "{m}");
    }
}

/// A slow uplink: the storage server answers an upload only after the whole body has crawled in
/// (here: 2.5 s), far past the wait allowed for an answer (1 s here). The upload has a deadline
/// scaled to its size instead of a read timeout, and completes.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_through_a_slow_link_completes() {
    let t = Test::with(SandboxConfig::fast()).await;
    let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let a = addr_cell.clone();
    let app = Router::new().fallback(move |m: Method, u: Uri| {
        let a = a.clone();
        async move {
            let base = format!("http://{}", a.lock().unwrap().unwrap());
            match (m.as_str(), u.path()) {
                ("POST", "/storage/upload/initiate") => axum::Json(json!({
                    "upload_url": format!("{base}/put/frame.png"),
                    "file_url": "https://v3.fal.media/files/frame.png",
                }))
                .into_response(),
                ("PUT", "/put/frame.png") => {
                    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
                    StatusCode::OK.into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let storage = serve([127, 0, 0, 1], app).await;
    *addr_cell.lock().unwrap() = Some(storage);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(200_000, 0);
    std::fs::write(t.path().join("frame.png"), png).unwrap();
    let file = t.write(
        "shots.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a harbour\n    start_image: ./frame.png\n",
    );
    let mut cmd = crate::common::storyboard();
    cmd.arg("render").arg(&file).arg("--yes");
    cmd.env("FAL_KEY", KEY)
        .env("STORYBOARD_FAL_URL", t.url())
        .env("STORYBOARD_FAL_API_URL", t.url())
        .env("STORYBOARD_FAL_STORAGE_URL", format!("http://{storage}"))
        .env("STORYBOARD_HTTP_TIMEOUT_SECONDS", "1");
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(t.jobs(), 1);
}

/// A download cut half way is resumed with a Range request (the file host allows it), and the
/// clip on disk is whole and verified.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_download_resumes_where_it_stopped() {
    let config = SandboxConfig {
        clip_bytes: Some(3_000_000),
        faults: "truncate=1".parse().unwrap(),
        ..SandboxConfig::fast()
    };
    let t = Test::with(config).await;
    let o = t.render(&one_shot(t.path()), &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.sb().stats()["requests"]["download_range"].as_u64().unwrap_or(0) >= 1);
    let m: Value = serde_json::from_str(&std::fs::read_to_string(t.path().join("out/manifest.json")).unwrap()).unwrap();
    let bytes = std::fs::read(t.path().join("out/a.mp4")).unwrap();
    assert_eq!(bytes.len(), 3_000_000);
    assert_eq!(sha256_hex(&bytes), m["shots"][0]["clip"]["sha256"].as_str().unwrap());
}
