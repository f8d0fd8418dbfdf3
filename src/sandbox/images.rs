//! The image models (frames): what a request asks for (size from `aspect_ratio` +
//! `resolution`, or `image_size`), the input images an edit request fetches (as fal fetches
//! `image_urls`; what arrived is recorded per request), the result in the endpoint's published
//! output shape (`x-output`: `images: [Image]`, plus `seed` / `description` where the type has
//! them) and the PNG files themselves (made by `synth`, distinct per request and image).

use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::{Outcome, Shared, json_response};
use storyboard_synth as synth;

/// The sandbox draws a quarter of fal's nominal size in each dimension (a 1K 16:9 frame of
/// 1024×576 is 256×144 here): the same shape, files of kilobytes rather than megabytes.
const SCALE: u32 = 4;

/// What a job's images are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ImageSpec {
    /// Pixels of the files served (fal's nominal size / [`SCALE`]).
    pub width: u32,
    pub height: u32,
    /// How many images (`num_images`, default 1).
    pub count: u32,
    /// Drawn in the image: the prompt's first words.
    pub title: String,
    /// Drawn in the image: the endpoint.
    pub model: String,
    /// The result's `seed` (the asked one, else one from the request).
    pub seed: u64,
    /// The output type's required fields (`images`, `seed`, `description`).
    pub fields: Vec<String>,
}

impl ImageSpec {
    pub(super) fn from_input(input: &Value, endpoint: &str, fields: &[String], job: &str) -> ImageSpec {
        let (w, h) = nominal_size(input);
        let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or("");
        let seed = input.get("seed").and_then(Value::as_u64).unwrap_or_else(|| {
            let d = Sha256::digest(job.as_bytes());
            u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
        });
        ImageSpec {
            width: (w / SCALE).max(16),
            height: (h / SCALE).max(16),
            count: input.get("num_images").and_then(Value::as_u64).unwrap_or(1).clamp(1, 6) as u32,
            title: prompt.split_whitespace().take(12).collect::<Vec<_>>().join(" "),
            model: endpoint.strip_prefix("fal-ai/").unwrap_or(endpoint).to_owned(),
            seed,
            fields: fields.to_vec(),
        }
    }
}

/// fal's nominal output size: `image_size` (a named size as fal's image APIs define them, or
/// `{width, height}`), else `aspect_ratio` × `resolution` (the long side 512/1024/2048/4096
/// for 0.5K/1K/2K/4K; `auto` as 1:1).
fn nominal_size(input: &Value) -> (u32, u32) {
    let dim = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).map(|n| n as u32);
    match input.get("image_size") {
        Some(Value::Object(_)) => {
            let size = &input["image_size"];
            return (dim(size, "width").unwrap_or(512), dim(size, "height").unwrap_or(512));
        }
        Some(Value::String(named)) => {
            return match named.as_str() {
                "square" => (512, 512),
                "portrait_4_3" => (768, 1024),
                "portrait_16_9" => (576, 1024),
                "landscape_4_3" => (1024, 768),
                "landscape_16_9" => (1024, 576),
                "auto_2K" => (2048, 2048),
                "auto_4K" => (4096, 4096),
                _ => (1024, 1024),
            };
        }
        _ => {}
    }
    let long = match input.get("resolution").and_then(Value::as_str) {
        Some("0.5K") => 512,
        Some("2K") => 2048,
        Some("4K") => 4096,
        _ => 1024,
    };
    let ratio = input.get("aspect_ratio").and_then(Value::as_str).unwrap_or("1:1");
    let (a, b) = ratio
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .filter(|(a, b)| *a > 0 && *b > 0)
        .unwrap_or((1, 1));
    if a >= b {
        (long, long * b / a)
    } else {
        (long * a / b, long)
    }
}

/// The result body: the output type's fields, `images` with one `Image` per picture.
pub(super) fn result_json(state: &Shared, spec: &ImageSpec, id: &str) -> Value {
    let images: Vec<Value> = (0..spec.count)
        .map(|n| {
            json!({
                "url": format!("{}/files/{id}/{}", state.base, file_name(n)),
                "content_type": "image/png",
                "file_name": file_name(n),
                "file_size": picture(state, spec, id, n).len(),
                "width": spec.width & !1,
                "height": spec.height & !1,
            })
        })
        .collect();
    let mut out = json!({ "images": images });
    for field in &spec.fields {
        match field.as_str() {
            "seed" => out["seed"] = json!(spec.seed),
            "description" => out["description"] = json!(""),
            _ => {}
        }
    }
    out
}

fn file_name(n: u32) -> String {
    format!("image-{n}.png")
}

/// The PNG bytes of image `n` of job `id` (made once, kept with the clips).
fn picture(state: &Shared, spec: &ImageSpec, id: &str, n: u32) -> Arc<Vec<u8>> {
    let key = format!("{id}/{n}");
    state.clips.get_or_make(&key, || {
        synth::png(&synth::Spec {
            width: spec.width,
            height: spec.height,
            seconds: 1,
            audio: false,
            title: &spec.title,
            model: &spec.model,
            job: &key,
        })
    })
}

/// `GET /files/{id}/image-{n}.png`.
pub(super) fn serve(state: &Shared, spec: &ImageSpec, id: &str, name: &str, head: bool) -> Response<Body> {
    let n = name
        .strip_prefix("image-")
        .and_then(|r| r.strip_suffix(".png"))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n < spec.count);
    let Some(n) = n else {
        return json_response(StatusCode::NOT_FOUND, json!({"detail": "File not found"}));
    };
    let bytes = picture(state, spec, id, n);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "image/png")
        .header("content-length", bytes.len())
        .body(if head {
            Body::empty()
        } else {
            Body::from(bytes.to_vec())
        })
        .unwrap_or_default()
}

/// Whether a job's outcome is images.
pub(super) fn spec_of(outcome: &Outcome) -> Option<&ImageSpec> {
    match outcome {
        Outcome::Image(spec) => Some(spec),
        _ => None,
    }
}

/// What an edit request's `image_urls` fetch found: one record per URL (`url`, `status`,
/// `content_type`, `bytes`, `sha256` of the body), or the 422 `detail` fal answers when a
/// file cannot be downloaded. Every `http(s)` URL is fetched over HTTP, the sandbox's own file
/// host included, as fal's runner does; a `data:` URL is recorded by its length.
pub(super) async fn fetch_inputs(input: &Value) -> Result<Vec<Value>, Value> {
    let urls: Vec<&str> = input
        .get("image_urls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| download_error(0, &e.to_string()))?;
    let mut received = Vec::with_capacity(urls.len());
    for (i, url) in urls.into_iter().enumerate() {
        if url.starts_with("data:") {
            received.push(json!({"url": "data:", "status": 200, "bytes": url.len()}));
            continue;
        }
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| download_error(i, &e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(download_error(i, &format!("HTTP {status}")));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response.bytes().await.map_err(|e| download_error(i, &e.to_string()))?;
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        received.push(json!({
            "url": url, "status": status.as_u16(), "content_type": content_type,
            "bytes": bytes.len(), "sha256": sha,
        }));
    }
    Ok(received)
}

/// fal's model error for an input it cannot fetch (`file_download_error`, 422).
fn download_error(index: usize, why: &str) -> Value {
    json!([{
        "loc": ["body", "image_urls", index],
        "msg": format!("Failed to download the file. Please check if the URL is accessible and the file exists. ({why})"),
        "type": "file_download_error",
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nominal_size_follows_aspect_ratio_and_resolution_or_image_size() {
        let size = |v: Value| nominal_size(&v);
        assert_eq!(size(json!({"aspect_ratio": "16:9"})), (1024, 576));
        assert_eq!(size(json!({"aspect_ratio": "9:16", "resolution": "2K"})), (1152, 2048));
        assert_eq!(size(json!({"aspect_ratio": "21:9", "resolution": "0.5K"})), (512, 219));
        assert_eq!(size(json!({"aspect_ratio": "auto", "resolution": "4K"})), (4096, 4096));
        assert_eq!(size(json!({"image_size": "portrait_16_9"})), (576, 1024));
        assert_eq!(size(json!({"image_size": "auto_2K"})), (2048, 2048));
        assert_eq!(
            size(json!({"image_size": {"width": 2560, "height": 1440}})),
            (2560, 1440)
        );
    }
}
