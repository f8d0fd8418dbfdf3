//! Eachlabs prediction client (../shared/reference/protocol.md §4): create, then poll about every 2 s.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::http::{Backoff, Step, retry_after, retry_get, retryable_status, transient};
use super::{
    Accepted, ClipSource, Endpoints, JobError, JobState, SubmitError, UploadError, UploadFailure, describe,
    error_message, send_submit,
};

/// Polls of a status the docs do not list, before giving up.
const MAX_UNKNOWN_POLLS: u32 = 300;

/// The Eachlabs client.
#[derive(Clone)]
pub(crate) struct Eachlabs {
    base: String,
    key: Arc<str>,
    http: reqwest::Client,
    /// For upload bodies (no read timeout; a deadline per upload).
    uploads: reqwest::Client,
    /// Poll interval (Eachlabs' docs: 2 s).
    pub poll: Duration,
}

impl Eachlabs {
    /// A client for the given base URL.
    pub(crate) fn new(endpoints: &Endpoints, key: String, http: reqwest::Client) -> Eachlabs {
        Eachlabs {
            base: endpoints.eachlabs.clone(),
            key: key.into(),
            http,
            uploads: super::http::upload_client(),
            poll: Duration::from_secs(2),
        }
    }

    /// `Authorization: Bearer <key>`, as Eachlabs documents it now (`X-API-Key` is undocumented).
    fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// `POST /v1/prediction` once, every input parameter explicit.
    pub(crate) async fn submit(
        &self,
        model: &str,
        version: &str,
        input: &Map<String, Value>,
    ) -> Result<Accepted, SubmitError> {
        let request = self
            .http
            .post(format!("{}/v1/prediction", self.base))
            .header(AUTHORIZATION, self.bearer())
            .json(&json!({"model": model, "version": version, "input": input}));
        let answer = send_submit(request).await?;
        let (status, text) = (answer.status, answer.text.as_str());
        match status {
            200..=299 => {
                let v = answer.json()?;
                let id = v.get("predictionID").or_else(|| v.get("id")).and_then(Value::as_str);
                match id.filter(|id| super::valid_eachlabs_id(id)) {
                    Some(id) => Ok(Accepted::by_id(id)),
                    None => Err(SubmitError::Uncertain(
                        "the create's answer had no usable predictionID".into(),
                    )),
                }
            }
            // A 429 creates nothing and costs nothing (../shared/reference/protocol.md §4).
            429 => Err(answer.retry(true)),
            401 | 403 => Err(SubmitError::Fatal(format!(
                "Eachlabs refused the API key ({}): check EACHLABS_API_KEY",
                error_message(status, text)
            ))),
            402 => Err(SubmitError::Fatal(format!(
                "Eachlabs: the balance is too low for more predictions ({}); top up, then run render again to finish",
                error_message(status, text)
            ))),
            400..=499 => Err(SubmitError::Rejected(error_message(status, text))),
            _ => Err(SubmitError::Uncertain(error_message(status, text))),
        }
    }

    /// Polls `GET /v1/prediction/{id}` until it ends; each poll is retried on transport
    /// errors and 5xx/429 (with `Retry-After`).
    pub(crate) async fn follow(
        &self,
        job: &Accepted,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<ClipSource, JobError> {
        let id = &job.request_id;
        let mut unknown = 0;
        loop {
            let v = self.prediction(id).await?;
            match v.get("status").and_then(Value::as_str).unwrap_or("") {
                "created" | "starting" => on_state(JobState::Queued(None)),
                "processing" => on_state(JobState::Running),
                "success" => return success(id, &v),
                s @ ("error" | "failed" | "cancelled") => return Err(JobError::Failed(failure(s, &v))),
                other => {
                    unknown += 1;
                    if unknown > MAX_UNKNOWN_POLLS {
                        return Err(JobError::Unreachable(format!(
                            "prediction {id} stayed in unknown status `{other}`"
                        )));
                    }
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// One `GET /v1/prediction/{id}`, retried on passing failures.
    async fn prediction(&self, id: &str) -> Result<Value, JobError> {
        retry_get(Backoff::GET, move |_| async move {
            let sent = self
                .http
                .get(format!("{}/v1/prediction/{id}", self.base))
                .header(AUTHORIZATION, self.bearer())
                .send()
                .await;
            let r = match sent {
                Ok(r) => r,
                Err(e) => {
                    return transient(
                        JobError::Unreachable(format!("prediction {id}: {}", describe(&e))),
                        None,
                    );
                }
            };
            let (code, ra) = (r.status().as_u16(), retry_after(r.headers()));
            match code {
                200..=299 => Step::Done(Ok(super::http::bounded_json(r).await.unwrap_or(Value::Null))),
                404 => Step::Done(Err(JobError::Gone(format!(
                    "Eachlabs no longer knows prediction {id} (404)"
                )))),
                _ => {
                    let text = super::http::bounded_text(r).await;
                    let e = JobError::Unreachable(format!("prediction {id}: {}", error_message(code, &text)));
                    if retryable_status(code) {
                        transient(e, ra)
                    } else {
                        Step::Done(Err(e))
                    }
                }
            }
        })
        .await
    }

    /// The prediction ids of `model` created since `since` (RFC 3339) whose input is exactly
    /// `input`, oldest first: `GET /v1/executions` lists them 100 at a time (`limit`,
    /// `offset`; the default page is 20), each `GET /v1/prediction/{id}` shows its input.
    pub(crate) async fn find_in_history(
        &self,
        model: &str,
        since: &str,
        input: &Map<String, Value>,
    ) -> Result<Vec<String>, super::HistoryUnavailable> {
        let wanted = Value::Object(input.clone());
        let mut found = Vec::new();
        for page in 0..super::MAX_HISTORY_PAGES {
            let rows = self.executions(model, since, page * 100).await?;
            for row in &rows {
                let Some(id) = row["id"].as_str().filter(|id| super::valid_eachlabs_id(id)) else {
                    continue;
                };
                if self.prediction(id).await.is_ok_and(|p| p["input"] == wanted) {
                    found.push((row["created_at"].as_str().unwrap_or("").to_owned(), id.to_owned()));
                }
            }
            if rows.len() < 100 {
                found.sort();
                return Ok(found.into_iter().map(|(_, id)| id).collect());
            }
        }
        Err(super::HistoryUnavailable(format!(
            "more than {} predictions of {model} since {since}; stopped reading",
            super::MAX_HISTORY_PAGES * 100
        )))
    }

    /// One page of `GET /v1/executions` (100 rows from `offset`).
    async fn executions(
        &self,
        model: &str,
        since: &str,
        offset: usize,
    ) -> Result<Vec<Value>, super::HistoryUnavailable> {
        let mut url = reqwest::Url::parse(&format!("{}/v1/executions", self.base))
            .map_err(|e| super::HistoryUnavailable(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("model", model)
            .append_pair("from", since)
            .append_pair("limit", "100")
            .append_pair("offset", &offset.to_string());
        let v = super::history_json(|| self.http.get(url.clone()).header(AUTHORIZATION, self.bearer())).await?;
        Ok(match v {
            Value::Array(a) => a,
            mut v => ["data", "executions", "items"]
                .iter()
                .find_map(|k| {
                    v.get_mut(*k).map(Value::take).and_then(|x| match x {
                        Value::Array(a) => Some(a),
                        _ => None,
                    })
                })
                .unwrap_or_default(),
        })
    }

    /// `POST /v1/prediction/{id}/cancel` (its state first: queued, running or done).
    pub(crate) async fn cancel(&self, job: &Accepted) -> Result<super::Cancelled, JobError> {
        use super::Cancelled;
        let id = &job.request_id;
        let status = match self.prediction(id).await {
            Ok(v) => v["status"].as_str().unwrap_or("").to_owned(),
            Err(JobError::Gone(_)) => return Ok(Cancelled::Unknown),
            Err(e) => return Err(e),
        };
        if matches!(status.as_str(), "success" | "error" | "failed" | "cancelled") {
            return Ok(Cancelled::AlreadyDone);
        }
        let r = self
            .http
            .post(format!("{}/v1/prediction/{id}/cancel", self.base))
            .header(AUTHORIZATION, self.bearer())
            .send()
            .await
            .map_err(|e| JobError::Unreachable(describe(&e)))?;
        let code = r.status().as_u16();
        match code {
            200..=299 if status == "processing" => Ok(Cancelled::Running),
            200..=299 => Ok(Cancelled::Queued),
            404 => Ok(Cancelled::Unknown),
            _ => Err(JobError::Failed(error_message(
                code,
                &super::http::bounded_text(r).await,
            ))),
        }
    }

    /// Presigned upload: `POST /v1/upload/presign`, then `PUT` with the required headers.
    pub(crate) async fn upload(&self, bytes: Vec<u8>, content_type: &str) -> Result<String, UploadError> {
        let failed = |failure| UploadError {
            what: "upload".into(),
            failure,
        };
        let r = self
            .http
            .post(format!("{}/v1/upload/presign", self.base))
            .header(AUTHORIZATION, self.bearer())
            .json(&json!({"content_type": content_type}))
            .send()
            .await
            .map_err(|e| failed(UploadFailure::Transport(describe(&e))))?;
        let code = r.status().as_u16();
        let text = super::http::bounded_text(r).await;
        if !(200..300).contains(&code) {
            return Err(failed(UploadFailure::Status(error_message(code, &text))));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| failed(UploadFailure::NotJson))?;
        let (Some(put_url), Some(public)) = (v["presigned_url"].as_str(), v["public_url"].as_str()) else {
            return Err(failed(UploadFailure::Missing("presigned_url/public_url")));
        };
        let deadline = super::http::upload_deadline(bytes.len());
        let mut put = self
            .uploads
            .put(put_url)
            .timeout(deadline)
            .header(CONTENT_TYPE, content_type)
            .body(bytes);
        if let Some(h) = v["required_headers"].as_object() {
            for (k, val) in h {
                if let Some(val) = val.as_str()
                    && !k.eq_ignore_ascii_case("content-type")
                {
                    put = put.header(k.as_str(), val);
                }
            }
        }
        let done = put
            .send()
            .await
            .map_err(|e| failed(UploadFailure::Transport(describe(&e))))?;
        if !done.status().is_success() {
            let code = done.status().as_u16();
            let text = super::http::bounded_text(done).await;
            return Err(failed(UploadFailure::Status(error_message(code, &text))));
        }
        Ok(public.to_owned())
    }
}

/// The clip of a successful prediction, wherever the body carries its URL.
fn success(id: &str, v: &Value) -> Result<ClipSource, JobError> {
    let url = match &v["output"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|x| x.as_str().map(str::to_owned)),
        Value::Object(o) => o.get("url").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let Some(url) = url else {
        return Err(JobError::Failed(format!(
            "prediction {id} succeeded without an output URL"
        )));
    };
    Ok(ClipSource {
        url,
        size: None,
        cost_usd: v["metrics"]["cost"].as_f64().or_else(|| v["execution_cost"].as_f64()),
    })
}

/// The failure message of a finished prediction, wherever the body carries it.
fn failure(status: &str, v: &Value) -> String {
    let msg = v["output"]["error_message"]
        .as_str()
        .or_else(|| v["error"].as_str())
        .or_else(|| v["message"].as_str())
        .or_else(|| v["logs"].as_str())
        .or_else(|| v["details"].as_str())
        .unwrap_or("no message");
    format!("prediction {status}: {msg}")
}
