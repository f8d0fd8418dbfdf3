//! The doctor's probes: a key tried with one cheap authenticated GET (sent to the configured
//! origin only), each host reached without a key, the tools on PATH, a browser.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;

use super::check;
use crate::provider::Endpoints;
use crate::report::checks::{Check, Verdict};
use crate::settings::Keys;

/// One authenticated GET; only the status is read.
pub(super) async fn key_accepted(http: &reqwest::Client, name: &str, url: &str, auth: String) -> Check {
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
pub(super) async fn reachable(http: &reqwest::Client, e: &Endpoints, keys: &Keys) -> Vec<Check> {
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
pub(super) fn tool(name: &str) -> Check {
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
pub(super) fn browser() -> Check {
    match crate::report::browser_opener() {
        Ok(opener) => check("browser", Verdict::Ok, format!("`review --open` uses {opener}")),
        Err(why) => check(
            "browser",
            Verdict::Warn,
            format!("{why}: `review` prints the URL to open elsewhere"),
        ),
    }
}
