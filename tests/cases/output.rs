//! What the first hour reads (#26 items 7, 11, 12): `plan`, `models` and `status` fit 80
//! columns with ids and prices whole, in a pseudo-terminal too; the v3 pro dispute is a note
//! under the table; `models --json` gives seconds as numbers.

use crate::common::{Test, fast, root, storyboard};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A 9-shot ad with takes and a cast: three shots of three takes each.
const AD: &str = r#"version: 1
title: Morning coffee — a nine-take ad for the corner café
model: kling-v3-pro
output: out
cast:
  mara:
    frontal: ./cast/mara-front.png
    references: [./cast/mara-left.png, ./cast/mara-right.png]
  tomas:
    frontal: ./cast/tomas-front.png
    references: [./cast/tomas-side.png]
shots:
  - id: order-at-the-counter
    prompt: '{{ cast("mara") }} orders a flat white from {{ cast("tomas") }}'
    start_image: ./cast/mara-front.png
    duration: 6
    takes: 3
  - id: grind
    prompt: '{{ cast("tomas") }} grinds the beans, steam rising'
    start_image: ./cast/tomas-front.png
    duration: 7
    generate_audio: false
    takes: 3
  - id: sip
    prompt: '{{ cast("mara") }} sips by the window and smiles at {{ cast("tomas") }}'
    start_image: ./cast/mara-left.png
    duration: 10
    takes: 3
"#;

/// A folder holding the ad and the example cast's images.
fn ad(t: &Test) -> PathBuf {
    std::fs::create_dir_all(t.path().join("cast")).unwrap();
    for f in ["mara-front", "mara-left", "mara-right", "tomas-front", "tomas-side"] {
        let from = root().join(format!("examples/cast/{f}.png"));
        std::fs::copy(from, t.path().join(format!("cast/{f}.png"))).unwrap();
    }
    t.storyboard(AD)
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `storyboard ARGS` off a terminal with `COLUMNS=80`: stdout, after a success.
fn at_80(args: &[&str], file: Option<&Path>) -> String {
    let mut cmd = storyboard();
    cmd.args(args).env("COLUMNS", "80");
    if let Some(f) = file {
        cmd.arg(f);
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    text(&o.stdout)
}

/// Every line at most `width` columns wide, counted by display width.
fn assert_fits(output: &str, width: usize) {
    for line in output.lines() {
        let w = console::measure_text_width(line);
        assert!(w <= width, "{w} columns: {line:?}\n{output}");
    }
}

/// Each planned shot's row shows its whole id and its whole price (as `plan --json` has it).
fn assert_whole_ids_and_prices(table: &str, file: &Path) {
    let plan = crate::common::plan_json(file, &[]);
    let shots = plan["shots"].as_array().unwrap();
    assert_eq!(shots.len(), 9, "{plan}");
    for s in shots {
        let id = s["id"].as_str().unwrap();
        let row = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no row with the whole id {id}:\n{table}"));
        let usd = s["estimated_usd"].as_f64().unwrap();
        let price = row
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('$'))
            .filter_map(|w| w.parse::<f64>().ok())
            .next();
        assert_eq!(price, Some(usd), "the whole price of {id} in {row:?}\n{table}");
    }
}

#[test]
fn plan_at_80_columns_shows_whole_ids_and_prices_and_fits() {
    let t = Test::new();
    let file = ad(&t);
    let table = at_80(&["plan"], Some(&file));
    assert_fits(&table, 80);
    assert_whole_ids_and_prices(&table, &file);
    assert!(table.contains("order-at-the-counter-take3"), "{table}");
    // The v3 pro dispute: one word in the cell (when the column shows), one note line.
    assert!(!table.contains("the live price settles it)"), "{table}");
    let notes: Vec<&str> = table.lines().filter(|l| l.starts_with("(disputed) v3 pro")).collect();
    assert_eq!(notes.len(), 1, "{table}");
    assert!(
        !table.contains("checks a storyboard for free"),
        "plan never tells its own users to run plan:\n{table}"
    );
    // Wide, every column shows and the cell says "(disputed)".
    let o = storyboard()
        .arg("plan")
        .arg(&file)
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let wide = text(&o.stdout);
    assert!(wide.contains("price from") && wide.contains("(disputed)"), "{wide}");
    assert!(!wide.contains("not shown at"), "{wide}");
}

#[test]
fn models_fits_80_columns_and_json_gives_seconds_as_numbers() {
    let table = at_80(&["models"], None);
    assert_fits(&table, 80);
    for id in [
        "v3/pro/image-to-video",
        "fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video",
    ] {
        assert!(
            table
                .lines()
                .any(|l| l.trim() == id || l.split_whitespace().next() == Some(id)),
            "{id}:\n{table}"
        );
    }
    let json: Value = serde_json::from_str(&at_80(&["models", "--json"], None)).unwrap();
    let by_id = |id: &str| json.as_array().unwrap().iter().find(|m| m["endpoint"] == id).unwrap()["seconds"].clone();
    assert_eq!(
        by_id("fal-ai/kling-video/v2.6/pro/text-to-video"),
        serde_json::json!([5, 10])
    );
    assert_eq!(
        by_id("fal-ai/kling-video/v3/pro/text-to-video"),
        serde_json::json!((3..=15).collect::<Vec<u64>>())
    );
    assert_eq!(
        by_id("fal-ai/kling-video/v2.6/pro/motion-control"),
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_fits_80_columns_after_a_render_of_nine_takes() {
    let t = Test::with(fast()).await;
    let file = ad(&t);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let table = at_80(&["status"], Some(&file));
    assert_fits(&table, 80);
    assert!(
        table.contains("order-at-the-counter-take3") && table.contains("9 done"),
        "{table}"
    );
    let wide = storyboard()
        .arg("status")
        .arg(&file)
        .env("COLUMNS", "300")
        .output()
        .unwrap();
    assert!(
        text(&wide.stdout).contains("request"),
        "the request ids show when there is room"
    );
}

/// `storyboard ARGS` in a pseudo-terminal of 80×24 (util-linux `script`), with `COLUMNS=200`
/// in the environment: the terminal's width wins. None when `script` is not installed.
fn in_a_terminal(args: &str) -> Option<String> {
    let (code, screen) = in_a_terminal_exiting(args)?;
    assert_eq!(code, Some(0), "{screen}");
    Some(screen)
}

/// [`in_a_terminal`] for a command that may fail: its exit code and what the terminal showed
/// (stdout and stderr both).
fn in_a_terminal_exiting(args: &str) -> Option<(Option<i32>, String)> {
    let bin = assert_cmd::cargo::cargo_bin("storyboard");
    let line = format!("stty cols 80 rows 24; exec {} {args}", bin.display());
    let o = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("COLUMNS", "200")
        .env("NO_COLOR", "1")
        .output()
        .ok()?;
    Some((o.status.code(), text(&o.stdout).replace('\r', "")))
}

#[test]
fn in_a_pseudo_terminal_of_80_columns_an_error_and_its_hint_fold_between_words() {
    let t = Test::new();
    let file = t.storyboard("version: 1\nshots:\n  - id: a\n    prompt: a harbour at dawn\n    duration: 7\n");
    let Some((code, screen)) = in_a_terminal_exiting(&format!("plan {}", file.display())) else {
        assert!(
            std::env::var_os("STORYBOARD_REQUIRE_TOOLS").is_none(),
            "script(1) is required"
        );
        return;
    };
    assert_eq!(code, Some(2), "{screen}");
    assert_fits(&screen, 80);
    // Joined back at the folds, the hint reads whole: no word was cut in two.
    let hint = screen.split("hint: ").nth(1).expect("a hint line");
    let joined = hint.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.starts_with(
            "nothing was sent and nothing written; fix what is named above and run the command again (planning is free)"
        ),
        "{screen}"
    );
}

#[test]
fn in_a_pseudo_terminal_of_80_columns_plan_and_models_fit() {
    let t = Test::new();
    let file = ad(&t);
    let Some(table) = in_a_terminal(&format!("plan {}", file.display())) else {
        assert!(
            std::env::var_os("STORYBOARD_REQUIRE_TOOLS").is_none(),
            "script(1) is required"
        );
        return;
    };
    assert_fits(&table, 80);
    assert_whole_ids_and_prices(&table, &file);
    let models = in_a_terminal("models").unwrap();
    assert_fits(&models, 80);
    assert!(models.contains("v3/pro/image-to-video"), "{models}");
}

/// A two-shot storyboard for the render checks.
const TWO: &str = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a\n  - id: b\n    prompt: b\n";

fn events(stdout: &[u8]) -> Vec<Value> {
    text(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn render_json_has_an_estimate_first_and_done_events_with_take_and_sha256() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(TWO);
    let o = t.render(&file, &["--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let ev = events(&o.stdout);
    let first = ev
        .iter()
        .position(|e| e["state"] == "estimate")
        .expect("an estimate event");
    let submit = ev
        .iter()
        .position(|e| e["state"] == "submitting" || e["state"] == "submitted")
        .unwrap();
    assert!(first < submit, "the estimate comes before the first submit: {ev:?}");
    let est = &ev[first];
    assert_eq!(
        (est["shots"].as_u64(), est["cached"].as_u64()),
        (Some(2), Some(0)),
        "{est}"
    );
    assert!(
        est["estimated_usd"].as_f64().unwrap() > 0.0 && est["sandbox"] == false,
        "{est}"
    );
    let done: Vec<&Value> = ev.iter().filter(|e| e["state"] == "done").collect();
    assert_eq!(done.len(), 2, "{ev:?}");
    let manifest = t.manifest();
    for d in done {
        assert_eq!(d["take"], 1, "{d}");
        let sha = d["sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64, "{d}");
        let shot = manifest["shots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == d["shot"])
            .unwrap();
        assert!(
            shot.to_string().contains(sha),
            "the manifest's clip has the sha256: {shot}"
        );
    }
    // A second take of `a` (a redo) is take 2.
    let o = t.run("pick", &file, &["a", "--redo"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = t.render(&file, &["--json"]).await;
    let ev = events(&o.stdout);
    let a = ev
        .iter()
        .find(|e| e["state"] == "done" && e["shot"] == "a redo")
        .unwrap_or_else(|| panic!("a rendered again: {ev:?}"));
    assert_eq!(a["take"], 2, "{ev:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_render_says_what_to_run_next_and_names_ignored_dotenv_variables() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(TWO);
    t.write(
        ".env",
        "FAL_KEY=not-this-one\nSTORYBOARD_FAL_URL=https://elsewhere.example\nSECRET_TOKEN=hunter2value\n",
    );
    let o = t.render(&file, &[]).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let next = format!(
        "next: storyboard review {f} / storyboard assemble {f}",
        f = file.display()
    );
    assert!(err.lines().any(|l| l == next), "{err}");
    let note: Vec<&str> = err.lines().filter(|l| l.contains("ignored in the .env")).collect();
    assert_eq!(note.len(), 1, "{err}");
    assert!(
        note[0].contains("SECRET_TOKEN, STORYBOARD_FAL_URL") && !note[0].contains("FAL_KEY,"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2value") && !err.contains("elsewhere.example"),
        "values never shown: {err}"
    );
    // With --json the events are all there is on stdout: no `next:` line.
    let o = t.render(&file, &["--json"]).await;
    assert!(!text(&o.stdout).contains("next:") && !text(&o.stderr).contains("next:"));
}

/// The screen a terminal of `cols` columns shows after `output` (enough of a VT100 for
/// indicatif: `\r`, `\n`, deferred wrap, cursor up/down/column, erase line/below; colours ignored).
fn screen(output: &str, cols: usize) -> Vec<String> {
    let (mut lines, mut row, mut col, mut wrap) = (vec![vec![' '; cols]], 0usize, 0usize, false);
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => (col, wrap) = (0, false),
            '\n' => (row, wrap) = (row + 1, false),
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let end = loop {
                    match chars.next() {
                        Some(c) if c.is_ascii_alphabetic() || c == '~' => break c,
                        Some(c) => params.push(c),
                        None => break ' ',
                    }
                };
                let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(1).max(1);
                wrap = false;
                match end {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'G' => col = n - 1,
                    'K' if params == "2" => lines[row] = vec![' '; cols],
                    'K' => lines[row][col..].fill(' '),
                    'J' => lines.truncate(row + 1),
                    _ => {}
                }
            }
            c if !c.is_control() => {
                if wrap {
                    (row, col, wrap) = (row + 1, 0, false);
                }
                while lines.len() <= row {
                    lines.push(vec![' '; cols]);
                }
                lines[row][col] = c;
                col += 1;
                if col == cols {
                    (col, wrap) = (cols - 1, true);
                }
            }
            _ => {}
        }
        while lines.len() <= row {
            lines.push(vec![' '; cols]);
        }
    }
    lines
        .iter()
        .map(|l| l.iter().collect::<String>().trim_end().to_owned())
        .collect()
}

#[test]
fn ctrl_c_in_a_terminal_of_80_columns_leaves_no_spinner_or_bar_on_screen() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let t = Test::new();
    let shots: String = (0..6)
        .map(|i| format!("  - id: shot{i}\n    prompt: take {i}\n"))
        .collect();
    let file = t.storyboard(&format!("version: 1\noutput: out\nconcurrency: 2\nshots:\n{shots}"));
    let o = std::process::Command::new(python)
        .arg(root().join("tests/conformance/pty_render.py"))
        .arg(assert_cmd::cargo::cargo_bin("storyboard"))
        .arg(&file)
        .args(["80", "24", "interrupt"])
        .env_remove("NO_COLOR")
        .env_remove("FAL_KEY")
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let shown = screen(v["output"].as_str().unwrap(), 80);
    let all = shown.join("\n");
    assert!(
        all.contains("Ctrl-C") && all.contains("pending"),
        "stopped by Ctrl-C:\n{all}"
    );
    let spinner = |l: &String| l.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
    let stale: Vec<&String> = shown
        .iter()
        .filter(|l| spinner(l) || (l.contains(" of $") && l.contains(" rendered")))
        .collect();
    assert!(stale.is_empty(), "stale live lines {stale:?} on the screen:\n{all}");
    let words = shown.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("(Ctrl-C again to stop at once)") && words.contains("sandbox: $0, nothing is billed"),
        "the Ctrl-C notice and the estimate line are folded, never cut:\n{all}"
    );
    let summary = shown.iter().position(|l| l.contains(" done · ")).unwrap();
    let stopped: Vec<&String> = shown[summary..]
        .iter()
        .filter(|l| l.contains("stopped early"))
        .collect();
    assert!(
        stopped.iter().all(|l| l.starts_with("  stopped early")) && !shown.iter().any(|l| l == ")"),
        "the summary's lines wrap at spaces, not mid-word:\n{all}"
    );
}
