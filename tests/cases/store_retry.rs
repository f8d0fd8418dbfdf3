//! The retried PUT of a claim (#27): the store makes the conditional create but its answer is
//! lost on the way back (a loopback proxy in front of moto answers 503 instead), so the client
//! retries the same PUT and meets its own object (412). The machine must know the claim for its
//! own — the bytes it wrote hold a random nonce — and submit once, not wait on itself forever.

use crate::common::{Moto, SandboxConfig, Test};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Forwards every request to `upstream`; the first conditional create of a claim is made
/// there and its answer replaced by a 503. Returns its endpoint and how many it lost.
fn lossy_proxy(upstream: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let lost = Arc::new(AtomicUsize::new(0));
    let counter = lost.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let lost = counter.clone();
            std::thread::spawn(move || relay(conn, upstream, &lost));
        }
    });
    (endpoint, lost)
}

/// One request per connection (`Connection: close` both ways).
fn relay(conn: TcpStream, upstream: SocketAddr, lost: &AtomicUsize) -> Option<()> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let (mut head, mut length, mut create) = (String::new(), 0usize, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let lower = line.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("content-length:") {
            length = n.trim().parse().ok()?;
        }
        create |= lower.starts_with("if-none-match:") && lower.contains('*');
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut up = TcpStream::connect(upstream).ok()?;
    up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .ok()?;
    up.write_all(&body).ok()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).ok()?;
    let claim = create && head.starts_with("PUT ") && head.lines().next()?.contains("/claims/");
    let mut conn = conn;
    if claim && lost.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        let lie = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        return conn.write_all(lie.as_bytes()).ok();
    }
    let status_end = answer.windows(2).position(|w| w == b"\r\n")? + 2;
    conn.write_all(&answer[..status_end]).ok()?;
    conn.write_all(b"Connection: close\r\n").ok()?;
    conn.write_all(&answer[status_end..]).ok()
}

#[test]
fn a_claim_whose_create_answer_was_lost_is_known_as_its_own_and_submitted_once() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let test = Test::blocking(SandboxConfig::fast());
    let moto = Moto::start(&python).expect("moto[server] in the test venv");
    test.block_on(moto.bucket("films")).unwrap();
    let upstream: SocketAddr = moto.endpoint.trim_start_matches("http://").parse().unwrap();
    let (proxy, lost) = lossy_proxy(upstream);
    let file = test.write(
        "film.yaml",
        "version: 1\nmodel: kling-v3-standard\nstore: s3://films/team\nshots:\n  - id: only\n    prompt: a lighthouse at dusk\n    duration: 3\n",
    );
    let url = test.sb().base_url();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
        .args(["render", &file.to_string_lossy(), "--yes", "--offline", "--out"])
        .arg(test.path().join("out"))
        .env_remove("EACHLABS_API_KEY")
        .env_remove("STORYBOARD_STORE")
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", crate::common::root().join("target/test-cache"))
        .env("FAL_KEY", "team-key")
        .env("STORYBOARD_FAL_URL", &url)
        .env("STORYBOARD_FAL_API_URL", &url)
        .env("STORYBOARD_FAL_STORAGE_URL", &url)
        .env("STORYBOARD_FAST_POLL", "1")
        .envs(moto.env())
        .env("AWS_ENDPOINT_URL", &proxy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A machine that followed its own claim would wait for a request id that never comes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("render still waiting after 120 s: it took its own claim for another machine's");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "render failed: {err}");
    assert_eq!(lost.load(Ordering::SeqCst), 1, "the proxy lost one claim's answer");
    let jobs = match &test.sb().stats()["jobs_created_total"] {
        Value::Object(m) => m.values().filter_map(Value::as_u64).sum(),
        v => v.as_u64().unwrap_or(0),
    };
    assert_eq!(jobs, 1, "one job: the retried create found its own claim");
    assert!(std::fs::metadata(test.path().join("out/only.mp4")).unwrap().len() > 1000);
}
