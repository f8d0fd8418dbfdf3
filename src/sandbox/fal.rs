//! The fal queue (../shared/reference/protocol.md §1) and fal storage upload (§2).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::files::ClipSpec;
use super::schemas::{self, Output};
use super::{Fault, Inner, Job, Outcome, Shared, json_response};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    InQueue,
    InProgress,
    Completed,
}

pub(super) fn phase(state: &Shared, job: &Job, now: Instant) -> Phase {
    let el = now.saturating_duration_since(job.created);
    let cfg = &state.config;
    let held = matches!(job.outcome, Outcome::Voice(_)) && state.voices_held.load(std::sync::atomic::Ordering::SeqCst);
    if job.cancelled || (el >= job.starts + cfg.job_time && !held) {
        Phase::Completed
    } else if el >= job.starts {
        Phase::InProgress
    } else {
        Phase::InQueue
    }
}

pub(super) fn authorized(state: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(key) = value.strip_prefix("Key ") else {
        return false;
    };
    !key.trim().is_empty() && state.config.api_key.as_deref().is_none_or(|k| k == key)
}

pub(super) fn unauthorized() -> Response<Body> {
    json_response(StatusCode::UNAUTHORIZED, json!({"detail": "Unauthorized"}))
}

/// `detail` + `error_type` with the `X-Fal-Error-Type` header (request/infrastructure errors).
fn infra_error(status: StatusCode, detail: &str, error_type: &str) -> Response<Body> {
    let mut r = json_response(status, json!({"detail": detail, "error_type": error_type}));
    if let Ok(v) = error_type.parse() {
        r.headers_mut().insert("x-fal-error-type", v);
    }
    r
}

fn urls(state: &Shared, app: &str, id: &str) -> Value {
    let base = format!("{}/{app}/requests/{id}", state.base);
    json!({
        "request_id": id,
        "response_url": base,
        "status_url": format!("{base}/status"),
        "cancel_url": format!("{base}/cancel"),
    })
}

/// The app part of an endpoint id: `owner/alias` (`workflows/owner/alias` for workflows).
fn app_len(segs: &[&str]) -> usize {
    if matches!(segs.first(), Some(&"workflows") | Some(&"comfy")) {
        3
    } else {
        2
    }
}

pub(super) async fn handle(
    state: &Arc<Shared>,
    method: &Method,
    segs: &[&str],
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let n = app_len(segs);
    if segs.len() < n {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found"}));
    }
    if !authorized(state, headers) {
        state.lock().count("unauthorized");
        return unauthorized();
    }
    let app = segs[..n].join("/");
    let rest = &segs[n..];
    match (method, rest) {
        (&Method::GET, ["requests", id, "status"]) => status(state, &app, id, query),
        (&Method::GET, ["requests", id, "status", "stream"]) => stream(state.clone(), app, (*id).to_owned(), query),
        (&Method::GET, ["requests", id]) => result(state, &app, id),
        (&Method::PUT, ["requests", id, "cancel"]) => cancel(state, &app, id),
        (&Method::POST, _) => {
            let endpoint = segs.join("/");
            let fetched = fetch_inputs(&endpoint, &body).await;
            let answer = submit(state, endpoint, app, query, &body, fetched);
            tokio::time::sleep(state.config.submit_delay).await;
            answer
        }
        _ => json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"detail": "Method Not Allowed"})),
    }
}

/// An image model's valid request fetches its `image_urls` (as fal's runner does); what
/// arrived, or the download error the job will end in. Nothing for other requests.
async fn fetch_inputs(endpoint: &str, body: &[u8]) -> Result<Vec<Value>, Value> {
    let Some(model) = schemas::fal_model(endpoint).filter(|m| m.output == Output::Image) else {
        return Ok(Vec::new());
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(input) if model.validate(&input).is_empty() => super::images::fetch_inputs(&input).await,
        _ => Ok(Vec::new()),
    }
}

fn submit(
    state: &Shared,
    endpoint: String,
    app: String,
    query: &str,
    body: &[u8],
    fetched: Result<Vec<Value>, Value>,
) -> Response<Body> {
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("submit");
    if inner.fault(&cfg.faults, Fault::Submit429) {
        let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, json!({"detail": "Too many requests"}));
        r.headers_mut()
            .insert("retry-after", "1".parse().expect("static header"));
        return r;
    }
    if inner.fault(&cfg.faults, Fault::AccountLocked) {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"detail": "User is locked. Reason: Exhausted balance"}),
        );
    }
    if inner.fault(&cfg.faults, Fault::Submit503) {
        return infra_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Runner scheduling failure",
            "runner_scheduling_failure",
        );
    }
    let Some(model) = schemas::fal_model(&endpoint) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"detail": format!("Application '{endpoint}' not found")}),
        );
    };
    let input: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"loc": ["body"], "msg": format!("Invalid JSON: {e}"), "type": "value_error.jsondecode"}]}),
            );
        }
    };
    let errors = model.validate(&input);
    if !errors.is_empty() {
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "detail": errors }));
    }
    let id = inner.new_id();
    let (outcome, received) = match fetched {
        Ok(received) => (decide(&mut inner, cfg, model, &input, (&app, &endpoint, &id)), received),
        Err(detail) => (Outcome::Reject(detail), Vec::new()),
    };
    let kind = match model.output {
        Output::Image => "image",
        Output::Voice => "voice",
        Output::Video => "video",
    };
    inner.job_started(&endpoint, kind);
    let wall = inner.wall_now();
    let created = Instant::now();
    let starts = inner.schedule(cfg, created);
    inner.jobs.insert(
        id.clone(),
        Job {
            app: app.clone(),
            endpoint: endpoint.clone(),
            input: input.clone(),
            created,
            created_wall: wall,
            starts,
            outcome,
            cancelled: false,
            finished: false,
            received,
        },
    );
    super::kept::taken(&mut inner, &id);
    state.keep(&mut inner);
    if inner.fault(&cfg.faults, Fault::SubmitDrop) {
        // The job exists (and would be billed); the answer never arrives.
        return dropped_connection();
    }
    let position = queue_position(state, &inner, &app, &id);
    drop(inner);
    let mut out = urls(state, &app, &id);
    out["status"] = json!("IN_QUEUE");
    out["queue_position"] = json!(position);
    if query.split('&').any(|p| p.starts_with("fal_webhook=")) {
        out["gateway_request_id"] = json!(id);
    }
    json_response(StatusCode::OK, out)
}

/// A response whose body fails at once: the client sees the connection end with no answer.
pub(super) fn dropped_connection() -> Response<Body> {
    let stream =
        futures::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped")) });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("content-length", "200")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// What the job will end in: markers in the prompt pick failures deterministically
/// (`[sandbox:fail]`, `[sandbox:reject]`), then the fault plan, else a clip.
fn decide(
    inner: &mut Inner,
    cfg: &super::SandboxConfig,
    model: &schemas::Model,
    input: &Value,
    (app, endpoint, id): (&str, &str, &str),
) -> Outcome {
    let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or("");
    if prompt.contains("[sandbox:reject]") {
        return Outcome::Reject(json!([{
            "loc": ["body", "prompt"],
            "msg": "The prompt was flagged by the content checker",
            "type": "content_policy_violation",
        }]));
    }
    if prompt.contains("[sandbox:fail]") || inner.fault(&cfg.faults, Fault::FailJob) {
        return Outcome::Fail {
            error: "Runner disconnected".into(),
            error_type: "runner_disconnected".into(),
        };
    }
    match model.output {
        Output::Voice => {
            let url = input.get("voice_url").and_then(Value::as_str).unwrap_or("");
            Outcome::Voice(super::files::voice_id_for(inner, url, app))
        }
        Output::Video => Outcome::Clip(ClipSpec::from_input(input, endpoint, model.audio_default)),
        Output::Image => Outcome::Image(super::images::ImageSpec::from_input(
            input,
            endpoint,
            &model.output_fields,
            id,
        )),
    }
}

fn queue_position(state: &Shared, inner: &Inner, app: &str, id: &str) -> usize {
    let now = Instant::now();
    let Some(me) = inner.jobs.get(id) else { return 0 };
    inner
        .jobs
        .values()
        .filter(|j| j.app == app && j.created < me.created && phase(state, j, now) == Phase::InQueue)
        .count()
}

fn logs_wanted(query: &str) -> bool {
    query
        .split('&')
        .any(|p| matches!(p, "logs=1" | "logs=true" | "logs=True"))
}

/// The status object (shared by polling and the stream); `None` for an unknown id.
fn status_body(state: &Shared, inner: &Inner, app: &str, id: &str, logs: bool) -> Option<(Phase, Value)> {
    let job = inner.jobs.get(id).filter(|j| j.app == app)?;
    let now = Instant::now();
    let ph = phase(state, job, now);
    let mut body = urls(state, app, id);
    let log_lines = |msgs: &[&str]| {
        if logs {
            json!(msgs
                .iter()
                .map(|m| json!({"message": m, "level": "INFO", "source": "USER", "timestamp": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()}))
                .collect::<Vec<_>>())
        } else {
            Value::Null
        }
    };
    match ph {
        Phase::InQueue => {
            body["status"] = json!("IN_QUEUE");
            body["queue_position"] = json!(queue_position(state, inner, app, id));
            body["logs"] = Value::Null;
        }
        Phase::InProgress => {
            body["status"] = json!("IN_PROGRESS");
            body["logs"] = log_lines(&["Generating video"]);
        }
        Phase::Completed => {
            body["status"] = json!("COMPLETED");
            body["logs"] = log_lines(&["Generating video", "Done"]);
            body["metrics"] = json!({"inference_time": state.config.job_time.as_secs_f64()});
            match &job.outcome {
                Outcome::Fail { error, error_type } => {
                    body["error"] = json!(error);
                    body["error_type"] = json!(error_type);
                }
                _ if job.cancelled => {
                    body["error"] = json!("Request cancelled");
                    body["error_type"] = json!("client_cancelled");
                }
                _ => {}
            }
        }
    }
    Some((ph, body))
}

fn not_found() -> Response<Body> {
    json_response(StatusCode::NOT_FOUND, json!({"detail": "Request not found"}))
}

fn status(state: &Shared, app: &str, id: &str, query: &str) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("status");
    if inner.fault(&state.config.faults, Fault::Status5xx) {
        return infra_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            "internal_error",
        );
    }
    match status_body(state, &inner, app, id, logs_wanted(query)) {
        Some((Phase::Completed, body)) => json_response(StatusCode::OK, body),
        Some((_, body)) => json_response(StatusCode::ACCEPTED, body),
        None => not_found(),
    }
}

fn stream(state: Arc<Shared>, app: String, id: String, query: &str) -> Response<Body> {
    let logs = logs_wanted(query);
    {
        let mut inner = state.lock();
        inner.count("stream");
        if inner.fault(&state.config.faults, Fault::StreamOff) {
            return json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found"}));
        }
        if inner.jobs.get(&id).is_none_or(|j| j.app != app) {
            return not_found();
        }
    }
    let drop_early = state.lock().fault(&state.config.faults, Fault::StreamDrop);
    let keep_alive = state.config.keep_alive;
    // State: (last body sent, events sent, finished).
    let events = futures::stream::unfold((String::new(), 0u32, false), move |(last, sent, done)| {
        let state = state.clone();
        let app = app.clone();
        let id = id.clone();
        async move {
            if done || (drop_early && sent >= 1) {
                return None;
            }
            loop {
                let (ph, body) = {
                    let inner = state.lock();
                    status_body(&state, &inner, &app, &id, logs)?
                };
                let text = body.to_string();
                if text != last {
                    let event = Event::default().data(text.clone());
                    return Some((Ok::<Event, Infallible>(event), (text, sent + 1, ph == Phase::Completed)));
                }
                tokio::time::sleep(next_change(&state, &id).min(Duration::from_millis(250))).await;
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("ping"))
        .into_response()
}

/// Time until the job's phase next changes.
fn next_change(state: &Shared, id: &str) -> Duration {
    let inner = state.lock();
    let Some(job) = inner.jobs.get(id) else {
        return Duration::from_millis(50);
    };
    let el = Instant::now().saturating_duration_since(job.created);
    let cfg = &state.config;
    let next = if el < job.starts {
        job.starts
    } else {
        job.starts + cfg.job_time
    };
    next.saturating_sub(el).max(Duration::from_millis(2))
}

fn result(state: &Shared, app: &str, id: &str) -> Response<Body> {
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("result");
    let now = Instant::now();
    let Some(job) = inner.jobs.get(id).filter(|j| j.app == app) else {
        return not_found();
    };
    let ph = phase(state, job, now);
    if ph != Phase::Completed {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"detail": "Request is still in progress"}),
        );
    }
    let done_at = job.created + job.starts + cfg.job_time;
    if let Some(ttl) = cfg.result_ttl
        && !job.cancelled
        && now.saturating_duration_since(done_at) > ttl
    {
        return not_found();
    }
    let outcome = job.outcome.clone();
    let cancelled = job.cancelled;
    if inner.fault(&cfg.faults, Fault::Result5xx) {
        return infra_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Runner disconnected",
            "runner_disconnected",
        );
    }
    if let Some(job) = inner.jobs.get_mut(id)
        && !job.finished
    {
        job.finished = true;
        inner.job_finished();
        state.keep(&mut inner);
        if !cancelled {
            inner
                .result_latency_ms
                .push(now.saturating_duration_since(done_at).as_secs_f64() * 1e3);
        }
    }
    let mut response = if cancelled {
        infra_error(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "Request cancelled",
            "client_cancelled",
        )
    } else {
        match outcome {
            Outcome::Clip(spec) => {
                let size = super::files::clip_len(state, &spec, id);
                json_response(
                    StatusCode::OK,
                    json!({"video": {
                        "url": format!("{}/files/{id}/output.mp4", state.base),
                        "content_type": "video/mp4",
                        "file_name": "output.mp4",
                        "file_size": size,
                    }}),
                )
            }
            Outcome::Image(spec) => json_response(StatusCode::OK, super::images::result_json(state, &spec, id)),
            Outcome::Voice(voice_id) => json_response(StatusCode::OK, json!({ "voice_id": voice_id })),
            Outcome::Fail { error, error_type } => infra_error(StatusCode::SERVICE_UNAVAILABLE, &error, &error_type),
            Outcome::Reject(detail) => json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "detail": detail })),
        }
    };
    if let Ok(v) = id.parse() {
        response.headers_mut().insert("x-fal-request-id", v);
    }
    response
}

fn cancel(state: &Shared, app: &str, id: &str) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("cancel");
    let now = Instant::now();
    let Some(job) = inner.jobs.get(id).filter(|j| j.app == app) else {
        return json_response(StatusCode::NOT_FOUND, json!({"status": "NOT_FOUND"}));
    };
    if phase(state, job, now) == Phase::Completed {
        return json_response(StatusCode::BAD_REQUEST, json!({"status": "ALREADY_COMPLETED"}));
    }
    if let Some(job) = inner.jobs.get_mut(id) {
        job.cancelled = true;
    }
    state.keep(&mut inner);
    json_response(StatusCode::ACCEPTED, json!({"status": "CANCELLATION_REQUESTED"}))
}

/// `POST /storage/upload/initiate?storage_type=…` `{file_name, content_type}` → `{upload_url, file_url}`.
pub(super) fn storage_initiate(state: &Shared, segs: &[&str], headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let multipart = match segs {
        ["storage", "upload", "initiate"] => false,
        ["storage", "upload", "initiate-multipart"] => true,
        _ => return json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found"})),
    };
    if !authorized(state, headers) {
        return unauthorized();
    }
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(content_type) = req.get("content_type").and_then(Value::as_str) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["body", "content_type"], "msg": "field required", "type": "value_error.missing"}]}),
        );
    };
    let file_name = req
        .get("file_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .unwrap_or("upload.bin")
        .to_owned();
    let lifetime = match super::files::lifetime(state, headers) {
        Ok(l) => l,
        Err(refused) => return *refused,
    };
    let token = state.lock().expect_upload("upload_initiate", content_type);
    super::files::opened(state, &token, lifetime, multipart);
    json_response(
        StatusCode::OK,
        json!({
            "upload_url": format!("{}/__upload/{token}", state.base),
            "file_url": format!("{}/files/uploads/{token}/{file_name}", state.base),
        }),
    )
}
