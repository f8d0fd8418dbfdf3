//! `storyboard doctor`: is this machine ready for a paid render? Keys present (never printed)
//! and accepted (one cheap authenticated call per provider, to the configured origin only),
//! hosts reachable, ffmpeg, and a browser for `review --open`. Returns the checks as data; the
//! report layer prints them.

use crate::report::checks::{Check, Verdict};
use crate::settings::Keys;
use camino::Utf8Path;

mod probes;
use probes::{browser, key_accepted, reachable, tool};

fn check(name: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        verdict,
        detail: detail.into(),
    }
}

/// `storyboard doctor`: the checks, printed; fails when one would stop a paid render.
pub(crate) async fn doctor(args: crate::cli::DoctorArgs) -> i32 {
    let checks = examine(&super::keys(&args.keys), &args.file).await;
    crate::report::checks::doctor(&checks, args.json);
    match checks.iter().any(|c| c.verdict == Verdict::Fail) {
        true => crate::error::exit::SHOTS_FAILED,
        false => crate::error::exit::OK,
    }
}

/// Every check, in the order printed. `file` is the storyboard whose folder's `.env` counts.
async fn examine(keys: &Keys, file: &Utf8Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let found = keys.clone().resolve(file);
    for key in [&found.fal, &found.eachlabs].into_iter().flatten() {
        crate::secrets::register(key);
    }
    let endpoints = match crate::settings::endpoints_from_env() {
        Ok(e) => e,
        Err(e) => {
            checks.push(check("base URLs", Verdict::Fail, e.to_string()));
            return checks;
        }
    };
    let http = crate::provider::http::client();
    checks.push(key_present("FAL_KEY", keys.fal.is_some(), found.fal.is_some()));
    if let Some(key) = &found.fal {
        let url = format!(
            "{}/v1/models/pricing?endpoint_id=fal-ai/kling-video/v3/pro/text-to-video",
            endpoints.fal_api
        );
        checks.push(key_accepted(&http, "FAL_KEY accepted", &url, format!("Key {key}")).await);
    }
    checks.push(key_present(
        "EACHLABS_API_KEY",
        keys.eachlabs.is_some(),
        found.eachlabs.is_some(),
    ));
    if let Some(key) = &found.eachlabs {
        let url = format!("{}/v1/executions?limit=1", endpoints.eachlabs);
        checks.push(key_accepted(&http, "EACHLABS_API_KEY accepted", &url, format!("Bearer {key}")).await);
    }
    checks.extend(reachable(&http, &endpoints, &found).await);
    checks.extend(["ffmpeg", "ffprobe"].map(tool));
    checks.push(browser());
    checks
}

fn key_present(var: &str, in_env: bool, found: bool) -> Check {
    match (in_env, found) {
        (true, _) => check(var, Verdict::Ok, "set in the environment"),
        (false, true) => check(var, Verdict::Ok, "set in the .env beside the storyboard"),
        (false, false) => check(
            var,
            Verdict::Warn,
            "not set: a paid render with this provider needs it (`--sandbox` does not)",
        ),
    }
}
