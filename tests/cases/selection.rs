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
    assert!(said.contains("order — stale: take 1"), "status says stale:\n{said}");

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
