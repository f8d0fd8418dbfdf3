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

use crate::common::{files_below, render_against, write};

const KEY: &str = "fal-secret-key-0123456789abcdef";

/// What a fake server saw: (method, path, had an Authorization header).
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// Serves `app` on `ip`:0 until the test ends; its address.
async fn serve(ip: [u8; 4], app: Router) -> SocketAddr {
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
async fn fake_fal(submit: (u16, Value)) -> (String, Seen) {
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
                (_, p) if p.ends_with("/requests/r1/status") => json(200, json!({"status": "COMPLETED"})),
                (_, p) if p.ends_with("/requests/r1") => json(
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

fn one_shot(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "shots.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a quiet harbour\n",
    )
}

/// Every file the render wrote, as text (journal, manifest, …).
fn written(dir: &Path) -> String {
    files_below(&dir.join("out"))
        .iter()
        .filter(|f| !f.ends_with(".mp4"))
        .map(|f| std::fs::read_to_string(dir.join("out").join(f)).unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_never_sent_to_a_url_the_server_returns_on_another_origin() {
    let (thief, stolen) = thief().await;
    let t = format!("http://{thief}/fal-ai/kling-video/requests/r1");
    let (url, seen) = fake_fal((
        200,
        json!({"request_id": "r1", "status_url": format!("{t}/status"), "response_url": t, "cancel_url": format!("{t}/cancel")}),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = render_against(&url, &one_shot(dir.path()), KEY, &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stolen.lock().unwrap().is_empty(),
        "the other origin was called: {:?}",
        stolen.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|(_, p, auth)| p.ends_with("/requests/r1") && *auth),
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
        let dir = tempfile::tempdir().unwrap();
        let out = render_against(&url, &one_shot(dir.path()), KEY, args).await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("invalid request for key") || stdout.contains("invalid request for key"));
        let files = written(dir.path());
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
