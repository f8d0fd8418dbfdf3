//! The store's operations against a shared folder (`file://`) and against a real
//! S3-compatible server (moto, when `STORYBOARD_TEST_PYTHON` has it).

use bytes::Bytes;
use camino::Utf8PathBuf;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::backend::Written;
use super::claims::{self, ClaimRequest, Claimed, Ended};
use super::clips::{self, Indexed};
use super::moto::Moto;
use super::{Backend, numbers, open, open_with, picks, status};
use crate::record::journal::Accepted;

/// A store to test, and what keeps it alive.
struct Fixture {
    store: Backend,
    _dir: tempfile::TempDir,
    _moto: Option<Moto>,
}

fn folder() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap();
    Fixture {
        store: open(url.as_str()).unwrap(),
        _dir: dir,
        _moto: None,
    }
}

async fn s3() -> Option<Fixture> {
    let Ok(python) = std::env::var("STORYBOARD_TEST_PYTHON") else {
        assert!(
            std::env::var("STORYBOARD_REQUIRE_TOOLS").is_err(),
            "STORYBOARD_TEST_PYTHON is required (scripts/test sets it)"
        );
        eprintln!("skipping the S3 half: STORYBOARD_TEST_PYTHON not set");
        return None;
    };
    let moto = tokio::task::spawn_blocking(move || Moto::start(&python))
        .await
        .unwrap()
        .unwrap();
    moto.bucket("films").await.unwrap();
    let store = open_with("s3://films/team-a", moto.env().into_iter()).unwrap();
    Some(Fixture {
        store,
        _dir: tempfile::tempdir().unwrap(),
        _moto: Some(moto),
    })
}

async fn both() -> Vec<Fixture> {
    let mut out = vec![folder()];
    out.extend(s3().await);
    out
}

fn request(key: &str) -> ClaimRequest {
    ClaimRequest {
        api: "sandbox".into(),
        request_key: format!("sha256:{key}"),
        endpoint: "fal-ai/kling-video/v3/pro/text-to-video".into(),
        lease: Duration::from_secs(300),
        poll: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn create_is_once_and_update_needs_the_current_version() {
    for f in both().await {
        let s = &f.store;
        let Written::Done(v1) = s.create("a/x.json", Bytes::from("1")).await.unwrap() else {
            panic!("first create lost")
        };
        assert_eq!(s.create("a/x.json", Bytes::from("2")).await.unwrap(), Written::Lost);
        let Written::Done(v2) = s.update("a/x.json", Bytes::from("3"), &v1).await.unwrap() else {
            panic!("update at the current version lost")
        };
        assert_eq!(
            s.update("a/x.json", Bytes::from("4"), &v1).await.unwrap(),
            Written::Lost
        );
        let (body, v) = s.get("a/x.json").await.unwrap().unwrap();
        assert_eq!((&body[..], v), (&b"3"[..], v2));
        assert!(s.get("a/none.json").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn many_claims_of_one_key_make_one_submit_and_the_rest_follow_it() {
    for f in both().await {
        let store = Arc::new(f.store.clone());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                match claims::claim(&store, &request("k1")).await.unwrap() {
                    Claimed::Submit(mut t) => {
                        assert!(
                            claims::submitted(&store, &mut t, &Accepted::by_id("req-1"))
                                .await
                                .unwrap()
                        );
                        ("submit".to_owned(), Some(*t))
                    }
                    Claimed::Follow(job) => (job.request_id, None),
                    other => panic!("{other:?}"),
                }
            }));
        }
        let (mut seen, mut mine) = (Vec::new(), None);
        for t in tasks {
            let (said, ticket) = t.await.unwrap();
            seen.push(said);
            mine = mine.or(ticket);
        }
        seen.sort();
        assert_eq!(seen.iter().filter(|s| *s == "submit").count(), 1, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "req-1").count(), 7, "{seen:?}");
        // Ended from the claimer's ticket (its version: no read).
        claims::ended(&store, "sandbox", "sha256:k1", &Ended::Clip("abc".into()), mine)
            .await
            .unwrap();
        assert!(matches!(
            claims::claim(&store, &request("k1")).await.unwrap(),
            Claimed::Finished(sha, Some(job)) if sha == "abc" && job.request_id == "req-1"
        ));
    }
}

#[tokio::test]
async fn a_claim_past_its_lease_without_a_request_is_taken_over_to_be_settled() {
    for f in both().await {
        let s = &f.store;
        let Claimed::Submit(mut dead) = claims::claim(s, &request("k2")).await.unwrap() else {
            panic!()
        };
        let mut stale = claims::read(s, "sandbox", "sha256:k2").await.unwrap().unwrap();
        stale.claimed_at = "2026-01-01T00:00:00Z".into();
        let name = format!("claims/{}.json", super::key_name("sandbox", "sha256:k2"));
        let (_, v) = s.get(&name).await.unwrap().unwrap();
        let body = Bytes::from(serde_json::to_vec(&stale).unwrap());
        assert!(matches!(s.update(&name, body, &v).await.unwrap(), Written::Done(_)));
        let Claimed::Settle(mut settler, old) = claims::claim(s, &request("k2")).await.unwrap() else {
            panic!("a stale claim must be settled, not submitted")
        };
        assert_eq!(old.claimed_at, "2026-01-01T00:00:00Z");
        // The machine that died cannot write into a claim that was taken over.
        assert!(!claims::submitted(s, &mut dead, &Accepted::by_id("late")).await.unwrap());
        assert!(
            claims::submitted(s, &mut settler, &Accepted::by_id("found"))
                .await
                .unwrap()
        );
        let Claimed::Follow(job) = claims::claim(s, &request("k2")).await.unwrap() else {
            panic!()
        };
        assert_eq!(job.request_id, "found");
        // A failure of that request frees the key for a new claim.
        let failed = Ended::Failed {
            request_id: "found".into(),
            error: "content policy".into(),
        };
        // Ended from the dead machine's stale ticket: its old version loses, the claim is read.
        claims::ended(s, "sandbox", "sha256:k2", &failed, Some(*dead.clone()))
            .await
            .unwrap();
        assert!(matches!(
            claims::claim(s, &request("k2")).await.unwrap(),
            Claimed::Submit(_)
        ));
    }
}

#[tokio::test]
async fn a_published_clip_is_found_by_its_key_and_fetched_verified() {
    for f in both().await {
        let s = &f.store;
        let dir = Utf8PathBuf::from_path_buf(f._dir.path().join("local")).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let clip = dir.join("clip.mp4");
        std::fs::write(&clip, b"not really an mp4, but bytes").unwrap();
        let sha = crate::digest::sha256_file(&clip).unwrap();
        let entry = Indexed {
            version: 1,
            request_key: "sha256:k3".into(),
            api: "sandbox".into(),
            sha256: sha.clone(),
            bytes: 28,
            shot: "arrival".into(),
            storyboard: "reunion".into(),
            request_id: Some("r".into()),
            take: Some(1),
            at: crate::record::journal::now(),
        };
        assert!(clips::lookup(s, "sandbox", "sha256:k3").await.unwrap().is_none());
        clips::publish(s, &clip, &entry).await.unwrap();
        clips::publish(s, &clip, &entry).await.unwrap();
        assert!(
            clips::lookup(s, "https://queue.fal.run", "sha256:k3")
                .await
                .unwrap()
                .is_none()
        );
        let found = clips::lookup(s, "sandbox", "sha256:k3").await.unwrap().unwrap();
        assert_eq!(found, entry);
        let dest = dir.join("other/arrival.mp4");
        assert!(clips::fetch(s, &found.sha256, found.bytes, &dest).await.unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&clip).unwrap());
        // A damaged object is never used.
        s.delete(&clips::take_object(&sha)).await.unwrap();
        s.create(&clips::take_object(&sha), Bytes::from("not really an mp4, but bytez"))
            .await
            .unwrap();
        assert!(!clips::fetch(s, &sha, 28, &dir.join("bad.mp4")).await.unwrap());
        let summary = status::summarize(s).await.unwrap();
        assert_eq!((summary.takes, summary.storyboards.get("reunion")), (1, Some(&1)));
        assert!(status::gc(s, true).await.unwrap().is_empty(), "young and indexed: kept");
    }
}

#[tokio::test]
async fn concurrent_picks_of_different_shots_all_survive() {
    for f in both().await {
        let store = Arc::new(f.store.clone());
        let mut tasks = Vec::new();
        for i in 0..12u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                picks::change(&store, "reunion", |doc: &mut BTreeMap<String, u32>| {
                    doc.insert(format!("shot-{i}"), i);
                    Ok::<_, ()>(())
                })
                .await
                .unwrap()
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let doc: BTreeMap<String, u32> = picks::read(&store, "reunion").await.unwrap();
        assert_eq!(doc.len(), 12, "{doc:?}");
    }
}

/// Numbers `shas` as takes of one shot, each on a walker of its own (a folder of its own),
/// all at once; the number each got.
async fn number_all(store: &Backend, shas: &[String]) -> Vec<u32> {
    let tasks: Vec<_> = shas
        .iter()
        .map(|sha| {
            let (store, sha) = (store.clone(), sha.clone());
            tokio::spawn(async move {
                let take = numbers::TakeOf {
                    storyboard: "reunion",
                    shot: "s1",
                    sha256: &sha,
                    request_key: "sha256:00",
                };
                numbers::number(&store, &take, &mut HashMap::new()).await.unwrap()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn takes_numbered_at_once_by_many_folders_get_one_number_each_everywhere() {
    for f in both().await {
        let shas: Vec<String> = (0..6).map(|i| format!("{i:064x}")).collect();
        // Two folders each number the same six clips, in opposite orders, all at once.
        let mut twice: Vec<String> = shas.iter().chain(shas.iter().rev()).cloned().collect();
        twice.rotate_left(3);
        let got = number_all(&f.store, &twice).await;
        let by_sha: HashMap<&String, u32> = twice.iter().zip(got.iter().copied()).collect();
        for (sha, n) in twice.iter().zip(&got) {
            assert_eq!(by_sha[sha], *n, "one clip, one number: {twice:?} → {got:?}");
        }
        let mut numbers: Vec<u32> = by_sha.values().copied().collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=6).collect::<Vec<_>>(), "six clips, numbers 1..=6");
        // A walker that read the numbers before asks the store nothing again.
        let mut known: HashMap<u32, String> = by_sha.iter().map(|(s, n)| (*n, (*s).clone())).collect();
        let take = numbers::TakeOf {
            storyboard: "reunion",
            shot: "s1",
            sha256: &shas[5],
            request_key: "sha256:00",
        };
        assert_eq!(
            numbers::number(&f.store, &take, &mut known).await.unwrap(),
            by_sha[&shas[5]]
        );
        let seventh = format!("{:064x}", 7);
        let take = numbers::TakeOf {
            sha256: &seventh,
            ..take
        };
        assert_eq!(numbers::number(&f.store, &take, &mut known).await.unwrap(), 7);
        let listed = f.store.list("numbers").await.unwrap();
        assert_eq!(listed.len(), 7, "{listed:?}");
        assert!(listed[0].name.starts_with("numbers/reunion/s1/"), "{listed:?}");
        assert!(
            status::gc(&f.store, true).await.unwrap().is_empty(),
            "numbers are never garbage"
        );
    }
}

#[test]
fn urls_that_cannot_work_are_refused_with_the_fix() {
    let e = open("s3://AKIA:secret@bucket/x").unwrap_err().to_string();
    assert!(e.contains("AWS_ACCESS_KEY_ID") && !e.contains("secret@"), "{e}");
    let e = open("gs://bucket/x").unwrap_err().to_string();
    assert!(e.contains("S3-compatible"), "{e}");
    let e = open("file:///definitely/not/here").unwrap_err().to_string();
    assert!(e.contains("not a folder"), "{e}");
    let e = open("ftp://x/y").unwrap_err().to_string();
    assert!(e.contains("s3://bucket/prefix"), "{e}");
}

#[tokio::test]
async fn gc_removes_an_old_clip_nothing_names_and_never_a_claim() {
    let f = folder();
    let s = &f.store;
    let Claimed::Submit(ticket) = claims::claim(s, &request("k9")).await.unwrap() else {
        panic!()
    };
    claims::abandon(s, &ticket, "not submitted").await.unwrap();
    s.create("takes/0123.mp4", Bytes::from("orphan")).await.unwrap();
    s.create("uploads/takes_4567.mp4-00ff", Bytes::from("staged"))
        .await
        .unwrap();
    s.create("uploads/takes_89ab.mp4-00ff", Bytes::from("staging now"))
        .await
        .unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for name in [
        format!("claims/{}.json", super::key_name("sandbox", "sha256:k9")),
        "takes/0123.mp4".into(),
        "uploads/takes_4567.mp4-00ff".into(),
    ] {
        let file = std::fs::File::options()
            .write(true)
            .open(f._dir.path().join(name))
            .unwrap();
        file.set_modified(two_hours_ago).unwrap();
    }
    let removed = status::gc(s, false).await.unwrap();
    let names: Vec<&str> = removed.iter().map(|g| g.object.as_str()).collect();
    assert_eq!(names, ["takes/0123.mp4", "uploads/takes_4567.mp4-00ff"]);
    assert!(
        s.size("uploads/takes_89ab.mp4-00ff").await.unwrap().is_some(),
        "a young one stays"
    );
    assert!(s.get("takes/0123.mp4").await.unwrap().is_none());
    let claim = claims::read(s, "sandbox", "sha256:k9").await.unwrap().unwrap();
    assert_eq!(claim.state, super::claims::ClaimState::Failed, "a failed claim stays");
}

#[tokio::test]
async fn a_clip_larger_than_a_chunk_streams_both_ways_byte_for_byte_and_once() {
    for f in both().await {
        let s = &f.store;
        let dir = Utf8PathBuf::from_path_buf(f._dir.path().join("big")).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let clip = dir.join("clip.mp4");
        let body: Vec<u8> = (0..super::backend::CHUNK * 2 + 12_345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&clip, &body).unwrap();
        let sha = crate::digest::sha256_hex(&body);
        let take = clips::take_object(&sha);
        // Bytes that are not the name's: refused before anything is stored.
        assert!(s.create_from_file(&take, &clip, &"0".repeat(64)).await.is_err());
        assert_eq!(s.size(&take).await.unwrap(), None);
        assert!(matches!(
            s.create_from_file(&take, &clip, &sha).await.unwrap(),
            Written::Done(_)
        ));
        assert_eq!(s.create_from_file(&take, &clip, &sha).await.unwrap(), Written::Lost);
        assert!(s.list("uploads").await.unwrap().is_empty(), "staged uploads removed");
        let dest = dir.join("fetched/arrival.mp4");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        assert!(s.get_to_file(&take, &dest, body.len() as u64, &sha).await.unwrap());
        assert!(std::fs::read(&dest).unwrap() == body, "round-trips byte for byte");
        // An object whose bytes are not its name's sha256 (same size) is refused: no file,
        // no temporary left beside it.
        let wrong = dir.join("fetched/wrong.mp4");
        let other = "f".repeat(64);
        assert!(!s.get_to_file(&take, &wrong, body.len() as u64, &other).await.unwrap());
        assert!(!wrong.exists() && !crate::files::part_path(&wrong).exists());
        assert!(!s.get_to_file(&take, &wrong, 5, &sha).await.unwrap(), "wrong size");
        assert!(!wrong.exists());
    }
}
