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
    Float { min: f64, max: f64 },
    Bool,
    StrList { max_items: usize },
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
}

/// The fal endpoints (full ids), `None` for an unknown application.
pub fn fal_model(endpoint: &str) -> Option<Model> {
    let video = |fields, audio_default| {
        Some(Model {
            fields,
            output: Output::Video,
            audio_default,
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
        "fal-ai/kling-video/create-voice" => Some(Model {
            fields: CREATE_VOICE,
            output: Output::Voice,
            audio_default: false,
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
        errs
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
