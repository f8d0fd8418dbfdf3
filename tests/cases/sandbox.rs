//! The sandbox against its reference: every route, status code and fault knob, the official
//! Python client, and clips that play.

use crate::common::{Fault, FaultPlan, Sandbox, SandboxConfig, start_printing, start_sandbox as start};
use serde_json::{Value, json};
use std::time::Duration;

const T2V: &str = "fal-ai/kling-video/v2.6/pro/text-to-video";
const KEY: &str = "Key test-key";

/// The sandbox's own timings, with jobs that wait 30 s in the queue.
fn stuck_in_queue() -> SandboxConfig {
    SandboxConfig {
        queue_time: Duration::from_secs(30),
        ..SandboxConfig::fast()
    }
}

/// The sandbox's own timings with each of `faults` injected once.
fn once_each(faults: &[Fault]) -> SandboxConfig {
    let plan = faults.iter().fold(FaultPlan::default(), |plan, f| plan.with(*f, 1));
    SandboxConfig {
        faults: plan,
        ..SandboxConfig::fast()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn submit(sb: &Sandbox, endpoint: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}/{endpoint}", sb.base_url()))
        .header("authorization", KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(url: &str) -> (u16, Value) {
    let r = http().get(url).header("authorization", KEY).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The body of the answer to `request`, as text.
async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Polls the status URL until COMPLETED; returns the final body.
async fn wait_done(status_url: &str) -> Value {
    for _ in 0..500 {
        let (code, body) = get(status_url).await;
        if code == 200 {
            assert_eq!(body["status"], "COMPLETED");
            return body;
        }
        assert_eq!(code, 202, "{body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job never completed");
}

#[tokio::test]
async fn submit_status_result_follow_the_queue_protocol() {
    // The job waits a second in the queue: the checks of a job not yet done run well inside it,
    // even on a loaded machine (with fast()'s 20 ms it once finished first).
    let sb = start(SandboxConfig {
        queue_time: Duration::from_secs(1),
        ..SandboxConfig::fast()
    })
    .await;
    let r = submit(
        &sb,
        T2V,
        json!({"prompt": "a", "duration": "5", "aspect_ratio": "1:1", "generate_audio": false}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let sub: Value = r.json().await.unwrap();
    let id = sub["request_id"].as_str().unwrap();
    let base = format!("{}/fal-ai/kling-video/requests/{id}", sb.base_url());
    assert_eq!(sub["status"], "IN_QUEUE");
    assert_eq!(sub["queue_position"], 0);
    assert_eq!(sub["response_url"], base);
    assert_eq!(sub["status_url"], format!("{base}/status"));
    assert_eq!(sub["cancel_url"], format!("{base}/cancel"));

    let (code, early) = get(&base).await;
    assert_eq!(code, 400, "result before completion: {early}");
    let (code, st) = get(&format!("{base}/status?logs=0")).await;
    assert_eq!(code, 202);
    assert!(st.get("logs").is_some(), "logs key always present: {st}");

    let done = wait_done(&format!("{base}/status/?logs=true")).await;
    assert!(done["metrics"]["inference_time"].is_number());
    assert!(done.get("error").is_none());
    let r = http()
        .get(format!("{base}/"))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-fal-request-id"], id);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["video"]["content_type"], "video/mp4");
    let url = result["video"]["url"].as_str().unwrap();
    let clip = http().get(url).send().await.unwrap();
    assert_eq!(clip.content_length(), result["video"]["file_size"].as_u64());
    let bytes = clip.bytes().await.unwrap();
    assert_eq!(&bytes[4..8], b"ftyp");

    let stats = sb.stats();
    assert_eq!(stats["jobs_created"][T2V], 1);
    assert_eq!(stats["requests"]["download"], 1);
    assert_eq!(stats["in_flight"], 0);
}

#[tokio::test]
async fn missing_or_wrong_key_is_401() {
    let sb = start(SandboxConfig {
        api_key: Some("right".into()),
        ..SandboxConfig::fast()
    })
    .await;
    let url = format!("{}/{T2V}", sb.base_url());
    for auth in [None, Some("Bearer right"), Some("Key wrong"), Some("Key ")] {
        let mut req = http().post(&url).json(&json!({"prompt": "a"}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), 401, "{auth:?}");
    }
    let ok = http()
        .post(&url)
        .header("authorization", "Key right")
        .json(&json!({"prompt": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(sb.stats()["jobs_created_total"], 1);
}

#[tokio::test]
async fn invalid_bodies_are_422_at_submit_and_create_nothing() {
    let sb = start(SandboxConfig::fast()).await;
    let cases = [
        (T2V, json!({"duration": "5"}), "prompt", "value_error.missing"),
        (
            T2V,
            json!({"prompt": "a", "duration": 5}),
            "duration",
            "type_error.enum",
        ),
        (
            T2V,
            json!({"prompt": "a", "duration": "7"}),
            "duration",
            "type_error.enum",
        ),
        (
            T2V,
            json!({"prompt": "a", "aspect_ratio": "4:3"}),
            "aspect_ratio",
            "type_error.enum",
        ),
        (
            T2V,
            json!({"prompt": "a", "cfg_scale": 1.5}),
            "cfg_scale",
            "value_error.number.not_le",
        ),
        (T2V, json!({"prompt": "a", "seed": 1}), "seed", "value_error.extra"),
        (
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            json!({"prompt": "a", "start_image_url": "https://a/b.png", "voice_ids": ["1", "2", "3"]}),
            "voice_ids",
            "value_error.list.max_items",
        ),
        (
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            json!({"prompt": "a", "image_url": "https://a/b.png"}),
            "image_url",
            "value_error.extra",
        ),
        (
            "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
            json!({"prompt": "a", "start_image_url": "https://a"}),
            "image_url",
            "value_error.missing",
        ),
        (
            "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
            json!({"prompt": "a", "generate_audio": true}),
            "generate_audio",
            "value_error.extra",
        ),
        (
            "fal-ai/kling-video/v2.6/pro/motion-control",
            json!({"image_url": "https://a", "video_url": "https://b", "character_orientation": "sideways"}),
            "character_orientation",
            "type_error.enum",
        ),
    ];
    for (endpoint, body, field, ty) in cases {
        let r = submit(&sb, endpoint, body.clone()).await;
        assert_eq!(r.status().as_u16(), 422, "{endpoint} {body}");
        let detail: Value = r.json().await.unwrap();
        let hit = detail["detail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["loc"] == json!(["body", field]) && d["type"] == ty);
        assert!(hit, "{endpoint} {body}: {detail}");
    }
    let r = submit(&sb, "fal-ai/unknown-app", json!({"prompt": "a"})).await;
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(sb.stats()["jobs_created_total"], 0);
}

#[tokio::test]
async fn status_stream_sends_events_until_completed() {
    let sb = start(SandboxConfig::fast()).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    let r = http()
        .get(format!("{}/stream?logs=1", sub["status_url"].as_str().unwrap()))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let statuses: Vec<&str> = events.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.last(), Some(&"COMPLETED"), "{text}");
    assert!(statuses.contains(&"IN_PROGRESS"), "{text}");
}

#[tokio::test]
async fn cancel_answers_per_state() {
    let sb = start(stuck_in_queue()).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    let cancel = sub["cancel_url"].as_str().unwrap();
    let r = http().put(cancel).header("authorization", KEY).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "CANCELLATION_REQUESTED");
    let r = http().put(cancel).header("authorization", KEY).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ALREADY_COMPLETED");
    let (code, body) = get(sub["status_url"].as_str().unwrap()).await;
    assert_eq!((code, &body["error_type"]), (200, &json!("client_cancelled")));
    let r = http()
        .put(format!("{}/fal-ai/kling-video/requests/nope/cancel", sb.base_url()))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "NOT_FOUND");
}

#[tokio::test]
async fn failed_jobs_are_completed_with_error_and_the_result_carries_it() {
    let sb = start(once_each(&[Fault::FailJob])).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    let done = wait_done(sub["status_url"].as_str().unwrap()).await;
    assert_eq!(done["error_type"], "runner_disconnected");
    assert_eq!(done["error"], "Runner disconnected");
    let r = http()
        .get(sub["response_url"].as_str().unwrap())
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["x-fal-error-type"], "runner_disconnected");
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "Runner disconnected");

    // A runtime rejection is a 422 with `detail` entries.
    let sub: Value = submit(&sb, T2V, json!({"prompt": "x [sandbox:reject]"}))
        .await
        .json()
        .await
        .unwrap();
    wait_done(sub["status_url"].as_str().unwrap()).await;
    let (code, body) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "prompt"]));
    assert_eq!(sb.stats()["faults_injected"]["fail_job"], 1);
}

#[tokio::test]
async fn submit_faults_create_nothing_or_drop_the_answer() {
    let sb = start(once_each(&[Fault::Submit429, Fault::Submit503, Fault::SubmitDrop])).await;
    let r = submit(&sb, T2V, json!({"prompt": "a"})).await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let r = submit(&sb, T2V, json!({"prompt": "a"})).await;
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["x-fal-error-type"], "runner_scheduling_failure");
    assert_eq!(sb.stats()["jobs_created_total"], 0);
    // The ambiguous case: the job is created, the answer is lost.
    let outcome = http()
        .post(format!("{}/{T2V}", sb.base_url()))
        .header("authorization", KEY)
        .json(&json!({"prompt": "a"}))
        .send()
        .await;
    let body = match outcome {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(body.is_err(), "the answer should be lost");
    assert_eq!(sb.stats()["jobs_created_total"], 1);
    let r = submit(&sb, T2V, json!({"prompt": "a"})).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        sb.stats()["faults_injected"],
        json!({"submit_429": 1, "submit_503": 1, "submit_drop": 1})
    );
}

#[tokio::test]
async fn status_result_and_stream_faults() {
    let sb = start(once_each(&[Fault::Status5xx, Fault::Result5xx, Fault::StreamDrop])).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    let status_url = sub["status_url"].as_str().unwrap();
    let (code, body) = get(status_url).await;
    assert_eq!((code, &body["error_type"]), (500, &json!("internal_error")));
    // The stream drops after its first event, before COMPLETED.
    let text = text_of(http().get(format!("{status_url}/stream")).header("authorization", KEY)).await;
    assert_eq!(text.matches("data: ").count(), 1, "{text}");
    assert!(!text.contains("COMPLETED"));
    wait_done(status_url).await;
    let (code, _) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(code, 503);
    let (code, body) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(code, 200, "the job itself is fine: {body}");

    let sb = start(once_each(&[Fault::StreamOff])).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    let (code, _) = get(&format!("{}/stream", sub["status_url"].as_str().unwrap())).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn results_expire() {
    let sb = start(SandboxConfig {
        result_ttl: Some(Duration::from_millis(1)),
        ..SandboxConfig::fast()
    })
    .await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    wait_done(sub["status_url"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (code, _) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn downloads_support_ranges_padding_and_truncation() {
    let config = SandboxConfig {
        clip_bytes: Some(3_000_000),
        faults: FaultPlan::first(Fault::Truncate, 1),
        ..SandboxConfig::fast()
    };
    let sb = start(config).await;
    let sub: Value = submit(&sb, T2V, json!({"prompt": "a"})).await.json().await.unwrap();
    wait_done(sub["status_url"].as_str().unwrap()).await;
    let (_, result) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(result["video"]["file_size"], 3_000_000);
    let url = result["video"]["url"].as_str().unwrap();
    // First download is truncated: fewer bytes than Content-Length, then an error.
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.content_length(), Some(3_000_000));
    assert!(r.bytes().await.is_err());
    let full = http().get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(full.len(), 3_000_000);
    let r = http().get(url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/3000000");
    assert_eq!(r.bytes().await.unwrap(), full.slice(10..20));
    let r = http().get(url).header("range", "bytes=5000000-").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 416);
}

#[tokio::test]
async fn storage_upload_round_trips() {
    let sb = start(SandboxConfig::fast()).await;
    let init: Value = http()
        .post(format!(
            "{}/storage/upload/initiate?storage_type=fal-cdn-v3",
            sb.base_url()
        ))
        .header("authorization", KEY)
        .json(&json!({"file_name": "frame.png", "content_type": "image/png"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put = http()
        .put(init["upload_url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(b"\x89PNG fake".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let back = http().get(init["file_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(back.headers()["content-type"], "image/png");
    assert_eq!(back.bytes().await.unwrap().as_ref(), b"\x89PNG fake");
    // The uploaded URL is accepted as an image input.
    let r = submit(
        &sb,
        "fal-ai/kling-video/v2.6/pro/image-to-video",
        json!({"prompt": "a", "start_image_url": init["file_url"]}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
}

async fn each(sb: &Sandbox, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}/v1/{path}", sb.base_url()))
        .header("x-api-key", "each-key");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn each_until_terminal(sb: &Sandbox, id: &str) -> Value {
    let mut seen = Vec::new();
    for _ in 0..500 {
        let (code, body) = each(sb, reqwest::Method::GET, &format!("prediction/{id}"), None).await;
        assert_eq!(code, 200);
        let s = body["status"].as_str().unwrap().to_owned();
        if !seen.contains(&s) {
            seen.push(s.clone());
        }
        if !["created", "starting", "processing"].contains(&s.as_str()) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("prediction never ended: {seen:?}");
}

#[tokio::test]
async fn eachlabs_predictions_move_through_their_statuses() {
    let sb = start(SandboxConfig::fast()).await;
    let input = json!({"prompt": "a", "duration": "5", "aspect_ratio": "16:9", "negative_prompt": "x", "cfg_scale": 0.5, "generate_audio": true});
    let (code, created) = each(
        &sb,
        reqwest::Method::POST,
        "prediction/",
        Some(json!({"model": "kling-v2-6-pro-text-to-video", "version": "0.0.1", "input": input})),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(created["status"], "success");
    let id = created["predictionID"].as_str().unwrap();
    let done = each_until_terminal(&sb, id).await;
    assert_eq!(done["status"], "success");
    assert!(done["output"].as_str().unwrap().ends_with(".mp4"));
    assert_eq!(done["metrics"]["cost"], json!(0.7));

    for (marker, word) in [
        ("[sandbox:fail]", "error"),
        ("[sandbox:failed]", "failed"),
        ("[sandbox:cancelled]", "cancelled"),
    ] {
        let (_, c) = each(
            &sb,
            reqwest::Method::POST,
            "prediction",
            Some(json!({"model": "kling-v2-5-turbo-pro-text-to-video", "version": "0.0.1", "input": {"prompt": format!("x {marker}")}})),
        )
        .await;
        let done = each_until_terminal(&sb, c["predictionID"].as_str().unwrap()).await;
        assert_eq!(done["status"], word);
    }
    let (code, body) = each(
        &sb,
        reqwest::Method::POST,
        "prediction",
        Some(json!({"input": {"prompt": "a"}})),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (400, Some("model field is required")));
    let (code, body) = each(
        &sb,
        reqwest::Method::POST,
        "prediction",
        Some(json!({"model": "kling-v2-6-pro-text-to-video", "input": {"duration": "7"}})),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (400, Some("Invalid input for model")));
    let (code, body) = each(&sb, reqwest::Method::GET, "prediction/nope", None).await;
    assert_eq!((code, body["error"].as_str()), (404, Some("Prediction not found")));
    let r = http()
        .get(format!("{}/v1/prediction/{id}", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http()
        .get(format!("{}/v1/prediction/{id}", sb.base_url()))
        .bearer_auth("each-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "Authorization: Bearer works too");
}

#[tokio::test]
async fn eachlabs_caps_predictions_in_flight_with_429_and_creates_nothing() {
    let sb = start(stuck_in_queue()).await;
    let body = json!({"model": "kling-v2-5-turbo-pro-text-to-video", "version": "0.0.1", "input": {"prompt": "a"}});
    for _ in 0..10 {
        assert_eq!(
            each(&sb, reqwest::Method::POST, "prediction", Some(body.clone()))
                .await
                .0,
            201
        );
    }
    let (code, err) = each(&sb, reqwest::Method::POST, "prediction", Some(body.clone())).await;
    assert_eq!(code, 429);
    assert_eq!(err["error"], "too many requests");
    assert_eq!(sb.stats()["jobs_created_total"], 10);

    let sb = start(once_each(&[Fault::Each402])).await;
    let (code, err) = each(&sb, reqwest::Method::POST, "prediction", Some(body)).await;
    assert_eq!((code, err["error"].as_str()), (402, Some("payment required")));
    assert_eq!(sb.stats()["jobs_created_total"], 0);
}

#[tokio::test]
async fn eachlabs_presigned_upload() {
    let sb = start(SandboxConfig::fast()).await;
    let (code, p) = each(
        &sb,
        reqwest::Method::POST,
        "upload/presign",
        Some(json!({"content_type": "image/jpeg"})),
    )
    .await;
    assert_eq!(code, 200);
    let put = |content_type: &'static str, body: &'static str| {
        http()
            .put(p["presigned_url"].as_str().unwrap())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let r = put("image/png", "x").await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "Content-Type must match the signed one");
    let r = put("image/jpeg", "jpeg").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let back = text_of(http().get(p["public_url"].as_str().unwrap())).await;
    assert_eq!(back, "jpeg");
}

#[tokio::test]
async fn clips_play_with_the_requested_duration_size_and_audio() {
    if !crate::common::tool_present("ffprobe") {
        return;
    }
    let sb = start(SandboxConfig::fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            T2V,
            json!({"prompt": "a", "duration": "5", "aspect_ratio": "16:9", "generate_audio": true}),
            5.0,
            (320, 180),
            true,
        ),
        (
            T2V,
            json!({"prompt": "a", "duration": "10", "aspect_ratio": "9:16", "generate_audio": false}),
            10.0,
            (180, 320),
            false,
        ),
        (
            "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
            json!({"prompt": "a", "duration": "10", "aspect_ratio": "1:1"}),
            10.0,
            (240, 240),
            false,
        ),
    ];
    for (i, (endpoint, body, secs, (w, h), audio)) in cases.into_iter().enumerate() {
        let sub: Value = submit(&sb, endpoint, body).await.json().await.unwrap();
        wait_done(sub["status_url"].as_str().unwrap()).await;
        let (_, result) = get(sub["response_url"].as_str().unwrap()).await;
        let bytes = http()
            .get(result["video"]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let path = dir.path().join(format!("{i}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=codec_type,codec_name,width,height",
                "-of",
                "json",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let probe: Value = serde_json::from_slice(&out.stdout).unwrap();
        let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - secs).abs() < 0.1, "{probe}");
        let video = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        assert_eq!(video["codec_name"], "h264");
        assert_eq!(
            (video["width"].as_u64().unwrap(), video["height"].as_u64().unwrap()),
            (w, h)
        );
        let has_audio = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["codec_type"] == "audio");
        assert_eq!(has_audio, audio, "{probe}");
    }
}

#[test]
fn the_official_fal_client_works_against_the_sandbox_unchanged() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(start(SandboxConfig::fast()));
    let script = crate::common::root().join("tests/conformance/fal_client_conformance.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .env("SANDBOX_URL", sb.base_url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("conformance ok"));
    // submit + subscribe created exactly two jobs; the invalid body none.
    assert_eq!(sb.stats()["jobs_created"][T2V], 2);
    assert_eq!(sb.stats()["jobs_created_total"], 2);
}

#[tokio::test]
async fn eachlabs_fault_knobs() {
    let sb = start(once_each(&[Fault::Each429, Fault::EachError, Fault::EachFailed])).await;
    let body = json!({"model": "kling-v2-5-turbo-pro-text-to-video", "version": "0.0.1", "input": {"prompt": "a"}});
    let (code, _) = each(&sb, reqwest::Method::POST, "prediction", Some(body.clone())).await;
    assert_eq!(code, 429);
    assert_eq!(sb.stats()["jobs_created_total"], 0);
    let mut ends = Vec::new();
    for _ in 0..3 {
        let (code, c) = each(&sb, reqwest::Method::POST, "prediction", Some(body.clone())).await;
        assert_eq!(code, 201);
        ends.push(
            each_until_terminal(&sb, c["predictionID"].as_str().unwrap()).await["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ends.sort();
    assert_eq!(ends, ["error", "failed", "success"]);
    assert_eq!(
        sb.stats()["faults_injected"],
        json!({"each_429": 1, "each_error": 1, "each_failed": 1})
    );
}

#[test]
fn the_sandbox_command_serves_until_stopped() {
    let args = [
        "sandbox",
        "--port",
        "0",
        "--job-seconds",
        "0.05",
        "--queue-seconds",
        "0",
        "--faults",
        "submit_429=1",
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let (mut child, base) = start_printing(&args, std::process::Stdio::inherit(), "sandbox listening on ");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stats = rt.block_on(async {
        let r = http()
            .post(format!("{base}/{T2V}"))
            .header("authorization", KEY)
            .json(&json!({"prompt": "a"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 429, "the fault plan from the command line applies");
        http()
            .get(format!("{base}/__sandbox/stats"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    assert_eq!(stats["requests"]["submit"], 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
