//! Frames first (#25): a shot's frame rendered before its video — journaled like any request,
//! kept by content, never paid twice — then uploaded as the video's start image; the video's
//! key covers the frame's bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Runner, Task, failed};
use crate::decide::Fate;
use crate::plan::frames::PlannedFrame;
use crate::provider::http::Backoff;
use crate::provider::{Accepted, SubmitError};
use crate::record::journal::{self, Record};
use crate::record::manifest::ClipRecord;

/// Each frame request of a run (by request key), rendered once.
pub(super) type Frames = Mutex<HashMap<String, Arc<OnceCell<Result<ClipRecord, String>>>>>;

impl Runner {
    /// Renders (or finds) the shot's frames (first, then end), uploads them as its start and
    /// end images and settles the key. `false`: the shot is settled, nothing left to do.
    pub(super) async fn prepare_frame(&self, task: &mut Task) -> bool {
        let shot = &self.shots[task.index];
        let mut made = Vec::new();
        for frame in shot.edge_frames() {
            match self.edge_frame(&shot.shot, frame).await {
                Ok(clip) => made.push((frame, clip)),
                Err(e) => {
                    self.settle(task, failed(None, format!("the {}: {e}", frame.edge.words())));
                    return false;
                }
            }
        }
        if task.fate == Fate::AwaitsPick {
            let edge = shot
                .edge_frames()
                .map(|f| f.edge)
                .find(|&e| self.resume.frames.of(&shot.shot, e).is_none())
                .unwrap_or_default();
            let flag = format!("--{}", edge.field().replace('_', "-"));
            let why = format!(
                "its {} waits for a pick (`storyboard review FILE`, `storyboard pick FILE {} {flag} N`)",
                edge.words(),
                shot.shot
            );
            self.settle(task, super::Settle::Pending(why));
            return false;
        }
        let mut shas = Vec::new();
        for (frame, clip) in made {
            match self.frame_url(&self.resume.out.join(&clip.path), &shot.id).await {
                Ok(url) => {
                    task.input.insert(frame.field.clone(), Value::String(url));
                    shas.push((frame.field.as_str(), clip.sha256));
                }
                Err(e) => {
                    self.settle(task, failed(None, format!("the {}: {e}", frame.edge.words())));
                    return false;
                }
            }
        }
        let key = shot.key_with_frames(&shas);
        self.rekey(task, key)
    }

    /// A frame the shot's video is made from: the picked take, else its request's frame
    /// (rendered once per run, whoever asks first).
    async fn edge_frame(&self, shot: &str, frame: &PlannedFrame) -> Result<ClipRecord, String> {
        if let Some(picked) = self.resume.frames.of(shot, frame.edge) {
            return Ok(picked.clone());
        }
        let (cell, _) = self.frame_cell(&frame.request_key);
        let clip = cell.get_or_init(|| self.frame_take(shot, frame)).await.clone()?;
        self.share_frame(shot, frame, &clip);
        Ok(clip)
    }

    /// The render of a frame request in this run (rendered once, whoever asks first), and
    /// whether this asked first.
    fn frame_cell(&self, key: &str) -> (Arc<OnceCell<Result<ClipRecord, String>>>, bool) {
        let mut frames = self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let new = !frames.contains_key(key);
        (frames.entry(key.to_owned()).or_default().clone(), new)
    }

    /// A frame request two shots share (the same body) is made once, journaled under the shot
    /// that asked first: the other shot gets it as a take of its own too (nothing paid, no
    /// estimate), so it can be listed and picked there.
    fn share_frame(&self, shot: &str, frame: &PlannedFrame, clip: &ClipRecord) {
        let fshot = frame.edge.id(shot);
        let key = (fshot.clone(), clip.sha256.clone());
        let mut done = self
            .frames_done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Already this shot's take: journaled by an earlier render, or in this one.
        if self.resume.history.shot_clips.contains(&key) || !done.insert(key) {
            return;
        }
        self.books.record(Record::Done {
            shot: fshot,
            request_key: frame.request_key.clone(),
            api: self.resume.namespace.clone(),
            request_id: None,
            clip: clip.clone(),
            actual_usd: None,
            estimated_usd: None,
            take: None,
            at: journal::now(),
        });
    }

    /// Frame takes 2…N of the task's shot (`frame: {takes: N}`) and its end frame (unless
    /// picked): each not yet in this run is rendered beside the shot's video, once, in a slot
    /// of its own (the video takes an end frame from here when it is done first).
    pub(super) fn more_frames(self: &Arc<Self>, task: &Task, running: &mut tokio::task::JoinSet<()>) {
        let shot = &self.shots[task.index];
        let end = shot
            .end_frame
            .iter()
            .filter(|f| self.resume.frames.of(&shot.shot, f.edge).is_none());
        for frame in end.chain(&shot.more_frames) {
            let (cell, new) = self.frame_cell(&frame.request_key);
            if !new {
                continue;
            }
            let (me, id, frame) = (self.clone(), shot.shot.clone(), frame.clone());
            running.spawn(async move { me.more_frame(&id, &frame, &cell).await });
        }
    }

    /// One more frame take: kept already, or rendered (a failure is said and leaves the
    /// shot's video alone). Once the run is stopping, only a frame already submitted goes on.
    async fn more_frame(&self, shot: &str, frame: &PlannedFrame, cell: &OnceCell<Result<ClipRecord, String>>) {
        let fate = self.resume.decide(&frame.request_key);
        if let Fate::Cached(_) = fate {
            return;
        }
        let permit = tokio::select! {
            p = self.limits.slots().acquire() => p,
            _ = self.limits.stop().reached(1), if !fate.resumes() => None,
        };
        let Some(_slot) = permit else {
            return;
        };
        if let Err(e) = cell.get_or_init(|| self.frame_take(shot, frame)).await {
            let (take, what) = (frame.take.unwrap_or(1), frame.edge.words());
            let line = format!("warning: {what} take {take} of {shot} was not made: {e}");
            self.books.reporter().event(&super::Event::Notice(line));
        }
    }

    /// The frame's take: kept from an earlier run, its paid job followed, else rendered now;
    /// an earlier submit whose outcome is unknown is never sent again by itself.
    async fn frame_take(&self, shot: &str, frame: &PlannedFrame) -> Result<ClipRecord, String> {
        let fshot = frame.edge.id(shot);
        let job = match self.resume.decide(&frame.request_key) {
            Fate::Cached(clip) => return Ok(clip),
            Fate::Follow(job) | Fate::Fetch(job, _) => job,
            Fate::Uncertain(why) | Fate::Gone(why) => return Err(why),
            Fate::Submit | Fate::AwaitsUpstream | Fate::AwaitsPick => self.submit_frame(&fshot, frame).await?,
        };
        let failed = |error: String| {
            self.books.record(Record::Failed {
                shot: fshot.clone(),
                request_key: frame.request_key.clone(),
                api: self.resume.namespace.clone(),
                request_id: Some(job.request_id.clone()),
                error: error.clone(),
                at: journal::now(),
            });
            error
        };
        let result = self
            .account
            .provider()
            .follow_json(&job)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let url = result
            .pointer("/images/0/url")
            .and_then(Value::as_str)
            .ok_or_else(|| failed(format!("`{}` answered without images[0].url", frame.endpoint)))?;
        let clip = self.keep_frame(&frame.request_key, url).await?;
        let take = self.number_take(&fshot, &frame.request_key, &clip.sha256).await;
        let journaled = (fshot.clone(), clip.sha256.clone());
        self.frames_done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(journaled);
        self.books.record(Record::Done {
            shot: fshot.clone(),
            request_key: frame.request_key.clone(),
            api: self.resume.namespace.clone(),
            request_id: Some(job.request_id.clone()),
            clip: clip.clone(),
            actual_usd: None,
            estimated_usd: Some(frame.estimate.usd()),
            take,
            at: journal::now(),
        });
        if frame.redo.is_some() {
            // The redo's frame stays selected once its request is no longer pending.
            let (out, key) = (&self.resume.out, frame.request_key.clone());
            let history = crate::record::folder::Folder::history_now(out);
            if let Err(e) = crate::record::takes::keep_redos(out, &[(fshot, key)], &history) {
                self.books
                    .reporter()
                    .event(&super::Event::Notice(format!("warning: {e}")));
            }
        }
        Ok(clip)
    }

    /// Submits a frame request (its cast images uploaded), journaled before it goes out.
    async fn submit_frame(&self, fshot: &str, frame: &PlannedFrame) -> Result<Accepted, String> {
        let mut input = frame.input.clone();
        for f in &frame.local_files {
            let url = self.frame_url(&f.path, fshot).await.map_err(|e| e.to_string())?;
            if let Some(slot) = input
                .get_mut("image_urls")
                .and_then(|v| v.pointer_mut(&f.field["/image_urls".len()..]))
            {
                *slot = Value::String(url);
            }
        }
        let (request_key, api) = (frame.request_key.clone(), self.resume.namespace.clone());
        let intent = Record::Intent {
            shot: fshot.to_owned(),
            request_key: request_key.clone(),
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
        let mut tries = 0;
        let answer = loop {
            tries += 1;
            match provider.submit(&frame.endpoint, None, &input).await {
                // Certainly nothing was created: asked again after the provider's delay.
                Err(SubmitError::Retry { retry_after, .. }) if tries < Backoff::SUBMIT.attempts => {
                    tokio::time::sleep(Backoff::SUBMIT.delay(tries, retry_after)).await;
                }
                answer => break answer,
            }
        };
        let job = answer.map_err(|e| self.frame_refused(fshot, &request_key, e))?;
        self.books.record(Record::Accepted {
            shot: fshot.to_owned(),
            request_key,
            api,
            job: job.clone(),
            at: journal::now(),
        });
        Ok(job)
    }

    /// A frame submit without a job, journaled: an unknown outcome is never sent again by
    /// itself; a request certainly not created is sent again by the next render.
    fn frame_refused(&self, fshot: &str, request_key: &str, e: SubmitError) -> String {
        let (reason, at, api) = (e.to_string(), journal::now(), self.resume.namespace.clone());
        let (shot, request_key) = (fshot.to_owned(), request_key.to_owned());
        if let SubmitError::Uncertain(_) = e {
            self.books.record(Record::Uncertain {
                shot,
                request_key,
                api,
                reason: reason.clone(),
                at,
            });
            return crate::decide::uncertain_message(&reason);
        }
        self.books.record(Record::Failed {
            shot,
            request_key,
            api,
            request_id: None,
            error: reason.clone(),
            at,
        });
        reason
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
