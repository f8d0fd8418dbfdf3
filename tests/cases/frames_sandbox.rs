//! The sandbox's image models (frames), over real HTTP as a fal client would call them: bodies
//! checked against the published snapshots, fal's queue, results in the endpoint's published
//! output shape with real PNG files of the asked shape, edit requests that fetch their
//! `image_urls` (recorded per request), and counters that tell image jobs from video jobs.

use crate::common::tool_present;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use storyboard::sandbox::{Sandbox, SandboxConfig};

const KEY: &str = "Key test-key";
const NANO: &str = "fal-ai/nano-banana-2";
const NANO_EDIT: &str = "fal-ai/nano-banana-2/edit";

async fn start() -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().unwrap(), SandboxConfig::fast())
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn submit(sb: &Sandbox, endpoint: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/{endpoint}", sb.base_url()))
        .header("authorization", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(url: &str) -> (u16, Value) {
    let r = http().get(url).header("authorization", KEY).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Submits, follows the status URL to COMPLETED, returns (request id, result status, result).
async fn run(sb: &Sandbox, endpoint: &str, body: Value) -> (String, u16, Value) {
    let (code, queued) = submit(sb, endpoint, body).await;
    assert_eq!((code, &queued["status"]), (200, &json!("IN_QUEUE")), "{queued}");
    let status_url = queued["status_url"].as_str().unwrap();
    let mut done = false;
    for _ in 0..1000 {
        let (code, status) = get(status_url).await;
        if code == 200 {
            assert_eq!(status["status"], "COMPLETED");
            done = true;
            break;
        }
        assert_eq!(code, 202, "{status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done, "the job never completed");
    let (code, result) = get(queued["response_url"].as_str().unwrap()).await;
    (queued["request_id"].as_str().unwrap().to_owned(), code, result)
}

/// The endpoint's published output type (`x-output` of its snapshot) as a validator.
fn output_validator(endpoint: &str) -> jsonschema::Validator {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/fal/{endpoint}.json"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    jsonschema::validator_for(&doc["x-output"]).unwrap()
}

async fn download(url: &str) -> Vec<u8> {
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    r.bytes().await.unwrap().to_vec()
}

/// `codec_name|width|height` of a picture as ffprobe reads it.
fn probe(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    std::fs::write(&path, bytes).unwrap();
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact=p=0:nk=1",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The picture as raw RGB (decoded by ffmpeg: a reader other than ours).
fn pixels(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    std::fs::write(&path, bytes).unwrap();
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(
        o.status.success() && !o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_frame_request_is_queued_and_answers_readable_pngs_of_the_asked_shape() {
    if !tool_present("ffprobe") {
        return;
    }
    let sb = start().await;
    let cases = [
        (
            NANO,
            json!({"prompt": "A lighthouse at dusk", "aspect_ratio": "16:9", "resolution": "1K"}),
            "256|144",
        ),
        (
            NANO,
            json!({"prompt": "A tall door", "aspect_ratio": "9:16", "resolution": "2K", "num_images": 2}),
            "288|512",
        ),
        (
            "fal-ai/bytedance/seedream/v4.5/text-to-image",
            json!({"prompt": "x", "image_size": "landscape_16_9"}),
            "256|144",
        ),
        (
            "fal-ai/bytedance/seedream/v4.5/text-to-image",
            json!({"prompt": "x", "image_size": {"width": 2560, "height": 1440}}),
            "640|360",
        ),
        (
            "fal-ai/flux-2-pro",
            json!({"prompt": "x", "image_size": {"width": 1024, "height": 1024}, "seed": 7}),
            "256|256",
        ),
    ];
    for (endpoint, body, shape) in cases {
        let asked = body["num_images"].as_u64().unwrap_or(1) as usize;
        let (_, code, result) = run(&sb, endpoint, body.clone()).await;
        assert_eq!(code, 200, "{endpoint}: {result}");
        let errors: Vec<String> = output_validator(endpoint)
            .iter_errors(&result)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{endpoint}: not fal's output type: {errors:?} in {result}"
        );
        let images = result["images"].as_array().unwrap();
        assert_eq!(images.len(), asked, "{endpoint}");
        for image in images {
            let bytes = download(image["url"].as_str().unwrap()).await;
            assert_eq!(image["file_size"], bytes.len(), "{endpoint}");
            assert_eq!(probe(&bytes), format!("png|{shape}"), "{endpoint} {body}");
            assert_eq!(format!("{}|{}", image["width"], image["height"]), shape);
        }
    }
    let (_, _, flux) = run(&sb, "fal-ai/flux-2-pro", json!({"prompt": "x", "seed": 7})).await;
    assert_eq!(flux["seed"], 7, "the asked seed comes back");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_wrong_enums_and_missing_inputs_are_refused_with_422() {
    let sb = start().await;
    let refused = [
        (
            NANO,
            json!({"prompt": "x", "resolution": "3K"}),
            "resolution",
            "type_error.enum",
        ),
        (
            NANO,
            json!({"prompt": "x", "image_size": "square"}),
            "image_size",
            "value_error.extra",
        ),
        (
            NANO,
            json!({"prompt": "x", "num_images": 5}),
            "num_images",
            "value_error.number",
        ),
        (NANO_EDIT, json!({"prompt": "x"}), "image_urls", "value_error.missing"),
        (
            "fal-ai/bytedance/seedream/v4.5/edit",
            json!({"prompt": "x"}),
            "image_urls",
            "value_error.missing",
        ),
        (
            "fal-ai/flux-2-pro",
            json!({"prompt": "x", "aspect_ratio": "16:9"}),
            "aspect_ratio",
            "value_error.extra",
        ),
        (
            "fal-ai/flux-2-pro",
            json!({"prompt": "x", "image_size": "landscape_21_9"}),
            "image_size",
            "value_error",
        ),
        (
            NANO_EDIT,
            json!({"prompt": "x", "image_urls": ["./cast/ana.png"]}),
            "image_urls",
            "value_error.url.scheme",
        ),
        (
            "fal-ai/bytedance/seedream/v4.5/text-to-image",
            json!({"prompt": "x", "image_size": {"width": 1024, "height": 1024}}),
            "image_size",
            "value_error",
        ),
    ];
    for (endpoint, body, field, kind) in refused {
        let (code, answer) = submit(&sb, endpoint, body.clone()).await;
        assert_eq!(code, 422, "{endpoint} {body}: {answer}");
        let hit = answer["detail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["loc"][1] == field && d["type"].as_str().unwrap().starts_with(kind));
        assert!(hit, "{endpoint} {body}: no {kind} at {field} in {answer}");
    }
    assert_eq!(sb.stats()["jobs_created_total"], 0, "a refused body makes no job");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_requests_with_the_same_body_give_visibly_different_images() {
    if !tool_present("ffmpeg") {
        return;
    }
    let sb = start().await;
    let body = json!({"prompt": "The same shot", "aspect_ratio": "1:1", "resolution": "0.5K"});
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (_, _, result) = run(&sb, NANO, body.clone()).await;
        seen.push(pixels(&download(result["images"][0]["url"].as_str().unwrap()).await));
    }
    assert_eq!(seen[0].len(), 128 * 128 * 3);
    assert_ne!(seen[0][..3], seen[1][..3], "the background colours differ");
}

/// A fal storage upload (initiate, then PUT the bytes): its file URL.
async fn upload(sb: &Sandbox, bytes: &[u8]) -> String {
    let (code, slot) = {
        let r = http()
            .post(format!(
                "{}/storage/upload/initiate?storage_type=fal-cdn-v3",
                sb.base_url()
            ))
            .header("authorization", KEY)
            .json(&json!({"file_name": "ana.png", "content_type": "image/png"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(code, 200, "{slot}");
    let put = http()
        .put(slot["upload_url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    slot["file_url"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_request_fetches_its_image_urls_and_the_sandbox_records_what_arrived() {
    let sb = start().await;
    let face = b"\x89PNG a cast member's frontal image".to_vec();
    let uploaded = upload(&sb, &face).await;
    let (_, _, earlier) = run(&sb, NANO, json!({"prompt": "An earlier frame"})).await;
    let frame_url = earlier["images"][0]["url"].as_str().unwrap().to_owned();
    let frame = download(&frame_url).await;
    let body = json!({"prompt": "Ana on the pier", "image_urls": [uploaded, frame_url], "aspect_ratio": "16:9"});
    let (id, code, result) = run(&sb, NANO_EDIT, body).await;
    assert_eq!(code, 200, "{result}");
    let record = sb.received(&id).unwrap();
    assert_eq!(record["endpoint"], NANO_EDIT);
    let got: Vec<(&Value, &Value)> = record["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["url"], &r["sha256"]))
        .collect();
    assert_eq!(
        got,
        [
            (&json!(uploaded), &json!(sha256(&face))),
            (&json!(frame_url), &json!(sha256(&frame)))
        ]
    );
    let (code, over_http) = get(&format!("{}/__sandbox/received/{id}", sb.base_url())).await;
    assert_eq!((code, &over_http), (200, &record));

    // A URL that cannot be fetched: accepted into the queue, then fal's download error.
    let dead = format!("{}/files/uploads/no-such-token/x.png", sb.base_url());
    let (_, code, result) = run(&sb, NANO_EDIT, json!({"prompt": "x", "image_urls": [dead]})).await;
    assert_eq!(code, 422, "{result}");
    assert_eq!(result["detail"][0]["type"], "file_download_error");
    assert_eq!(result["detail"][0]["loc"], json!(["body", "image_urls", 0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_counters_tell_frame_jobs_from_video_jobs() {
    let sb = start().await;
    for endpoint in [NANO, "fal-ai/flux-2-pro", NANO] {
        run(&sb, endpoint, json!({"prompt": "a frame"})).await;
    }
    let stats = sb.stats();
    assert_eq!(
        stats["jobs_by_kind"],
        json!({"image": 3}),
        "frame requests only, no video job"
    );
    assert_eq!(stats["jobs_created"][NANO], 2);
    let (_, code, _) = run(
        &sb,
        "fal-ai/kling-video/v3/pro/image-to-video",
        json!({"prompt": "x", "start_image_url": format!("{}/files/x/image-0.png", sb.base_url())}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(sb.stats()["jobs_by_kind"], json!({"image": 3, "video": 1}));
}

#[tokio::test(flavor = "multi_thread")]
async fn image_prices_and_billing_events_follow_fals_pages() {
    let sb = start().await;
    let ids = "fal-ai/nano-banana-2,fal-ai/bytedance/seedream/v4.5/edit,fal-ai/flux-2-pro";
    let (code, prices) = get(&format!("{}/v1/models/pricing?endpoint_id={ids}", sb.base_url())).await;
    assert_eq!(code, 200);
    let listed: Vec<(&Value, &Value, &Value)> = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (&p["endpoint_id"], &p["unit_price"], &p["unit"]))
        .collect();
    assert_eq!(
        listed,
        [
            (&json!(NANO), &json!(0.08), &json!("image")),
            (
                &json!("fal-ai/bytedance/seedream/v4.5/edit"),
                &json!(0.04),
                &json!("image")
            ),
        ],
        "FLUX.2 [pro] has no list price in the sandbox (no fal page for it was found)"
    );
    let body = json!({"prompt": "x", "resolution": "2K", "num_images": 2, "enable_web_search": true});
    let (id, _, _) = run(&sb, NANO, body).await;
    let url = format!("{}/v1/models/billing-events?request_id={id}", sb.base_url());
    let (code, events) = get(&url).await;
    assert_eq!(code, 200, "{events}");
    let event = &events["billing_events"][0];
    assert_eq!(
        (&event["output_units"], &event["unit_price"]),
        (&json!(3.0), &json!(0.08))
    );
    assert_eq!(
        event["cost_estimate_nano_usd"], 255_000_000,
        "2 images × 1.5 × $0.08 + $0.015 search"
    );
}

/// fal's official Python client, unchanged but for the queue URL: a frame, then an edit request
/// whose `image_urls` is that frame (the sandbox fetches it; the record shows its bytes).
const OFFICIAL_CLIENT: &str = r#"
import json, os, fal_client
import fal_client.client as module
module.QUEUE_URL_FORMAT = os.environ["SANDBOX_URL"].rstrip("/") + "/"
client = fal_client.SyncClient(key="sandbox-key", default_timeout=30)
frame = client.subscribe("fal-ai/nano-banana-2", arguments={"prompt": "a pier", "aspect_ratio": "16:9"})
edit = client.submit("fal-ai/nano-banana-2/edit", arguments={"prompt": "Ana on it", "image_urls": [frame["images"][0]["url"]]})
print(json.dumps({"frame": frame, "edit_id": edit.request_id, "edit": edit.get()}))
"#;

#[test]
fn the_official_fal_client_makes_a_frame_and_an_edit_of_it() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(start());
    let out = Command::new(python)
        .args(["-c", OFFICIAL_CLIENT])
        .env("SANDBOX_URL", sb.base_url())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (endpoint, result) in [(NANO, &got["frame"]), (NANO_EDIT, &got["edit"])] {
        assert!(output_validator(endpoint).is_valid(result), "{endpoint}: {result}");
    }
    let frame_url = got["frame"]["images"][0]["url"].as_str().unwrap();
    let frame = rt.block_on(download(frame_url));
    let record = sb.received(got["edit_id"].as_str().unwrap()).unwrap();
    assert_eq!(record["received"][0]["sha256"], sha256(&frame), "{record}");
    assert_eq!(sb.stats()["jobs_by_kind"], json!({"image": 2}));
}
