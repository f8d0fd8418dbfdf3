//! Chained shots: waiting for the upstream clips, taking their frames, uploading them, and
//! settling the request key — then the same decision table as every other shot.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use super::{Outcome, Runner, Settle, Task, failed};
use crate::decide::Fate;
use crate::media::frames::FrameError;
use crate::provider::UploadError;
use crate::record::journal::{self, Record};

/// Why a chained shot's frames could not be sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum ChainError {
    /// A frame file or its folder.
    #[error("cannot use {path}: {source}")]
    Io {
        /// Which.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// ffmpeg could not take the frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame task was stopped.
    #[error("{0}")]
    Stopped(String),
    /// The frame could not be uploaded.
    #[error("upload of the frame of `{upstream}`: {source}")]
    Upload {
        /// The shot the frame is from.
        upstream: String,
        /// Why.
        source: UploadError,
    },
}

impl Runner {
    /// The sha256 of each upstream clip once they exist; `None` (and the shot settled as
    /// skipped, or pending when the run is stopping) when one of them has no clip.
    pub(super) async fn upstream_clips(&self, task: &Task) -> Option<Vec<String>> {
        let mut shas = Vec::new();
        for &u in &task.upstream {
            let mut rx = self.books.watch(u);
            let outcome = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|v| v.clone())
                .unwrap_or_else(|| Outcome::NoClip("stopped".into()));
            match outcome {
                Outcome::Clip(sha) => shas.push(sha),
                Outcome::NoClip(why) => {
                    let why = format!("`{}` has no clip: {why}", self.shots[u].id);
                    let how = if self.limits.stop().level() >= 1 {
                        Settle::Pending(format!("not rendered: {why}"))
                    } else {
                        Settle::Skipped(why)
                    };
                    self.settle(task, how);
                    return None;
                }
            }
        }
        Some(shas)
    }

    /// Takes the frames, uploads them and settles the key; decides the shot again when its
    /// fate waited for them. `false`: the shot is settled, nothing left to do.
    pub(super) async fn prepare_chain(&self, task: &mut Task, upstream_sha: &[String]) -> bool {
        if let Err(e) = self.send_frames(task, upstream_sha).await {
            self.settle(task, failed(None, e.to_string()));
            return false;
        }
        let key = self.shots[task.index].key_with_upstream(upstream_sha);
        self.rekey(task, key)
    }

    /// The shot's final key and body recorded; the shot decided again when its fate waited for
    /// them. `false`: the shot is settled, nothing left to do.
    pub(super) fn rekey(&self, task: &mut Task, key: String) -> bool {
        task.key = key;
        let (key, input) = (task.key.clone(), task.input.clone());
        self.books.update(task.index, |r| {
            r.request_key = key;
            r.input = input;
        });
        if task.fate != Fate::AwaitsUpstream {
            return true;
        }
        task.fate = self.resume.decide(&task.key);
        match task.fate.clone() {
            Fate::Submit | Fate::Follow(_) | Fate::Fetch(..) => true,
            Fate::Cached(_) => {
                self.settle_known(task);
                false
            }
            Fate::Uncertain(message) => {
                self.settle(task, Settle::Uncertain { attempts: 0, message });
                false
            }
            Fate::Gone(msg) => {
                self.settle(task, failed(None, msg));
                false
            }
            // `decide` never answers this; a key known now is final.
            Fate::AwaitsUpstream | Fate::AwaitsPick => true,
        }
    }

    /// Each upstream frame as a PNG (taken once per clip and time), uploaded once by content;
    /// its URL goes into the request body.
    async fn send_frames(&self, task: &mut Task, upstream_sha: &[String]) -> Result<(), ChainError> {
        let shot = &self.shots[task.index];
        let frames_dir = crate::record::folder::layout::frames(&self.resume.out);
        std::fs::create_dir_all(&frames_dir).map_err(|source| ChainError::Io {
            path: frames_dir.clone(),
            source,
        })?;
        for ((c, sha), &u) in shot.chain.iter().zip(upstream_sha).zip(&task.upstream) {
            let at = c.at.map_or("last".to_owned(), |t| format!("{t}s"));
            let png = frames_dir.join(format!("{}-{at}.png", &sha[..16.min(sha.len())]));
            if !png.exists() {
                // Every clip an outcome names is in the store (rendered into it, or kept there
                // when cached or not selected).
                let clip = self.resume.out.join(crate::record::folder::layout::kept_clip(sha));
                let (dest, t) = (png.clone(), c.at);
                tokio::task::spawn_blocking(move || crate::media::frames::extract(&clip, t, &dest))
                    .await
                    .map_err(|e| ChainError::Stopped(e.to_string()))??;
            }
            let url = self.frame_url(&png, &self.shots[u].id).await?;
            task.input.insert(c.field.clone(), Value::String(url));
        }
        Ok(())
    }

    /// The URL of an uploaded frame: remembered by content hash, else uploaded and journaled.
    pub(super) async fn frame_url(&self, png: &Utf8Path, upstream: &str) -> Result<String, ChainError> {
        let bytes = std::fs::read(png).map_err(|source| ChainError::Io {
            path: png.to_owned(),
            source,
        })?;
        let sha = crate::digest::sha256_hex(&bytes);
        if let Some(url) = self.account.uploaded(&sha) {
            return Ok(url);
        }
        let name = png.file_name().unwrap_or("frame.png").to_owned();
        let url = self
            .account
            .provider()
            .upload(bytes, "image/png", &name)
            .await
            .map_err(|source| ChainError::Upload {
                upstream: upstream.to_owned(),
                source,
            })?;
        self.books.record(Record::Upload {
            sha256: sha.clone(),
            api: self.resume.namespace.clone(),
            url: url.clone(),
            at: journal::now(),
        });
        self.account.remember_upload(sha, url.clone());
        Ok(url)
    }
}
