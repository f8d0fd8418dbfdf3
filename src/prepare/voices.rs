//! Voices created alongside the shots: each voice a storyboard gives as a sample is created
//! once, in a task of its own, while the shots that need no voice run; a shot waits for its own
//! voices only. What is known is kept in `.storyboard/voices.json` beside the storyboard, by API
//! namespace and sample content: the voice id once created, and meanwhile the creation job
//! (`in_flight`), so a render stopped during the creation follows that job the next time
//! instead of paying for a second one.

use camino::{Utf8Path, Utf8PathBuf};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use super::PrepareError;
use crate::provider::{Accepted, JobError, Provider, VoiceError};
use crate::signals::Stop;

/// A voice being created (or known): its id, or why not.
pub(super) type Voice = Shared<BoxFuture<'static, Result<String, PrepareError>>>;

/// The key under which creation jobs in flight are kept (never an API namespace: those are
/// `sandbox` or a base URL).
const IN_FLIGHT: &str = "in_flight";

/// `voices.json`, read and rewritten whole under one lock.
pub(super) struct VoiceBook {
    path: Utf8PathBuf,
    ns: String,
    lock: Mutex<()>,
}

impl VoiceBook {
    /// The book beside the storyboard in folder `dir`, for API namespace `ns`.
    pub(super) fn new(dir: &Utf8Path, ns: &str) -> VoiceBook {
        VoiceBook {
            path: crate::record::folder::layout::voices(dir),
            ns: ns.to_owned(),
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Value {
        crate::record::folder::read_state(&self.path)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({}))
    }

    /// The voice id created earlier from the sample of content `sha`.
    pub(super) fn known(&self, sha: &str) -> Option<String> {
        self.read()[&self.ns][sha].as_str().map(str::to_owned)
    }

    /// The creation job of an earlier render for the sample of content `sha`, not yet followed
    /// to its end.
    fn in_flight(&self, sha: &str) -> Option<Accepted> {
        serde_json::from_value(self.read()[IN_FLIGHT][&self.ns][sha].clone()).ok()
    }

    /// Rewrites the book with `change` applied (a write that fails only costs a later render
    /// a new creation, as before the book existed).
    fn update(&self, change: impl FnOnce(&mut Value, &str)) {
        let _held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = self.read();
        for key in [self.ns.as_str(), IN_FLIGHT] {
            if !v[key].is_object() {
                v[key] = json!({});
            }
        }
        if !v[IN_FLIGHT][&self.ns].is_object() {
            v[IN_FLIGHT][&self.ns] = json!({});
        }
        change(&mut v, &self.ns);
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        let _ = crate::files::write_atomic(&self.path, text.as_bytes());
    }
}

/// What creating one voice needs, owned (it runs in a task of its own).
pub(super) struct Creation {
    pub book: Arc<VoiceBook>,
    pub provider: Provider,
    pub stop: Stop,
    /// The sample's content hash and path.
    pub sha: String,
    pub sample: Utf8PathBuf,
}

impl Creation {
    /// Starts the creation in a task of its own: it goes on (and is kept in the book) even when
    /// no shot waits for it any more.
    pub(super) fn spawn(self) -> Voice {
        let handle = tokio::spawn(self.run());
        async move { handle.await.unwrap_or_else(|e| Err(PrepareError::Ended(e.to_string()))) }
            .boxed()
            .shared()
    }

    /// Follows the job an earlier render submitted, or uploads the sample and submits one (kept
    /// in the book once accepted); then the voice id, kept in the book.
    async fn run(self) -> Result<String, PrepareError> {
        let job = match self.book.in_flight(&self.sha) {
            Some(job) => job,
            None => {
                let url = super::upload(&self.provider, &self.sha, &self.sample).await?;
                let _wire = self.stop.on_wire();
                if self.stop.level() >= 1 {
                    return Err(PrepareError::Ended(self.stop.reason()));
                }
                let job = self.provider.submit_voice(&url).await?;
                let kept = serde_json::to_value(&job).unwrap_or_default();
                self.book.update(|v, ns| v[IN_FLIGHT][ns][&self.sha] = kept);
                job
            }
        };
        let id = self.provider.voice_id(&job).await;
        let ended = matches!(
            id,
            Ok(_) | Err(VoiceError::NoVoiceId | VoiceError::Job(JobError::Failed(_) | JobError::Gone(_)))
        );
        if ended {
            self.book.update(|v, ns| {
                if let Some(m) = v[IN_FLIGHT][ns].as_object_mut() {
                    m.remove(&self.sha);
                }
                if let Ok(id) = &id {
                    v[ns][&self.sha] = json!(id);
                }
            });
        }
        Ok(id?)
    }
}

/// A voice already known.
pub(super) fn ready(result: Result<String, PrepareError>) -> Voice {
    futures::future::ready(result).boxed().shared()
}
