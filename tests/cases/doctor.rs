//! `storyboard doctor` against the sandbox: keys found and checked with one authenticated call,
//! never printed; hosts; exit 1 when a paid render would fail.

use crate::common::SandboxConfig;
use serde_json::Value;

use crate::common::{Test, storyboard};

async fn doctor(url: &str, dir: &std::path::Path, fal_key: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = storyboard();
    cmd.current_dir(dir).args(["doctor", "s.yaml", "--json"]);
    if let Some(k) = fal_key {
        cmd.env("FAL_KEY", k);
    }
    cmd.envs(crate::common::sandbox_urls(url));
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

fn verdict(out: &str, name: &str) -> String {
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let c = v["checks"].as_array().unwrap().iter().find(|c| c["name"] == name);
    c.map_or("absent".into(), |c| c["verdict"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_key_with_one_call_and_never_prints_it() {
    let t = Test::with(SandboxConfig {
        api_key: Some("good-key-0123456789".into()),
        ..SandboxConfig::fast()
    })
    .await;
    t.storyboard("version: 1\nshots:\n  - id: a\n    prompt: p\n");

    let (code, out) = doctor(&t.url(), t.path(), Some("good-key-0123456789")).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict(&out, "FAL_KEY accepted"), "ok", "{out}");
    assert_eq!(verdict(&out, "host"), "ok", "{out}");
    assert!(!out.contains("good-key-0123456789"), "{out}");

    let (code, out) = doctor(&t.url(), t.path(), Some("wrong-key-9876543210")).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(verdict(&out, "FAL_KEY accepted"), "fail", "{out}");
    assert!(!out.contains("wrong-key-9876543210"), "{out}");

    // A key from the .env beside the storyboard counts; no key at all is a warning, not a call.
    t.write(".env", "FAL_KEY=good-key-0123456789\n");
    let (code, out) = doctor(&t.url(), t.path(), None).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict(&out, "FAL_KEY accepted"), "ok", "{out}");
    std::fs::remove_file(t.path().join(".env")).unwrap();
    let (code, out) = doctor(&t.url(), t.path(), None).await;
    assert_eq!((code, verdict(&out, "FAL_KEY")), (Some(0), "warn".to_owned()), "{out}");
    assert_eq!(verdict(&out, "FAL_KEY accepted"), "absent", "{out}");
    assert_eq!(t.sb().stats()["jobs_created_total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_when_the_provider_host_does_not_answer() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Test::new();
    t.storyboard("version: 1\nshots:\n  - id: a\n    prompt: p\n");
    let (code, out) = doctor(
        &format!("http://127.0.0.1:{port}"),
        t.path(),
        Some("some-key-0123456789"),
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(verdict(&out, "host"), "fail", "{out}");
    assert!(out.contains("cannot reach"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_render_names_the_host_its_requests_go_to() {
    let t = Test::with(SandboxConfig::fast()).await;
    let file = t.storyboard("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: p\n");
    let o = t.render(&file, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("paid → {}", t.url())), "{err}");
}
