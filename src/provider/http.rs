//! The one HTTP client and the one retry policy: exponential backoff with full jitter, a
//! separate allowance for 429s that honours `Retry-After`, and the rules for what may be
//! retried (a GET always; a submit only when it certainly created nothing).

use std::time::Duration;

/// How long an answer may keep the client waiting: 60 s, or `STORYBOARD_HTTP_TIMEOUT_SECONDS`
/// (tests shorten it).
pub(crate) fn timeout() -> Duration {
    std::env::var("STORYBOARD_HTTP_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// The slowest uplink an upload is given time for (64 kbit/s).
const UPLOAD_BYTES_PER_SECOND: u64 = 8 * 1024;

/// Builds the shared client: rustls, connect timeout, a limit on each wait for the server
/// ([`timeout`]), no overall timeout (streams and big downloads run as long as data flows).
pub(crate) fn client() -> reqwest::Client {
    builder().read_timeout(timeout()).build().unwrap_or_default()
}

/// The client for upload bodies: no read timeout, whose timer would run while the body is
/// still being sent; each upload sets a deadline scaled to its size ([`upload_deadline`]).
pub(crate) fn upload_client() -> reqwest::Client {
    builder().build().unwrap_or_default()
}

/// The whole time an upload of `bytes` may take: the answer's wait plus the body at the
/// slowest uplink storyboard allows for.
pub(crate) fn upload_deadline(bytes: usize) -> Duration {
    timeout() + Duration::from_secs(bytes as u64 / UPLOAD_BYTES_PER_SECOND)
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("storyboard/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
}

/// How retries back off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Attempts in all (the first one included).
    pub attempts: u32,
}

impl Backoff {
    /// Status, result and download requests: 8 attempts, 250 ms doubling to 10 s.
    pub(crate) const GET: Backoff = Backoff {
        base: Duration::from_millis(250),
        max: Duration::from_secs(10),
        attempts: 8,
    };
    /// Submits that certainly created nothing (connection refused, 429, 503).
    pub(crate) const SUBMIT: Backoff = Backoff {
        base: Duration::from_millis(500),
        max: Duration::from_secs(30),
        attempts: 8,
    };

    /// The delay before retry number `attempt` (1-based): full jitter over
    /// `min(max, base·2^(attempt-1))`, or the server's `Retry-After` when it sent one.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(Duration::from_secs(120));
        }
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max);
        cap.mul_f64(fastrand::f64().max(0.1))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and is ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Status codes worth retrying for a GET.
pub(crate) fn retryable_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500 | 502 | 503 | 504)
}

/// What one answer to a GET means; each call site classifies its own answers.
pub(crate) enum Step<T, E> {
    /// Finished, one way or the other: no more tries.
    Done(Result<T, E>),
    /// A passing failure (transport error, 5xx, 429, not ready yet): try again after the backoff
    /// or the server's `Retry-After`, unless the attempts are used up — then `error` is the answer.
    Retry {
        /// The answer if this was the last attempt.
        error: E,
        /// The server's `Retry-After`, or a fixed short wait the call site chose.
        retry_after: Option<Duration>,
    },
}

/// A passing failure: retried by [`retry_get`] until its attempts are used.
pub(crate) fn transient<T, E>(error: E, retry_after: Option<Duration>) -> Step<T, E> {
    Step::Retry { error, retry_after }
}

/// The one GET retry loop: calls `attempt` (with its 1-based number) until it is done or
/// `policy.attempts` are used, sleeping `policy.delay` between tries (full jitter, honouring
/// `Retry-After`). Every GET of the clients and the downloader goes through it.
pub(crate) async fn retry_get<T, E, F>(policy: Backoff, mut attempt: impl FnMut(u32) -> F) -> Result<T, E>
where
    F: std::future::Future<Output = Step<T, E>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt(n).await {
            Step::Done(result) => return result,
            Step::Retry { error, retry_after } => {
                if n >= policy.attempts {
                    return Err(error);
                }
                tokio::time::sleep(policy.delay(n, retry_after)).await;
            }
        }
    }
}

/// A base URL from the environment that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum BaseUrlError {
    /// Not a URL at all.
    #[error("{name}=`{url}` is not a URL: {reason}")]
    NotUrl {
        /// The variable.
        name: String,
        /// Its value.
        url: String,
        /// The parser's words.
        reason: String,
    },
    /// `http://` to a host that is not loopback.
    #[error(
        "{name}=`{url}`: http:// is allowed only for loopback hosts (127.0.0.1, localhost); use https:// so the API key is not sent in clear text"
    )]
    ClearText {
        /// The variable.
        name: String,
        /// Its value.
        url: String,
    },
    /// Neither http nor https.
    #[error("{name}=`{url}`: scheme `{scheme}` is not http(s)")]
    Scheme {
        /// The variable.
        name: String,
        /// Its value.
        url: String,
        /// The scheme it has.
        scheme: String,
    },
}

/// Whether a base URL may be used: https anywhere, http only on loopback (keys never travel
/// in clear text). Returns it without a trailing slash.
pub(crate) fn check_base_url(name: &str, url: &str) -> Result<String, BaseUrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| BaseUrlError::NotUrl {
        name: name.to_owned(),
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
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
                return Err(BaseUrlError::ClearText {
                    name: name.to_owned(),
                    url: url.to_owned(),
                });
            }
        }
        other => {
            return Err(BaseUrlError::Scheme {
                name: name.to_owned(),
                url: url.to_owned(),
                scheme: other.to_owned(),
            });
        }
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
                .to_string()
                .contains("loopback")
        );
        assert!(check_base_url("X", "ftp://a").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_get_stops_at_the_attempt_budget_and_honours_retry_after() {
        let policy = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 4,
        };
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let r: Result<(), u32> = retry_get(policy, |n| {
            calls += 1;
            async move {
                Step::Retry {
                    error: n,
                    retry_after: Some(Duration::from_secs(7)),
                }
            }
        })
        .await;
        assert_eq!(r, Err(4), "the last attempt's error is the answer");
        assert_eq!(calls, 4);
        assert_eq!(start.elapsed(), Duration::from_secs(21), "three waits of Retry-After");

        let mut calls = 0;
        let r: Result<u32, u32> = retry_get(policy, |n| {
            calls += 1;
            async move {
                if n < 3 {
                    Step::Retry {
                        error: n,
                        retry_after: None,
                    }
                } else {
                    Step::Done(Ok(n))
                }
            }
        })
        .await;
        assert_eq!((r, calls), (Ok(3), 3));
    }
}

/// The most any JSON answer from a provider may hold (4 MiB): a real one is kilobytes (a page
/// of 100 history items with their bodies, some hundred kilobytes), so more means a broken or
/// hostile server, and the read stops there instead of filling memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Why an answer's body could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum BodyError {
    /// More than [`MAX_ANSWER_BYTES`] arrived: cut off there.
    #[error("the answer was longer than {} MiB: cut off", MAX_ANSWER_BYTES >> 20)]
    TooLong,
    /// The connection broke or timed out part way.
    #[error("{0}")]
    Broken(String),
    /// Not JSON.
    #[error("the answer was not JSON")]
    NotJson,
}

/// The body of `r`, streamed and at most [`MAX_ANSWER_BYTES`] (never read whole first).
pub(crate) async fn bounded_bytes(mut r: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if r.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(BodyError::TooLong);
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| BodyError::Broken(super::describe(&e)))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(BodyError::TooLong);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of `r` as text (lossy), bounded as [`bounded_bytes`]; empty when it cannot be read
/// (for error messages).
pub(crate) async fn bounded_text(r: reqwest::Response) -> String {
    bounded_bytes(r)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The body of `r` as JSON, bounded as [`bounded_bytes`].
pub(crate) async fn bounded_json<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, BodyError> {
    let body = bounded_bytes(r).await?;
    serde_json::from_slice(&body).map_err(|_| BodyError::NotJson)
}
