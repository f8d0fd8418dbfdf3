//! Clip downloads: streamed to a hidden temporary file in the output folder, sha256 computed
//! while streaming, size checked against Content-Length and the provider's `file_size`,
//! fsync'd, then renamed into place. Memory stays flat whatever the clip size; a truncated
//! download is retried; no partial file ever stands under a final name.

use camino::{Utf8Path, Utf8PathBuf};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::digest::hex;
use crate::files::{part_path, sync_dir};
use crate::provider::describe;
use crate::provider::http::{Backoff, Step, retry_after, retry_get, retryable_status, transient};

/// A verified clip on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClipFile {
    /// Final path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256, hex.
    pub sha256: String,
}

/// Why a clip could not be downloaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("download failed after {attempts} attempt(s): {reason}")]
pub(crate) struct DownloadError {
    /// Attempts made.
    pub attempts: u32,
    /// What the last attempt met.
    pub reason: String,
}

/// Moves a verified download (`from`) to its place in the store of takes (`to`, named by its
/// content): renamed in one step, so no partial file stands under a store name.
pub(crate) fn settle_into(from: &Utf8Path, to: &Utf8Path) -> Result<(), DownloadError> {
    std::fs::rename(from, to).map_err(|e| {
        let _ = std::fs::remove_file(from);
        DownloadError {
            attempts: 1,
            reason: format!("cannot move the clip into {to}: {e}"),
        }
    })?;
    sync_dir(to);
    Ok(())
}

/// Downloads `url` to `dest`, retrying transport errors, 5xx and truncated bodies.
pub(crate) async fn download(
    http: &reqwest::Client,
    url: &str,
    dest: &Utf8Path,
    expected: Option<u64>,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<ClipFile, DownloadError> {
    let fetch = Fetch {
        http,
        url,
        dest,
        expected,
        progress,
    };
    let fetch = &fetch;
    retry_get(Backoff::GET, move |attempt| async move {
        // Only this download's own earlier attempt is resumed (a part left by a crashed run
        // may be another request's clip).
        let result = fetch.once(attempt > 1).await;
        // A passing failure keeps what arrived, for the next attempt to resume; a lasting one
        // (or the last attempt) leaves no temporary behind.
        if result
            .as_ref()
            .is_err_and(|f| !f.retry || attempt >= Backoff::GET.attempts)
        {
            let _ = tokio::fs::remove_file(part_path(dest)).await;
        }
        match result {
            Ok(clip) => Step::Done(Ok(clip)),
            Err(f) => {
                let error = DownloadError {
                    attempts: attempt,
                    reason: f.reason,
                };
                if f.retry {
                    transient(error, f.retry_after)
                } else {
                    Step::Done(Err(error))
                }
            }
        }
    })
    .await
}

/// One download: where from, where to, how large it should be, whom to tell.
struct Fetch<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    dest: &'a Utf8Path,
    expected: Option<u64>,
    progress: &'a (dyn Fn(u64, Option<u64>) + Send + Sync),
}

/// One attempt's failure: what happened, and whether another attempt may succeed.
struct Failure {
    reason: String,
    retry: bool,
    retry_after: Option<std::time::Duration>,
}

impl Failure {
    fn passing(reason: String) -> Failure {
        Failure {
            reason,
            retry: true,
            retry_after: None,
        }
    }

    fn lasting(reason: String) -> Failure {
        Failure {
            reason,
            retry: false,
            retry_after: None,
        }
    }
}

impl Fetch<'_> {
    /// One attempt; `resume`: continue what an earlier attempt of this download left.
    async fn once(&self, resume: bool) -> Result<ClipFile, Failure> {
        let part = part_path(self.dest);
        // What an earlier attempt left is resumed with a Range request where the server allows.
        let have = match resume {
            true => tokio::fs::symlink_metadata(&part)
                .await
                .ok()
                .filter(|m| m.is_file())
                .map_or(0, |m| m.len()),
            false => 0,
        };
        let (resp, start) = self.respond(have).await?;
        let total = resp.content_length().map(|l| l + start);
        if let (Some(l), Some(e)) = (total, self.expected)
            && l != e
        {
            // Retried like a truncation: a CDN edge may still be filling the file.
            return Err(Failure::passing(format!(
                "Content-Length {l} differs from the reported file_size {e}"
            )));
        }
        let total = total.or(self.expected);
        let (written, sha256) = self.write(resp, &part, start, total).await?;
        tokio::fs::rename(&part, self.dest)
            .await
            .map_err(|e| Failure::lasting(format!("cannot rename {part}: {e}")))?;
        sync_dir(self.dest);
        (self.progress)(written, Some(written));
        Ok(ClipFile {
            path: self.dest.to_owned(),
            bytes: written,
            sha256,
        })
    }

    /// The answer to a GET (a Range request from `have` when an earlier attempt left bytes),
    /// and the offset its body starts at.
    async fn respond(&self, have: u64) -> Result<(reqwest::Response, u64), Failure> {
        let mut request = self.http.get(self.url);
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = request.send().await.map_err(|e| Failure::passing(describe(&e)))?;
        let code = resp.status().as_u16();
        let resumed = code == 206 && have > 0 && range_start(resp.headers()) == Some(have);
        if code != 200 && !resumed {
            return Err(Failure {
                reason: format!("HTTP {code}"),
                retry: retryable_status(code),
                retry_after: retry_after(resp.headers()),
            });
        }
        Ok((resp, if resumed { have } else { 0 }))
    }

    /// Streams the body into `part` from offset `start`, hashing as it goes; synced. The
    /// bytes written in all and the whole file's sha256.
    async fn write(
        &self,
        resp: reqwest::Response,
        part: &Utf8Path,
        start: u64,
        total: Option<u64>,
    ) -> Result<(u64, String), Failure> {
        let (mut file, mut hasher) = open_part(part, start > 0).await?;
        let (mut written, mut last_report) = (start, start);
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure::passing(format!("{} after {written} bytes", describe(&e))))?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Failure::lasting(format!("cannot write {part}: {e}")))?;
            written += chunk.len() as u64;
            if written - last_report >= 1 << 20 {
                last_report = written;
                (self.progress)(written, total);
            }
        }
        if let Some(t) = total
            && written != t
        {
            return Err(Failure::passing(format!("truncated: got {written} of {t} bytes")));
        }
        file.flush().await.map_err(|e| Failure::lasting(e.to_string()))?;
        file.sync_all().await.map_err(|e| Failure::lasting(e.to_string()))?;
        Ok((written, hex(&hasher.finalize())))
    }
}

/// The temporary file to write into: the earlier attempt's, appended to (its bytes hashed
/// first), or a fresh one.
async fn open_part(part: &Utf8Path, resume: bool) -> Result<(tokio::fs::File, Sha256), Failure> {
    let failed = |e: std::io::Error| Failure::lasting(format!("cannot write {part}: {e}"));
    let mut hasher = Sha256::new();
    if resume {
        let mut existing = std::fs::File::open(part).map_err(failed)?;
        std::io::copy(&mut existing, &mut hasher).map_err(failed)?;
        let file = crate::files::no_follow(std::fs::OpenOptions::new().append(true))
            .open(part)
            .map_err(failed)?;
        return Ok((tokio::fs::File::from_std(file), hasher));
    }
    let file = crate::files::create_fresh(part).map_err(failed)?;
    Ok((tokio::fs::File::from_std(file), hasher))
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` answer.
fn range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}
