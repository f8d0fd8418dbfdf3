//! The first hour with the tool: the header before the confirmation shows the effective
//! settings, the sandbox rehearses the money rules, `plan --check` fails a script over budget,
//! `status` does not call sandbox money "committed".

use crate::common::{SandboxConfig, Test, root, storyboard, write};

const OVER_BUDGET: &str =
    "version: 1\noutput: out\nbudget_usd: 1\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n";

#[test]
fn plan_check_exits_3_over_budget_and_0_within() {
    let t = Test::new();
    let over = t.write("over.yaml", OVER_BUDGET);
    let o = storyboard().arg("plan").arg(&over).arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exceeds the budget"));
    let o = storyboard().arg("plan").arg(&over).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "without --check the plan is only shown");
    let within = t.write("ok.yaml", &OVER_BUDGET.replace("budget_usd: 1", "budget_usd: 5"));
    let o = storyboard().arg("plan").arg(&within).arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn the_sandbox_rehearses_the_budget_and_status_says_estimated() {
    let t = Test::new();
    let file = t.storyboard(OVER_BUDGET);
    let o = storyboard().arg("render").arg(&file).arg("--sandbox").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("a paid render would refuse") && err.contains("--ignore-budget"),
        "{err}"
    );
    assert!(!t.out().exists(), "nothing written");
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
    let t = Test::new();
    let file = t.storyboard("version: 1\nconcurrency: 4\nshots:\n  - id: a\n    prompt: a\n");
    let elsewhere = t.path().join("takes");
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "-j", "2", "--out"])
        .arg(&elsewhere)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let header = err.lines().find(|l| l.starts_with("output ")).unwrap_or_default();
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
    let t = Test::with(SandboxConfig {
        api_key: Some(secret.into()),
        ..SandboxConfig::fast()
    })
    .await;
    t.write(".env", &format!("# keys\nFAL_KEY={secret}\n"));
    let file = t.storyboard("version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n");
    let url = t.url();
    let (f, u) = (file.clone(), url.clone());
    let o = tokio::task::spawn_blocking(move || render_with_env(&u, &f, None))
        .await
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret));
    // The environment wins over .env (here a wrong key: refused at once).
    std::fs::remove_dir_all(t.out()).unwrap();
    let o = tokio::task::spawn_blocking(move || render_with_env(&url, &file, Some("a-wrong-key-from-env")))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn init_writes_a_starter_that_plans_and_refuses_a_second_time() {
    let t = Test::new();
    let project = t.path().join("film");
    let o = storyboard().arg("init").arg(&project).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = storyboard()
        .arg("plan")
        .arg(project.join("storyboard.yaml"))
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("storyboard.schema.json")).unwrap()).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let first_line = std::fs::read_to_string(project.join("storyboard.yaml")).unwrap();
    assert!(first_line.starts_with("# yaml-language-server: $schema=./storyboard.schema.json"));
    let ignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(ignore.contains("renders/") && ignore.contains(".env"));
    let again = storyboard().arg("init").arg(&project).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

/// `storyboard watch FILE` running, its output read line by line; stopped when dropped.
struct Watch {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Watch {
    fn start(file: &std::path::Path) -> Watch {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("storyboard"))
            .arg("watch")
            .arg(file)
            .args(["--interval-ms", "30"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Watch { child, lines }
    }

    /// The lines printed up to and including the first that contains `needle`.
    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            let done = line.contains(needle);
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_reports_an_edited_prompt_and_the_new_estimate() {
    let t = Test::new();
    let v1 = "version: 1\nshots:\n  - id: a\n    prompt: a harbour\n  - id: b\n    prompt: a boat\n";
    let file = t.storyboard(v1);
    let mut watch = Watch::start(&file);
    let mut wait_for = |needle: &str| watch.wait_for(needle);
    let first = wait_for("total:");
    assert!(first.iter().any(|l| l.contains("$1.40")), "{first:?}");
    // An edited prompt and a third shot (10 s, audio on: $1.40).
    t.storyboard(&format!(
        "{}  - id: c\n    prompt: a gull\n    duration: 10\n",
        v1.replace("a boat", "a red boat")
    ));
    let changes = wait_for("estimate:");
    assert!(changes.iter().any(|l| l.starts_with("~ b (edited")), "{changes:?}");
    assert!(
        changes.iter().any(|l| l.starts_with("+ c (added, $1.40)")),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|l| l.contains(" a (")),
        "a did not change: {changes:?}"
    );
    let estimate = changes.last().unwrap();
    assert!(estimate.contains("estimate: $2.80 (+$1.40) for 3 shots"), "{estimate}");
}

#[test]
fn watch_re_plans_when_a_start_image_is_replaced() {
    let t = Test::new();
    let image = |name: &str| std::fs::read(root().join(format!("examples/cast/{name}.png"))).unwrap();
    std::fs::write(t.path().join("first.png"), image("mara-front")).unwrap();
    let file = t.storyboard(
        "version: 1\nshots:\n  - id: a\n    prompt: a harbour\n    start_image: ./first.png\n  - id: b\n    prompt: a boat\n",
    );
    let mut watch = Watch::start(&file);
    let mut wait_for = |needle: &str| watch.wait_for(needle);
    wait_for("total:");
    // The storyboard's text is unchanged: only the picture behind `./first.png` is another one.
    std::fs::write(t.path().join("first.png"), image("tomas-front")).unwrap();
    let changes = wait_for("estimate:");
    assert!(changes.iter().any(|l| l.starts_with("~ a (edited")), "{changes:?}");
    assert!(
        !changes.iter().any(|l| l.contains(" b (")),
        "b did not change: {changes:?}"
    );
}

#[test]
fn cancel_names_the_folder_it_read_and_needs_no_key_when_nothing_is_in_flight() {
    let t = Test::new();
    let file = t.storyboard("version: 1\nshots:\n  - id: a\n    prompt: a harbour\n");
    let typo = t.path().join("renders/ad-emmu");
    let cancel = || {
        let o = storyboard()
            .arg("cancel")
            .arg(&file)
            .arg("--out")
            .arg(&typo)
            .env_remove("FAL_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{err}");
        err
    };
    let err = cancel();
    assert!(
        err.contains(&format!("nothing was rendered in {}", typo.display())),
        "{err}"
    );
    assert!(!typo.exists(), "a mistyped --out is not created");
    // A folder rendered into, with nothing in flight: named too, still no key needed.
    std::fs::create_dir_all(typo.join(".storyboard")).unwrap();
    let err = cancel();
    assert!(
        err.contains(&format!("no job in flight in {}", typo.display())),
        "{err}"
    );
}

#[test]
fn with_json_every_error_is_a_json_object_on_stdout() {
    let t = Test::new();
    let file = t.storyboard("version: 1\nshots:\n  - id: a\n    prompt: hi\n    duration: 7\n  - id: b\n    prompt: ho\n    aspect_ratio: \"4:3\"\n",
    );
    let o = storyboard().arg("plan").arg(&file).arg("--json").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["shot"], "a");
    assert_eq!(lines[0]["field"], "duration");
    assert_eq!(lines[1]["field"], "aspect_ratio");
    for l in &lines {
        assert!(
            l["file"].as_str().unwrap().ends_with("s.yaml") && l["line"].is_number() && l["message"].is_string(),
            "{l}"
        );
    }
    // Errors that are not about the file are one object, with the same exit code.
    let o = storyboard()
        .arg("render")
        .arg(file.with_file_name("missing.yaml"))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["message"].as_str().unwrap().contains("cannot read"), "{v}");
}

/// What a pseudo-terminal of `cols` columns received while rendering `file` in the sandbox.
fn in_a_terminal(file: &std::path::Path, cols: u16, interrupt: bool, env: &[(&str, &str)]) -> Option<(String, i32)> {
    let python = crate::common::test_python()?;
    let script = crate::common::root().join("tests/conformance/pty_render.py");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .arg(assert_cmd::cargo::cargo_bin("storyboard"))
        .arg(file)
        .arg(cols.to_string())
        .arg("24");
    if interrupt {
        cmd.arg("interrupt");
    }
    for var in ["NO_COLOR", "CLICOLOR", "STORYBOARD_PLAIN", "FAL_KEY"] {
        cmd.env_remove(var);
    }
    cmd.env("TERM", "xterm-256color").envs(env.iter().copied());
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Some((
        v["output"].as_str().unwrap().to_owned(),
        v["code"].as_i64().unwrap() as i32,
    ))
}

/// The text the terminal showed, escape sequences removed (cursor movements become `\r`).
/// indicatif fills its lines to the width and lets the terminal wrap, so lines are not
/// separated; a line starts where its first character is.
fn screen_text(output: &str) -> String {
    let mut plain = String::new();
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n.is_ascii_alphabetic() || n == '~' {
                        plain.push('\r');
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
}

/// The `cols` columns starting at the first occurrence of `start`, if any.
fn row_at(text: &str, start: &str, cols: usize) -> Option<String> {
    let i = text.find(start)?;
    Some(text[i..].chars().take(cols).collect())
}

fn shots_at_two(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let shots: String = (0..n)
        .map(|i| format!("  - id: shot{i}\n    prompt: take {i}\n"))
        .collect();
    write(
        dir,
        "s.yaml",
        &format!("version: 1\noutput: out\nconcurrency: 2\nshots:\n{shots}"),
    )
}

/// Whether the output sets a foreground colour (an SGR sequence `ESC[…m` with a 30–37 or 90–97
/// parameter); cursor movements such as `ESC[3A` are not colour.
fn has_foreground_colour(output: &str) -> bool {
    output.split('\u{1b}').skip(1).any(|seq| {
        let Some(params) = seq.strip_prefix('[') else {
            return false;
        };
        let end = params.find(|c: char| c.is_ascii_alphabetic());
        end.is_some_and(|e| {
            params[e..].starts_with('m')
                && params[..e]
                    .split(';')
                    .any(|p| matches!(p.parse::<u8>(), Ok(30..=37 | 90..=97)))
        })
    })
}

#[test]
fn in_a_terminal_each_finished_shot_leaves_a_line_and_nothing_is_wider_than_the_screen() {
    let t = Test::new();
    let file = shots_at_two(t.path(), 4);
    let Some((output, code)) = in_a_terminal(&file, 80, false, &[("NO_COLOR", "1")]) else {
        return;
    };
    assert_eq!(code, 0, "{output}");
    let text = screen_text(&output);
    for i in 0..4 {
        let row = row_at(&text, &format!("✓ shot{i} "), 80).unwrap_or_default();
        assert!(
            row.contains(&format!("$0.70  shot{i}.mp4")),
            "no ✓ line for shot{i}: {text:?}"
        );
    }
    // Cut, not wrapped: the header's tail and the bars' full request ids never reach the screen.
    assert!(text.contains("provider fal · model"), "{text:?}");
    assert!(
        !text.contains("nothing is billed"),
        "a header wider than 80 columns was wrapped: {text:?}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("out/manifest.json")).unwrap()).unwrap();
    for shot in m["shots"].as_array().unwrap() {
        let id = shot["request_id"].as_str().unwrap();
        assert!(!text.contains(id), "a bar line wider than 80 columns was wrapped: {id}");
    }
    assert!(!has_foreground_colour(&output), "colour despite NO_COLOR");
    // With colour allowed, the ✓ is green.
    let t = Test::new();
    let file = shots_at_two(t.path(), 4);
    let (output, _) = in_a_terminal(&file, 80, false, &[]).unwrap();
    assert!(output.contains("\u{1b}[32m✓"), "no green ✓: {output:?}");
}

#[test]
fn in_a_terminal_the_counts_after_ctrl_c_match_the_manifest() {
    let t = Test::new();
    let file = shots_at_two(t.path(), 8);
    let Some((output, code)) = in_a_terminal(&file, 80, true, &[("NO_COLOR", "1")]) else {
        return;
    };
    assert_eq!(code, 130, "{output}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("out/manifest.json")).unwrap()).unwrap();
    let statuses = crate::common::shot_statuses(&m);
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
    let text = screen_text(&output);
    let at = text.rfind(" done · ").expect("a summary line");
    let start = text[..at].rfind(['\r', '\n']).map_or(0, |i| i + 1);
    let summary = text[start..].lines().next().unwrap_or_default().to_owned();
    let expected = format!(
        "{} done · {} cached · {} failed · {} uncertain · {} skipped · {} pending",
        count("done"),
        count("cached"),
        count("failed"),
        count("uncertain"),
        count("skipped"),
        count("pending")
    );
    assert!(summary.starts_with(&expected), "{summary} vs {expected}");
    assert!(
        count("pending") > 0,
        "Ctrl-C came before every shot was submitted: {statuses:?}"
    );
}

#[test]
fn one_run_reports_structural_and_value_problems_at_the_fields_line() {
    let t = Test::new();
    // An unknown field (promt) and an out-of-range duration in one shot, a bad ratio in another.
    let file = t.storyboard("version: 1\nshots:\n  - id: a\n    promt: hello\n    duration: 7\n  - id: b\n    prompt: ho\n    aspect_ratio: \"4:3\"\n",
    );
    let o = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("s.yaml:4:5: unknown field `promt`"), "{err}");
    assert!(
        err.contains("s.yaml:5:5: shot `a`, field `duration`: 7 seconds is not allowed"),
        "{err}"
    );
    assert!(err.contains("s.yaml:8:5: shot `b`, field `aspect_ratio`"), "{err}");
    assert!(err.contains("3 problems"), "{err}");
}
