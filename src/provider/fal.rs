//! fal queue client (../shared/reference/protocol.md §1): submit to the full endpoint id, then use the URLs the
//! server returned; follow on the status stream, falling back to polling; fetch the result the
//! moment the job completes (fal keeps results only minutes).

use futures::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::http::{Backoff, Step, retry_after, retry_get, retryable_status, transient};
use super::{
    Accepted, ClipSource, Endpoints, JobError, JobState, SubmitError, UploadError, UploadFailure, VoiceError, describe,
    error_message, send_submit,
};

/// The fal client.
#[derive(Clone)]
pub(crate) struct Fal {
    queue: String,
    storage: String,
    api: String,
    key: Arc<str>,
    http: reqwest::Client,
    /// For upload bodies (no read timeout; a deadline per upload).
    uploads: reqwest::Client,
}

impl Fal {
    /// A client for the given base URLs.
    pub(crate) fn new(endpoints: &Endpoints, key: String, http: reqwest::Client) -> Fal {
        Fal {
            queue: endpoints.fal_queue.clone(),
            storage: endpoints.fal_storage.clone(),
            api: endpoints.fal_api.clone(),
            key: key.into(),
            http,
            uploads: super::http::upload_client(),
        }
    }

    fn auth(&self) -> String {
        format!("Key {}", self.key)
    }

    /// `POST {queue}/{endpoint}` once.
    pub(crate) async fn submit(&self, endpoint: &str, input: &Map<String, Value>) -> Result<Accepted, SubmitError> {
        let request = self
            .http
            .post(format!("{}/{endpoint}", self.queue))
            .header(AUTHORIZATION, self.auth())
            .header(ACCEPT, "application/json")
            .json(input);
        let answer = send_submit(request).await?;
        let (status, text) = (answer.status, answer.text.as_str());
        match status {
            200..=299 => {
                let v = answer.json()?;
                let Some(id) = v
                    .get("request_id")
                    .and_then(Value::as_str)
                    .filter(|id| super::valid_fal_id(id))
                else {
                    return Err(SubmitError::Uncertain(
                        "the submit's answer had no request_id of fal's form (a UUID)".into(),
                    ));
                };
                let (status_url, response_url, cancel_url) = self.urls(endpoint, id, &v);
                Ok(Accepted {
                    request_id: id.to_owned(),
                    status_url: Some(status_url),
                    response_url: Some(response_url),
                    cancel_url: Some(cancel_url),
                })
            }
            429 => Err(answer.retry(true)),
            503 => Err(answer.retry(false)),
            403 if locked(text) => Err(SubmitError::Fatal(format!(
                "fal refused the account ({}): the balance is exhausted; top up at https://fal.ai/dashboard/billing, then run render again to finish",
                error_message(status, text)
            ))),
            401 | 403 => Err(SubmitError::Fatal(format!(
                "fal refused the API key ({}): check FAL_KEY",
                error_message(status, text)
            ))),
            400..=499 => Err(SubmitError::Rejected(error_message(status, text))),
            _ => Err(SubmitError::Uncertain(error_message(status, text))),
        }
    }

    /// Whether `url` is on the queue base URL's origin (scheme, host, port): the only place
    /// the key is sent.
    fn trusted(&self, url: &str) -> bool {
        let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin());
        origin(url).is_some_and(|o| Some(o) == origin(&self.queue))
    }

    /// A job of `endpoint` known only by its id (adopted, or found in the history): the
    /// documented URLs.
    pub(crate) fn job(&self, endpoint: &str, id: &str) -> Accepted {
        let (status_url, response_url, cancel_url) = self.urls(endpoint, id, &Value::Null);
        Accepted {
            request_id: id.to_owned(),
            status_url: Some(status_url),
            response_url: Some(response_url),
            cancel_url: Some(cancel_url),
        }
    }

    /// The request ids of `endpoint` sent since `since` (RFC 3339) whose input is exactly
    /// `input`, oldest first, from the request history (which lists finished requests). Every
    /// page of the window `since`..now is read (`next_cursor` while `has_more`): a busy account
    /// lists the lost request pages deep.
    pub(crate) async fn find_in_history(
        &self,
        endpoint: &str,
        since: &str,
        input: &Map<String, Value>,
    ) -> Result<Vec<String>, super::HistoryUnavailable> {
        let wanted = Value::Object(input.clone());
        let mut found: Vec<(String, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..super::MAX_HISTORY_PAGES {
            let page = self.history_page(endpoint, since, None, cursor.as_deref()).await?;
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
            found.extend(items.iter().filter(|i| i["json_input"] == wanted).filter_map(|i| {
                let id = i["request_id"].as_str().filter(|id| super::valid_fal_id(id))?;
                Some((i["sent_at"].as_str().unwrap_or("").to_owned(), id.to_owned()))
            }));
            match (page["has_more"].as_bool(), page["next_cursor"].as_str()) {
                (Some(true), Some(next)) if !items.is_empty() => cursor = Some(next.to_owned()),
                _ => {
                    found.sort();
                    return Ok(found.into_iter().map(|(_, id)| id).collect());
                }
            }
        }
        Err(super::HistoryUnavailable(format!(
            "more than {} requests of {endpoint} since {since}; stopped reading",
            super::MAX_HISTORY_PAGES * 100
        )))
    }

    /// One page (100 items, with bodies) of `endpoint`'s history from `start`: `start` is always
    /// sent (fal's default window is the last 24 h, even for one `request_id`).
    async fn history_page(
        &self,
        endpoint: &str,
        start: &str,
        request_id: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Value, super::HistoryUnavailable> {
        let mut url = reqwest::Url::parse(&format!("{}/v1/models/requests/by-endpoint", self.api))
            .map_err(|e| super::HistoryUnavailable(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("endpoint_id", endpoint)
            .append_pair("start", start)
            .append_pair("expand", "payloads")
            .append_pair("limit", "100");
        if let Some(id) = request_id {
            url.query_pairs_mut().append_pair("request_id", id);
        }
        if let Some(c) = cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        super::history_json(|| self.http.get(url.clone()).header(AUTHORIZATION, self.auth())).await
    }

    /// Cancels a job: its state first (queued or running), then `PUT cancel_url`.
    pub(crate) async fn cancel(&self, job: &Accepted) -> Result<super::Cancelled, JobError> {
        use super::Cancelled;
        let (Some(status_url), Some(cancel_url)) = (&job.status_url, &job.cancel_url) else {
            return Err(JobError::Failed(format!(
                "request {} has no cancel URL",
                job.request_id
            )));
        };
        if !self.trusted(status_url) || !self.trusted(cancel_url) {
            return Err(JobError::Failed(format!(
                "request {} has URLs on another origin: the key is only sent to {}",
                job.request_id, self.queue
            )));
        }
        let state = self
            .http
            .get(status_url)
            .header(AUTHORIZATION, self.auth())
            .send()
            .await;
        let running = match state {
            Ok(r) if r.status().as_u16() == 404 => return Ok(Cancelled::Unknown),
            Ok(r) => r.json::<Value>().await.ok().map(|v| v["status"].clone()),
            Err(e) => return Err(JobError::Unreachable(describe(&e))),
        };
        if running.as_ref().is_some_and(|s| s == "COMPLETED") {
            return Ok(Cancelled::AlreadyDone);
        }
        let r = self
            .http
            .put(cancel_url)
            .header(AUTHORIZATION, self.auth())
            .send()
            .await
            .map_err(|e| JobError::Unreachable(describe(&e)))?;
        Ok(match r.status().as_u16() {
            200..=299 if running.as_ref().is_some_and(|s| s == "IN_PROGRESS") => Cancelled::Running,
            200..=299 => Cancelled::Queued,
            400 => Cancelled::AlreadyDone,
            404 => Cancelled::Unknown,
            c => {
                let text = super::http::bounded_text(r).await;
                return Err(JobError::Failed(error_message(c, &text)));
            }
        })
    }

    /// The server's URLs when they are on the queue's own origin, else (and for an older answer
    /// without them) the documented shape: `{queue}/{owner}/{alias}/requests/{id}`. A URL on
    /// another origin is never followed with the key.
    fn urls(&self, endpoint: &str, id: &str, v: &Value) -> (String, String, String) {
        let parts: Vec<&str> = endpoint.split('/').collect();
        let n = if matches!(parts.first(), Some(&"workflows") | Some(&"comfy")) {
            3
        } else {
            2
        };
        let base = format!("{}/{}/requests/{id}", self.queue, parts[..n.min(parts.len())].join("/"));
        let get = |k: &str, fallback: String| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|u| self.trusted(u))
                .map_or(fallback, str::to_owned)
        };
        (
            get("status_url", format!("{base}/status")),
            get("response_url", base.clone()),
            get("cancel_url", format!("{base}/cancel")),
        )
    }

    /// Follows a job to completion and fetches its clip.
    pub(crate) async fn follow(
        &self,
        job: &Accepted,
        endpoint: &str,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<ClipSource, JobError> {
        let v = match self.follow_json(job, on_state).await {
            // The queue forgot the result (fal keeps it minutes); the request history keeps
            // the output for 30 days, and the CDN file outlives the queue result.
            Err(JobError::Gone(gone)) => self.recover_from_history(endpoint, &job.request_id, gone).await?,
            other => other?,
        };
        let video = &v["video"];
        let Some(url) = video.get("url").and_then(Value::as_str) else {
            return Err(JobError::Failed(format!(
                "result of {} has no video.url: {}",
                job.request_id,
                truncate(&v.to_string())
            )));
        };
        Ok(ClipSource {
            url: url.to_owned(),
            size: video.get("file_size").and_then(Value::as_u64),
            cost_usd: self.billed(&job.request_id).await,
        })
    }

    /// What fal billed for a finished request, in USD (`GET /v1/models/billing-events`,
    /// `cost_estimate_nano_usd`), when it is known. Only keys with billing scope may read it:
    /// a 403 is said once per run ("billed cost not available with this key") and never fails
    /// the shot; an event not there yet leaves it unknown.
    async fn billed(&self, id: &str) -> Option<f64> {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let mut url = reqwest::Url::parse(&format!("{}/v1/models/billing-events", self.api)).ok()?;
        url.query_pairs_mut().append_pair("request_id", id);
        let v = match super::history_json(|| self.http.get(url.clone()).header(AUTHORIZATION, self.auth())).await {
            Ok(v) => v,
            Err(e) => {
                if e.0.starts_with("HTTP 403") && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    eprintln!(
                        "note: billed cost not available with this key (fal's billing events need a key with billing scope); estimates are kept"
                    );
                }
                return None;
            }
        };
        let events = ["billing_events", "items", "events"]
            .iter()
            .find_map(|k| v[*k].as_array())
            .or(v.as_array())?;
        let nano = events
            .iter()
            .filter(|e| e["request_id"].as_str().is_none_or(|r| r == id))
            .map(|e| e["cost_estimate_nano_usd"].as_u64())
            .try_fold(0u64, |sum, n| sum.checked_add(n?))?;
        (!events.is_empty()).then(|| nano as f64 / 1e9)
    }

    /// A finished request's output from fal's request history (`expand=payloads`); `gone` (what
    /// the queue said) with what was tried when the history cannot tell. The window starts 30
    /// days back (fal keeps payloads 30 days): a job followed again a day or more after its
    /// submit is outside fal's default window of 24 h.
    async fn recover_from_history(&self, endpoint: &str, id: &str, gone: String) -> Result<Value, JobError> {
        let start = std::time::SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
        let start = humantime::format_rfc3339_seconds(start).to_string();
        let history = self.history_page(endpoint, &start, Some(id), None).await;
        let output = history.map_err(|e| e.to_string()).and_then(|v| {
            v["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["request_id"] == id))
                .map(|item| item["json_output"].clone())
                .filter(|o| o["video"]["url"].is_string())
                .ok_or_else(|| "no finished output for it there".to_owned())
        });
        output.map_err(|why| JobError::Gone(format!("{gone}; fal's request history ({}): {why}", self.api)))
    }

    /// Submits the creation of a Kling voice from an uploaded sample
    /// (`fal-ai/kling-video/create-voice`); follow it with [`Fal::voice_id`].
    pub(crate) async fn submit_voice(&self, voice_url: &str) -> Result<Accepted, VoiceError> {
        let mut input = Map::new();
        input.insert("voice_url".into(), json!(voice_url));
        self.submit("fal-ai/kling-video/create-voice", &input)
            .await
            .map_err(VoiceError::Submit)
    }

    /// Follows a voice creation to its voice id.
    pub(crate) async fn voice_id(&self, job: &Accepted) -> Result<String, VoiceError> {
        let v = self.follow_json(job, &|_| {}).await.map_err(VoiceError::Job)?;
        v["voice_id"].as_str().map(str::to_owned).ok_or(VoiceError::NoVoiceId)
    }

    /// Follows a job to completion and fetches its result as JSON.
    pub(crate) async fn follow_json(
        &self,
        job: &Accepted,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<Value, JobError> {
        let (status_url, response_url) = (
            job.status_url.clone().unwrap_or_default(),
            job.response_url.clone().unwrap_or_default(),
        );
        if let Some(foreign) = [&status_url, &response_url].into_iter().find(|u| !self.trusted(u)) {
            let host = reqwest::Url::parse(foreign)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            return Err(JobError::Unreachable(format!(
                "request {} was journaled with a URL on another origin ({}): the key is only sent to {}",
                job.request_id,
                host.unwrap_or_default(),
                self.queue
            )));
        }
        let done = match self.stream(&status_url, on_state).await {
            Some(done) => done,
            None => self.poll(&status_url, &job.request_id, on_state).await?,
        };
        if let Some(err) = done.get("error").filter(|e| !e.is_null()) {
            let kind = done
                .get("error_type")
                .and_then(Value::as_str)
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            return Err(JobError::Failed(format!(
                "{}{kind}",
                err.as_str().map_or(err.to_string(), str::to_owned)
            )));
        }
        self.result(&response_url, &job.request_id).await
    }

    /// The status stream; `None` when it is unavailable or drops before COMPLETED.
    async fn stream(&self, status_url: &str, on_state: &(dyn Fn(JobState) + Send + Sync)) -> Option<Value> {
        let resp = self
            .http
            .get(format!("{status_url}/stream?logs=0"))
            .header(AUTHORIZATION, self.auth())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .ok()?;
        if resp.status().as_u16() != 200 {
            return None;
        }
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.ok()?);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim_end().strip_prefix("data:") else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                if report(&v, on_state) {
                    return Some(v);
                }
            }
        }
        None
    }

    /// Polls the status with growing intervals until COMPLETED; each poll is retried on
    /// transport errors and 5xx/429 (with `Retry-After`).
    async fn poll(
        &self,
        status_url: &str,
        id: &str,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<Value, JobError> {
        let mut interval = Duration::from_millis(100);
        loop {
            let status = retry_get(Backoff::GET, move |_| async move {
                let sent = self
                    .http
                    .get(format!("{status_url}?logs=0"))
                    .header(AUTHORIZATION, self.auth())
                    .send()
                    .await;
                let r = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        return transient(JobError::Unreachable(format!("status of {id}: {}", describe(&e))), None);
                    }
                };
                let (code, ra) = (r.status().as_u16(), retry_after(r.headers()));
                match code {
                    200 | 202 => Step::Done(Ok(r.json::<Value>().await.ok())),
                    404 => Step::Done(Err(JobError::Gone(format!(
                        "fal no longer knows request {id} (status 404)"
                    )))),
                    _ => {
                        let e = JobError::Unreachable(format!(
                            "status of {id}: {}",
                            error_message(code, &super::http::bounded_text(r).await)
                        ));
                        if retryable_status(code) {
                            transient(e, ra)
                        } else {
                            Step::Done(Err(e))
                        }
                    }
                }
            })
            .await?;
            if let Some(v) = status
                && report(&v, on_state)
            {
                return Ok(v);
            }
            tokio::time::sleep(interval).await;
            interval = (interval.mul_f64(1.5)).min(Duration::from_secs(5));
        }
    }

    /// `GET {response_url}`, retried on 5xx, 429 and transport errors, and briefly while fal
    /// still answers 400 (not ready a moment after COMPLETED).
    async fn result(&self, response_url: &str, id: &str) -> Result<Value, JobError> {
        retry_get(Backoff::GET, move |_| async move {
            let sent = self
                .http
                .get(response_url)
                .header(AUTHORIZATION, self.auth())
                .send()
                .await;
            let r = match sent {
                Ok(r) => r,
                Err(e) => return transient(JobError::Unreachable(format!("result of {id}: {}", describe(&e))), None),
            };
            let (code, ra) = (r.status().as_u16(), retry_after(r.headers()));
            let text = super::http::bounded_text(r).await;
            let failed = || JobError::Failed(error_message(code, &text));
            match code {
                200 => Step::Done(
                    serde_json::from_str(&text).map_err(|_| JobError::Failed(format!("result of {id} is not JSON"))),
                ),
                404 => Step::Done(Err(JobError::Gone(format!(
                    "the result of {id} is gone (fal keeps results only minutes after completion)"
                )))),
                400 => transient(failed(), Some(Duration::from_millis(200))),
                c if retryable_status(c) => transient(failed(), ra),
                _ => Step::Done(Err(failed())),
            }
        })
        .await
    }

    /// fal storage, as fal's JS client does it (`libs/client/src/storage.ts`): initiate (with
    /// `X-Fal-Object-Lifecycle` asking for [`UPLOAD_LIFETIME`]), then PUT the bytes — in 10 MiB
    /// parts and a `complete` above 90 MiB; returns the `file_url` to send.
    pub(crate) async fn upload(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<String, UploadError> {
        let failed = |failure| UploadError {
            what: format!("upload of {file_name}"),
            failure,
        };
        let multipart = bytes.len() > MULTIPART_ABOVE;
        let (upload_url, file_url) = self
            .initiate(multipart, content_type, file_name)
            .await
            .map_err(failed)?;
        let sent = match multipart {
            true => self.put_parts(&upload_url, bytes).await,
            false => self.put(&upload_url, bytes, Some(content_type)).await.map(drop),
        };
        sent.map_err(failed)?;
        Ok(file_url)
    }

    /// `POST {storage}/storage/upload/initiate[-multipart]?storage_type=fal-cdn-v3`:
    /// `(upload_url, file_url)`.
    async fn initiate(
        &self,
        multipart: bool,
        content_type: &str,
        file_name: &str,
    ) -> Result<(String, String), UploadFailure> {
        let kind = if multipart { "initiate-multipart" } else { "initiate" };
        let lifecycle = json!({"expiration_duration_seconds": UPLOAD_LIFETIME.as_secs()}).to_string();
        let init = self
            .http
            .post(format!(
                "{}/storage/upload/{kind}?storage_type=fal-cdn-v3",
                self.storage
            ))
            .header(AUTHORIZATION, self.auth())
            .header("X-Fal-Object-Lifecycle", lifecycle)
            .json(&json!({"file_name": file_name, "content_type": content_type}))
            .send()
            .await
            .map_err(|e| UploadFailure::Transport(describe(&e)))?;
        let code = init.status().as_u16();
        let text = super::http::bounded_text(init).await;
        if code != 200 {
            return Err(UploadFailure::Status(error_message(code, &text)));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| UploadFailure::NotJson)?;
        match (v["upload_url"].as_str(), v["file_url"].as_str()) {
            (Some(u), Some(f)) => Ok((u.to_owned(), f.to_owned())),
            _ => Err(UploadFailure::Missing("upload_url/file_url")),
        }
    }

    /// One PUT of `body` (no key: the URL is signed); the answer's text.
    async fn put(&self, url: &str, body: Vec<u8>, content_type: Option<&str>) -> Result<String, UploadFailure> {
        let mut put = self
            .uploads
            .put(url)
            .timeout(super::http::upload_deadline(body.len()))
            .body(body);
        if let Some(t) = content_type {
            put = put.header(CONTENT_TYPE, t);
        }
        let r = put.send().await.map_err(|e| UploadFailure::Transport(describe(&e)))?;
        let code = r.status().as_u16();
        let text = super::http::bounded_text(r).await;
        match code {
            200..=299 => Ok(text),
            _ => Err(UploadFailure::Status(error_message(code, &text))),
        }
    }

    /// The multipart flow of fal's JS client: `PUT {upload_url path}/{n}{query}` per 10 MiB part
    /// (each answers `{partNumber, etag}`; a part is tried 3 times), then `POST …/complete`
    /// with the parts.
    async fn put_parts(&self, upload_url: &str, bytes: Vec<u8>) -> Result<(), UploadFailure> {
        let url = reqwest::Url::parse(upload_url).map_err(|_| UploadFailure::Missing("a valid upload_url"))?;
        let at = |tail: &str| {
            let mut u = url.clone();
            u.set_path(&format!("{}/{tail}", url.path().trim_end_matches('/')));
            u.to_string()
        };
        let mut parts = Vec::new();
        for (i, chunk) in bytes.chunks(PART_BYTES).enumerate() {
            let n = i + 1;
            let mut answer = self.put(&at(&n.to_string()), chunk.to_vec(), None).await;
            for _ in 1..3 {
                if answer.is_ok() {
                    break;
                }
                answer = self.put(&at(&n.to_string()), chunk.to_vec(), None).await;
            }
            let v: Value = serde_json::from_str(&answer?).map_err(|_| UploadFailure::NotJson)?;
            let etag = v["etag"].as_str().ok_or(UploadFailure::Missing("etag"))?;
            parts.push(json!({"partNumber": n, "etag": etag}));
        }
        let r = self
            .http
            .post(at("complete"))
            .json(&json!({"parts": parts}))
            .send()
            .await
            .map_err(|e| UploadFailure::Transport(describe(&e)))?;
        let code = r.status().as_u16();
        match code {
            200..=299 => Ok(()),
            _ => Err(UploadFailure::Status(error_message(
                code,
                &super::http::bounded_text(r).await,
            ))),
        }
    }
}

/// How long fal keeps an uploaded input, as each upload asks (`X-Fal-Object-Lifecycle`, fal-js
/// `storage.ts`; the account's default lifetime is configurable and may be shorter): 7 days.
pub(crate) const UPLOAD_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Above this, fal's JS client uploads in parts (90 MiB).
const MULTIPART_ABOVE: usize = 90 * 1024 * 1024;

/// The part size of a multipart upload (fal's JS client: 10 MiB).
const PART_BYTES: usize = 10 * 1024 * 1024;

/// fal's 403 for an account out of money: `User is locked. Reason: Exhausted balance`.
fn locked(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    b.contains("locked") || b.contains("balance")
}

/// Tells the caller where the job is; true when it is COMPLETED.
fn report(v: &Value, on_state: &(dyn Fn(JobState) + Send + Sync)) -> bool {
    match v.get("status").and_then(Value::as_str) {
        Some("COMPLETED") => true,
        Some("IN_QUEUE") => {
            on_state(JobState::Queued(v.get("queue_position").and_then(Value::as_u64)));
            false
        }
        Some("IN_PROGRESS") => {
            on_state(JobState::Running);
            false
        }
        _ => false,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
