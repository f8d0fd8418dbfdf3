//! Frames first (#25): a shot's frame rendered before its video — journaled like any request,
//! kept by content, never paid twice — then uploaded as the video's start image; the video's
//! key covers the frame's bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Runner, Task, failed};
use crate::plan::frames::PlannedFrame;
use crate::record::journal::{self, Record};
use crate::record::manifest::ClipRecord;

/// Each frame request of a run (by request key), rendered once.
pub(super) type Frames = Mutex<HashMap<String, Arc<OnceCell<Result<ClipRecord, String>>>>>;

impl Runner {
    /// Renders (or finds) the shot's frame, uploads it as the start image and settles the key.
    /// `false`: the shot is settled, nothing left to do.
    pub(super) async fn prepare_frame(&self, task: &mut Task) -> bool {
        let shot = &self.shots[task.index];
        let Some(frame) = shot.frame.clone() else {
            return true;
        };
        let cell = {
            let mut frames = self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            frames.entry(frame.request_key.clone()).or_default().clone()
        };
        let clip = cell.get_or_init(|| self.frame_take(&shot.id, &frame)).await.clone();
        let sent = match clip {
            Ok(clip) => {
                let png = self.resume.out.join(&clip.path);
                self.frame_url(&png, &shot.id)
                    .await
                    .map(|url| (url, clip.sha256))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok((url, sha)) => {
                task.input.insert(frame.field.clone(), Value::String(url));
                let key = shot.key_with_frame(&sha);
                self.rekey(task, key)
            }
            Err(e) => {
                self.settle(task, failed(None, format!("the frame: {e}")));
                false
            }
        }
    }

    /// The frame's take: kept from an earlier run, else rendered now.
    async fn frame_take(&self, shot: &str, frame: &PlannedFrame) -> Result<ClipRecord, String> {
        if let Some(clip) = crate::record::folder::intact_clip(&self.resume.out, self.resume.state(&frame.request_key))
        {
            return Ok(clip);
        }
        let mut input = frame.input.clone();
        for f in &frame.local_files {
            let url = self.frame_url(&f.path, shot).await.map_err(|e| e.to_string())?;
            if let Some(slot) = input
                .get_mut("image_urls")
                .and_then(|v| v.pointer_mut(&f.field["/image_urls".len()..]))
            {
                *slot = Value::String(url);
            }
        }
        let (fshot, api) = (format!("{shot}.frame"), self.resume.namespace.clone());
        let intent = Record::Intent {
            shot: fshot.clone(),
            request_key: frame.request_key.clone(),
            api: api.clone(),
            endpoint: Some(frame.endpoint.clone()),
            input: Some(input.clone()),
            at: journal::now(),
        };
        self.books
            .journal()
            .append_intent(&intent)
            .map_err(|e| format!("cannot write the journal: {e}"))?;
        let provider = self.account.provider();
        let job = provider
            .submit(&frame.endpoint, None, &input)
            .await
            .map_err(|e| e.to_string())?;
        self.books.record(Record::Accepted {
            shot: fshot.clone(),
            request_key: frame.request_key.clone(),
            api: api.clone(),
            job: job.clone(),
            at: journal::now(),
        });
        let result = provider.follow_json(&job).await.map_err(|e| e.to_string())?;
        let url = result
            .pointer("/images/0/url")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{}` answered without images[0].url", frame.endpoint))?;
        let clip = self.keep_frame(&frame.request_key, url).await?;
        self.books.record(Record::Done {
            shot: fshot,
            request_key: frame.request_key.clone(),
            api,
            request_id: Some(job.request_id.clone()),
            clip: clip.clone(),
            actual_usd: None,
            estimated_usd: Some(frame.estimate.usd()),
            at: journal::now(),
        });
        Ok(clip)
    }

    /// Downloads a frame into the folder's frames, named by its content.
    async fn keep_frame(&self, key: &str, url: &str) -> Result<ClipRecord, String> {
        let dir = crate::record::folder::layout::frames(&self.resume.out);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
        let key = key.trim_start_matches("sha256:");
        let part = dir.join(format!("incoming-{}.png", &key[..16.min(key.len())]));
        let got = crate::run::download::download(self.account.http(), url, &part, None, &|_, _| {})
            .await
            .map_err(|e| e.reason)?;
        let path = crate::record::folder::layout::kept_frame(&got.sha256);
        crate::run::download::settle_into(&part, &self.resume.out.join(&path)).map_err(|e| e.reason)?;
        Ok(ClipRecord {
            path,
            bytes: got.bytes,
            sha256: got.sha256,
            source_url: url.to_owned(),
        })
    }
}
