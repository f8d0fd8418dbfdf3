//! The sandbox's own copy of the model input schemas, written from `reference/` (fal's
//! endpoint pages, protocol.md §3, the Eachlabs model page) — not from the client's catalog,
//! so a wire-format mistake in the client is caught here instead of copied.
//!
//! Errors follow the real API's 422 shape: `{"detail":[{"loc":["body",field],"msg","type"}]}`.

use serde_json::{Map, Value, json};

/// A field's type and constraints.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Url,
    Enum(&'static [&'static str]),
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    StrList {
        max_items: usize,
    },
    UrlList {
        min_items: usize,
        max_items: usize,
    },
    /// `multi_prompt`: 1–6 `{prompt, duration "1".."15"}`, the durations adding up to at most
    /// 15 s (kling-v3-and-platform.md §2).
    MultiPrompt,
    /// `elements`: `{frontal_image_url?, reference_image_urls? (1–3), video_url?, voice_id?}`,
    /// at most one with a video (§2).
    Elements,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    ty: Ty,
    required: bool,
}

const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}
const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

const DURATION: Ty = Ty::Enum(&["5", "10"]);
const ASPECT: Ty = Ty::Enum(&["16:9", "9:16", "1:1"]);
const CFG: Ty = Ty::Float { min: 0.0, max: 1.0 };

/// reference/000 and 001 (text-to-video tab); the Eachlabs page (004) has the same inputs.
const V26_T2V: &[Field] = &[
    req("prompt", Ty::Str),
    opt("duration", DURATION),
    opt("aspect_ratio", ASPECT),
    opt("negative_prompt", Ty::Str),
    opt("cfg_scale", CFG),
    opt("generate_audio", Ty::Bool),
];
/// reference/001 (image-to-video tab): `start_image_url`, no aspect_ratio, no cfg_scale.
const V26_I2V: &[Field] = &[
    req("prompt", Ty::Str),
    req("start_image_url", Ty::Url),
    opt("end_image_url", Ty::Url),
    opt("duration", DURATION),
    opt("negative_prompt", Ty::Str),
    opt("generate_audio", Ty::Bool),
    opt("voice_ids", Ty::StrList { max_items: 2 }),
];
/// reference/001 (motion control tab).
const V26_MOTION: &[Field] = &[
    opt("prompt", Ty::Str),
    req("image_url", Ty::Url),
    req("video_url", Ty::Url),
    opt("keep_original_sound", Ty::Bool),
    req("character_orientation", Ty::Enum(&["image", "video"])),
];
/// reference/003.
const V25_T2V: &[Field] = &[
    req("prompt", Ty::Str),
    opt("duration", DURATION),
    opt("aspect_ratio", ASPECT),
    opt("negative_prompt", Ty::Str),
    opt("cfg_scale", CFG),
];
/// protocol.md §3: v2.5 turbo image-to-video takes `image_url` and `tail_image_url`.
const V25_I2V: &[Field] = &[
    req("prompt", Ty::Str),
    req("image_url", Ty::Url),
    opt("tail_image_url", Ty::Url),
    opt("duration", DURATION),
    opt("negative_prompt", Ty::Str),
    opt("cfg_scale", CFG),
];
/// kling-v3-and-platform.md §2: durations "3"…"15" on every Kling 3.0 and O3 endpoint.
const V3_DURATION: Ty = Ty::Enum(&["3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"]);
const SHOT_TYPE: Ty = Ty::Enum(&["customize", "intelligent"]);

/// §1–2: v3 pro/standard text-to-video (`KlingVideoV34kTextToVideoInput`): `prompt` or
/// `multi_prompt`, elements, negative prompt and cfg, no `voice_ids`.
const V3_T2V: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    opt("duration", V3_DURATION),
    opt("aspect_ratio", ASPECT),
    opt("negative_prompt", Ty::Str),
    opt("cfg_scale", CFG),
    opt("generate_audio", Ty::Bool),
    opt("elements", Ty::Elements),
];
/// §1–2: v3 pro/standard image-to-video: `start_image_url` required, no aspect ratio.
const V3_I2V: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    req("start_image_url", Ty::Url),
    opt("end_image_url", Ty::Url),
    opt("duration", V3_DURATION),
    opt("negative_prompt", Ty::Str),
    opt("cfg_scale", CFG),
    opt("generate_audio", Ty::Bool),
    opt("elements", Ty::Elements),
];
/// §1–2: v3 turbo pro text-to-video: no negative prompt, no cfg.
const V3_TURBO_T2V: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    opt("duration", V3_DURATION),
    opt("aspect_ratio", ASPECT),
];
/// §1–2: O3 text-to-video: no negative prompt or cfg; audio off by default.
const O3_T2V: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    opt("duration", V3_DURATION),
    opt("aspect_ratio", ASPECT),
    opt("generate_audio", Ty::Bool),
    opt("elements", Ty::Elements),
];
/// §1: O3 image-to-video takes **`image_url`** (not `start_image_url`) and `end_image_url`.
const O3_I2V: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    req("image_url", Ty::Url),
    opt("end_image_url", Ty::Url),
    opt("duration", V3_DURATION),
    opt("generate_audio", Ty::Bool),
];
/// §1–2: O3 reference-to-video: `image_urls` (`@Image1`…), elements, start/end images.
const O3_REF: &[Field] = &[
    opt("prompt", Ty::Str),
    opt("multi_prompt", Ty::MultiPrompt),
    opt("shot_type", SHOT_TYPE),
    opt("start_image_url", Ty::Url),
    opt("end_image_url", Ty::Url),
    opt(
        "image_urls",
        Ty::UrlList {
            min_items: 1,
            max_items: 7,
        },
    ),
    opt("elements", Ty::Elements),
    opt("duration", V3_DURATION),
    opt("aspect_ratio", ASPECT),
    opt("generate_audio", Ty::Bool),
];

/// protocol.md §3: create-voice takes `voice_url` and returns `{voice_id}`.
const CREATE_VOICE: &[Field] = &[req("voice_url", Ty::Url)];

/// What a model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `{video: File}`.
    Video,
    /// `{voice_id}`.
    Voice,
}

/// A model the sandbox serves.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    fields: &'static [Field],
    /// What it returns.
    pub output: Output,
    /// Generates audio unless told otherwise (`generate_audio` default true).
    pub audio_default: bool,
    /// Takes `prompt` or `multi_prompt`, exactly one (Kling 3.0 / O3).
    pub one_prompt: bool,
}

/// The fal endpoints (full ids), `None` for an unknown application.
pub fn fal_model(endpoint: &str) -> Option<Model> {
    let video = |fields, audio_default| {
        Some(Model {
            fields,
            output: Output::Video,
            audio_default,
            one_prompt: false,
        })
    };
    let v3 = |fields, audio_default| {
        Some(Model {
            fields,
            output: Output::Video,
            audio_default,
            one_prompt: true,
        })
    };
    match endpoint {
        "fal-ai/kling-video/v2.6/pro/text-to-video" => video(V26_T2V, true),
        "fal-ai/kling-video/v2.6/pro/image-to-video" => video(V26_I2V, true),
        "fal-ai/kling-video/v2.6/pro/motion-control" | "fal-ai/kling-video/v2.6/standard/motion-control" => {
            video(V26_MOTION, true)
        }
        "fal-ai/kling-video/v2.5-turbo/pro/text-to-video" => video(V25_T2V, false),
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video" => video(V25_I2V, false),
        "fal-ai/kling-video/v3/pro/text-to-video" | "fal-ai/kling-video/v3/standard/text-to-video" => v3(V3_T2V, true),
        "fal-ai/kling-video/v3/pro/image-to-video" | "fal-ai/kling-video/v3/standard/image-to-video" => {
            v3(V3_I2V, true)
        }
        "fal-ai/kling-video/v3/turbo/pro/text-to-video" => v3(V3_TURBO_T2V, false),
        "fal-ai/kling-video/o3/pro/text-to-video" | "fal-ai/kling-video/o3/standard/text-to-video" => v3(O3_T2V, false),
        "fal-ai/kling-video/o3/pro/image-to-video" | "fal-ai/kling-video/o3/standard/image-to-video" => {
            v3(O3_I2V, false)
        }
        "fal-ai/kling-video/o3/pro/reference-to-video" | "fal-ai/kling-video/o3/standard/reference-to-video" => {
            v3(O3_REF, false)
        }
        "fal-ai/kling-video/create-voice" => Some(Model {
            fields: CREATE_VOICE,
            output: Output::Voice,
            audio_default: false,
            one_prompt: false,
        }),
        _ => None,
    }
}

/// The Eachlabs models (slugs) and their version.
pub fn eachlabs_model(slug: &str) -> Option<(Model, &'static str)> {
    let m = |fields, audio_default| Model {
        fields,
        output: Output::Video,
        audio_default,
        one_prompt: false,
    };
    match slug {
        "kling-v2-6-pro-text-to-video" => Some((m(V26_T2V, true), "0.0.1")),
        "kling-v2-5-turbo-pro-text-to-video" => Some((m(V25_T2V, false), "0.0.1")),
        _ => None,
    }
}

impl Model {
    /// Validates a request body; the pydantic-style `detail` entries of every problem.
    pub fn validate(&self, body: &Value) -> Vec<Value> {
        let Some(obj) = body.as_object() else {
            return vec![json!({"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"})];
        };
        let mut errs = Vec::new();
        for f in self.fields {
            match obj.get(f.name) {
                None | Some(Value::Null) if f.required => errs.push(json!({
                    "loc": ["body", f.name], "msg": "field required", "type": "value_error.missing"
                })),
                None | Some(Value::Null) => {}
                Some(v) => {
                    if let Some(e) = check(f, v) {
                        errs.push(e);
                    }
                }
            }
        }
        for key in obj.keys() {
            if !self.fields.iter().any(|f| f.name == key) {
                errs.push(
                    json!({"loc": ["body", key], "msg": "extra fields not permitted", "type": "value_error.extra"}),
                );
            }
        }
        let present = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
        if self.one_prompt && present("prompt") == present("multi_prompt") {
            errs.push(json!({"loc": ["body", "prompt"], "msg": "either prompt or multi_prompt must be provided, not both", "type": "value_error"}));
        }
        errs.extend(with_video_limit(obj));
        errs
    }
}

/// O3 reference-to-video: "Maximum 4 total (elements + reference images) when using video" (§2).
fn with_video_limit(obj: &Map<String, Value>) -> Option<Value> {
    let elements = obj.get("elements").and_then(Value::as_array)?;
    let video = elements.iter().any(|e| e.get("video_url").is_some());
    let images = obj.get("image_urls").and_then(Value::as_array).map_or(0, Vec::len);
    (video && elements.len() + images > 4).then(|| {
        json!({"loc": ["body", "elements"], "msg": "maximum 4 total (elements + reference images) when using a video element", "type": "value_error"})
    })
}

fn check(f: &Field, v: &Value) -> Option<Value> {
    let err = |msg: String, ty: &str, ctx: Option<Value>| {
        let mut e = Map::new();
        e.insert("loc".into(), json!(["body", f.name]));
        e.insert("msg".into(), json!(msg));
        e.insert("type".into(), json!(ty));
        if let Some(c) = ctx {
            e.insert("ctx".into(), c);
        }
        e.insert("input".into(), v.clone());
        Some(Value::Object(e))
    };
    match f.ty {
        Ty::Str => (!v.is_string())
            .then(|| err("str type expected".into(), "type_error.str", None))
            .flatten(),
        Ty::Url => match v.as_str() {
            None => err("str type expected".into(), "type_error.str", None),
            Some(s) if s.starts_with("https://") || s.starts_with("http://") || s.starts_with("data:") => None,
            Some(_) => err("invalid or missing URL scheme".into(), "value_error.url.scheme", None),
        },
        Ty::Enum(allowed) => match v.as_str() {
            Some(s) if allowed.contains(&s) => None,
            _ => err(
                format!(
                    "value is not a valid enumeration member; permitted: {}",
                    allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ")
                ),
                "type_error.enum",
                Some(json!({"enum_values": allowed})),
            ),
        },
        Ty::Float { min, max } => match v.as_f64() {
            None => err("value is not a valid float".into(), "type_error.float", None),
            Some(x) if x < min => err(
                format!("ensure this value is greater than or equal to {min}"),
                "value_error.number.not_ge",
                Some(json!({"limit_value": min})),
            ),
            Some(x) if x > max => err(
                format!("ensure this value is less than or equal to {max}"),
                "value_error.number.not_le",
                Some(json!({"limit_value": max})),
            ),
            Some(_) => None,
        },
        Ty::Bool => (!v.is_boolean())
            .then(|| err("value could not be parsed to a boolean".into(), "type_error.bool", None))
            .flatten(),
        Ty::UrlList { min_items, max_items } => match v.as_array() {
            None => err("value is not a valid list".into(), "type_error.list", None),
            Some(items) if items.len() < min_items || items.len() > max_items => err(
                format!("ensure this value has {min_items} to {max_items} items"),
                "value_error.list.size",
                Some(json!({"limit_value": max_items})),
            ),
            Some(items) if items.iter().any(|i| !is_url(i)) => {
                err("invalid or missing URL scheme".into(), "value_error.url.scheme", None)
            }
            Some(_) => None,
        },
        Ty::MultiPrompt => check_multi_prompt(v).and_then(|m| err(m, "value_error", None)),
        Ty::Elements => check_elements(v).and_then(|m| err(m, "value_error", None)),
        Ty::StrList { max_items } => match v.as_array() {
            None => err("value is not a valid list".into(), "type_error.list", None),
            Some(items) if items.len() > max_items => err(
                format!("ensure this value has at most {max_items} items"),
                "value_error.list.max_items",
                Some(json!({"limit_value": max_items})),
            ),
            Some(items) if items.iter().any(|i| !i.is_string()) => {
                err("str type expected".into(), "type_error.str", None)
            }
            Some(_) => None,
        },
    }
}

fn is_url(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with("https://") || s.starts_with("http://") || s.starts_with("data:"))
}

/// What is wrong with a `multi_prompt`, if anything.
fn check_multi_prompt(v: &Value) -> Option<String> {
    let Some(items) = v.as_array() else {
        return Some("value is not a valid list".into());
    };
    if items.is_empty() || items.len() > 6 {
        return Some("ensure this value has 1 to 6 items".into());
    }
    let mut total = 0;
    for item in items {
        if !item.get("prompt").is_some_and(Value::is_string) {
            return Some("each shot needs a prompt (str)".into());
        }
        let secs = match item.get("duration") {
            None => 5,
            Some(d) => match d.as_str().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) if (1..=15).contains(&n) => n,
                _ => return Some("duration must be one of '1'…'15'".into()),
            },
        };
        total += secs;
    }
    (total > 15).then(|| format!("total duration must not exceed 15s (got {total}s)"))
}

/// What is wrong with `elements`, if anything.
fn check_elements(v: &Value) -> Option<String> {
    let Some(items) = v.as_array() else {
        return Some("value is not a valid list".into());
    };
    let mut videos = 0;
    for e in items {
        let Some(obj) = e.as_object() else {
            return Some("each element is an object".into());
        };
        for key in obj.keys() {
            if !["frontal_image_url", "reference_image_urls", "video_url", "voice_id"].contains(&key.as_str()) {
                return Some(format!("extra field in element: {key}"));
            }
        }
        let refs = obj.get("reference_image_urls");
        if let Some(r) = refs {
            let ok = r
                .as_array()
                .is_some_and(|a| (1..=3).contains(&a.len()) && a.iter().all(is_url));
            if !ok {
                return Some("reference_image_urls: 1 to 3 URLs".into());
            }
        }
        for k in ["frontal_image_url", "video_url"] {
            if obj.get(k).is_some_and(|u| !is_url(u)) {
                return Some(format!("{k}: invalid or missing URL scheme"));
            }
        }
        if obj.get("voice_id").is_some_and(|v| !v.is_string()) {
            return Some("voice_id: str type expected".into());
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
    fn elements_are_checked_as_the_reference_describes() {
        let v3 = fal_model("fal-ai/kling-video/v3/pro/text-to-video").unwrap();
        let body = |elements: Value| json!({"prompt": "@Element1", "elements": elements});
        let img = "https://a/f.png";
        let ok =
            json!([{"frontal_image_url": img, "reference_image_urls": [img], "voice_id": "vc_1"}, {"video_url": img}]);
        assert!(v3.validate(&body(ok)).is_empty());
        let msg = |e: Value| v3.validate(&body(e))[0]["msg"].as_str().unwrap().to_owned();
        assert!(msg(json!([{"video_url": img}, {"video_url": img}])).contains("at most one element with a video_url"));
        assert!(
            msg(json!([{"frontal_image_url": img, "reference_image_urls": [img, img, img, img]}])).contains("1 to 3")
        );
        assert!(msg(json!([{"frontal_image_url": "./local.png"}])).contains("URL"));
        assert!(msg(json!([{"face": img}])).contains("extra field"));
        let o3i = fal_model("fal-ai/kling-video/o3/pro/image-to-video").unwrap();
        let errs = o3i.validate(&json!({"prompt": "x", "image_url": img, "elements": []}));
        assert_eq!(
            errs[0]["type"], "value_error.extra",
            "O3 image-to-video takes no elements"
        );
        let o3r = fal_model("fal-ai/kling-video/o3/pro/reference-to-video").unwrap();
        let five = json!({"prompt": "x", "image_urls": [img, img, img, img], "elements": [{"video_url": img}]});
        assert!(o3r.validate(&five)[0]["msg"].as_str().unwrap().contains("maximum 4"));
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
        let types: Vec<&str> = errs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["type_error.enum", "type_error.enum", "value_error.number.not_le"]
        );
        let i2v = fal_model("fal-ai/kling-video/v2.6/pro/image-to-video").unwrap();
        let errs = i2v.validate(&json!({"prompt": "x", "start_image_url": "https://a", "voice_ids": ["a", "b", "c"]}));
        assert_eq!(errs[0]["type"], "value_error.list.max_items");
        assert!(
            i2v.validate(&json!({"prompt": "x", "start_image_url": "https://a", "voice_ids": ["a"]}))
                .is_empty()
        );
    }
}
