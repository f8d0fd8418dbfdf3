//! Providers: submit a request, follow it, fetch its result (the clip's URL), cancel it.
//! Chosen in one place ([`Provider::new`]); base URLs can point at the sandbox.

pub(crate) mod eachlabs;
pub(crate) mod fal;
pub(crate) mod http;

use serde_json::{Map, Value};
use std::time::Duration;

mod job;
mod kind;

pub(crate) use job::{Accepted, ClipSource};
pub(crate) use kind::ProviderKind;

/// Why a submit did not give a request id.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum SubmitError {
    /// Certainly nothing was created and trying again may work (connection refused, 429, 503).
    #[error("{reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// A 429 (counts towards lowering concurrency on Eachlabs).
        rate_limited: bool,
    },
    /// The provider refused the request: nothing was created; trying again will not help.
    #[error("{0}")]
    Rejected(String),
    /// The provider refused for the whole account (bad key, no balance): stop submitting.
    #[error("{0}")]
    Fatal(String),
    /// The request went out and no usable answer came back: it may have been created (and billed).
    #[error("{0}")]
    Uncertain(String),
}

/// How following a job ended, short of a clip.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum JobError {
    /// The model or provider reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The provider no longer knows the request (expired result, unknown id).
    #[error("{0}")]
    Gone(String),
    /// The provider could not be reached after every retry.
    #[error("{0}")]
    Unreachable(String),
}

/// What a cancel achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// It was still queued: removed, never runs, never billed.
    Queued,
    /// It was running: cancellation requested; the model may finish (and bill) anyway.
    Running,
    /// It had already finished: the next render downloads it.
    AlreadyDone,
    /// The provider does not know it.
    Unknown,
}

/// Pages of a provider's history read at most in one lookup (100 requests each): 20,000
/// requests in the window, far more than an account makes in the days a lookup spans. Reaching
/// it is reported as "history not available", never as "not found".
pub(crate) const MAX_HISTORY_PAGES: usize = 200;

/// Whether `id` has the form of a fal request id: a UUID (`8-4-4-4-12` hex digits), as every
/// id fal's queue returns (../shared/reference/protocol.md §1.2).
pub(crate) fn valid_fal_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `id` may be an Eachlabs prediction id. Their docs give no format (`predictionID`
/// is a "string"; observed ids are UUIDs), so: 1–128 letters, digits, `-` or `_` — never a
/// character that changes a URL's path, query or fragment.
pub(crate) fn valid_eachlabs_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A request id that does not have the provider's form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{id}` is not a {provider} request id ({form})")]
pub(crate) struct BadRequestId {
    /// What was given (printed escaped).
    pub id: String,
    /// `fal` or `Eachlabs`.
    pub provider: &'static str,
    /// The form expected.
    pub form: &'static str,
}

/// Checks `id` against `kind`'s request id form before it goes into any URL or journal line.
pub(crate) fn check_request_id(kind: ProviderKind, id: &str) -> Result<(), BadRequestId> {
    let (ok, provider, form) = match kind {
        ProviderKind::Fal => (
            valid_fal_id(id),
            "fal",
            "a UUID such as 764cabcf-b745-4b3e-ae38-1200304cf45b",
        ),
        ProviderKind::Eachlabs => (valid_eachlabs_id(id), "Eachlabs", "letters, digits, '-' and '_'"),
    };
    match ok {
        true => Ok(()),
        false => Err(BadRequestId {
            id: id.escape_debug().to_string(),
            provider,
            form,
        }),
    }
}

/// fal's request history could not answer (not available for this key or model).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the provider's request history is not available ({0})")]
pub(crate) struct HistoryUnavailable(pub String);

/// Why an upload did not give a URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: {failure}")]
pub(crate) struct UploadError {
    /// `upload of frame.png` (fal) or `upload` (Eachlabs).
    pub what: String,
    /// What happened.
    pub failure: UploadFailure,
}

/// What went wrong in an upload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum UploadFailure {
    /// No answer (connection, timeout).
    #[error("{0}")]
    Transport(String),
    /// An error status, with the provider's message.
    #[error("{0}")]
    Status(String),
    /// The answer was not JSON.
    #[error("answer is not JSON")]
    NotJson,
    /// The answer lacked the fields named.
    #[error("answer lacks {0}")]
    Missing(&'static str),
}

/// Why a voice could not be created from a sample.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum VoiceError {
    /// The provider has no voice creation.
    #[error("Eachlabs has no create-voice: use provider: fal")]
    Unsupported,
    /// The sample could not be uploaded.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The create-voice request was not accepted.
    #[error("create-voice: {0}")]
    Submit(SubmitError),
    /// The create-voice job failed.
    #[error("create-voice: {0}")]
    Job(JobError),
    /// It finished without a voice id.
    #[error("create-voice answered without a voice_id")]
    NoVoiceId,
}

/// Progress of a followed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting, with this many ahead.
    Queued(Option<u64>),
    /// Running.
    Running,
}

/// Where each provider lives and its key.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// fal queue base URL.
    pub fal_queue: String,
    /// fal storage base URL.
    pub fal_storage: String,
    /// fal platform API base URL (request history, pricing).
    pub fal_api: String,
    /// Eachlabs base URL.
    pub eachlabs: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            fal_queue: "https://queue.fal.run".into(),
            fal_storage: "https://rest.fal.ai".into(),
            fal_api: "https://api.fal.ai".into(),
            eachlabs: "https://api.eachlabs.ai".into(),
        }
    }
}

/// A provider client.
#[derive(Clone)]
pub(crate) enum Provider {
    /// fal queue.
    Fal(fal::Fal),
    /// Eachlabs predictions.
    Eachlabs(eachlabs::Eachlabs),
}

impl Provider {
    /// The client for `kind`.
    pub(crate) fn new(kind: ProviderKind, endpoints: &Endpoints, key: String, http: reqwest::Client) -> Provider {
        match kind {
            ProviderKind::Fal => Provider::Fal(fal::Fal::new(endpoints, key, http)),
            ProviderKind::Eachlabs => Provider::Eachlabs(eachlabs::Eachlabs::new(endpoints, key, http)),
        }
    }

    /// Submits once (the runner decides about retries).
    pub(crate) async fn submit(
        &self,
        endpoint: &str,
        version: Option<&str>,
        input: &Map<String, Value>,
    ) -> Result<Accepted, SubmitError> {
        match self {
            Provider::Fal(p) => p.submit(endpoint, input).await,
            Provider::Eachlabs(p) => p.submit(endpoint, version.unwrap_or("0.0.1"), input).await,
        }
    }

    /// Follows a job of `endpoint` until it finishes, then returns its clip.
    pub(crate) async fn follow(
        &self,
        job: &Accepted,
        endpoint: &str,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<ClipSource, JobError> {
        self.check_id(&job.request_id)
            .map_err(|e| JobError::Failed(e.to_string()))?;
        match self {
            Provider::Fal(p) => p.follow(job, endpoint, on_state).await,
            Provider::Eachlabs(p) => p.follow(job, on_state).await,
        }
    }

    /// Follows a fal job until it finishes and returns its result as JSON (a frame's image).
    pub(crate) async fn follow_json(&self, job: &Accepted) -> Result<Value, JobError> {
        self.check_id(&job.request_id)
            .map_err(|e| JobError::Failed(e.to_string()))?;
        match self {
            Provider::Fal(p) => p.follow_json(job, &|_| {}).await,
            Provider::Eachlabs(_) => Err(JobError::Failed("frames are rendered on fal only".into())),
        }
    }

    /// A request id (from the journal, a history or the user) has this provider's form: nothing
    /// else is put into a URL sent with the key.
    pub(crate) fn check_id(&self, id: &str) -> Result<(), BadRequestId> {
        check_request_id(
            match self {
                Provider::Fal(_) => ProviderKind::Fal,
                Provider::Eachlabs(_) => ProviderKind::Eachlabs,
            },
            id,
        )
    }

    /// The requests of `endpoint` sent since `since` with exactly this body, oldest first (fal's
    /// request history; Eachlabs' executions list).
    pub(crate) async fn find_sent(
        &self,
        endpoint: &str,
        since: &str,
        input: &Map<String, Value>,
    ) -> Result<Vec<String>, HistoryUnavailable> {
        match self {
            Provider::Fal(p) => p.find_in_history(endpoint, since, input).await,
            Provider::Eachlabs(p) => p.find_in_history(endpoint, since, input).await,
        }
    }

    /// A job known only by its id (found in the history, or on a dashboard).
    pub(crate) fn job(&self, endpoint: &str, id: &str) -> Accepted {
        match self {
            Provider::Fal(p) => p.job(endpoint, id),
            Provider::Eachlabs(_) => Accepted::by_id(id),
        }
    }

    /// Cancels a job (fal `PUT cancel_url`, Eachlabs `POST /v1/prediction/{id}/cancel`).
    pub(crate) async fn cancel(&self, job: &Accepted) -> Result<Cancelled, JobError> {
        self.check_id(&job.request_id)
            .map_err(|e| JobError::Failed(e.to_string()))?;
        match self {
            Provider::Fal(p) => p.cancel(job).await,
            Provider::Eachlabs(p) => p.cancel(job).await,
        }
    }

    /// Submits the creation of a voice from an uploaded sample (fal only): the job to follow
    /// with [`Provider::voice_id`] (kept meanwhile, so it is never paid twice).
    pub(crate) async fn submit_voice(&self, voice_url: &str) -> Result<Accepted, VoiceError> {
        match self {
            Provider::Fal(p) => p.submit_voice(voice_url).await,
            Provider::Eachlabs(_) => Err(VoiceError::Unsupported),
        }
    }

    /// Follows a voice creation to its voice id.
    pub(crate) async fn voice_id(&self, job: &Accepted) -> Result<String, VoiceError> {
        self.check_id(&job.request_id)
            .map_err(|e| VoiceError::Job(JobError::Failed(e.to_string())))?;
        match self {
            Provider::Fal(p) => p.voice_id(job).await,
            Provider::Eachlabs(_) => Err(VoiceError::Unsupported),
        }
    }

    /// How long an upload stays fetchable: fal, the lifetime each upload asks for (7 days);
    /// Eachlabs, the 180 days its docs give (../shared/reference/protocol.md §4).
    pub(crate) fn upload_lifetime(&self) -> Duration {
        match self {
            Provider::Fal(_) => fal::UPLOAD_LIFETIME,
            Provider::Eachlabs(_) => Duration::from_secs(180 * 24 * 3600),
        }
    }

    /// Uploads a local file; returns the URL to send.
    pub(crate) async fn upload(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<String, UploadError> {
        match self {
            Provider::Fal(p) => p.upload(bytes, content_type, file_name).await,
            Provider::Eachlabs(p) => p.upload(bytes, content_type).await,
        }
    }
}

/// The answer to a submit that did arrive: its status, `Retry-After` and body text.
pub(crate) struct SubmitAnswer {
    /// HTTP status.
    pub status: u16,
    /// The server's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The body as text (empty when it could not be read).
    pub text: String,
    body: Result<Vec<u8>, CutOff>,
}

/// A body that stopped arriving part way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CutOff(String);

impl SubmitAnswer {
    /// The JSON of a 2xx answer; an unreadable one leaves the outcome unknown.
    pub(crate) fn json(&self) -> Result<Value, SubmitError> {
        let body = self
            .body
            .as_ref()
            .map_err(|e| SubmitError::Uncertain(format!("the submit's answer was cut off: {e}")))?;
        serde_json::from_slice(body).map_err(|_| SubmitError::Uncertain("the submit's answer was not JSON".into()))
    }

    /// A 429 or 503: nothing was created; try again.
    pub(crate) fn retry(&self, rate_limited: bool) -> SubmitError {
        SubmitError::Retry {
            reason: error_message(self.status, &self.text),
            retry_after: self.retry_after,
            rate_limited,
        }
    }
}

/// Sends a submit once. A refused connection never carried the request (nothing created:
/// `Retry`); a request that went out without an answer is `Uncertain`.
pub(crate) async fn send_submit(request: reqwest::RequestBuilder) -> Result<SubmitAnswer, SubmitError> {
    let resp = match request.timeout(http::timeout()).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return Err(SubmitError::Retry {
                reason: describe(&e),
                retry_after: None,
                rate_limited: false,
            });
        }
        Err(e) => {
            return Err(SubmitError::Uncertain(format!(
                "no answer to the submit: {}",
                describe(&e)
            )));
        }
    };
    let status = resp.status().as_u16();
    let retry_after = http::retry_after(resp.headers());
    let body = http::bounded_bytes(resp).await.map_err(|e| CutOff(e.to_string()));
    let text = body
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    Ok(SubmitAnswer {
        status,
        retry_after,
        text,
        body,
    })
}

/// A history listing as JSON: a GET (retried on transport errors, 429 and 5xx) answered 200
/// with JSON, read at most [`http::MAX_ANSWER_BYTES`]; else why the history is not available
/// (shared by fal's request history and Eachlabs' executions list).
pub(crate) async fn history_json(request: impl Fn() -> reqwest::RequestBuilder) -> Result<Value, HistoryUnavailable> {
    use http::{Step, transient};
    http::retry_get(http::Backoff::GET, |_| {
        let sent = request().send();
        async move {
            let r = match sent.await {
                Ok(r) => r,
                Err(e) => return transient(HistoryUnavailable(describe(&e)), None),
            };
            let (code, ra) = (r.status().as_u16(), http::retry_after(r.headers()));
            if code == 200 {
                return Step::Done(
                    http::bounded_json(r)
                        .await
                        .map_err(|e| HistoryUnavailable(e.to_string())),
                );
            }
            let why = HistoryUnavailable(error_message(code, &http::bounded_text(r).await));
            match http::retryable_status(code) {
                true => transient(why, ra),
                false => Step::Done(Err(why)),
            }
        }
    })
    .await
}

/// A short, key-free description of a transport error.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!(
            "{what} ({}{})",
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        None => what.to_owned(),
    }
}

/// The message of an error body: fal's `detail` (a string or pydantic entries), Eachlabs'
/// `error`/`message`/`details`, else the text.
pub(crate) fn error_message(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = match &parsed {
        Some(Value::Object(o)) => {
            if let Some(detail) = o.get("detail") {
                match detail {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|d| {
                            let loc: Vec<String> = d["loc"]
                                .as_array()
                                .map(|l| {
                                    l.iter()
                                        .filter(|x| *x != "body")
                                        .map(|x| x.as_str().map_or(x.to_string(), str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default();
                            format!("{}: {}", loc.join("."), d["msg"].as_str().unwrap_or("invalid"))
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                }
            } else {
                let pick = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
                match (pick("error").or_else(|| pick("message")), o.get("details")) {
                    (Some(e), Some(Value::String(d))) => format!("{e}: {d}"),
                    (Some(e), Some(d @ Value::Array(_))) => format!("{e}: {d}"),
                    (Some(e), _) => e,
                    (None, _) => body.to_owned(),
                }
            }
        }
        _ => body.chars().take(300).collect(),
    };
    format!("HTTP {status}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_read_both_providers_shapes() {
        let m = error_message(
            422,
            r#"{"detail":[{"loc":["body","duration"],"msg":"bad","type":"x"}]}"#,
        );
        assert_eq!(m, "HTTP 422: duration: bad");
        assert_eq!(
            error_message(503, r#"{"detail":"Runner disconnected","error_type":"x"}"#),
            "HTTP 503: Runner disconnected"
        );
        assert_eq!(
            error_message(429, r#"{"status":429,"error":"too many requests","details":"cap"}"#),
            "HTTP 429: too many requests: cap"
        );
        assert_eq!(error_message(500, "oops"), "HTTP 500: oops");
    }
}
