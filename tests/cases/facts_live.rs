//! Facts as fal serves them, checked: a live price no model costs and an estimate too large to
//! sum are errors naming the endpoint and the price source (exit 2, nothing sent), never a wrap
//! or a saturated amount.

use super::history::{V3_PRO, priced};
use crate::common::{Test, fast, stderr};

/// fal's pricing API answers $3.7e12 a second for v3 pro (once wrapped to a $0.03 estimate
/// that passed `budget_usd: 1`); 15 s × 8 takes of it overflow 64-bit micro-dollars. `models`
/// says the price is refused; `plan` and `render` refuse the storyboard that uses it, naming
/// the endpoint, the figure and the pricing API it came from; nothing is sent. A storyboard on
/// another endpoint still plans with its live price.
#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_live_price_refuses_the_plan_naming_the_endpoint_and_its_source() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(
        "version: 1\nmodel: kling-v3-pro\nbudget_usd: 1\noutput: out\nshots:\n  - id: a\n    prompt: x\n    duration: 15\n    takes: 8\n",
    );
    let file = file.to_str().unwrap();
    let cache = tempfile::tempdir().unwrap();
    t.sb().set_price(V3_PRO, 3.7e12);
    let o = priced(&t.url(), cache.path(), &["models", "--refresh"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let said = format!("fal's live price for {V3_PRO} is $3700000000000 per second");
    assert_eq!(out.matches(&said).count(), 1, "said once: {out}");
    for args in [
        vec!["plan", file],
        vec!["plan", file, "--json"],
        vec!["render", file, "--yes"],
    ] {
        let o = priced(&t.url(), cache.path(), &args).await;
        // `plan --json` tells its problems on stdout, as JSON.
        let err = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for part in [
            V3_PRO,
            "$3700000000000 per second",
            "fal's pricing API at",
            &t.url(),
            "above $100.00/s",
        ] {
            assert!(err.contains(part), "{args:?} names {part}: {err}");
        }
        assert!(
            o.stdout.is_empty() || !String::from_utf8_lossy(&o.stdout).contains("$0.0"),
            "no estimate"
        );
    }
    assert_eq!(t.sb().stats()["jobs_created_total"], 0, "nothing sent");
    let other = t.write(
        "other.yaml",
        "version: 1\nmodel: kling-v3-standard\noutput: o2\nshots:\n  - id: b\n    prompt: x\n    duration: 5\n",
    );
    let o = priced(&t.url(), cache.path(), &["plan", other.to_str().unwrap(), "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "another endpoint plans: {}", stderr(&o));
}

/// `price_usd` near the largest a user may write, × 8 takes: more than a plan can sum. An
/// error naming the shots, their endpoint and price source (exit 2, nothing sent), where the
/// sum once saturated to an amount no budget covers.
#[tokio::test(flavor = "multi_thread")]
async fn an_estimate_too_large_to_sum_is_an_error_naming_the_shots() {
    let t = Test::with(fast()).await;
    let file = t.storyboard(
        "version: 1\nmodel: kling-v3-pro\noutput: out\nshots:\n  - id: a\n    prompt: x\n    duration: 15\n    takes: 8\n    price_usd: 999999999999\n",
    );
    for (cmd, args) in [("plan", &[][..]), ("render", &["--yes"][..])] {
        let o = t.run(cmd, &file, args).await;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("the estimate overflows"), "{err}");
        assert!(
            err.contains("`a") && err.contains(V3_PRO) && err.contains("price_usd"),
            "{err}"
        );
    }
    assert_eq!(t.sb().stats()["jobs_created_total"], 0, "nothing sent");
    assert!(!t.out().exists(), "nothing written");
}

const O3_R2V: &str = "fal-ai/kling-video/o3/pro/reference-to-video";

/// `models --refresh` fetches every fal endpoint's input schema from fal's model API over HTTP
/// (`expand=openapi-3.0`, ≤ 50 ids a request, following `next_cursor` across the sandbox's
/// pages of 10), caches them beside the prices with the date, and the planner checks bodies
/// against them: fal narrowing v3 pro's durations to 5 and 10 refuses a 15 s shot that the
/// committed snapshot allows. A document without its input is refused once, keeping the
/// snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn models_refresh_fetches_schemas_live_and_the_planner_checks_against_them() {
    let t = Test::with(fast()).await;
    let url = format!("{}/v1/models?endpoint_id={V3_PRO}&expand=openapi-3.0", t.url());
    let mut doc = crate::common::get_json(&url, "").await["models"][0]["openapi"].clone();
    let input =
        doc["paths"][format!("/{V3_PRO}")]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/")
            .to_owned();
    doc["components"]["schemas"][&input]["properties"]["duration"]["enum"] = serde_json::json!(["5", "10"]);
    t.sb().set_model_document(V3_PRO, doc);
    t.sb()
        .set_model_document(O3_R2V, serde_json::json!({"openapi": "3.0.4", "paths": {}}));
    let file = t.storyboard(
        "version: 1\nmodel: kling-v3-pro\noutput: out\nshots:\n  - id: a\n    prompt: x\n    duration: 15\n",
    );
    let file = file.to_str().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let o = priced(&t.url(), cache.path(), &["plan", file, "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "the snapshot allows 15 s: {}", stderr(&o));

    let o = priced(&t.url(), cache.path(), &["models", "--refresh"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let refused = format!("fal's live schema for {O3_R2V} is refused");
    assert_eq!(out.matches(&refused).count(), 1, "said once: {out}");
    assert!(out.contains("endpoints checked against fal's live schemas"), "{out}");
    let pages = t.sb().stats()["requests"]["models"].as_u64().unwrap();
    assert!(pages >= 5, "{pages} pages: the answer's pages were followed");
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.path().join("storyboard/schemas.json")).unwrap()).unwrap();
    assert_eq!(cached["api"], serde_json::json!(t.url()));
    assert!(
        cached["fetched_at"].as_str().unwrap().starts_with("20"),
        "{}",
        cached["fetched_at"]
    );
    assert!(cached["schemas"].get(V3_PRO).is_some() && cached["schemas"].get(O3_R2V).is_none());

    let o = priced(&t.url(), cache.path(), &["models", "--json"]).await;
    let models: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let source = |id: &str| {
        let m = models.as_array().unwrap().iter().find(|m| m["endpoint"] == id).unwrap();
        m["schema"]["source"].as_str().unwrap().to_owned()
    };
    assert!(
        source(V3_PRO).starts_with("fal model API, fetched 20"),
        "{}",
        source(V3_PRO)
    );
    assert!(
        source(O3_R2V).starts_with("fal-js "),
        "the snapshot kept: {}",
        source(O3_R2V)
    );

    let o = priced(&t.url(), cache.path(), &["plan", file]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("duration") && err.contains("fal model API, fetched"),
        "{err}"
    );
    assert_eq!(t.sb().stats()["jobs_created_total"], 0);
}

const EACH_V26: &str = "kling-v2-6-pro-text-to-video";

/// `priced`, with Eachlabs configured at the sandbox too (`STORYBOARD_EACHLABS_URL`; no
/// Eachlabs key: its model API is public).
async fn priced_each(api: &str, cache: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = crate::common::storyboard();
    c.args(args).env("XDG_CACHE_HOME", cache).env("FAL_KEY", "k");
    for var in [
        "STORYBOARD_FAL_URL",
        "STORYBOARD_FAL_API_URL",
        "STORYBOARD_FAL_STORAGE_URL",
        "STORYBOARD_EACHLABS_URL",
    ] {
        c.env(var, api);
    }
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

/// The schema source `models --json` names for `id`.
fn schema_source(o: &std::process::Output, id: &str) -> String {
    let models: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let m = models.as_array().unwrap().iter().find(|m| m["endpoint"] == id).unwrap();
    m["schema"]["source"].as_str().unwrap().to_owned()
}

/// `models --refresh` with Eachlabs configured fetches `GET /v1/model?slug=` (public, no key)
/// for each Eachlabs slug over HTTP from the sandbox (which serves its published snapshot) and
/// caches its `request_schema` beside fal's with the date. A document without a
/// `request_schema` is refused once and the snapshot kept; Eachlabs narrowing v2.6 pro's
/// durations to "5" then refuses a 10 s shot (`provider: eachlabs`) the snapshot allows.
#[tokio::test(flavor = "multi_thread")]
async fn models_refresh_fetches_eachlabs_request_schemas_and_the_planner_checks_against_them() {
    let t = Test::with(fast()).await;
    let served = crate::common::get_json(&format!("{}/v1/model?slug={EACH_V26}", t.url()), "").await;
    assert_eq!(
        served["request_schema"]["properties"]["duration"]["enum"],
        serde_json::json!(["5", "10"]),
        "the sandbox serves the published snapshot without a key: {served}"
    );
    let file = t.storyboard(
        "version: 1\nprovider: eachlabs\noutput: out\nshots:\n  - id: a\n    prompt: x\n    duration: 10\n",
    );
    let file = file.to_str().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cached = |c: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(c.join("storyboard/eachlabs-schemas.json")).unwrap()).unwrap()
    };

    t.sb()
        .set_eachlabs_model(EACH_V26, serde_json::json!({"slug": EACH_V26, "version": "0.0.1"}));
    let o = priced_each(&t.url(), cache.path(), &["models", "--refresh"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let refused = format!("Eachlabs' live schema for {EACH_V26} is refused (its answer has no `request_schema`)");
    assert_eq!(out.matches(&refused).count(), 1, "said once: {out}");
    assert!(cached(cache.path())["schemas"].get(EACH_V26).is_none());
    let o = priced_each(&t.url(), cache.path(), &["models", "--json"]).await;
    let kept = schema_source(&o, EACH_V26);
    assert!(kept.starts_with("Eachlabs model page"), "the snapshot kept: {kept}");
    let o = priced_each(&t.url(), cache.path(), &["plan", file, "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "the snapshot allows 10 s: {}", stderr(&o));

    let mut narrowed = served.clone();
    narrowed["request_schema"]["properties"]["duration"]["enum"] = serde_json::json!(["5"]);
    t.sb().set_eachlabs_model(EACH_V26, narrowed);
    let o = priced_each(&t.url(), cache.path(), &["models", "--refresh"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("1 against Eachlabs' live schemas"), "{out}");
    let c = cached(cache.path());
    assert_eq!(c["api"], serde_json::json!(t.url()));
    assert!(
        c["fetched_at"].as_str().unwrap().starts_with("20"),
        "{}",
        c["fetched_at"]
    );
    assert_eq!(
        c["schemas"][EACH_V26]["properties"]["duration"]["enum"],
        serde_json::json!(["5"])
    );
    assert!(t.sb().stats()["requests"]["model"].as_u64().unwrap() >= 2);
    let o = priced_each(&t.url(), cache.path(), &["models", "--json"]).await;
    let live = schema_source(&o, EACH_V26);
    assert!(live.starts_with("Eachlabs model API, fetched 20"), "{live}");

    let o = priced_each(&t.url(), cache.path(), &["plan", file]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("duration") && err.contains("Eachlabs model API, fetched"),
        "{err}"
    );
    assert_eq!(t.sb().stats()["jobs_created_total"], 0, "nothing sent");
}

/// `models` at 80 columns: one block per family (its name and provider, then its price and
/// schema, then each endpoint with what it takes), every line within 80 columns, every catalog
/// endpoint's whole id first on its line, and under half the 356 lines the table took.
#[test]
fn models_at_80_columns_is_one_short_block_per_family() {
    let o = crate::common::storyboard()
        .arg("models")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.lines().count() < 178, "{} lines:\n{out}", out.lines().count());
    for line in out.lines() {
        assert!(console::measure_text_width(line) <= 80, "{line:?}");
    }
    let json = crate::common::storyboard().args(["models", "--json"]).output().unwrap();
    let models: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for m in models.as_array().unwrap() {
        let id = m["endpoint"].as_str().unwrap();
        let short = id.strip_prefix("fal-ai/kling-video/").unwrap_or(id);
        let heading = format!("{} · {}", m["model"].as_str().unwrap(), m["provider"].as_str().unwrap());
        let lines: Vec<&str> = out.lines().collect();
        let block = lines
            .iter()
            .position(|l| *l == heading)
            .unwrap_or_else(|| panic!("{heading}:\n{out}"));
        let row = lines[block..]
            .iter()
            .position(|l| l.split_whitespace().next() == Some(short));
        let row = row.unwrap_or_else(|| panic!("{id} in its family's block:\n{out}")) + block;
        assert!(
            lines[row..=row + 1].concat().contains("inputs:"),
            "{id}: {}",
            lines[row]
        );
    }
    let v3 = out.lines().skip_while(|l| *l != "kling-v3-pro · fal").nth(1).unwrap();
    assert!(
        v3.starts_with("  price $0.224/s audio off") && v3.contains("table"),
        "{v3}"
    );
    assert!(out.contains("  schema snapshot 2026-11-30 (fal-js @381105e)"), "{out}");
}
