//! Eachlabs predictions (../shared/reference/protocol.md §4) and its presigned upload.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Instant;

use super::files::ClipSpec;
use super::schemas;
use super::{Fault, Outcome, Prediction, Shared, json_response};

fn key(state: &Shared, headers: &HeaderMap) -> Option<String> {
    let from_header = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let from_bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let k = from_header.or(from_bearer).filter(|k| !k.trim().is_empty())?;
    state
        .config
        .api_key
        .as_deref()
        .is_none_or(|want| want == k)
        .then_some(k)
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, json!({ "error": message }))
}

pub(super) fn handle(
    state: &Shared,
    method: &Method,
    segs: &[&str],
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Body> {
    if let (&Method::GET, ["model"]) = (method, segs) {
        return model(state, query);
    }
    let Some(key) = key(state, headers) else {
        state.lock().count("unauthorized");
        return error(StatusCode::UNAUTHORIZED, "Invalid or missing API key");
    };
    match (method, segs) {
        (&Method::POST, ["prediction"]) => create(state, key, body),
        (&Method::GET, ["prediction", id]) => get(state, &key, id),
        (&Method::POST, ["prediction", id, "cancel"]) => cancel(state, &key, id),
        (&Method::GET, ["executions"]) => executions(state, &key, query),
        (&Method::POST, ["upload", "presign"]) => presign(state, body),
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// `GET /v1/model?slug=` (public, no key: protocol.md §4): the model with its `request_schema`,
/// from the published snapshot, or the document a test told (`Sandbox::set_eachlabs_model`).
fn model(state: &Shared, query: &str) -> Response<Body> {
    state.lock().count("model");
    let slug = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "slug")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if let Some(doc) = state.lock().documents.get(&slug).cloned() {
        return json_response(StatusCode::OK, doc);
    }
    let Some((_, text)) = crate::published::EACHLABS.iter().find(|(id, _)| *id == slug) else {
        return error(StatusCode::NOT_FOUND, "Model not found");
    };
    let schema: Value = serde_json::from_str(text).unwrap_or_default();
    json_response(
        StatusCode::OK,
        json!({"title": slug, "slug": slug, "version": "0.0.1", "request_schema": schema}),
    )
}

/// List price of a prediction, reported as `metrics.cost` (Eachlabs model pages).
fn cost(model: &str, spec: &ClipSpec) -> f64 {
    let s = f64::from(spec.seconds);
    if model.contains("v2-5-turbo") {
        0.35 + 0.07 * (s - 5.0).max(0.0)
    } else if spec.audio {
        0.14 * s
    } else {
        0.07 * s
    }
}

fn create(state: &Shared, key: String, body: &[u8]) -> Response<Body> {
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("eachlabs_create");
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return error(StatusCode::BAD_REQUEST, "Invalid JSON body"),
    };
    let Some(slug) = req.get("model").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "model field is required");
    };
    let Some((model, _version)) = schemas::eachlabs_model(slug) else {
        return error(StatusCode::NOT_FOUND, "Model not found");
    };
    let input = req.get("input").cloned().unwrap_or(Value::Null);
    let problems = model.validate(&input);
    if !problems.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid input for model", "details": problems}),
        );
    }
    let now = Instant::now();
    let in_flight = inner
        .predictions
        .values()
        .filter(|p| {
            p.key == key && !p.cancelled && now.saturating_duration_since(p.created) < cfg.queue_time + cfg.job_time
        })
        .count();
    let capped = in_flight >= cfg.eachlabs_max_in_flight;
    if capped || inner.fault(&cfg.faults, Fault::Each429) {
        if capped {
            *inner.faults_injected.entry("each_429_limit").or_default() += 1;
        }
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"status": 429, "error": "too many requests", "details": format!("Account rate limited: {} predictions in flight", in_flight)}),
        );
    }
    if inner.fault(&cfg.faults, Fault::Each402) {
        return json_response(
            StatusCode::PAYMENT_REQUIRED,
            json!({"status": 402, "error": "payment required", "details": "Insufficient balance for the estimated cost of in-flight predictions"}),
        );
    }
    let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or("");
    let (outcome, failure_word) = if prompt.contains("[sandbox:cancelled]") {
        (
            Outcome::Fail {
                error: "Prediction cancelled".into(),
                error_type: "cancelled".into(),
            },
            "cancelled",
        )
    } else if prompt.contains("[sandbox:failed]") || inner.fault(&cfg.faults, Fault::EachFailed) {
        (
            Outcome::Fail {
                error: "Error: model failed to generate the video".into(),
                error_type: "MODEL_ERROR".into(),
            },
            "failed",
        )
    } else if prompt.contains("[sandbox:fail]") || inner.fault(&cfg.faults, Fault::EachError) {
        (
            Outcome::Fail {
                error: "Error: model failed to generate the video".into(),
                error_type: "MODEL_ERROR".into(),
            },
            "error",
        )
    } else {
        (
            Outcome::Clip(ClipSpec::from_input(&input, slug, model.audio_default)),
            "error",
        )
    };
    let spec = ClipSpec::from_input(&input, slug, model.audio_default);
    let id = inner.new_id();
    inner.job_started(slug, "video");
    let wall = inner.wall_now();
    inner.predictions.insert(
        id.clone(),
        Prediction {
            key,
            model: slug.to_owned(),
            input,
            created: now,
            created_wall: wall,
            outcome,
            failure_word,
            cost: (cost(slug, &spec) * 1e4).round() / 1e4,
            cancelled: false,
            finished: false,
        },
    );
    if inner.fault(&cfg.faults, Fault::EachDrop) {
        // The prediction exists (and would be billed); the answer never arrives.
        return super::fal::dropped_connection();
    }
    json_response(
        StatusCode::CREATED,
        json!({"status": "success", "message": "Prediction created successfully", "predictionID": id}),
    )
}

/// `GET /v1/executions?model=<slug>&from=<RFC 3339>&limit=&offset=`: the key's predictions,
/// newest first, `limit` (default 20, at most 100) from `offset`, with `{id, model, status,
/// execution_cost, created_at}` (no inputs: `GET /v1/prediction/{id}` has them) and `total`
/// (eachlabs/mintlify-docs `openapi_specs/models.json`, ../shared/reference/kling-v3-and-platform.md §4).
fn executions(state: &Shared, key: &str, query: &str) -> Response<Body> {
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let number = |name: &str, default: usize| param(name).map_or(Some(default), |v| v.parse::<usize>().ok());
    let (Some(limit @ 1..=100), Some(offset)) = (number("limit", 20), number("offset", 0)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 100 and offset a whole number",
        );
    };
    let model = param("model");
    let from = param("from").and_then(|f| humantime::parse_rfc3339_weak(&f).ok());
    let mut inner = state.lock();
    inner.count("eachlabs_executions");
    let mut rows: Vec<(std::time::SystemTime, Value)> = inner
        .predictions
        .iter()
        .filter(|(_, p)| p.key == key)
        .filter(|(_, p)| model.as_deref().is_none_or(|m| m == p.model))
        .filter(|(_, p)| from.is_none_or(|f| p.created_wall >= f))
        .map(|(id, p)| {
            let row = json!({
                "id": id,
                "model": p.model,
                "status": if p.cancelled { "cancelled" } else { "success" },
                "execution_cost": p.cost,
                "created_at": humantime::format_rfc3339_seconds(p.created_wall).to_string(),
            });
            (p.created_wall, row)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let total = rows.len();
    let data: Vec<Value> = rows.into_iter().skip(offset).take(limit).map(|(_, r)| r).collect();
    json_response(
        StatusCode::OK,
        json!({ "total": total, "limit": limit, "offset": offset, "data": data }),
    )
}

/// `Sandbox::seed_eachlabs_history`: `n` finished predictions of `model` for `key`, created
/// evenly over the last `over` of the sandbox's clock.
pub(super) fn seed(state: &Shared, key: &str, model: &str, n: usize, over: std::time::Duration) {
    let mut inner = state.lock();
    let now = inner.wall_now();
    let done = Instant::now()
        .checked_sub(state.config.queue_time + state.config.job_time)
        .unwrap_or_else(Instant::now);
    for i in 0..n {
        let id = inner.new_id();
        let input = json!({"prompt": format!("earlier prediction {i}")});
        let spec = ClipSpec::from_input(&input, model, false);
        let prediction = Prediction {
            key: key.to_owned(),
            model: model.to_owned(),
            input,
            created: done,
            created_wall: now - over.mul_f64((n - i) as f64 / n.max(1) as f64),
            cost: cost(model, &spec),
            outcome: Outcome::Clip(spec),
            failure_word: "error",
            cancelled: false,
            finished: true,
        };
        inner.predictions.insert(id, prediction);
    }
}

fn get(state: &Shared, key: &str, id: &str) -> Response<Body> {
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("eachlabs_get");
    let base = state.base.clone();
    let Some(p) = inner.predictions.get(id).filter(|p| p.key == key) else {
        return error(StatusCode::NOT_FOUND, "Prediction not found");
    };
    let el = Instant::now().saturating_duration_since(p.created);
    let terminal = p.cancelled || el >= cfg.queue_time + cfg.job_time;
    let status = if p.cancelled {
        "cancelled"
    } else if !terminal {
        if el < cfg.queue_time / 2 {
            "created"
        } else if el < cfg.queue_time {
            "starting"
        } else {
            "processing"
        }
    } else {
        match &p.outcome {
            Outcome::Clip(_) => "success",
            _ => p.failure_word,
        }
    };
    let mut body = json!({
        "id": id,
        "model": p.model,
        "input": p.input,
        "status": status,
        "output": null,
        "logs": null,
        "metrics": {"predict_time": if terminal { cfg.job_time.as_secs_f64() } else { 0.0 }},
        "urls": {
            "cancel": format!("{base}/v1/prediction/{id}/cancel"),
            "get": format!("{base}/v1/prediction/{id}"),
        },
    });
    match (&p.outcome, status) {
        (Outcome::Clip(_), "success") => {
            body["output"] = json!(format!("{base}/files/{id}/output.mp4"));
            body["metrics"]["cost"] = json!(p.cost);
        }
        (Outcome::Fail { error, error_type }, s) if s != "processing" && terminal => {
            body["output"] = json!({"error_code": error_type, "error_message": error});
            body["logs"] = json!(error);
        }
        _ => {}
    }
    if terminal && !p.finished {
        if let Some(p) = inner.predictions.get_mut(id) {
            p.finished = true;
        }
        inner.job_finished();
    }
    json_response(StatusCode::OK, body)
}

fn cancel(state: &Shared, key: &str, id: &str) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("eachlabs_cancel");
    match inner.predictions.get_mut(id).filter(|p| p.key == key) {
        Some(p) => {
            p.cancelled = true;
            json_response(
                StatusCode::OK,
                json!({"status": "success", "message": "Prediction cancelled"}),
            )
        }
        None => error(StatusCode::NOT_FOUND, "Prediction not found"),
    }
}

/// `POST /v1/upload/presign` `{content_type, file_type?, expires_in_seconds?}`.
fn presign(state: &Shared, body: &[u8]) -> Response<Body> {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(content_type) = req.get("content_type").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "content_type is required");
    };
    let ext = content_type.rsplit('/').next().unwrap_or("bin").replace("jpeg", "jpg");
    let token = state.lock().expect_upload("upload_presign", content_type);
    let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(15 * 60);
    json_response(
        StatusCode::OK,
        json!({
            "id": token,
            "presigned_url": format!("{}/__upload/{token}", state.base),
            "public_url": format!("{}/files/uploads/{token}/upload.{ext}", state.base),
            "expires_at": humantime::format_rfc3339_seconds(expires).to_string(),
            "required_headers": {"Content-Type": content_type},
        }),
    )
}
