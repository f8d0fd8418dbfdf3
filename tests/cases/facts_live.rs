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
