//! The sandbox's input validation, from the providers' own published schemas
//! (`crate::published`: fal-js's `endpoints.ts` types and Eachlabs' model page, snapshotted by
//! `scripts/snapshot-schemas`) — never from the client's catalog, so a wire-format mistake in
//! the client is caught here instead of copied. On top of the schema, the rules the published
//! types state only in words (../shared/reference/kling-v3-and-platform.md §2): `prompt` or `multi_prompt`, not both;
//! a multi-shot's durations add up to at most 15 s; one element with a video; O3's "maximum 4
//! total (elements + reference images) when using video"; URLs where a URL is meant.
//!
//! Errors follow the real API's 422 shape: `{"detail":[{"loc":["body",field],"msg","type"}]}`.

use jsonschema::JsonType;
use jsonschema::Validator;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// What a model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `{video: File}`.
    Video,
    /// `{voice_id}`.
    Voice,
    /// `{images: [Image], …}` (an image model: the output type has `images`).
    Image,
}

/// A model the sandbox serves: its compiled published schema and what follows from it.
pub struct Model {
    validator: Validator,
    /// What it returns.
    pub output: Output,
    /// Generates audio unless told otherwise (the schema's `generate_audio` default).
    pub audio_default: bool,
    /// Takes `prompt` or `multi_prompt`, exactly one (both optional in the schema).
    pub one_prompt: bool,
    /// Seedance 2.0 reference-to-video: "Images up to 9, Videos up to 3, Audio up to 3" (fal's
    /// model page; the type says only `Array<string>`).
    pub seedance_refs: bool,
    /// The required fields of the published output type (`x-output`), e.g. `images`, `seed`,
    /// `description`: the result carries exactly these (and what they hold).
    pub output_fields: Vec<String>,
    /// The largest `num_images` (and Seedream's `max_images`) fal's page allows: "Range: 1 to
    /// 4" (Nano Banana 2), "1 to 6" (Seedream 4.5); the types say only `number`.
    pub max_images: Option<u64>,
    /// Nano Banana 2 edit: `image_urls` is "optional when at least one of `video_url`,
    /// `audio_url`, or `pdf_url` is provided" (the type's comment): one of them is required.
    pub needs_some_input: bool,
    /// Seedream 4.5: a `{width, height}` size obeys "Width and height must be between 1920 and
    /// 4096, or total number of pixels must be between 2560*1440 and 4096*4096" (the type).
    pub seedream_size: bool,
}

/// Eachlabs publishes no schema for Kling v2.5 turbo text-to-video that is available offline;
/// its inputs are taken from fal's page for the same model (../shared/reference/003: prompt, duration
/// "5"|"10", aspect_ratio, negative_prompt, cfg_scale 0–1), which the Eachlabs v2.6 page (004)
/// matches field for field apart from `generate_audio`.
const EACHLABS_V25_T2V: &str = r#"{"type": "object", "additionalProperties": false, "required": ["prompt"],
 "properties": {"prompt": {"type": "string"}, "duration": {"type": "string", "enum": ["5", "10"]},
  "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"]}, "negative_prompt": {"type": "string"},
  "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1}}}"#;

fn compile(text: &str) -> Model {
    // Embedded documents, checked by `published`'s tests: a broken one is a bug.
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("published schema: {e}"));
    let validator = jsonschema::validator_for(&doc).unwrap_or_else(|e| panic!("published schema: {e}"));
    let props = &doc["properties"];
    let required = |k: &str| doc["required"].as_array().is_some_and(|r| r.iter().any(|x| x == k));
    Model {
        validator,
        output: if props.get("voice_url").is_some() {
            Output::Voice
        } else if doc.pointer("/x-output/properties/images").is_some() {
            Output::Image
        } else {
            Output::Video
        },
        audio_default: props["generate_audio"]["default"].as_bool().unwrap_or(false),
        one_prompt: props.get("multi_prompt").is_some() && !required("prompt"),
        seedance_refs: doc["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("bytedance/seedance-2.0/"))
            && props.get("image_urls").is_some(),
        seedream_size: props["image_size"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("between 1920 and 4096")),
        max_images: image_limit(doc["title"].as_str().unwrap_or("")),
        needs_some_input: props["image_urls"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("The URLs of the images") && d.contains("Optional when")),
        output_fields: doc
            .pointer("/x-output/required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| Some(f.as_str()?.to_owned()))
            .collect(),
    }
}

static FAL: LazyLock<HashMap<&'static str, Model>> = LazyLock::new(|| {
    crate::published::FAL
        .iter()
        .map(|(id, text)| (*id, compile(text)))
        .collect()
});

static EACHLABS: LazyLock<HashMap<&'static str, Model>> = LazyLock::new(|| {
    let published = crate::published::EACHLABS.iter().map(|(id, text)| (*id, compile(text)));
    let assumed = std::iter::once(("kling-v2-5-turbo-pro-text-to-video", compile(EACHLABS_V25_T2V)));
    published.chain(assumed).collect()
});

/// A fal endpoint (full id), `None` for an unknown application.
pub fn fal_model(endpoint: &str) -> Option<&'static Model> {
    FAL.get(endpoint)
}

/// An Eachlabs model (slug) and its version.
pub fn eachlabs_model(slug: &str) -> Option<(&'static Model, &'static str)> {
    EACHLABS.get(slug).map(|m| (m, "0.0.1"))
}

impl Model {
    /// Validates a request body; the pydantic-style `detail` entries of every problem.
    pub fn validate(&self, body: &Value) -> Vec<Value> {
        let Some(obj) = body.as_object() else {
            return vec![json!({"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"})];
        };
        let mut errs: Vec<Value> = Vec::new();
        for e in self.validator.iter_errors(body) {
            for d in detail(&e) {
                // One entry per place; pydantic calls a number given for a string enum an enum error.
                match errs.iter_mut().find(|x| x["loc"] == d["loc"]) {
                    Some(x) if d["type"] == "type_error.enum" => *x = d,
                    Some(_) => {}
                    None => errs.push(d),
                }
            }
        }
        urls(&mut vec!["body".into()], body, &mut errs);
        let present = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
        if self.one_prompt && present("prompt") == present("multi_prompt") {
            errs.push(json!({"loc": ["body", "prompt"], "msg": "either prompt or multi_prompt must be provided, not both", "type": "value_error"}));
        }
        for (field, ty, msg) in self.word_rules(obj) {
            let loc = json!(["body", field]);
            if let Some(m) = msg.filter(|_| !errs.iter().any(|x| x["loc"] == loc)) {
                errs.push(json!({"loc": ["body", field], "msg": m, "type": ty}));
            }
        }
        errs
    }

    /// The rules the published types state only in words: (field, pydantic type, message).
    fn word_rules(&self, obj: &Map<String, Value>) -> [(&'static str, &'static str, Option<String>); 14] {
        let refs = |field, max| self.seedance_refs.then(|| check_max_items(obj, field, max)).flatten();
        let count = |field| self.max_images.and_then(|max| check_count(obj, field, max));
        let no_input = ["image_urls", "video_url", "audio_url", "pdf_url"]
            .iter()
            .all(|k| !obj.contains_key(*k));
        [
            ("num_images", "value_error.number", count("num_images")),
            (
                "image_size",
                "value_error",
                self.seedream_size.then(|| check_seedream_size(obj)).flatten(),
            ),
            ("max_images", "value_error.number", count("max_images")),
            (
                "image_urls",
                "value_error.missing",
                (self.needs_some_input && no_input)
                    .then(|| "image_urls is required unless video_url, audio_url or pdf_url is given".into()),
            ),
            (
                "multi_prompt",
                "value_error",
                obj.get("multi_prompt").and_then(check_multi_prompt),
            ),
            ("elements", "value_error", obj.get("elements").and_then(check_elements)),
            ("elements", "value_error", with_video_limit(obj)),
            (
                "cfg_scale",
                "value_error.number.not_le",
                check_cfg(obj, 1.0, |c, max| c > max),
            ),
            (
                "cfg_scale",
                "value_error.number.not_ge",
                check_cfg(obj, 0.0, |c, min| c < min),
            ),
            ("voice_ids", "value_error.list.max_items", check_voice_ids(obj)),
            ("duration", "value_error", check_long_duration(obj)),
            ("image_urls", "value_error.list.max_items", refs("image_urls", 9)),
            ("video_urls", "value_error.list.max_items", refs("video_urls", 3)),
            ("audio_urls", "value_error.list.max_items", refs("audio_urls", 3)),
        ]
    }
}

/// The `detail` entries of one schema error, as pydantic words them.
fn detail(e: &jsonschema::ValidationError<'_>) -> Vec<Value> {
    let mut loc: Vec<Value> = vec![json!("body")];
    for seg in e.instance_path.as_str().split('/').filter(|s| !s.is_empty()) {
        loc.push(seg.parse::<u64>().map_or_else(|_| json!(seg), |n| json!(n)));
    }
    let at = |extra: Option<&str>| {
        let mut l = loc.clone();
        l.extend(extra.map(|x| json!(x)));
        Value::Array(l)
    };
    let entry = |loc: Value, msg: String, ty: &str| json!({"loc": loc, "msg": msg, "type": ty, "input": e.instance});
    match &e.kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|k| json!({"loc": at(Some(k)), "msg": "extra fields not permitted", "type": "value_error.extra"}))
            .collect(),
        ValidationErrorKind::Required { property } => {
            vec![json!({"loc": at(property.as_str()), "msg": "field required", "type": "value_error.missing"})]
        }
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| format!("'{}'", o.as_str().unwrap_or_default()))
                .collect();
            let mut d = entry(
                at(None),
                format!(
                    "value is not a valid enumeration member; permitted: {}",
                    list.join(", ")
                ),
                "type_error.enum",
            );
            d["ctx"] = json!({"enum_values": options});
            vec![d]
        }
        ValidationErrorKind::Type { kind } => {
            let t = match kind {
                TypeKind::Single(t) => *t,
                TypeKind::Multiple(ts) => ts.iter().next().unwrap_or(JsonType::Object),
            };
            let (msg, ty) = match t {
                JsonType::String => ("str type expected", "type_error.str"),
                JsonType::Number | JsonType::Integer => ("value is not a valid float", "type_error.float"),
                JsonType::Boolean => ("value could not be parsed to a boolean", "type_error.bool"),
                JsonType::Array => ("value is not a valid list", "type_error.list"),
                _ => ("value is not a valid dict", "type_error.dict"),
            };
            vec![entry(at(None), msg.into(), ty)]
        }
        ValidationErrorKind::Minimum { limit } => {
            vec![entry(
                at(None),
                format!("ensure this value is greater than or equal to {limit}"),
                "value_error.number.not_ge",
            )]
        }
        ValidationErrorKind::Maximum { limit } => {
            vec![entry(
                at(None),
                format!("ensure this value is less than or equal to {limit}"),
                "value_error.number.not_le",
            )]
        }
        _ => vec![entry(at(None), e.to_string(), "value_error")],
    }
}

/// Every string under a `*_url` field or in a `*_urls` list must be a URL (fal fetches it).
fn urls(loc: &mut Vec<Value>, v: &Value, errs: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                loc.push(json!(k));
                let url_list = k.ends_with("_urls")
                    && x.as_array()
                        .is_some_and(|a| a.iter().any(|i| !is_url(i) && i.is_string()));
                if (k.ends_with("_url") && x.is_string() && !is_url(x)) || url_list {
                    errs.push(json!({"loc": loc.clone(), "msg": "invalid or missing URL scheme", "type": "value_error.url.scheme"}));
                } else {
                    urls(loc, x, errs);
                }
                loc.pop();
            }
        }
        Value::Array(a) => {
            for (n, x) in a.iter().enumerate() {
                loc.push(json!(n));
                urls(loc, x, errs);
                loc.pop();
            }
        }
        _ => {}
    }
}

/// ../shared/reference/000: `cfg_scale` is between 0 and 1; `beyond(value, limit)` says it is not.
fn check_cfg(obj: &Map<String, Value>, limit: f64, beyond: fn(f64, f64) -> bool) -> Option<String> {
    let c = obj.get("cfg_scale")?.as_f64()?;
    let side = if limit > 0.0 { "less" } else { "greater" };
    beyond(c, limit).then(|| format!("ensure this value is {side} than or equal to {limit}"))
}

/// `voice_ids`: "maximum 2 voices per task" (fal-js `KlingVideoV26ProImageToVideoInput`).
fn check_voice_ids(obj: &Map<String, Value>) -> Option<String> {
    let n = obj.get("voice_ids")?.as_array()?.len();
    (n > 2).then(|| format!("ensure this value has at most 2 items (got {n})"))
}

/// A list of at most `max` items (limits fal's pages state in words).
fn check_max_items(obj: &Map<String, Value>, field: &str, max: usize) -> Option<String> {
    let n = obj.get(field)?.as_array()?.len();
    (n > max).then(|| format!("ensure this value has at most {max} items (got {n})"))
}

/// The image-count limit fal's model page states for an image endpoint (see `Model::max_images`).
fn image_limit(title: &str) -> Option<u64> {
    if title.starts_with("fal-ai/nano-banana-2") {
        Some(4)
    } else if title.starts_with("fal-ai/bytedance/seedream/v4.5/") {
        Some(6)
    } else {
        None
    }
}

/// See `Model::seedream_size`: named sizes pass (fal scales them), `{width, height}` is checked.
fn check_seedream_size(obj: &Map<String, Value>) -> Option<String> {
    let size = obj.get("image_size")?.as_object()?;
    let side = |k: &str| size.get(k).and_then(Value::as_f64).unwrap_or(512.0);
    let (w, h) = (side("width"), side("height"));
    let sides = (1920.0..=4096.0).contains(&w) && (1920.0..=4096.0).contains(&h);
    let area = (2560.0 * 1440.0..=4096.0 * 4096.0).contains(&(w * h));
    (!sides && !area).then(|| {
        format!("width and height must be between 1920 and 4096, or total pixels between 2560*1440 and 4096*4096 (got {w}x{h})")
    })
}

/// A whole number of images from 1 to `max`.
fn check_count(obj: &Map<String, Value>, field: &str, max: u64) -> Option<String> {
    let v = obj.get(field)?;
    match v.as_u64() {
        Some(n) if (1..=max).contains(&n) => None,
        Some(_) => Some(format!("ensure this value is from 1 to {max}")),
        None => Some("value is not a valid integer".into()),
    }
}

/// LTX-2.3 fast (a whole-number `duration`): "Durations longer than 10 seconds (12, 14, 16, 18,
/// 20) are only supported with 25 FPS and 1080p resolution" (the type's comment).
fn check_long_duration(obj: &Map<String, Value>) -> Option<String> {
    let seconds = obj.get("duration")?.as_u64()?;
    let fps = obj.get("fps").and_then(Value::as_u64).unwrap_or(25);
    let resolution = obj.get("resolution").and_then(Value::as_str).unwrap_or("1080p");
    (seconds > 10 && (fps != 25 || resolution != "1080p")).then(|| {
        format!("durations longer than 10 seconds are only supported with 25 FPS and 1080p resolution (got {fps} FPS, {resolution})")
    })
}

/// O3 reference-to-video: "Maximum 4 total (elements + reference images) when using video" (§2).
fn with_video_limit(obj: &Map<String, Value>) -> Option<String> {
    let elements = obj.get("elements").and_then(Value::as_array)?;
    let video = elements.iter().any(|e| e.get("video_url").is_some());
    let images = obj.get("image_urls").and_then(Value::as_array).map_or(0, Vec::len);
    (video && elements.len() + images > 4)
        .then(|| "maximum 4 total (elements + reference images) when using a video element".to_owned())
}

fn is_url(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with("https://") || s.starts_with("http://") || s.starts_with("data:"))
}

/// What the schema leaves to words in a `multi_prompt`: 1–6 shots ("Multi-shot storyboard (1-6
/// shots)"), "the total duration must not exceed 15s".
fn check_multi_prompt(v: &Value) -> Option<String> {
    let items = v.as_array()?;
    if items.is_empty() || items.len() > 6 {
        return Some("ensure this value has 1 to 6 items".into());
    }
    let total: u64 = items
        .iter()
        .map(|i| {
            i.get("duration")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(5)
        })
        .sum();
    (total > 15).then(|| format!("total duration must not exceed 15s (got {total}s)"))
}

/// What the schema leaves to words in `elements`: "1-3" reference images, an image set or a
/// video, "only one element with a video" per request.
fn check_elements(v: &Value) -> Option<String> {
    let items = v.as_array()?;
    let mut videos = 0;
    for obj in items.iter().filter_map(Value::as_object) {
        if let Some(a) = obj.get("reference_image_urls").and_then(Value::as_array)
            && !(1..=3).contains(&a.len())
        {
            return Some("reference_image_urls: 1 to 3 URLs".into());
        }
        if obj.contains_key("video_url") {
            videos += 1;
        } else if !obj.contains_key("frontal_image_url") {
            return Some("an element needs a frontal_image_url or a video_url".into());
        }
    }
    (videos > 1).then(|| "at most one element with a video_url per request".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_and_o3_take_their_own_image_fields_and_one_kind_of_prompt() {
        let o3 = fal_model("fal-ai/kling-video/o3/pro/image-to-video").unwrap();
        let errs = o3.validate(&json!({"prompt": "x", "start_image_url": "https://a/b.png"}));
        let locs: Vec<&Value> = errs.iter().map(|e| &e["loc"][1]).collect();
        assert_eq!(locs, [&json!("image_url"), &json!("start_image_url")]);
        let v3 = fal_model("fal-ai/kling-video/v3/pro/text-to-video").unwrap();
        let both = json!({"prompt": "x", "multi_prompt": [{"prompt": "a", "duration": "5"}]});
        assert_eq!(
            v3.validate(&both)[0]["msg"],
            "either prompt or multi_prompt must be provided, not both"
        );
        let long = json!({"multi_prompt": [{"prompt": "a", "duration": "10"}, {"prompt": "b", "duration": "6"}]});
        assert!(v3.validate(&long)[0]["msg"].as_str().unwrap().contains("15s"));
        assert!(
            v3.validate(&json!({"prompt": "x", "duration": "15", "cfg_scale": 0.4}))
                .is_empty()
        );
        assert_eq!(
            v3.validate(&json!({"prompt": "x", "duration": "16"}))[0]["type"],
            "type_error.enum"
        );
        let o3t = fal_model("fal-ai/kling-video/o3/standard/text-to-video").unwrap();
        assert_eq!(
            o3t.validate(&json!({"prompt": "x", "cfg_scale": 0.5}))[0]["type"],
            "value_error.extra"
        );
    }

    #[test]
    fn elements_are_checked_as_the_published_types_describe() {
        let v3 = fal_model("fal-ai/kling-video/v3/pro/image-to-video").unwrap();
        let img = "https://a/f.png";
        let body = |elements: Value| json!({"prompt": "@Element1", "start_image_url": img, "elements": elements});
        let ok =
            json!([{"frontal_image_url": img, "reference_image_urls": [img], "voice_id": "vc_1"}, {"video_url": img}]);
        assert!(v3.validate(&body(ok.clone())).is_empty());
        let msg = |e: Value| v3.validate(&body(e))[0]["msg"].as_str().unwrap().to_owned();
        assert!(msg(json!([{"video_url": img}, {"video_url": img}])).contains("at most one element with a video_url"));
        assert!(
            msg(json!([{"frontal_image_url": img, "reference_image_urls": [img, img, img, img]}])).contains("1 to 3")
        );
        assert!(msg(json!([{"frontal_image_url": "./local.png"}])).contains("URL"));
        let extra = v3.validate(&body(json!([{"frontal_image_url": img, "face": img}])));
        assert_eq!(extra[0]["loc"], json!(["body", "elements", 0, "face"]));
        assert_eq!(extra[0]["type"], "value_error.extra");
        for t2v in [
            "v3/pro/text-to-video",
            "v3/standard/text-to-video",
            "o3/pro/text-to-video",
            "o3/pro/image-to-video",
        ] {
            let m = fal_model(&format!("fal-ai/kling-video/{t2v}")).unwrap();
            let errs = m.validate(&json!({"prompt": "x", "image_url": img, "elements": ok}));
            let extra: Vec<&Value> = errs
                .iter()
                .filter(|e| e["loc"] == json!(["body", "elements"]))
                .collect();
            assert_eq!(
                extra[0]["type"], "value_error.extra",
                "{t2v} takes no elements (fal-js)"
            );
        }
        let o3r = fal_model("fal-ai/kling-video/o3/pro/reference-to-video").unwrap();
        let five = json!({"prompt": "x", "image_urls": [img, img, img, img], "elements": [{"video_url": img}]});
        assert!(o3r.validate(&five)[0]["msg"].as_str().unwrap().contains("maximum 4"));
    }

    /// The families beyond Kling, from their own snapshots: Veo's "8s", Seedance's string
    /// seconds, LTX's whole numbers, Hailuo pro's missing duration; unknown fields refused.
    #[test]
    fn new_families_are_checked_against_their_own_snapshots() {
        let img = "https://a/f.png";
        let veo = fal_model("fal-ai/veo3.1").unwrap();
        assert!(
            veo.validate(&json!({"prompt": "x", "duration": "8s", "resolution": "1080p", "generate_audio": false}))
                .is_empty()
        );
        assert_eq!(
            veo.validate(&json!({"prompt": "x", "duration": "8"}))[0]["type"],
            "type_error.enum"
        );
        assert_eq!(
            veo.validate(&json!({"prompt": "x", "cfg_scale": 0.5}))[0]["type"],
            "value_error.extra"
        );
        let flf = fal_model("fal-ai/veo3.1/first-last-frame-to-video").unwrap();
        assert_eq!(
            flf.validate(&json!({"prompt": "x", "first_frame_url": img}))[0]["loc"],
            json!(["body", "last_frame_url"])
        );
        let sd = fal_model("bytedance/seedance-2.0/image-to-video").unwrap();
        assert!(
            sd.validate(&json!({"prompt": "x", "image_url": img, "end_image_url": img, "duration": "12"}))
                .is_empty()
        );
        assert_eq!(
            sd.validate(&json!({"prompt": "x", "image_url": img, "duration": 12}))[0]["type"],
            "type_error.enum"
        );
        let fast = fal_model("bytedance/seedance-2.0/fast/text-to-video").unwrap();
        assert_eq!(
            fast.validate(&json!({"prompt": "x", "resolution": "1080p"}))[0]["type"],
            "type_error.enum"
        );
        let r2v = fal_model("bytedance/seedance-2.0/reference-to-video").unwrap();
        let ten: Vec<&str> = vec![img; 10];
        assert!(
            r2v.validate(&json!({"prompt": "x", "image_urls": ten}))[0]["msg"]
                .as_str()
                .unwrap()
                .contains("at most 9")
        );
        let ltx = fal_model("fal-ai/ltx-2.3/text-to-video/fast").unwrap();
        assert!(ltx.validate(&json!({"prompt": "x", "duration": 20})).is_empty());
        let long = ltx.validate(&json!({"prompt": "x", "duration": 12, "resolution": "1440p"}));
        assert!(
            long[0]["msg"].as_str().unwrap().contains("25 FPS and 1080p"),
            "{long:?}"
        );
        assert_eq!(
            ltx.validate(&json!({"prompt": "x", "duration": "6"}))[0]["type"],
            "type_error.enum"
        );
        let pro = fal_model("fal-ai/minimax/hailuo-2.3/pro/text-to-video").unwrap();
        assert_eq!(
            pro.validate(&json!({"prompt": "x", "duration": "6"}))[0]["type"],
            "value_error.extra"
        );
        let std = fal_model("fal-ai/minimax/hailuo-2.3/standard/image-to-video").unwrap();
        assert!(
            std.validate(&json!({"prompt": "x", "image_url": img, "duration": "10"}))
                .is_empty()
        );
    }

    #[test]
    fn v26_image_to_video_refuses_image_url() {
        let m = fal_model("fal-ai/kling-video/v2.6/pro/image-to-video").unwrap();
        let errs = m.validate(&json!({"prompt": "x", "image_url": "https://a/b.png"}));
        let locs: Vec<&Value> = errs.iter().map(|e| &e["loc"][1]).collect();
        assert_eq!(locs, [&json!("start_image_url"), &json!("image_url")]);
        assert_eq!(errs[0]["type"], "value_error.missing");
        assert_eq!(errs[1]["type"], "value_error.extra");
    }

    #[test]
    fn enums_ranges_and_list_lengths_are_enforced() {
        let m = fal_model("fal-ai/kling-video/v2.6/pro/text-to-video").unwrap();
        let errs = m.validate(&json!({"prompt": "x", "duration": 5, "aspect_ratio": "4:3", "cfg_scale": 1.5}));
        let found: Vec<(&Value, &str)> = errs
            .iter()
            .map(|e| (&e["loc"][1], e["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                (&json!("duration"), "type_error.enum"),
                (&json!("aspect_ratio"), "type_error.enum"),
                (&json!("cfg_scale"), "value_error.number.not_le")
            ]
        );
        assert_eq!(errs[1]["ctx"]["enum_values"], json!(["16:9", "9:16", "1:1"]));
        let i2v = fal_model("fal-ai/kling-video/v2.6/pro/image-to-video").unwrap();
        let errs = i2v.validate(&json!({"prompt": "x", "start_image_url": "https://a", "voice_ids": ["a", "b", "c"]}));
        assert!(errs[0]["msg"].as_str().unwrap().contains("at most 2"));
        assert!(
            i2v.validate(&json!({"prompt": "x", "start_image_url": "https://a", "voice_ids": ["a"]}))
                .is_empty()
        );
        let (each, _) = eachlabs_model("kling-v2-6-pro-text-to-video").unwrap();
        let errs = each.validate(&json!({"prompt": "x", "cfg_scale": 1.5, "seed": 1}));
        let types: Vec<&str> = errs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert!(
            types.contains(&"value_error.number.not_le") && types.contains(&"value_error.extra"),
            "{types:?}"
        );
        assert!(
            fal_model("fal-ai/kling-video/v3/turbo/pro/text-to-video")
                .unwrap()
                .validate(&json!({"prompt": "x", "shot_type": "customize"}))[0]["type"]
                == "value_error.extra"
        );
    }
}
