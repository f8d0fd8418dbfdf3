//! Eachlabs prediction client (protocol.md §4): create, then poll about every 2 s.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::http::{Backoff, retry_after, retryable_status};
use super::{Accepted, ClipSource, Endpoints, JobError, JobState, SubmitError, describe, error_message, send_submit};

/// Polls of a status the docs do not list, before giving up.
const MAX_UNKNOWN_POLLS: u32 = 300;

/// The Eachlabs client.
#[derive(Clone)]
pub struct Eachlabs {
    base: String,
    key: Arc<str>,
    http: reqwest::Client,
    /// Poll interval (Eachlabs' docs: 2 s).
    pub poll: Duration,
}

impl Eachlabs {
    /// A client for the given base URL.
    pub fn new(endpoints: &Endpoints, key: String, http: reqwest::Client) -> Eachlabs {
        Eachlabs {
            base: endpoints.eachlabs.clone(),
            key: key.into(),
            http,
            poll: Duration::from_secs(2),
        }
    }

    /// `POST /v1/prediction` once, every input parameter explicit.
    pub async fn submit(
        &self,
        model: &str,
        version: &str,
        input: &Map<String, Value>,
    ) -> Result<Accepted, SubmitError> {
        let request = self
            .http
            .post(format!("{}/v1/prediction", self.base))
            .header("x-api-key", &*self.key)
            .json(&json!({"model": model, "version": version, "input": input}));
        let answer = send_submit(request).await?;
        let (status, text) = (answer.status, answer.text.as_str());
        match status {
            200..=299 => {
                let v = answer.json()?;
                match v.get("predictionID").or_else(|| v.get("id")).and_then(Value::as_str) {
                    Some(id) => Ok(Accepted {
                        request_id: id.to_owned(),
                        status_url: None,
                        response_url: None,
                        cancel_url: None,
                    }),
                    None => Err(SubmitError::Uncertain("the create's answer had no predictionID".into())),
                }
            }
            // A 429 creates nothing and costs nothing (protocol.md §4).
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

    /// Polls `GET /v1/prediction/{id}` until it ends.
    pub async fn follow(
        &self,
        job: &Accepted,
        on_state: &(dyn Fn(JobState) + Send + Sync),
    ) -> Result<ClipSource, JobError> {
        let id = &job.request_id;
        let (mut errors, mut unknown) = (0, 0);
        loop {
            let sent = self
                .http
                .get(format!("{}/v1/prediction/{id}", self.base))
                .header("x-api-key", &*self.key)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    errors = 0;
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    match v.get("status").and_then(Value::as_str).unwrap_or("") {
                        "created" | "starting" => on_state(JobState::Queued(None)),
                        "processing" => on_state(JobState::Running),
                        "success" => {
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
                            return Ok(ClipSource {
                                url,
                                size: None,
                                cost_usd: v["metrics"]["cost"].as_f64(),
                            });
                        }
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
                }
                Ok(r) if r.status().as_u16() == 404 => {
                    return Err(JobError::Gone(format!(
                        "Eachlabs no longer knows prediction {id} (404)"
                    )));
                }
                Ok(r) => {
                    let code = r.status().as_u16();
                    let ra = retry_after(r.headers());
                    let text = r.text().await.unwrap_or_default();
                    errors += 1;
                    if !retryable_status(code) || errors >= Backoff::GET.attempts {
                        return Err(JobError::Unreachable(format!(
                            "prediction {id}: {}",
                            error_message(code, &text)
                        )));
                    }
                    tokio::time::sleep(Backoff::GET.delay(errors, ra)).await;
                    continue;
                }
                Err(e) => {
                    errors += 1;
                    if errors >= Backoff::GET.attempts {
                        return Err(JobError::Unreachable(format!("prediction {id}: {}", describe(&e))));
                    }
                    tokio::time::sleep(Backoff::GET.delay(errors, None)).await;
                    continue;
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Presigned upload: `POST /v1/upload/presign`, then `PUT` with the required headers.
    pub async fn upload(&self, bytes: Vec<u8>, content_type: &str) -> Result<String, String> {
        let r = self
            .http
            .post(format!("{}/v1/upload/presign", self.base))
            .header("x-api-key", &*self.key)
            .json(&json!({"content_type": content_type}))
            .send()
            .await
            .map_err(|e| format!("upload: {}", describe(&e)))?;
        let code = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        if !(200..300).contains(&code) {
            return Err(format!("upload: {}", error_message(code, &text)));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| "upload: answer is not JSON".to_owned())?;
        let (Some(put_url), Some(public)) = (v["presigned_url"].as_str(), v["public_url"].as_str()) else {
            return Err("upload: answer lacks presigned_url/public_url".into());
        };
        let mut put = self.http.put(put_url).header(CONTENT_TYPE, content_type).body(bytes);
        if let Some(h) = v["required_headers"].as_object() {
            for (k, val) in h {
                if let Some(val) = val.as_str()
                    && !k.eq_ignore_ascii_case("content-type")
                {
                    put = put.header(k.as_str(), val);
                }
            }
        }
        let done = put.send().await.map_err(|e| format!("upload: {}", describe(&e)))?;
        if !done.status().is_success() {
            let code = done.status().as_u16();
            return Err(format!(
                "upload: {}",
                error_message(code, &done.text().await.unwrap_or_default())
            ));
        }
        Ok(public.to_owned())
    }
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
