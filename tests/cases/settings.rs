//! Settings resolved once per command: flag > environment > `.env` > storyboard > default,
//! concurrency's zero refused in one place with one message, the key rule before anything is
//! written.

use crate::common::{files_below, storyboard, text, write};

const ONE_SHOT: &str = "version: 1\noutput: out\nshots:\n  - id: a\n    prompt: a cat\n";

fn with_concurrency(n: &str) -> String {
    ONE_SHOT.replace("output: out\n", &format!("output: out\nconcurrency: {n}\n"))
}

#[test]
fn zero_concurrency_is_refused_with_one_message_naming_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let flag_file = write(dir.path(), "flag/shots.yaml", ONE_SHOT);
    let o = storyboard()
        .args(["render", "--sandbox", "--yes", "-j", "0"])
        .arg(&flag_file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--concurrency must be at least 1"), "{}", text(&o));
    assert_eq!(
        files_below(&dir.path().join("flag")),
        vec!["shots.yaml"],
        "nothing written"
    );

    let sb_file = write(dir.path(), "sb/shots.yaml", &with_concurrency("0"));
    for args in [&["plan"][..], &["render", "--sandbox", "--yes"][..]] {
        let o = storyboard().args(args).arg(&sb_file).output().unwrap();
        let command = args[0];
        assert_eq!(o.status.code(), Some(2), "{command}: {}", text(&o));
        let said = format!("`concurrency:` in {} must be at least 1", sb_file.display());
        assert!(text(&o).contains(&said), "{command}: {}", text(&o));
    }
    assert_eq!(
        files_below(&dir.path().join("sb")),
        vec!["shots.yaml"],
        "nothing written"
    );
}

#[test]
fn the_flag_wins_over_the_storyboard_which_wins_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "a/shots.yaml", ONE_SHOT);
    let three = write(dir.path(), "b/shots.yaml", &with_concurrency("3"));
    let concurrency = |file: &std::path::Path| {
        let o = storyboard().arg("plan").arg(file).arg("--json").output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["concurrency"].clone()
    };
    assert_eq!(concurrency(&plain), 4, "the default");
    assert_eq!(concurrency(&three), 3, "the storyboard's");
    let o = storyboard()
        .args(["render", "--sandbox", "--yes", "-j", "2"])
        .arg(&three)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("concurrency 2"), "the flag's: {}", text(&o));
}

#[test]
fn a_paid_render_without_a_key_stops_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "shots.yaml", ONE_SHOT);
    let o = storyboard()
        .args(["render", "--yes", "--offline"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("FAL_KEY is not set"), "{}", text(&o));
    assert_eq!(files_below(dir.path()), vec!["shots.yaml"], "nothing written");
}
