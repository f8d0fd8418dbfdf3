//! The one HTTP client and the one retry policy: exponential backoff with full jitter, a
//! separate allowance for 429s that honours `Retry-After`, and the rules for what may be
//! retried (a GET always; a submit only when it certainly created nothing).

use std::time::Duration;

/// Builds the shared client: rustls, connect timeout, no overall timeout (streams and big
/// downloads set their own per-read limits).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("storyboard/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// How retries back off.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Attempts in all (the first one included).
    pub attempts: u32,
}

impl Backoff {
    /// Status, result and download requests: 8 attempts, 250 ms doubling to 10 s.
    pub const GET: Backoff = Backoff {
        base: Duration::from_millis(250),
        max: Duration::from_secs(10),
        attempts: 8,
    };
    /// Submits that certainly created nothing (connection refused, 429, 503).
    pub const SUBMIT: Backoff = Backoff {
        base: Duration::from_millis(500),
        max: Duration::from_secs(30),
        attempts: 8,
    };

    /// The delay before retry number `attempt` (1-based): full jitter over
    /// `min(max, base·2^(attempt-1))`, or the server's `Retry-After` when it sent one.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(Duration::from_secs(120));
        }
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max);
        cap.mul_f64(fastrand::f64().max(0.1))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Status codes worth retrying for a GET.
pub fn retryable_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether a base URL may be used: https anywhere, http only on loopback (keys never travel
/// in clear text).
pub fn check_base_url(name: &str, url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{name}=`{url}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if !loopback {
                return Err(format!(
                    "{name}=`{url}`: http:// is allowed only for loopback hosts (127.0.0.1, localhost); use https:// so the API key is not sent in clear text"
                ));
            }
        }
        other => return Err(format!("{name}=`{url}`: scheme `{other}` is not http(s)")),
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 5,
        };
        for attempt in 1..10 {
            let d = b.delay(attempt, None);
            let cap = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(d <= cap && d >= cap / 10, "attempt {attempt}: {d:?} vs cap {cap:?}");
        }
        assert_eq!(b.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(check_base_url("X", "http://127.0.0.1:8765/").is_ok());
        assert!(check_base_url("X", "http://localhost:1").is_ok());
        assert!(check_base_url("X", "http://[::1]:1").is_ok());
        assert!(check_base_url("X", "https://queue.fal.run").is_ok());
        assert!(
            check_base_url("X", "http://queue.fal.run")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(check_base_url("X", "ftp://a").is_err());
    }
}
