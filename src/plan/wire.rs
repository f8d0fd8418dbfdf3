//! Every request body checked against the provider's own published input schema
//! (`crate::published`: fal-js's types, Eachlabs' model page) at plan time, so `plan`, `render`
//! and `watch` refuse a body the provider would reject before anything is journaled or sent.
//! Each schema is compiled once per process, on first use.

use jsonschema::Validator;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;
use std::sync::{LazyLock, OnceLock};

use crate::facts::catalog::ProviderKind;

/// A compiled snapshot: its validator, the type it was taken from, the fields it takes.
pub(crate) struct Snapshot {
    validator: Validator,
    /// Where it comes from, in a few words (`fal-js KlingVideoV3ProTextToVideoInput @381105e`,
    /// `fal model API, fetched …`).
    pub source: String,
    /// Fetched live from the provider's model API (not the committed snapshot).
    pub live: bool,
    /// The day it was taken (the snapshot's `x-source.date`, the fetch's date).
    pub date: String,
    /// The top-level fields, in the snapshot's order.
    pub fields: Vec<String>,
    /// The required top-level fields.
    pub required: Vec<String>,
}

/// One way a body differs from the published schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// The body field (`duration`, `elements[0].voice_id`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// (provider, endpoint id, schema text, compiled once).
type Cells = Vec<(ProviderKind, &'static str, &'static str, OnceLock<Snapshot>)>;

static CELLS: LazyLock<Cells> = LazyLock::new(|| {
    let fal = crate::published::FAL
        .iter()
        .map(|(id, t)| (ProviderKind::Fal, *id, *t, OnceLock::new()));
    let each = crate::published::EACHLABS
        .iter()
        .map(|(id, t)| (ProviderKind::Eachlabs, *id, *t, OnceLock::new()));
    fal.chain(each).collect()
});

/// The published schema of an endpoint, compiled once: the provider's live one (fal's or
/// Eachlabs') when `models --refresh` cached it for the URL in use (`facts::schemas`), else
/// the committed snapshot; `None` when there is neither.
pub(crate) fn snapshot(provider: ProviderKind, endpoint: &str) -> Option<&'static Snapshot> {
    let (_, id, text, cell) = CELLS.iter().find(|c| c.0 == provider && c.1 == endpoint)?;
    Some(cell.get_or_init(|| live(provider, id).unwrap_or_else(|| compile(id, text))))
}

/// The provider's live input schema of `id` (fal's or Eachlabs'), when one is cached and compiles (checked when fetched).
fn live(provider: ProviderKind, id: &str) -> Option<Snapshot> {
    let eachlabs = provider == ProviderKind::Eachlabs;
    let (doc, fetched_at) = crate::facts::schemas::live(eachlabs, id)?;
    let validator = jsonschema::validator_for(doc).ok()?;
    let api = if eachlabs {
        "Eachlabs model API"
    } else {
        "fal model API"
    };
    let mut s = described(validator, doc, format!("{api}, fetched {fetched_at}"));
    s.live = true;
    s.date = fetched_at.chars().take(10).collect();
    Some(s)
}

fn compile(id: &str, text: &str) -> Snapshot {
    // The snapshots are embedded and checked by `published`'s tests: a broken one is a bug.
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("schemas snapshot {id}: {e}"));
    let validator = jsonschema::validator_for(&doc).unwrap_or_else(|e| panic!("schemas snapshot {id}: {e}"));
    let src = &doc["x-source"];
    let source = match (src["type"].as_str(), src["commit"].as_str(), src["page"].as_str()) {
        (Some(t), Some(c), _) => format!("fal-js {t} @{}", &c[..c.len().min(7)]),
        (_, _, Some(page)) => format!("Eachlabs model page ({page})"),
        _ => "published schema".to_owned(),
    };
    let mut s = described(validator, &doc, source);
    s.date = src["date"].as_str().unwrap_or_default().to_owned();
    s
}

fn described(validator: Validator, doc: &Value, source: String) -> Snapshot {
    let names = |v: &Value| -> Vec<String> {
        match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    Snapshot {
        validator,
        source,
        fields: names(&doc["properties"]),
        required: names(&doc["required"]),
        live: false,
        date: String::new(),
    }
}

/// How `body` differs from the endpoint's published schema: `None` when there is no snapshot,
/// an empty list when it conforms.
pub(crate) fn check(provider: ProviderKind, endpoint: &str, body: &Value) -> Option<Vec<Violation>> {
    let snap = snapshot(provider, endpoint)?;
    if snap.validator.is_valid(body) {
        return Some(Vec::new());
    }
    let mut out: Vec<Violation> = Vec::new();
    for v in snap
        .validator
        .iter_errors(body)
        .flat_map(|e| violations(snap, endpoint, &e))
    {
        // One problem per field: a number given for a string enum is told once, as a type.
        match out.iter_mut().find(|o| o.field == v.field) {
            Some(o) if v.message.contains(" takes a ") || v.message.contains(" takes an ") => *o = v,
            Some(_) => {}
            None => out.push(v),
        }
    }
    Some(out)
}

/// The violations one validation error stands for (an unknown-fields error names several).
fn violations(snap: &Snapshot, endpoint: &str, e: &jsonschema::ValidationError<'_>) -> Vec<Violation> {
    let at = dotted(e.instance_path.as_str());
    let join = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    let per = format!("per its published input ({})", snap.source);
    let one = |field: String, message: String| vec![Violation { field, message }];
    match &e.kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation {
                field: join(name),
                message: unknown_field(snap, endpoint, &at, name),
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let p = property.as_str().unwrap_or_default();
            one(join(p), format!("`{endpoint}` requires `{p}` {per}"))
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options.as_array().into_iter().flatten().map(plain).collect();
            let msg = format!(
                "{} is not a value `{endpoint}` takes for `{at}` {per} (allowed: {})",
                plain(&e.instance),
                allowed.join(", ")
            );
            one(at.clone(), msg)
        }
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
            };
            let a = if want.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let msg = format!("`{endpoint}` takes {a} {want} for `{at}` {per}, not {}", e.instance);
            one(at.clone(), msg)
        }
        _ => one(at.clone(), format!("{e} ({per} of `{endpoint}`)")),
    }
}

/// What a field the schema does not list is told: a suggestion, and at the top level the
/// fields the endpoint takes.
fn unknown_field(snap: &Snapshot, endpoint: &str, at: &str, name: &str) -> String {
    let per = format!("per its published input ({})", snap.source);
    let known: Vec<&str> = match at.is_empty() {
        true => snap.fields.iter().map(String::as_str).collect(),
        false => Vec::new(),
    };
    let hint = crate::problem::did_you_mean(name, known.iter().copied());
    let takes = match at.is_empty() {
        true => format!("; it takes {}", known.join(", ")),
        false => String::new(),
    };
    format!("`{endpoint}` takes no field `{name}` {per}{hint}{takes}")
}

/// A value as a message shows it: strings bare-quoted, the rest as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// `/elements/0/voice_id` → `elements[0].voice_id`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').filter(|s| !s.is_empty()) {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V3_T2V: &str = "fal-ai/kling-video/v3/pro/text-to-video";

    #[test]
    fn fal_types_decide_what_a_body_may_hold() {
        let ok = json!({"prompt": "x", "duration": "15", "aspect_ratio": "9:16", "cfg_scale": 0.4});
        assert_eq!(check(ProviderKind::Fal, V3_T2V, &ok), Some(vec![]));
        let cast = json!({"prompt": "@Element1", "elements": [{"frontal_image_url": "https://a/f.png"}]});
        let v = check(ProviderKind::Fal, V3_T2V, &cast).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "elements");
        assert!(
            v[0].message.contains("KlingVideoV3ProTextToVideoInput"),
            "{}",
            v[0].message
        );
        let bad = json!({"prompt": "x", "aspect_ratio": "4:3", "duration": 5});
        let v = check(ProviderKind::Fal, V3_T2V, &bad).unwrap();
        let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["aspect_ratio", "duration"]);
        assert!(v[0].message.contains("\"4:3\"") && v[0].message.contains("\"16:9\""));
        assert!(v[1].message.contains("takes a string"), "{}", v[1].message);
    }

    #[test]
    fn nested_fields_and_required_ones_are_named() {
        let i2v = "fal-ai/kling-video/v3/pro/image-to-video";
        let body = json!({"prompt": "x", "elements": [{"frontal_image_url": "./me.png", "face": "y"}]});
        let v = check(ProviderKind::Fal, i2v, &body).unwrap();
        let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["start_image_url", "elements[0].face"]);
        assert!(v[0].message.contains("requires `start_image_url`"));
        assert_eq!(check(ProviderKind::Fal, "fal-ai/unknown/model", &body), None);
        let each = json!({"prompt": "x", "cfg_scale": 1.5});
        let v = check(ProviderKind::Eachlabs, "kling-v2-6-pro-text-to-video", &each).unwrap();
        assert_eq!(v[0].field, "cfg_scale");
    }

    #[test]
    fn a_misspelt_field_gets_a_suggestion() {
        let v = check(
            ProviderKind::Fal,
            V3_T2V,
            &json!({"prompt": "x", "negative_promt": "y"}),
        )
        .unwrap();
        assert_eq!(v[0].field, "negative_promt");
        assert!(
            v[0].message.contains("did you mean `negative_prompt`"),
            "{}",
            v[0].message
        );
    }
}
