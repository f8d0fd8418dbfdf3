//! Take numbers that agree across folders (#27): folders sharing a team's store give a clip the
//! same take number, whatever order each got its takes in, so a team pick of take 2 selects the
//! same bytes in every folder.

use super::store::{Team, ok, team_of};
use crate::common::{SandboxConfig, manifest};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A 3-model shoot-out, as a shot list.
const DUEL: &str = "  - id: duel\n    models: [kling-v3-standard, kling-v3-pro, kling-o3-standard]\n    prompt: two riders on a frozen lake\n    duration: 5\n";

/// Each take of each shot in folder `out`'s manifest: (shot, clip sha256) → take number.
fn numbers(t: &Team, out: &str) -> BTreeMap<(String, String), u64> {
    let m = manifest(&t.test.path().join(out));
    let mut found = BTreeMap::new();
    for shot in m["shots"].as_array().unwrap() {
        for take in shot["takes"].as_array().into_iter().flatten() {
            let key = (
                shot["id"].as_str().unwrap().to_owned(),
                take["clip"]["sha256"].as_str().unwrap().to_owned(),
            );
            found.insert(key, take["take"].as_u64().unwrap());
        }
    }
    found
}

/// `status OUT --json` (the team's picks pulled into the folder first).
fn status(t: &Team, out: &str) -> Value {
    let status = t.command(&["status", out, "--json"]).output().unwrap();
    serde_json::from_slice(&status.stdout).unwrap()
}

/// The sha256 of take `n` of `shot`.
fn sha_of(numbers: &BTreeMap<(String, String), u64>, shot: &str, n: u64) -> String {
    let found = numbers.iter().find(|((s, _), m)| s == shot && **m == n);
    found.map(|((_, sha), _)| sha.clone()).unwrap()
}

fn sha_of_file(path: &std::path::Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The clips of `out`'s journal's `done` lines, in their order.
fn journal_order(t: &Team, out: &str) -> Vec<String> {
    let journal = std::fs::read_to_string(t.test.path().join(out).join(".storyboard/journal.jsonl")).unwrap();
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "done")
        .map(|v| v["clip"]["sha256"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_folders_rendering_takes_at_once_number_each_clip_alike_and_a_pick_selects_the_same_bytes() {
    let shots = format!(
        "  - id: hero\n    prompt: the hero turns\n    duration: 3\n    takes: 3\n{}{}",
        DUEL,
        (0..4)
            .map(|i| format!("  - id: s{i}\n    prompt: b-roll {i}\n    duration: 3\n"))
            .collect::<String>()
    );
    let Some(t) = team_of(&shots, Duration::ZERO, SandboxConfig::fast()) else {
        return;
    };
    let (a, b) = (t.spawn("a", "300"), t.spawn("b", "300"));
    ok(&a.wait_with_output().unwrap(), "a");
    ok(&b.wait_with_output().unwrap(), "b");
    assert_eq!(t.stat("jobs_created_total"), 10, "one job per request across both");
    let (na, nb) = (numbers(&t, "a"), numbers(&t, "b"));
    assert_eq!(na, nb, "the same clip has the same take number in both folders");
    for shot in ["hero", "duel"] {
        let mut taken: Vec<u64> = na.iter().filter(|((s, _), _)| s == shot).map(|(_, n)| *n).collect();
        taken.sort_unstable();
        assert_eq!(taken, [1, 2, 3], "{shot}: {na:?}");
    }
    // A pick of take 2 made in folder a selects the same bytes in folder b.
    let file = t.file.to_string_lossy().into_owned();
    ok(
        &t.command(&["pick", &file, "hero", "2", "--out", "a"]).output().unwrap(),
        "pick",
    );
    let two = sha_of(&na, "hero", 2);
    assert_eq!(sha_of_file(&t.test.path().join("a/hero.mp4")), two);
    let status = status(&t, "b");
    let hero = status["shots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shot"] == "hero")
        .unwrap();
    assert_eq!(hero["selected_take"], 2, "{status}");
    ok(
        &t.command(&["assemble", &file, "--out", "b"]).output().unwrap(),
        "assemble b",
    );
    assert_eq!(
        sha_of_file(&t.test.path().join("b/hero.mp4")),
        two,
        "b's cut holds a's pick"
    );
}

#[test]
fn a_folder_that_gets_the_takes_in_another_order_numbers_them_as_the_store_does() {
    let hero = "  - id: hero\n    prompt: the hero turns\n    duration: 3\n    takes: 3\n";
    let Some(t) = team_of(hero, Duration::ZERO, SandboxConfig::fast()) else {
        return;
    };
    let one = ["--concurrency", "1"];
    ok(
        &t.spawn_file(&t.file, "a", "300", &one).wait_with_output().unwrap(),
        "a",
    );
    // b fetches the third take from the store first, then the other two.
    let third = ["--concurrency", "1", "--only", "hero-take3"];
    ok(
        &t.spawn_file(&t.file, "b", "300", &third).wait_with_output().unwrap(),
        "b: take 3",
    );
    ok(
        &t.spawn_file(&t.file, "b", "300", &one).wait_with_output().unwrap(),
        "b",
    );
    assert_eq!(t.stat("jobs_created_total"), 3, "b fetched a's clips");
    let (order_a, order_b) = (journal_order(&t, "a"), journal_order(&t, "b"));
    assert_eq!(order_b[0], order_a[2], "b got the takes in another order");
    assert_eq!(numbers(&t, "a"), numbers(&t, "b"), "yet numbers them alike");
    // Each clip's index entry carries its number (a fetch numbers it with no request).
    let carried = t.store(async |store| {
        let mut carried = BTreeMap::new();
        for o in store.list("index").await.unwrap() {
            let (bytes, _) = store.get(&o.name).await.unwrap().unwrap();
            let entry: Value = serde_json::from_slice(&bytes).unwrap();
            carried.insert(entry["sha256"].as_str().unwrap().to_owned(), entry["take"].as_u64());
        }
        carried
    });
    let by_sha = numbers(&t, "a")
        .into_iter()
        .map(|((_, sha), n)| (sha, Some(n)))
        .collect();
    assert_eq!(carried, by_sha);
    // A redo made in a is take 4 in b too, fetched from the store.
    let file = t.file.to_string_lossy().into_owned();
    ok(
        &t.command(&["pick", &file, "hero", "--redo", "--out", "a"])
            .output()
            .unwrap(),
        "redo",
    );
    ok(
        &t.spawn_file(&t.file, "a", "300", &one).wait_with_output().unwrap(),
        "a again",
    );
    let pulled = status(&t, "b");
    let hero = &pulled["shots"][0];
    assert_eq!(hero["redo"], true, "b has not the redo's take yet: {pulled}");
    ok(
        &t.spawn_file(&t.file, "b", "300", &one).wait_with_output().unwrap(),
        "b again",
    );
    assert_eq!(t.stat("jobs_created_total"), 4, "the redo was made once");
    let (na, nb) = (numbers(&t, "a"), numbers(&t, "b"));
    assert_eq!(na.values().max(), Some(&4), "{na:?}");
    assert_eq!(na, nb);
    let pulled = status(&t, "b");
    assert_eq!(pulled["shots"][0]["redo"], false, "the redo is b's take 4: {pulled}");
}

#[tokio::test]
async fn a_store_that_cannot_number_takes_leaves_them_numbered_in_journal_order_with_one_warning() {
    let t = crate::common::Test::with(crate::common::fast()).await;
    let store = t.path().join("team");
    std::fs::create_dir_all(&store).unwrap();
    // `numbers/` cannot be made: every numbering fails; the clips are still shared.
    std::fs::write(store.join("numbers"), "not a folder").unwrap();
    let file = t.storyboard(
        "version: 1\noutput: out\nshots:\n  - id: hero\n    prompt: the hero turns\n    duration: 5\n    takes: 3\n",
    );
    let url = url::Url::from_directory_path(&store).unwrap().to_string();
    let out = t.render(&file, &["--store", &url]).await;
    let err = crate::common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        err.matches("numbered in this folder's order").count(),
        1,
        "one warning: {err}"
    );
    assert_eq!(t.jobs(), 3);
    let m = t.manifest();
    let taken: Vec<u64> = m["shots"][0]["takes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|take| take["take"].as_u64().unwrap())
        .collect();
    assert_eq!(taken, [1, 2, 3], "{m}");
    let journal = std::fs::read_to_string(t.out().join(".storyboard/journal.jsonl")).unwrap();
    assert_eq!(journal.matches("\"event\":\"done\"").count(), 3, "every clip journaled");
    assert!(!journal.contains("\"take\":"), "no number recorded: {journal}");
    let index = std::fs::read_dir(store.join("index")).unwrap().count();
    assert_eq!(index, 3, "the clips were published all the same");
}
