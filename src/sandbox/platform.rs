//! fal's platform API, as much as a client recovering money needs (../shared/reference/kling-v3-and-platform.md §4):
//! `GET /v1/models/requests/by-endpoint` lists an endpoint's *finished* requests (auth
//! `Authorization: Key …`; 401 without it), with `json_input`/`json_output` under
//! `expand=payloads`. Requests still queued or running are not listed. Answers are paged
//! (`limit` ≤ 100, `next_cursor`/`has_more`) and cover `start`..`end`, by default the last
//! 24 h even when `request_id` is given (§4, corrections).

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::fal::{Phase, authorized, phase, unauthorized};
use super::faults::Fault;
use super::files::{self, clip_len};
use super::{Job, Outcome, Shared, json_response};

/// Routes `/v1/models/…`.
pub(super) fn handle(state: &Shared, segs: &[&str], query: &str, headers: &HeaderMap) -> Response<Body> {
    // Model search: "Authentication: Optional" (fal's docs).
    if segs.is_empty() {
        return models(state, query);
    }
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
        ["billing-events"] => billing_events(state, query),
        _ => json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found"})),
    }
}

/// The sandbox's own price list: the base tier (audio off) per second of output, from
/// ../shared/reference/kling-v3-and-platform.md §3 and ../shared/reference/protocol.md §3. Endpoints without a published figure are
/// not listed (as an unknown endpoint is not).
fn list_price(endpoint: &str) -> Option<f64> {
    Some(match endpoint {
        "fal-ai/kling-video/v2.6/pro/text-to-video" | "fal-ai/kling-video/v2.6/pro/image-to-video" => 0.07,
        "fal-ai/kling-video/v2.5-turbo/pro/text-to-video" | "fal-ai/kling-video/v2.5-turbo/pro/image-to-video" => 0.07,
        "fal-ai/kling-video/v3/pro/text-to-video" | "fal-ai/kling-video/v3/pro/image-to-video" => 0.112,
        "fal-ai/kling-video/v3/standard/text-to-video" | "fal-ai/kling-video/v3/standard/image-to-video" => 0.084,
        "fal-ai/kling-video/v3/turbo/pro/text-to-video" => 0.14,
        "fal-ai/kling-video/o3/standard/image-to-video" => 0.084,
        // Per second at the default resolution (720p Veo, 1080p LTX), from fal's model pages
        // (docs/models-research.md). Hailuo (per video) and Seedance (per token) bill in other
        // units: not listed.
        "fal-ai/veo3.1"
        | "fal-ai/veo3.1/image-to-video"
        | "fal-ai/veo3.1/first-last-frame-to-video"
        | "fal-ai/veo3.1/reference-to-video" => 0.20,
        "fal-ai/veo3.1/fast" | "fal-ai/veo3.1/fast/image-to-video" | "fal-ai/veo3.1/fast/first-last-frame-to-video" => {
            0.10
        }
        "fal-ai/ltx-2.3/text-to-video" => 0.08,
        "fal-ai/ltx-2.3/image-to-video" => 0.06,
        "fal-ai/ltx-2.3/text-to-video/fast" => 0.04,
        _ => return None,
    })
}

/// What the sandbox bills per second when the clip has audio: the audio-on tier of the same
/// sources as [`list_price`] (v3 pro: the playground's figure, the lower of fal's two).
fn audio_price(endpoint: &str) -> Option<f64> {
    Some(match endpoint {
        "fal-ai/kling-video/v2.6/pro/text-to-video" | "fal-ai/kling-video/v2.6/pro/image-to-video" => 0.14,
        "fal-ai/kling-video/v3/pro/text-to-video" | "fal-ai/kling-video/v3/pro/image-to-video" => 0.168,
        "fal-ai/kling-video/v3/standard/text-to-video" | "fal-ai/kling-video/v3/standard/image-to-video" => 0.126,
        "fal-ai/kling-video/o3/standard/image-to-video" => 0.112,
        "fal-ai/veo3.1"
        | "fal-ai/veo3.1/image-to-video"
        | "fal-ai/veo3.1/first-last-frame-to-video"
        | "fal-ai/veo3.1/reference-to-video" => 0.40,
        "fal-ai/veo3.1/fast" | "fal-ai/veo3.1/fast/image-to-video" | "fal-ai/veo3.1/fast/first-last-frame-to-video" => {
            0.15
        }
        _ => return None,
    })
}

/// `GET /v1/models/billing-events?request_id=<id>` (../shared/reference/kling-v3-and-platform.md §4): the request's
/// billing events with `output_units`, `unit_price`, `percent_discount` and
/// `cost_estimate_nano_usd`; 403 for a key without billing scope (`Sandbox::billing_scope`).
/// The list's envelope is not documented in the reference: `{billing_events, next_cursor,
/// has_more}`, paged like the other platform listings.
fn billing_events(state: &Shared, query: &str) -> Response<Body> {
    let mut inner = state.lock();
    inner.count("billing_events");
    if !inner.billing_scope {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"detail": "This API key does not have the billing:usage:read permission"}),
        );
    }
    let now = Instant::now();
    let events: Vec<Value> = param(query, "request_id")
        .iter()
        .filter_map(|id| Some((id, inner.jobs.get(id)?)))
        .filter(|(_, job)| !job.cancelled && phase(state, job, now) == Phase::Completed)
        .filter_map(|(id, job)| billing_event(&inner.prices, id, job))
        .collect();
    json_response(
        StatusCode::OK,
        json!({"billing_events": events, "next_cursor": null, "has_more": false}),
    )
}

/// One job's billing event: seconds of video × the price per second (the audio tier when
/// the clip has audio), or images × the price per image (× the resolution multiplier, plus
/// the per-request extras of [`image_extras`]). `None` for an endpoint without a list price.
fn billing_event(prices: &HashMap<String, (f64, String)>, id: &str, job: &Job) -> Option<Value> {
    let (told, unit) = prices.get(&job.endpoint).cloned().unzip();
    let (units, price, extra) = match &job.outcome {
        Outcome::Clip(spec) => {
            let tier = if spec.audio { audio_price(&job.endpoint) } else { None };
            let price = told
                .filter(|_| unit.as_deref() == Some("second"))
                .or(tier)
                .or_else(|| list_price(&job.endpoint))?;
            (f64::from(spec.seconds), price, 0.0)
        }
        Outcome::Image(spec) => {
            let price = told
                .filter(|_| unit.as_deref() == Some("image"))
                .or_else(|| image_price(&job.endpoint))?;
            let units = f64::from(spec.count) * resolution_multiplier(&job.endpoint, &job.input);
            (units, price, image_extras(&job.endpoint, &job.input))
        }
        _ => return None,
    };
    Some(json!({
        "request_id": id,
        "endpoint_id": job.endpoint,
        "output_units": units,
        "unit_price": price,
        "percent_discount": 0,
        "cost_estimate_nano_usd": ((units * price + extra) * 1e9).round() as u64,
    }))
}

/// The price per image of the image models whose fal page states one (docs/frames-research.md):
/// Nano Banana 2 "$0.08 per image" (fal-ai/nano-banana-2/edit/llms.txt; the text-to-image page
/// was not found, the family's figure is used), Seedream 4.5 "$0.04 per image" (the
/// text-to-image playground). FLUX.2 [pro] bills per megapixel and fal's own page for it was
/// not found: not listed.
fn image_price(endpoint: &str) -> Option<f64> {
    match endpoint {
        "fal-ai/nano-banana-2" | "fal-ai/nano-banana-2/edit" => Some(0.08),
        "fal-ai/bytedance/seedream/v4.5/text-to-image" | "fal-ai/bytedance/seedream/v4.5/edit" => Some(0.04),
        _ => None,
    }
}

/// Nano Banana 2: "2K and 4K outputs will be charged at 1.5 times and 2 times the standard
/// rate … 0.5K (512px) … 0.75 times" (its llms.txt); 1 elsewhere.
fn resolution_multiplier(endpoint: &str, input: &Value) -> f64 {
    if !endpoint.starts_with("fal-ai/nano-banana-2") {
        return 1.0;
    }
    match input.get("resolution").and_then(Value::as_str) {
        Some("0.5K") => 0.75,
        Some("2K") => 1.5,
        Some("4K") => 2.0,
        _ => 1.0,
    }
}

/// Nano Banana 2: "If web search is used, an additional $0.015 … If high thinking is used, an
/// additional $0.002" (its llms.txt; counted once per request: the page does not say per image).
fn image_extras(endpoint: &str, input: &Value) -> f64 {
    if !endpoint.starts_with("fal-ai/nano-banana-2") {
        return 0.0;
    }
    let search = input.get("enable_web_search").and_then(Value::as_bool) == Some(true);
    let high = input.get("thinking_level").and_then(Value::as_str) == Some("high");
    0.015 * f64::from(u8::from(search)) + 0.002 * f64::from(u8::from(high))
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
            let (price, unit) = inner
                .prices
                .get(id)
                .cloned()
                .or_else(|| list_price(id).map(|p| (p, "second".to_owned())))
                .or_else(|| image_price(id).map(|p| (p, "image".to_owned())))?;
            Some(json!({"endpoint_id": id, "unit_price": price, "unit": unit, "currency": "USD"}))
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"prices": prices, "next_cursor": null, "has_more": false}),
    )
}

/// How many models a page of the model API holds when each carries its OpenAPI document
/// (fal: "Actual maximum depends on query type and expansion parameters"): small, so a
/// client must follow `next_cursor`.
const MODELS_PER_PAGE: usize = 10;

/// `GET /v1/models?endpoint_id=a&endpoint_id=b…[&expand=openapi-3.0][&cursor=…]` (find mode,
/// 1–50 ids): `{models: [{endpoint_id, metadata, openapi?}], next_cursor, has_more}`, each
/// document built from the endpoint's committed snapshot ([`openapi`]); ids it does not serve
/// are left out. List and search modes are not served (422 naming `endpoint_id`).
fn models(state: &Shared, query: &str) -> Response<Body> {
    let ids = param(query, "endpoint_id");
    if ids.is_empty() || ids.len() > 50 {
        return bad_query((
            "endpoint_id",
            "1 to 50 endpoint ids (the sandbox serves find mode only)",
        ));
    }
    let expand = param(query, "expand").iter().any(|e| e == "openapi-3.0");
    let page: usize = match param(query, "cursor").first().map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_query(("cursor", "not a cursor this API gave")),
    };
    let mut inner = state.lock();
    inner.count("models");
    let known: Vec<(&String, &str)> = ids
        .iter()
        .filter_map(|id| {
            let (_, text) = crate::published::FAL.iter().find(|(k, _)| k == id)?;
            Some((id, *text))
        })
        .collect();
    let per_page = if expand { MODELS_PER_PAGE } else { 50 };
    let listed: Vec<Value> = known
        .iter()
        .skip(page * per_page)
        .take(per_page)
        .map(|(id, text)| {
            let mut m = json!({"endpoint_id": id, "metadata": {"display_name": id, "status": "active"}});
            if expand {
                m["openapi"] = inner.documents.get(*id).cloned().unwrap_or_else(|| openapi(id, text));
            }
            m
        })
        .collect();
    let more = known.len() > (page + 1) * per_page;
    json_response(
        StatusCode::OK,
        json!({"models": listed, "next_cursor": more.then(|| (page + 1).to_string()), "has_more": more}),
    )
}

/// An endpoint's OpenAPI 3.0 document as fal's model API serves it, built from the committed
/// snapshot: `POST /{id}` takes the input type (a `$ref` into `components.schemas`, where the
/// snapshot's `$defs` go too), and the result is the output type (`x-output`).
pub(crate) fn openapi(id: &str, snapshot: &str) -> Value {
    let text = snapshot.replace("\"#/$defs/", "\"#/components/schemas/");
    let Ok(Value::Object(mut input)) = serde_json::from_str::<Value>(&text) else {
        return json!({});
    };
    let source = input.remove("x-source").unwrap_or_default();
    let output = input.remove("x-output").unwrap_or_else(|| json!({"type": "object"}));
    input.remove("$schema");
    input.remove("title");
    let mut schemas = match input.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => serde_json::Map::new(),
    };
    let name = source["type"].as_str().unwrap_or("Input").to_owned();
    schemas.insert(name.clone(), Value::Object(input));
    schemas.insert(format!("{name}Output"), output);
    let body = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}});
    let result = json!({"200": {"description": "The result", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}Output")}}}}});
    json!({
        "openapi": "3.0.4",
        "info": {"title": id, "version": "1.0.0", "x-fal-metadata": {"endpointId": id}},
        "paths": {
            format!("/{id}"): {"post": {"requestBody": body, "responses": {"200": {"description": "Queued"}}}},
            format!("/{id}/requests/{{request_id}}"): {"get": {"responses": result}},
        },
        "components": {"schemas": schemas},
    })
}

/// The query's values for `name` (repeated or comma-separated).
fn param(query: &str, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// A query parameter fal's validation refuses: (field, message).
type BadQuery = (&'static str, &'static str);

/// A 422 naming the query parameter, as fal's validation answers.
fn bad_query((field, msg): BadQuery) -> Response<Body> {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"detail": [{"loc": ["query", field], "msg": msg, "type": "value_error"}]}),
    )
}

/// One page of a listing: the query's `limit` (≤ 100) and `cursor` (opaque here: the offset).
struct Page {
    limit: usize,
    offset: usize,
}

impl Page {
    fn from_query(query: &str) -> Result<Page, BadQuery> {
        let limit = match param(query, "limit").first() {
            None => 100,
            Some(l) => match l.parse::<usize>() {
                Ok(n @ 1..=100) => n,
                _ => return Err(("limit", "ensure this value is between 1 and 100")),
            },
        };
        let offset = match param(query, "cursor").first() {
            None => 0,
            Some(c) => match c.strip_prefix("o").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return Err(("cursor", "invalid cursor")),
            },
        };
        Ok(Page { limit, offset })
    }

    /// `{items, next_cursor, has_more}` for this page of `all`.
    fn answer(&self, all: Vec<Value>) -> Response<Body> {
        let end = (self.offset + self.limit).min(all.len());
        let has_more = end < all.len();
        let items: Vec<Value> = all.into_iter().skip(self.offset).take(self.limit).collect();
        let next = has_more.then(|| format!("o{end}"));
        json_response(
            StatusCode::OK,
            json!({"items": items, "next_cursor": next, "has_more": has_more}),
        )
    }
}

/// The `start`..`end` window (RFC 3339; default the last 24 h of the sandbox's clock, even
/// when `request_id` is given — ../shared/reference/kling-v3-and-platform.md §4).
fn window(query: &str, now: SystemTime) -> Result<(SystemTime, SystemTime), BadQuery> {
    let at = |name: &'static str, default: SystemTime| match param(query, name).first() {
        None => Ok(default),
        Some(t) => humantime::parse_rfc3339_weak(t).map_err(|_| (name, "invalid datetime")),
    };
    let day = Duration::from_secs(24 * 3600);
    Ok((at("start", now - day)?, at("end", now)?))
}

/// `GET /v1/models/requests/by-endpoint`: the endpoint's finished requests whose `ended_at` is
/// in the window, newest first, a page at a time.
fn by_endpoint(state: &Shared, query: &str) -> Response<Body> {
    let Some(endpoint) = param(query, "endpoint_id").into_iter().next() else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["query", "endpoint_id"], "msg": "field required", "type": "value_error.missing"}]}),
        );
    };
    let page = match Page::from_query(query) {
        Ok(p) => p,
        Err(bad) => return bad_query(bad),
    };
    let wanted = param(query, "request_id").into_iter().next();
    let payloads = param(query, "expand").iter().any(|e| e == "payloads");
    let now = Instant::now();
    let cfg = &state.config;
    let mut inner = state.lock();
    inner.count("history");
    let (start, end) = match window(query, inner.wall_now()) {
        Ok(w) => w,
        Err(bad) => return bad_query(bad),
    };
    let mut rows: Vec<(SystemTime, Value)> = inner
        .jobs
        .iter()
        .filter(|(id, job)| {
            job.endpoint == endpoint
                && wanted.as_deref().is_none_or(|w| w == id.as_str())
                && phase(state, job, now) == Phase::Completed
        })
        .map(|(id, job)| (job.created_wall + job.starts + cfg.job_time, id, job))
        .filter(|(ended, _, _)| (start..=end).contains(ended))
        .map(|(ended, id, job)| (ended, item(state, id, job, ended, payloads)))
        .collect();
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1["request_id"].as_str().cmp(&a.1["request_id"].as_str()))
    });
    page.answer(rows.into_iter().map(|(_, v)| v).collect())
}

/// One history item (with `json_input`/`json_output` when `payloads`).
fn item(state: &Shared, id: &str, job: &Job, ended: SystemTime, payloads: bool) -> Value {
    let mut item = json!({
        "request_id": id,
        "endpoint_id": job.endpoint,
        "sent_at": humantime::format_rfc3339_seconds(job.created_wall).to_string(),
        "ended_at": humantime::format_rfc3339_seconds(ended).to_string(),
        "duration": state.config.job_time.as_secs_f64(),
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
        (Outcome::Image(spec), false) => (200, super::images::result_json(state, spec, id)),
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
}

/// `Sandbox::seed_fal_history`: `n` finished requests of `endpoint`, sent evenly over the last
/// `over` of the sandbox's clock.
pub(super) fn seed(state: &Shared, endpoint: &str, n: usize, over: Duration) {
    let mut inner = state.lock();
    let now = inner.wall_now();
    let done = Instant::now()
        .checked_sub(state.config.queue_time + state.config.job_time)
        .unwrap_or_else(Instant::now);
    let app = endpoint.split('/').take(2).collect::<Vec<_>>().join("/");
    for i in 0..n {
        let id = inner.new_id();
        let sent = now - over.mul_f64((n - i) as f64 / n.max(1) as f64);
        let input = json!({"prompt": format!("earlier request {i}")});
        let job = Job {
            app: app.clone(),
            endpoint: endpoint.to_owned(),
            outcome: Outcome::Clip(files::ClipSpec::from_input(&input, endpoint, false)),
            input,
            created: done,
            created_wall: sent,
            starts: state.config.queue_time,
            cancelled: false,
            finished: true,
            received: Vec::new(),
        };
        inner.jobs.insert(id, job);
    }
}
