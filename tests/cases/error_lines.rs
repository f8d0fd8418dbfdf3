//! Errors at the right line, once, without echoes (#26 item 8): each problem at its own node's
//! line (not a line found by searching the text), reported once however many takes or shots
//! it touches, no phantom problems from a definition that failed, a tab called a tab, money
//! written as people write it. Every case: `render --sandbox` exits 2 and writes nothing.

use crate::common::{Test, files_below, root, storyboard};

/// A folder with two cast images.
fn folder() -> Test {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("cast")).unwrap();
    for f in ["mara-front", "mara-left"] {
        let from = root().join(format!("examples/cast/{f}.png"));
        std::fs::copy(from, t.path().join(format!("cast/{f}.png"))).unwrap();
    }
    t
}

/// Renders `yaml` against the built-in sandbox: exit 2, nothing written; the stderr.
fn refused(yaml: &str) -> String {
    let t = folder();
    let file = t.storyboard(yaml);
    let before = files_below(t.path());
    let o = storyboard()
        .arg("render")
        .arg(&file)
        .args(["--sandbox", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(files_below(t.path()), before, "nothing written: {err}");
    err
}

/// The line number `s.yaml:LINE:` of the one stderr line holding `says`, which appears
/// exactly once.
fn line_of(err: &str, says: &str) -> usize {
    assert_eq!(err.matches(says).count(), 1, "“{says}” once in: {err}");
    let line = err.lines().find(|l| l.contains(says)).unwrap();
    let at = line
        .split("s.yaml:")
        .nth(1)
        .unwrap_or_else(|| panic!("no location in {line}"));
    at.split(':').next().unwrap().parse().unwrap()
}

/// How many problems the header counts (`error: N problems`).
fn problems(err: &str) -> usize {
    let head = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const CAST: &str = r#"version: 1
model: kling-v3-pro
shots:
  - id: order
    prompt: '{{ cast("sam") }} orders'
    start_image: https://example.com/bar.png
  - id: pour
    prompt: pours
    start_image: { after: order }
cast:
  mara:
    frontal: ./cast/mara-front.png
    references: [./cast/mara-left.png]
  sam:
    frontal: ./cast/mara-front.png
"#;

#[test]
fn a_cast_members_problem_is_at_its_own_key_not_at_cast() {
    let err = refused(&format!("{CAST}    references: []\n"));
    assert_eq!(line_of(&err, "cast.sam.references`: 0 reference images"), 16, "{err}");
    assert_eq!(problems(&err), 1, "{err}");
}

#[test]
fn a_missing_cast_reference_is_reported_once_without_echoes_in_the_shots_using_it() {
    let err = refused(&format!(
        "{CAST}    references: [./cast/mara-left.png, ./cast/gone.png]\n"
    ));
    assert_eq!(line_of(&err, "cast.sam.references[1]`"), 16, "{err}");
    assert!(err.contains("gone.png"), "{err}");
    assert!(
        !err.contains("no shot"),
        "no echo in the shot chained to `order`: {err}"
    );
    assert_eq!(problems(&err), 1, "{err}");
}

#[test]
fn an_unknown_cast_name_in_a_shot_with_three_takes_is_reported_once_with_a_did_you_mean() {
    let yaml = CAST.replace(r#"cast("sam") }} orders'"#, "cast(\"marra\") }} orders'\n    takes: 3");
    let err = refused(&format!("{yaml}    references: [./cast/mara-left.png]\n"));
    assert_eq!(line_of(&err, "unknown cast member `marra`"), 5, "{err}");
    assert!(err.contains("did you mean `mara`?"), "{err}");
    assert!(err.contains("shot `order`"), "named as the storyboard names it: {err}");
    assert!(!err.contains("no shot"), "{err}");
    assert_eq!(problems(&err), 1, "{err}");
}

#[test]
fn a_model_typo_is_reported_once_and_no_shot_is_checked_against_a_model_never_chosen() {
    let err = refused("version: 1\nmodel: kling-v3-pr\nshots:\n  - id: a\n    prompt: x\n    duration: 12\n");
    assert_eq!(line_of(&err, "unknown model `kling-v3-pr`"), 2, "{err}");
    assert!(err.contains("did you mean `kling-v3-pro`?"), "{err}");
    assert!(!err.contains("seconds is not allowed"), "{err}");
    assert_eq!(problems(&err), 1, "{err}");
}

#[test]
fn a_shots_own_model_typo_is_at_its_model_key() {
    let err = refused(
        "version: 1\nshots:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: y\n    duration: 12\n    model: kling-o3-pr\n",
    );
    assert_eq!(line_of(&err, "unknown model `kling-o3-pr`"), 8, "{err}");
    assert!(!err.contains("seconds is not allowed"), "{err}");
}

#[test]
fn a_tab_is_called_a_tab_at_its_line() {
    for (yaml, line) in [
        ("version: 1\nshots:\n  - id: a\n\tprompt: x\n", 4),
        ("version: 1\nshots:\n\t- id: a\n    prompt: x\n", 3),
        (
            "version: 1\nshots:\n  - id: a\n    prompt: x\n    matrix:\n  \t  x: [1]\n",
            6,
        ),
    ] {
        let err = refused(yaml);
        let says = "a tab character indents this line; YAML indents with spaces — replace the tab with spaces";
        assert_eq!(line_of(&err, says), line, "{err}");
        assert!(
            !err.contains("cannot start any token") && !err.contains("violates"),
            "{err}"
        );
    }
}

#[test]
fn money_is_read_as_people_write_it() {
    for written in ["\"$12\"", "\"12\"", "\"12.50\"", "12", "12.5"] {
        let t = Test::new();
        let file = t.storyboard(&format!("version: 1\nbudget_usd: {written}\nshots:\n  - prompt: x\n"));
        let o = storyboard().arg("plan").arg(&file).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{written}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains("budget: $12"), "{written}: {out}");
    }
}

#[test]
fn a_money_field_says_plainly_what_it_wants() {
    let err = refused(
        "version: 1\nbudget_usd: twelve dollars\nshots:\n  - prompt: x\n    price_usd: [1]\n    endpoint: fal-ai/x\n",
    );
    let wants = "is not an amount of dollars: write a number like 12 or 12.50 (\"$12\" is fine too)";
    assert_eq!(err.matches(wants).count(), 2, "{err}");
    assert_eq!(line_of(&err, "\"twelve dollars\" is not"), 2, "{err}");
    assert_eq!(line_of(&err, "a list is not"), 5, "{err}");
    assert!(!err.contains("invalid type") && !err.contains("expected f64"), "{err}");
}

#[test]
fn a_problem_met_by_every_matrix_combination_is_reported_once() {
    let yaml = CAST.replace(
        r#"    prompt: '{{ cast("sam") }} orders'"#,
        "    prompt: '{{ cast(\"marra\") }} orders {{ drink }}'\n    matrix:\n      drink: [tea, coffee, water]",
    );
    let err = refused(&format!("{yaml}    references: [./cast/mara-left.png]\n"));
    assert_eq!(line_of(&err, "unknown cast member `marra`"), 5, "{err}");
    assert_eq!(problems(&err), 1, "{err}");
}

#[test]
fn a_template_problem_in_a_literal_block_is_at_its_own_line() {
    let yaml =
        "version: 1\nshots:\n  - id: a\n    prompt: |\n      a quiet bar,\n      {{ mood }} light\n      and rain\n";
    let err = refused(yaml);
    assert_eq!(line_of(&err, "undefined variable `mood`"), 6, "{err}");
    assert!(
        !err.contains("template line"),
        "the file's line is the template's: {err}"
    );
}
