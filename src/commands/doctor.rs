//! `storyboard doctor`: is this machine ready for a paid render? Keys present (never printed)
//! and accepted (one cheap authenticated call per provider, to the configured origin only),
//! hosts reachable, ffmpeg, and a browser for `review --open`. Returns the checks as data; the
//! report layer prints them.

use std::time::Duration;

use crate::provider::Endpoints;
use crate::report::checks::{Check, Verdict};
use crate::settings::Keys;
use camino::Utf8Path;
use reqwest::header::AUTHORIZATION;

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

/// One authenticated GET; only the status is read.
async fn key_accepted(http: &reqwest::Client, name: &str, url: &str, auth: String) -> Check {
    let answer = http
        .get(url)
        .header(AUTHORIZATION, auth)
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    match answer.map(|r| r.status().as_u16()) {
        Ok(200..=299) => check(name, Verdict::Ok, format!("accepted by {}", origin(url))),
        Ok(code @ (401 | 403)) => check(
            name,
            Verdict::Fail,
            format!(
                "refused by {} (HTTP {code}): check the key, or the balance",
                origin(url)
            ),
        ),
        Ok(code) => check(
            name,
            Verdict::Warn,
            format!("{} answered HTTP {code}: could not tell", origin(url)),
        ),
        Err(e) => check(
            name,
            Verdict::Fail,
            format!("cannot reach {}: {}", origin(url), plain(&e)),
        ),
    }
}

/// Each distinct host answers at all (any HTTP status), without a key. A host that does not is
/// a failure for a provider whose key is set, else a warning.
async fn reachable(http: &reqwest::Client, e: &Endpoints, keys: &Keys) -> Vec<Check> {
    let fal = keys.fal.is_some();
    let hosts = [
        (&e.fal_queue, fal),
        (&e.fal_storage, fal),
        (&e.fal_api, fal),
        (&e.eachlabs, keys.eachlabs.is_some()),
    ];
    let mut seen = Vec::new();
    let mut checks = Vec::new();
    for (url, needed) in hosts {
        let host = origin(url);
        if seen.contains(&host) {
            continue;
        }
        let answer = http.get(url.as_str()).timeout(Duration::from_secs(10)).send().await;
        let failed = if needed { Verdict::Fail } else { Verdict::Warn };
        checks.push(match answer {
            Ok(_) => check("host", Verdict::Ok, format!("{host} answers")),
            Err(err) => check("host", failed, format!("cannot reach {host}: {}", plain(&err))),
        });
        seen.push(host);
    }
    checks
}

/// `scheme://host[:port]` of a URL (what the key may be sent to).
fn origin(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}

/// A request error without its URL.
fn plain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// A program on PATH, with the first line of its `-version`.
fn tool(name: &str) -> Check {
    match std::process::Command::new(name).arg("-version").output() {
        Ok(o) if o.status.success() => {
            let first = String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            check(name, Verdict::Ok, first)
        }
        _ => check(
            name,
            Verdict::Warn,
            "not found: chained shots, the cut and exact durations need it (apt install ffmpeg / brew install ffmpeg)",
        ),
    }
}

/// Whether `review --open` can open a browser here.
fn browser() -> Check {
    match crate::report::browser_opener() {
        Ok(opener) => check("browser", Verdict::Ok, format!("`review --open` uses {opener}")),
        Err(why) => check(
            "browser",
            Verdict::Warn,
            format!("{why}: `review` prints the URL to open elsewhere"),
        ),
    }
}
