//! The shared store of a team (`store:` in the storyboard, `--store`, `STORYBOARD_STORE`):
//! object storage (S3 and S3-compatible servers, or a shared folder) that every machine
//! rendering the same film reads and writes with conditional writes only, so that nobody pays
//! twice:
//!
//! - `takes/<sha256>.mp4`: every verified clip, by content (create-if-absent);
//! - `index/<api>-<key>.json`: request key → the clip's sha256 (a render anywhere fetches it: $0);
//! - `claims/<api>-<key>.json`: one submit per request key across machines (create-if-absent,
//!   then compare-and-swap on its version: the request id, then the clip or the failure);
//! - `picks/<storyboard>.json`: the director's picks and notes (compare-and-swap, retried);
//! - `numbers/<storyboard>/<shot>/<n>.json`: which clip is take `n` of a shot (create-if-absent;
//!   the same clip has the same take number in every folder).
//!
//! Credentials come from the provider's usual environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …), read by `object_store`; the
//! tool never writes or prints them. Without a store every machine keeps today's behaviour
//! ([`LocalOnly`]).

pub(crate) mod backend;
pub(crate) mod claims;
pub(crate) mod clips;

pub(crate) mod moto;
pub(crate) mod numbers;
pub(crate) mod picks;
pub(crate) mod shared;
pub(crate) mod status;
#[cfg(test)]
mod tests;

use camino::Utf8PathBuf;
use std::sync::Arc;

pub(crate) use backend::Backend;
pub(crate) use claims::{Claim, ClaimRequest, Claimed, Ended, Ticket};
pub(crate) use shared::{SubmitOnce, TakeStore};

/// A shared-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one the tool can use.
    #[error("store `{url}`: {why}")]
    BadUrl {
        /// The URL as given (never holds a secret: credentials come from the environment).
        url: String,
        /// Why, and how to fix it.
        why: String,
    },
    /// The store refused or failed an operation.
    #[error("shared store: cannot {what} {object}: {why}")]
    Backend {
        /// The object (below the store's prefix).
        object: String,
        /// read, write, list, delete.
        what: &'static str,
        /// The store's answer.
        why: String,
    },
    /// An object is not what storyboard writes.
    #[error("shared store: {object} cannot be read ({why}); remove it or point `store:` elsewhere")]
    Corrupt {
        /// The object.
        object: String,
        /// Why.
        why: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens the store at `url`: `s3://bucket/prefix` (S3, R2, MinIO, … with `AWS_ENDPOINT_URL`)
/// or `file:///shared/folder`. Nothing is contacted until the first operation.
pub(crate) fn open(url: &str) -> Result<Backend, StoreError> {
    open_with(url, std::env::vars())
}

/// [`open`], with the environment given (`AWS_*` variables are read from it).
pub fn open_with(url: &str, env: impl Iterator<Item = (String, String)>) -> Result<Backend, StoreError> {
    let bad = |why: String| StoreError::BadUrl {
        url: without_credentials(url),
        why,
    };
    let parsed =
        url::Url::parse(url).map_err(|e| bad(format!("{e}; write it as s3://bucket/prefix or file:///path")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials do not belong in the URL: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY".into(),
        ));
    }
    match parsed.scheme() {
        "s3" | "s3a" => s3(&parsed, env).map_err(|e| bad(e.to_string())),
        "file" => local(&parsed).map_err(bad),
        "gs" | "az" | "abfs" | "abfss" | "azure" => Err(bad(
            "this build speaks S3 and shared folders only: use the bucket's S3-compatible endpoint (GCS: https://storage.googleapis.com with HMAC keys; R2, MinIO, Ceph are S3) or a mounted folder (file:///…)".into(),
        )),
        other => Err(bad(format!("unknown scheme `{other}`: use s3://bucket/prefix or file:///path"))),
    }
}

/// The URL with any `user:password@` left out (for messages).
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// S3: credentials, region and endpoint from `AWS_*` variables; conditional writes by ETag.
fn s3(url: &url::Url, env: impl Iterator<Item = (String, String)>) -> Result<Backend, object_store::Error> {
    let mut options: Vec<(String, String)> = env
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    // An endpoint the user wrote as plain http (a MinIO or moto on the LAN) is allowed as such.
    let http_endpoint = options
        .iter()
        .any(|(k, v)| k.starts_with("aws_endpoint") && v.starts_with("http://"));
    if http_endpoint && !options.iter().any(|(k, _)| k == "aws_allow_http") {
        options.push(("aws_allow_http".into(), "true".into()));
    }
    options.push(("aws_conditional_put".into(), "etag".into()));
    // A streamed clip is staged, then copied only if absent: on S3 a one-part copy completed
    // with `If-None-Match: *`. A store that spells it otherwise (R2: a header) may say so.
    if !options.iter().any(|(k, _)| k == "aws_copy_if_not_exists") {
        options.push(("aws_copy_if_not_exists".into(), "multipart".into()));
    }
    let (store, prefix) = object_store::parse_url_opts(url, options)?;
    Ok(Backend::new(Arc::from(store), prefix, None))
}

/// A shared folder: it must exist (a mount that is missing must not become an empty store).
fn local(url: &url::Url) -> Result<Backend, String> {
    let path = url
        .to_file_path()
        .map_err(|()| "not a local path: write file:///absolute/path".to_owned())?;
    let dir = Utf8PathBuf::from_path_buf(path).map_err(|p| format!("{} is not UTF-8", p.display()))?;
    if !dir.is_dir() {
        return Err(format!("{dir} is not a folder: create it (or mount the share) first"));
    }
    let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| e.to_string())?
        .with_automatic_cleanup(true);
    Ok(Backend::new(
        Arc::new(fs),
        object_store::path::Path::default(),
        Some(dir),
    ))
}

/// The name a request key has in the store: the API namespace (a sandbox clip never serves a
/// real render) hashed short, then the key's hex.
pub(crate) fn key_name(api: &str, request_key: &str) -> String {
    let api = crate::digest::sha256_hex(api.as_bytes());
    format!("{}-{}", &api[..12], request_key.trim_start_matches("sha256:"))
}

/// A storyboard's name in the store's object names (its picks document, its take numbers).
pub(crate) fn board_name(storyboard: &str) -> String {
    match storyboard.replace(['/', '\\'], "_") {
        name if name.is_empty() => "_".into(),
        name => name,
    }
}

/// Who this process is, for claims: host, pid, a random id (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Owner {
    /// The machine's name.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// Random, per process.
    pub id: String,
}

impl Owner {
    /// This process.
    pub(crate) fn me() -> Owner {
        static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let id = ID.get_or_init(|| format!("{:016x}", fastrand::u64(..)));
        Owner {
            host: hostname(),
            pid: std::process::id(),
            id: id.clone(),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
