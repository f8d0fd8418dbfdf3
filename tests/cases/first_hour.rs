//! The first hour with the tool: the header before the confirmation shows the effective
//! settings, the sandbox rehearses the money rules, `plan --check` fails a script over budget,
//! `status` does not call sandbox money "committed".

use crate::common::{storyboard, write};

const OVER_BUDGET: &str =
    "version: 1\noutput: out\nbudget_usd: 1\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n";

#[test]
fn plan_check_exits_3_over_budget_and_0_within() {
    let dir = tempfile::tempdir().unwrap();
    let over = write(dir.path(), "over.yaml", OVER_BUDGET);
    let o = storyboard().arg("plan").arg(&over).arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exceeds the budget"));
    let o = storyboard().arg("plan").arg(&over).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "without --check the plan is only shown");
    let within = write(
        dir.path(),
        "ok.yaml",
        &OVER_BUDGET.replace("budget_usd: 1", "budget_usd: 5"),
    );
    let o = storyboard().arg("plan").arg(&within).arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn the_sandbox_rehearses_the_budget_and_status_says_estimated() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.yaml", OVER_BUDGET);
    let o = storyboard().arg("render").arg(&file).arg("--sandbox").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("a paid render would refuse") && err.contains("--ignore-budget"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "--ignore-budget"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let st = storyboard().arg("status").arg(&file).output().unwrap();
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(
        table.contains("estimated (sandbox renders: nothing was billed)"),
        "{table}"
    );
    assert!(!table.contains("committed"), "{table}");
}

#[test]
fn the_header_before_the_confirmation_shows_the_effective_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.yaml",
        "version: 1\nconcurrency: 4\nshots:\n  - id: a\n    prompt: a\n",
    );
    let elsewhere = dir.path().join("takes");
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "-j", "2", "--out"])
        .arg(&elsewhere)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let header = err.lines().find(|l| l.starts_with("provider ")).unwrap_or_default();
    assert!(header.contains(&format!("output {}", elsewhere.display())), "{header}");
    assert!(
        header.contains("concurrency 2") && header.contains("sandbox: $0"),
        "{header}"
    );
}

fn render_with_env(url: &str, file: &std::path::Path, key: Option<&str>) -> std::process::Output {
    let mut cmd = storyboard();
    cmd.arg("render").arg(file).arg("--yes");
    for var in [
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_STORAGE_URL",
        "STORYBOARD_FAL_API_URL",
    ] {
        cmd.env(var, url);
    }
    if let Some(k) = key {
        cmd.env("FAL_KEY", k);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_come_from_a_dot_env_beside_the_storyboard_and_the_environment_wins() {
    let secret = "dotenv-secret-key-0123456789";
    let sb = crate::common::start_sandbox(storyboard::sandbox::SandboxConfig {
        api_key: Some(secret.into()),
        ..storyboard::sandbox::SandboxConfig::fast()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", &format!("# keys\nFAL_KEY={secret}\n"));
    let file = write(
        dir.path(),
        "s.yaml",
        "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n",
    );
    let url = sb.base_url();
    let (f, u) = (file.clone(), url.clone());
    let o = tokio::task::spawn_blocking(move || render_with_env(&u, &f, None))
        .await
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret));
    // The environment wins over .env (here a wrong key: refused at once).
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    let o = tokio::task::spawn_blocking(move || render_with_env(&url, &file, Some("a-wrong-key-from-env")))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
}
