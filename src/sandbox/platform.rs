//! fal's platform API, as much as a client recovering money needs (kling-v3-and-platform.md §4):
//! `GET /v1/models/requests/by-endpoint` lists an endpoint's *finished* requests (auth
//! `Authorization: Key …`; 401 without it), with `json_input`/`json_output` under
//! `expand=payloads`. Requests still queued or running are not listed.

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Instant;

use super::fal::{Phase, authorized, phase, unauthorized};
use super::faults::Fault;
use super::files::clip_len;
use super::{Outcome, Shared, json_response};

/// Routes `/v1/models/…`.
pub(super) fn handle(state: &Shared, segs: &[&str], query: &str, headers: &HeaderMap) -> Response<Body> {
    if !authorized(state, headers) {
        state.lock().count("platform_unauthorized");
        return unauthorized();
    }
    if state.lock().fault(&state.config.faults, Fault::HistoryOff) {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "Not Found"}));
    }
    match segs {
        ["requests", "by-endpoint"] => by_endpoint(state, query),
        ["pricing"] => pricing(state, query),
        _ => json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found"})),
    }
}

/// The sandbox's own price list: the base tier (audio off) per second of output, from
/// kling-v3-and-platform.md §3 and protocol.md §3. Endpoints without a published figure are
/// not listed (as an unknown endpoint is not).
fn list_price(endpoint: &str) -> Option<f64> {
    Some(match endpoint {
        "fal-ai/kling-video/v2.6/pro/text-to-video" | "fal-ai/kling-video/v2.6/pro/image-to-video" => 0.07,
        "fal-ai/kling-video/v2.5-turbo/pro/text-to-video" | "fal-ai/kling-video/v2.5-turbo/pro/image-to-video" => 0.07,
        "fal-ai/kling-video/v3/pro/text-to-video" | "fal-ai/kling-video/v3/pro/image-to-video" => 0.112,
        "fal-ai/kling-video/v3/standard/text-to-video" | "fal-ai/kling-video/v3/standard/image-to-video" => 0.084,
        "fal-ai/kling-video/v3/turbo/pro/text-to-video" => 0.14,
        "fal-ai/kling-video/o3/standard/image-to-video" => 0.084,
        _ => return None,
    })
}

/// `GET /v1/models/pricing?endpoint_id=a,b` (1–50 ids): `{prices: [{endpoint_id, unit_price,
/// unit, currency}], next_cursor, has_more}`.
fn pricing(state: &Shared, query: &str) -> Response<Body> {
    let ids = param(query, "endpoint_id");
    if ids.is_empty() || ids.len() > 50 {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["query", "endpoint_id"], "msg": "1 to 50 endpoint ids", "type": "value_error"}]}),
        );
    }
    let mut inner = state.lock();
    inner.count("pricing");
    let prices: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            let price = inner.prices.get(id).copied().or_else(|| list_price(id))?;
            Some(json!({"endpoint_id": id, "unit_price": price, "unit": "second", "currency": "USD"}))
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"prices": prices, "next_cursor": null, "has_more": false}),
    )
}

/// The query's values for `name` (repeated or comma-separated).
fn param(query: &str, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn by_endpoint(state: &Shared, query: &str) -> Response<Body> {
    let Some(endpoint) = param(query, "endpoint_id").into_iter().next() else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["query", "endpoint_id"], "msg": "field required", "type": "value_error.missing"}]}),
        );
    };
    let wanted = param(query, "request_id").into_iter().next();
    let payloads = param(query, "expand").iter().any(|e| e == "payloads");
    let now = Instant::now();
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("history");
    let items: Vec<Value> = inner
        .jobs
        .iter()
        .filter(|(id, job)| {
            job.endpoint == endpoint
                && wanted.as_deref().is_none_or(|w| w == id.as_str())
                && phase(state, job, now) == Phase::Completed
        })
        .map(|(id, job)| {
            let ended = job.created_wall + cfg.queue_time + cfg.job_time;
            let mut item = json!({
                "request_id": id,
                "endpoint_id": job.endpoint,
                "sent_at": humantime::format_rfc3339_seconds(job.created_wall).to_string(),
                "ended_at": humantime::format_rfc3339_seconds(ended).to_string(),
                "duration": cfg.job_time.as_secs_f64(),
            });
            let (code, output) = match (&job.outcome, job.cancelled) {
                (_, true) => (499, json!({"detail": "Request cancelled"})),
                (Outcome::Clip(spec), false) => (
                    200,
                    json!({"video": {
                        "url": format!("{}/files/{id}/output.mp4", state.base),
                        "content_type": "video/mp4",
                        "file_name": "output.mp4",
                        "file_size": clip_len(state, spec, id),
                    }}),
                ),
                (Outcome::Voice(v), false) => (200, json!({"voice_id": v})),
                (Outcome::Fail { error, .. }, false) => (503, json!({"detail": error})),
                (Outcome::Reject(detail), false) => (422, json!({"detail": detail})),
            };
            item["status_code"] = json!(code);
            if payloads {
                item["json_input"] = job.input.clone();
                item["json_output"] = output;
            }
            item
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"items": items, "next_cursor": null, "has_more": false}),
    )
}
