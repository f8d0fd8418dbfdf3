//! fal's input schemas as its model API serves them: `GET {platform}/v1/models?endpoint_id=A&
//! endpoint_id=B…&expand=openapi-3.0` (1–50 ids a request; the answer is paged, `models[]` with
//! each model's OpenAPI 3.0 document in `openapi`, then `next_cursor`/`has_more`: docs.fal.ai
//! platform-apis/v1/models). Fetched by `storyboard models --refresh`, cached beside the live
//! prices (`$XDG_CACHE_HOME/storyboard/schemas.json`) with the date, and used by the planner
//! (`plan::wire`) instead of the committed snapshot of an endpoint while the cache is of the
//! platform in use. A live document whose input schema cannot be found or compiled is refused
//! (said once) and the snapshot kept.
//!
//! Eachlabs the same way: `GET {eachlabs}/v1/model?slug=<slug>` (public, no key:
//! protocol.md §4) answers the model with its `request_schema` (a JSON Schema object, the
//! shape of our `schemas/eachlabs/*.json` snapshot); fetched by `models --refresh` when
//! Eachlabs is configured, cached in `eachlabs-schemas.json` beside fal's with the Eachlabs URL
//! and the date, closed at the top the same way, and refused the same way.
//!
//! The input schema is the one the document's `POST /{endpoint id}` takes (its `$ref` into
//! `components.schemas`), with the document's `components` beside it so references resolve.
//! Where fal's document leaves `additionalProperties` open at the top, storyboard closes it:
//! a field the endpoint's published input does not list is refused at plan time (#22).

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// fal's model API answers at most this many ids a request.
pub(crate) const IDS_PER_REQUEST: usize = 50;

/// The cache file: the input schemas one platform API served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cache {
    /// The platform base URL they came from (a sandbox's never check a real plan).
    pub api: String,
    /// When they were fetched (RFC 3339, UTC).
    pub fetched_at: String,
    /// The input schema of each endpoint, ready to compile.
    pub schemas: BTreeMap<String, Value>,
}

/// What a refresh brought: the schemas cached, and one message per live document refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fetched {
    /// What was cached.
    pub cache: Cache,
    /// Each refused document: the endpoint and why (its snapshot is kept).
    pub refused: Vec<String>,
}

/// Fetching live schemas failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    /// The request failed or the answer was not the model API's.
    #[error("fal's model API did not answer ({0})")]
    Unreachable(String),
}

/// The cache file's path (beside the live prices).
pub(crate) fn cache_path() -> Option<Utf8PathBuf> {
    Some(crate::facts::prices::cache_path()?.with_file_name("schemas.json"))
}

/// Eachlabs' cache file: the request schemas one Eachlabs API served (beside fal's).
pub(crate) fn eachlabs_cache_path() -> Option<Utf8PathBuf> {
    Some(crate::facts::prices::cache_path()?.with_file_name("eachlabs-schemas.json"))
}

static LOADED: OnceLock<Option<Cache>> = OnceLock::new();
static LOADED_EACHLABS: OnceLock<Option<Cache>> = OnceLock::new();

/// Reads the caches once per process: fal's for the platform at `api`, Eachlabs' for the
/// Eachlabs URL in use (a cache of another platform, or none, leaves the snapshots in use).
pub(crate) fn load(api: &str) {
    LOADED.get_or_init(|| read_cache(cache_path(), api));
    LOADED_EACHLABS.get_or_init(|| read_cache(eachlabs_cache_path(), &eachlabs_url()?));
}

/// The Eachlabs base URL in use, as `settings::endpoints_from_env` resolves it (read here so
/// `facts` does not import `settings`); `None` when it is not a usable URL.
fn eachlabs_url() -> Option<String> {
    let name = "STORYBOARD_EACHLABS_URL";
    let url = std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| crate::provider::Endpoints::default().eachlabs);
    crate::provider::http::check_base_url(name, &url).ok()
}

fn read_cache(path: Option<Utf8PathBuf>, api: &str) -> Option<Cache> {
    path.and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Cache>(&b).ok())
        .filter(|c| c.api == api)
}

fn write_cache(path: Option<Utf8PathBuf>, cache: &Cache) {
    // A cache that cannot be written is no reason to fail.
    if let Some(path) = path {
        let _ = path.parent().map(std::fs::create_dir_all);
        let _ = serde_json::to_vec(cache).map(|b| crate::files::write_atomic(&path, &b));
    }
}

/// The live input schema of `endpoint` and when it was fetched, when the loaded cache of its
/// provider has one.
pub(crate) fn live(eachlabs: bool, endpoint: &str) -> Option<(&'static Value, &'static str)> {
    let cache = if eachlabs { &LOADED_EACHLABS } else { &LOADED };
    let cache = cache.get()?.as_ref()?;
    Some((cache.schemas.get(endpoint)?, cache.fetched_at.as_str()))
}

/// Eachlabs' `request_schema` from its `GET /v1/model?slug=` answer, closed to unlisted fields;
/// why not, when it cannot be used.
pub(crate) fn eachlabs_input_schema(answer: &Value) -> Result<Value, String> {
    let mut schema = answer
        .get("request_schema")
        .ok_or("its answer has no `request_schema`")?
        .clone();
    let Value::Object(top) = &mut schema else {
        return Err("its request schema is not an object".to_owned());
    };
    if top.get("type").and_then(Value::as_str) != Some("object") || !top.contains_key("properties") {
        return Err("its request schema lists no properties".to_owned());
    }
    top.entry("additionalProperties").or_insert(json!(false));
    jsonschema::validator_for(&schema).map_err(|e| format!("its request schema does not compile: {e}"))?;
    Ok(schema)
}

/// Fetches `GET {api}/v1/model?slug=` for each of `slugs` (public: no key), keeps the request
/// schemas that parse and compile and caches them. A slug whose answer fails or whose schema
/// is refused is said once and not cached (its committed snapshot, if any, stays in use); the
/// other slugs are still fetched.
pub(crate) async fn refresh_eachlabs(http: &reqwest::Client, api: &str, slugs: &[&str]) -> Fetched {
    let mut schemas = BTreeMap::new();
    let mut refused = Vec::new();
    for slug in slugs {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("slug", slug);
        let url = format!("{}/v1/model?{}", api.trim_end_matches('/'), q.finish());
        let schema = match get_json::<Value>(http, &url, None).await {
            Ok(answer) => eachlabs_input_schema(&answer),
            Err(SchemaError::Unreachable(why)) => Err(format!("Eachlabs' model API did not answer: {why}")),
        };
        match schema {
            Ok(s) => {
                schemas.insert((*slug).to_owned(), s);
            }
            Err(why) => refused.push(format!(
                "Eachlabs' live schema for {slug} is refused ({why}); its committed snapshot, if any, is used"
            )),
        }
    }
    let cache = Cache {
        api: api.to_owned(),
        fetched_at: crate::clock::now(),
        schemas,
    };
    write_cache(eachlabs_cache_path(), &cache);
    Fetched { cache, refused }
}

/// The input schema of `endpoint` in its OpenAPI document, with the document's components
/// beside it and the top closed to unlisted fields; why not, when it cannot be used.
pub(crate) fn input_schema(endpoint: &str, openapi: &Value) -> Result<Value, String> {
    let post = openapi
        .pointer(&format!("/paths/{}/post", pointer_escape(&format!("/{endpoint}"))))
        .ok_or_else(|| format!("its document has no `POST /{endpoint}`"))?;
    let body = post
        .pointer("/requestBody/content/application~1json/schema")
        .ok_or("its POST has no JSON request body schema")?;
    let mut schema = match body.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let at = r
                .strip_prefix('#')
                .ok_or_else(|| format!("`{r}` is not a reference inside the document"))?;
            openapi
                .pointer(at)
                .ok_or_else(|| format!("`{r}` is not in the document"))?
                .clone()
        }
        None => body.clone(),
    };
    let Value::Object(top) = &mut schema else {
        return Err("its input schema is not an object".to_owned());
    };
    if top.get("type").and_then(Value::as_str) != Some("object") || !top.contains_key("properties") {
        return Err("its input schema lists no properties".to_owned());
    }
    top.entry("additionalProperties").or_insert(json!(false));
    if let Some(components) = openapi.get("components") {
        top.insert("components".into(), components.clone());
    }
    jsonschema::validator_for(&schema).map_err(|e| format!("its input schema does not compile: {e}"))?;
    Ok(schema)
}

/// `/fal-ai/x` as one JSON-pointer segment.
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// One page of the model API's answer.
#[derive(Deserialize)]
struct Page {
    models: Vec<Listed>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct Listed {
    endpoint_id: String,
    #[serde(default)]
    openapi: Option<Value>,
}

/// Fetches the input schemas of `ids` (≤ 50 a request, every page of each answer), keeps
/// those that parse and compile, and caches them (a cache that cannot be written is no reason
/// to fail). A schema refused is said once and not cached: the snapshot stays in use.
pub(crate) async fn refresh(
    http: &reqwest::Client,
    api: &str,
    key: Option<&str>,
    ids: &[&str],
) -> Result<Fetched, SchemaError> {
    let mut schemas = BTreeMap::new();
    let mut refused = Vec::new();
    for chunk in ids.chunks(IDS_PER_REQUEST) {
        for (id, openapi) in fetch_all(http, api, key, chunk).await? {
            match openapi
                .ok_or_else(|| "no `openapi` in the answer".to_owned())
                .and_then(|d| input_schema(&id, &d))
            {
                Ok(s) => {
                    schemas.insert(id, s);
                }
                Err(why) => refused.push(format!(
                    "fal's live schema for {id} is refused ({why}); its committed snapshot is used"
                )),
            }
        }
    }
    let cache = Cache {
        api: api.to_owned(),
        fetched_at: crate::clock::now(),
        schemas,
    };
    write_cache(cache_path(), &cache);
    Ok(Fetched { cache, refused })
}

/// Every page of one request for `ids` (bounded: at most one page per id, plus one).
async fn fetch_all(
    http: &reqwest::Client,
    api: &str,
    key: Option<&str>,
    ids: &[&str],
) -> Result<Vec<(String, Option<Value>)>, SchemaError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=ids.len() {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for id in ids {
            q.append_pair("endpoint_id", id);
        }
        q.append_pair("expand", "openapi-3.0");
        if let Some(c) = &cursor {
            q.append_pair("cursor", c);
        }
        let page = fetch_page(http, api, key, &q.finish()).await?;
        out.extend(page.models.into_iter().map(|m| (m.endpoint_id, m.openapi)));
        match (page.has_more, page.next_cursor) {
            (true, Some(next)) => cursor = Some(next),
            _ => return Ok(out),
        }
    }
    Err(SchemaError::Unreachable(
        "more pages than endpoints asked for".to_owned(),
    ))
}

async fn fetch_page(http: &reqwest::Client, api: &str, key: Option<&str>, query: &str) -> Result<Page, SchemaError> {
    let url = format!("{}/v1/models?{query}", api.trim_end_matches('/'));
    get_json(http, &url, key).await
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
) -> Result<T, SchemaError> {
    let mut req = http.get(url).timeout(Duration::from_secs(30));
    // Optional for this API ("grants higher rate limits", fal's docs).
    if let Some(k) = key {
        req = req.header("Authorization", format!("Key {k}"));
    }
    let unreachable = |e: String| SchemaError::Unreachable(crate::secrets::redact(&e).into_owned());
    let answer = req.send().await.map_err(|e| unreachable(e.without_url().to_string()))?;
    if !answer.status().is_success() {
        return Err(SchemaError::Unreachable(format!("HTTP {}", answer.status().as_u16())));
    }
    crate::provider::http::bounded_json(answer)
        .await
        .map_err(|e| unreachable(format!("unexpected answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(input: Value) -> Value {
        json!({
            "openapi": "3.0.4",
            "paths": {"/fal-ai/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/XInput"}}}}}}},
            "components": {"schemas": {"XInput": input, "File": {"type": "object", "properties": {"url": {"type": "string"}}}}}
        })
    }

    #[test]
    fn the_input_schema_is_the_posts_with_its_references_resolvable() {
        let doc = document(
            json!({"type": "object", "properties": {"prompt": {"type": "string"}, "f": {"$ref": "#/components/schemas/File"}}}),
        );
        let s = input_schema("fal-ai/x", &doc).unwrap();
        let v = jsonschema::validator_for(&s).unwrap();
        assert!(v.is_valid(&json!({"prompt": "p", "f": {"url": "u"}})));
        assert!(
            !v.is_valid(&json!({"prompt": "p", "f": {"url": 3}})),
            "the reference is followed"
        );
        assert!(
            !v.is_valid(&json!({"prompt": "p", "extra": 1})),
            "closed to unlisted fields"
        );
    }

    #[test]
    fn a_document_without_a_usable_input_is_refused_with_why() {
        let no_post = json!({"openapi": "3.0.4", "paths": {}});
        assert!(
            input_schema("fal-ai/x", &no_post)
                .unwrap_err()
                .contains("POST /fal-ai/x")
        );
        let dangling = json!({"paths": {"/fal-ai/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}});
        assert!(
            input_schema("fal-ai/x", &dangling)
                .unwrap_err()
                .contains("not in the document")
        );
        let broken = document(json!({"type": "object", "properties": {"p": {"type": 7}}}));
        assert!(
            input_schema("fal-ai/x", &broken)
                .unwrap_err()
                .contains("does not compile")
        );
    }

    #[test]
    fn eachlabs_request_schema_is_closed_and_a_bad_one_refused_with_why() {
        let answer = json!({"slug": "m", "request_schema": {"type": "object", "properties": {"duration": {"type": "string", "enum": ["5"]}}}});
        let v = jsonschema::validator_for(&eachlabs_input_schema(&answer).unwrap()).unwrap();
        assert!(v.is_valid(&json!({"duration": "5"})));
        assert!(!v.is_valid(&json!({"duration": "10"})));
        assert!(
            !v.is_valid(&json!({"duration": "5", "extra": 1})),
            "closed to unlisted fields"
        );
        for (bad, why) in [
            (json!({"slug": "m"}), "no `request_schema`"),
            (json!({"request_schema": "x"}), "not an object"),
            (json!({"request_schema": {"type": "object"}}), "lists no properties"),
            (
                json!({"request_schema": {"type": "object", "properties": {"p": {"type": 7}}}}),
                "does not compile",
            ),
        ] {
            assert!(eachlabs_input_schema(&bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
