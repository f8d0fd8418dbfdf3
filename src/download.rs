//! Clip downloads: streamed to a hidden temporary file in the output folder, sha256 computed
//! while streaming, size checked against Content-Length and the provider's `file_size`,
//! fsync'd, then renamed into place. Memory stays flat whatever the clip size; a truncated
//! download is retried; no partial file ever stands under a final name.

use camino::{Utf8Path, Utf8PathBuf};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::plan::hex;
use crate::provider::describe;
use crate::provider::http::{Backoff, retry_after, retryable_status};

/// A verified clip on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFile {
    /// Final path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256, hex.
    pub sha256: String,
}

/// The temporary name of a file being written: `.<name>.part` beside it.
pub fn part_path(path: &Utf8Path) -> Utf8PathBuf {
    let name = path.file_name().unwrap_or("clip.mp4");
    path.with_file_name(format!(".{name}.part"))
}

/// Downloads `url` to `dest`, retrying transport errors, 5xx and truncated bodies.
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    dest: &Utf8Path,
    expected: Option<u64>,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<ClipFile, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once(http, url, dest, expected, progress).await {
            Ok(clip) => return Ok(clip),
            Err((msg, retry, ra)) => {
                let _ = tokio::fs::remove_file(part_path(dest)).await;
                if !retry || attempt >= Backoff::GET.attempts {
                    return Err(format!("download failed after {attempt} attempt(s): {msg}"));
                }
                tokio::time::sleep(Backoff::GET.delay(attempt, ra)).await;
            }
        }
    }
}

type Failure = (String, bool, Option<std::time::Duration>);

async fn once(
    http: &reqwest::Client,
    url: &str,
    dest: &Utf8Path,
    expected: Option<u64>,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<ClipFile, Failure> {
    let resp = http.get(url).send().await.map_err(|e| (describe(&e), true, None))?;
    let code = resp.status().as_u16();
    if code != 200 {
        return Err((
            format!("HTTP {code}"),
            retryable_status(code),
            retry_after(resp.headers()),
        ));
    }
    let length = resp.content_length();
    if let (Some(l), Some(e)) = (length, expected)
        && l != e
    {
        return Err((
            format!("Content-Length {l} differs from the reported file_size {e}"),
            false,
            None,
        ));
    }
    let total = length.or(expected);
    let part = part_path(dest);
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(|e| (format!("cannot write {part}: {e}"), false, None))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut last_report = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| (format!("{} after {written} bytes", describe(&e)), true, None))?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| (format!("cannot write {part}: {e}"), false, None))?;
        written += chunk.len() as u64;
        if written - last_report >= 1 << 20 {
            last_report = written;
            progress(written, total);
        }
    }
    if let Some(t) = total
        && written != t
    {
        return Err((format!("truncated: got {written} of {t} bytes"), true, None));
    }
    file.flush().await.map_err(|e| (e.to_string(), false, None))?;
    file.sync_all().await.map_err(|e| (e.to_string(), false, None))?;
    drop(file);
    tokio::fs::rename(&part, dest)
        .await
        .map_err(|e| (format!("cannot rename {part}: {e}"), false, None))?;
    sync_dir(dest);
    progress(written, Some(written));
    Ok(ClipFile {
        path: dest.to_owned(),
        bytes: written,
        sha256: hex(&hasher.finalize()),
    })
}

/// Makes a rename durable.
pub fn sync_dir(path: &Utf8Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_str().is_empty() {
            Utf8Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

/// Whether the file at `path` has this size and sha256.
///
/// A render asks this about the same clip several times (the verdict before and after taking
/// the folder lock, the manifest, the shots chained to it): a file already hashed with this
/// size and modification time is not read again.
pub fn verify(path: &Utf8Path, bytes: u64, sha256: &str) -> bool {
    type Seen = std::collections::HashMap<(Utf8PathBuf, u64, std::time::SystemTime), String>;
    static HASHED: std::sync::Mutex<Option<Seen>> = std::sync::Mutex::new(None);
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes => m,
        _ => return false,
    };
    let Ok(modified) = meta.modified() else {
        return crate::plan::sha256_file(path).is_ok_and(|h| h == sha256);
    };
    let key = (path.to_owned(), bytes, modified);
    let known = HASHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .get(&key)
        .cloned();
    let hash = match known {
        Some(h) => h,
        None => match crate::plan::sha256_file(path) {
            Ok(h) => {
                HASHED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(Default::default)
                    .insert(key, h.clone());
                h
            }
            Err(_) => return false,
        },
    };
    hash == sha256
}

/// Copies a verified clip to another name (duplicate requests, renamed shots), atomically.
pub fn copy_clip(from: &Utf8Path, to: &Utf8Path) -> std::io::Result<()> {
    if from == to {
        return Ok(());
    }
    let part = part_path(to);
    std::fs::copy(from, &part)?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, to)?;
    sync_dir(to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rereads_a_file_that_changed_since_it_was_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("clip.mp4")).unwrap();
        std::fs::write(&path, b"first").unwrap();
        let sha = crate::plan::sha256_hex(b"first");
        assert!(verify(&path, 5, &sha));
        assert!(verify(&path, 5, &sha), "asked again");
        assert!(!verify(&path, 5, &crate::plan::sha256_hex(b"other")));
        // Same size, new content, a later modification time: hashed again.
        std::fs::write(&path, b"secnd").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        assert!(!verify(&path, 5, &sha));
        assert!(verify(&path, 5, &crate::plan::sha256_hex(b"secnd")));
        assert!(!verify(&path, 6, &sha), "size must match");
    }
}
