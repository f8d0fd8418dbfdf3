//! The selection never disappears (issue #26 items 4, 5): a shot whose current request has no
//! take yet keeps its last selected take, marked stale; a pick holds until the director
//! changes it; notes belong to a take; a redo can be withdrawn; takes are told apart.

use crate::common::{Test, fast, manifest, probe_duration, run, text};
use serde_json::Value;
use std::path::Path;

/// Three shots sharing a var (`look`).
fn cafe(look: &str) -> String {
    format!(
        "version: 1\ntitle: Cafe\noutput: out\nvars:\n  look: {look}\nshots:\n  - id: order\n    prompt: a customer orders, {{{{ look }}}}\n  - id: grind\n    prompt: beans are ground, {{{{ look }}}}\n  - id: pour\n    prompt: milk is poured, {{{{ look }}}}\n"
    )
}

/// `storyboard status FILE --json`'s row of a shot.
fn status_row(file: &Path, shot: &str) -> Value {
    let o = run(&["status", "--json"], file);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    v["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shot"] == shot)
        .unwrap_or_else(|| panic!("no {shot} in {v}"))
        .clone()
}

/// The manifest's record of a shot.
fn shot_record(out: &Path, shot: &str) -> Value {
    let m = manifest(out);
    m["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == shot)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_render_after_an_edit_keeps_every_other_shot_in_the_cut_marked_stale() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&cafe("warm morning light"));
    let out = t.out();
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before: Vec<Vec<u8>> = ["order", "pour"]
        .iter()
        .map(|id| std::fs::read(out.join(format!("{id}.mp4"))).unwrap())
        .collect();
    t.storyboard(&cafe("cold blue dusk"));
    let o = t.render(&file, &["--only", "grind"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 4, "only grind was rendered again");
    for (id, bytes) in ["order", "pour"].iter().zip(&before) {
        let now = std::fs::read(out.join(format!("{id}.mp4")))
            .unwrap_or_else(|e| panic!("{id}.mp4 disappeared after `render --only grind`: {e}"));
        assert_eq!(&now, bytes, "{id}.mp4 is still its take 1");
        let row = status_row(&file, id);
        assert_eq!(row["stale"], true, "status --json says {id} is stale: {row}");
        assert_eq!(row["selected_take"], 1, "{row}");
        assert_eq!(shot_record(&out, id)["stale"], true, "the manifest marks {id} stale");
    }
    assert_eq!(status_row(&file, "grind")["stale"], false, "grind's take is current");
    let o = run(&["status"], &file);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("order\n  stale: take 1 is from an earlier prompt"),
        "status says stale:\n{said}"
    );

    let o = run(&["assemble"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!said.contains("gap"), "no gap in the cut:\n{said}");
    let otio: Value = serde_json::from_slice(&std::fs::read(out.join("cafe.otio")).unwrap()).unwrap();
    let video = &otio["tracks"]["children"][0]["children"];
    let kinds: Vec<&str> = video
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["OTIO_SCHEMA"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Clip.2"; 3], "three clips, no gap: {kinds:?}");
    let markers = |i: usize| video[i]["markers"].as_array().unwrap().len();
    assert_eq!(
        (markers(0), markers(1), markers(2)),
        (1, 0, 1),
        "order and pour carry a stale marker"
    );
    assert_eq!(video[0]["markers"][0]["name"], "stale");
    let page = std::fs::read_to_string(out.join("review.html")).unwrap();
    assert_eq!(page.matches("badge stale").count(), 2, "the review page marks both");
    if crate::common::tool_present("ffprobe") {
        let d = |p: &Path| probe_duration(camino::Utf8Path::from_path(p).unwrap()).unwrap();
        let want: f64 = ["order", "grind", "pour"]
            .iter()
            .map(|id| d(&out.join(format!("{id}.mp4"))))
            .sum();
        let cut = d(&out.join("cafe.mp4"));
        assert!(
            (cut - want).abs() < 0.1,
            "the cut is the sum of its clips: {cut} s vs {want} s"
        );
    }
    // `clean` keeps a stale selected take: it is in the cut.
    let o = run(&["clean"], &file);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(status_row(&file, "order")["takes"], serde_json::json!([1]));
    // Rendering the rest replaces the stale takes with current ones.
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 6);
    let row = status_row(&file, "order");
    assert_eq!(
        (row["selected_take"].as_u64(), row["stale"].as_bool()),
        (Some(2), Some(false)),
        "{row}"
    );
}

/// One shot `a` with the prompt given, and a shot `b`.
fn two(prompt: &str) -> String {
    format!(
        "version: 1\ntitle: Two\noutput: out\nshots:\n  - id: a\n    prompt: {prompt}\n  - id: b\n    prompt: bee\n"
    )
}

/// Runs `storyboard pick FILE ARGS…` and expects it to succeed; its output.
fn pick(file: &Path, args: &[&str]) -> String {
    let o = run(&[&["pick"][..], args].concat(), file);
    assert_eq!(o.status.code(), Some(0), "pick {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pick_holds_until_the_director_changes_it_and_a_redos_take_becomes_the_pick() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&two("one"));
    for p in ["one", "two"] {
        t.storyboard(&two(p));
        assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    }
    assert_eq!(
        status_row(&file, "a")["selected_take"],
        2,
        "the newest take of the current prompt"
    );
    pick(&file, &["a", "1"]);
    t.storyboard(&two("three"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let row = status_row(&file, "a");
    assert_eq!(row["takes"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        row["selected_take"], 1,
        "take 3 came after the pick: the pick holds: {row}"
    );
    assert_eq!(row["stale"], true, "the picked take is from an earlier prompt");
    pick(&file, &["a", "--redo"]);
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let row = status_row(&file, "a");
    assert_eq!(row["selected_take"], 4, "the redo's take is the pick: {row}");
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        (t.jobs(), status_row(&file, "a")["selected_take"].as_u64()),
        (5, Some(4))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_note_stays_with_the_take_it_was_written_about() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&two("one"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let said = pick(&file, &["a", "--note", "too dark"]);
    assert!(said.contains("note kept with take 1"), "{said}");
    t.storyboard(&two("two"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    pick(&file, &["a", "2", "--note", "better"]);
    let row = status_row(&file, "a");
    let notes: Vec<(u64, Value)> = row["take_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["take"].as_u64().unwrap(), d["note"].clone()))
        .collect();
    assert_eq!(
        notes,
        [(1, "too dark".into()), (2, "better".into())],
        "each note with its own take: {row}"
    );
    assert_eq!(row["note"], "better", "the shot shows its selected take's note");
    let takes = shot_record(&t.out(), "a")["takes"].clone();
    assert_eq!(
        (takes[0]["note"].as_str(), takes[1]["note"].as_str()),
        (Some("too dark"), Some("better"))
    );
    pick(&file, &["a", "1"]);
    assert_eq!(
        status_row(&file, "a")["note"],
        "too dark",
        "back to take 1, back to its note"
    );
    let o = run(&["status"], &file);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("note: too dark") && said.contains("note: better"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redo_can_be_withdrawn_and_then_nothing_is_rendered() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&two("one"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    pick(&file, &["a", "--redo"]);
    assert_eq!(status_row(&file, "a")["redo"], true);
    let said = pick(&file, &["a", "--no-redo"]);
    assert!(said.contains("redo withdrawn"), "{said}");
    assert_eq!(status_row(&file, "a")["redo"], false);
    let plan = run(&["plan"], &file);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(!plan.contains("redo"), "no redo in the estimate:\n{plan}");
    assert!(pick(&file, &["a", "--no-redo"]).contains("no redo was waiting"));
    let o = t.render(&file, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(t.jobs(), 2, "nothing rendered for a withdrawn redo");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_tells_takes_apart_by_model_prompt_version_settings_cost_and_time() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(&two("a red door"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    t.storyboard(&two("a blue door"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    let row = status_row(&file, "a");
    let d = row["take_details"].as_array().unwrap();
    assert_eq!(d[0]["prompt_version"], "earlier prompt: -red +blue", "{row}");
    assert_eq!(d[1]["prompt_version"], "current", "{row}");
    for take in d {
        assert!(take["model"].as_str().is_some_and(|m| m.contains("kling")), "{take}");
        assert!(take["settings"].as_str().is_some_and(|s| s.contains("5 s")), "{take}");
        assert!(take["usd"].as_f64().is_some_and(|u| u > 0.0), "{take}");
        assert!(take["made_at"].as_str().is_some_and(|m| m.starts_with("20")), "{take}");
    }
    let o = run(&["status"], &file);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("prompt: earlier prompt: -red +blue"), "{said}");
    // The takes' lines below the table (the table's own width is the tables' concern).
    let takes = said.split_once("\na\n").map_or("", |(_, rest)| rest);
    assert!(takes.contains("* take 2"), "{said}");
    assert!(takes.lines().all(|l| l.chars().count() <= 80), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_page_groups_takes_by_prompt_version_withdraws_a_redo_and_marks_the_cut_stale() {
    use crate::common::{review_in_browser, start_review};
    if !crate::common::tool_present("chromium") || !crate::common::tool_present("chromedriver") {
        return;
    }
    let Some(py) = crate::common::test_python() else { return };
    let t = Test::with(fast()).await;
    let file = t.storyboard(&two("a red door"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    t.storyboard(&two("a blue door"));
    assert_eq!(t.render(&file, &[]).await.status.code(), Some(0));
    assert_eq!(run(&["assemble"], &file).status.code(), Some(0));
    let (mut child, url) = start_review(&file);
    let seen = review_in_browser(&py, &url, &mut child, ("review-selection", "a", "1")).await;
    assert_eq!(
        seen["versions"],
        serde_json::json!(["current prompt", "earlier prompt: -red +blue"]),
        "takes grouped by prompt version: {seen}"
    );
    assert_eq!(
        (seen["models"].as_u64(), seen["times"].as_u64()),
        (Some(2), Some(2)),
        "{seen}"
    );
    assert_eq!(
        seen["together"],
        serde_json::json!({"takes": 2, "playing": true, "in_step": true, "muted": [false, true]}),
        "the takes played side by side, in step with the first, its sound only: {seen}"
    );
    assert_eq!(seen["redo_shown"], true, "{seen}");
    assert_eq!(seen["redo_withdrawn"], true, "the redo withdrawn with a click: {seen}");
    assert_eq!(status_row(&file, "a")["redo"], false, "status agrees: no redo waits");
    assert_eq!(seen["cut_stale"], true, "take 1 picked after the cut was made: {seen}");
    assert_eq!(
        status_row(&file, "a")["note"],
        "slower, and closer",
        "the note is take 1's"
    );
}
