//! What the built-in sandbox of `render --sandbox` keeps in the output folder
//! (`.storyboard/sandbox/`): its fal jobs (request ids, endpoints, inputs, submit times, what
//! each will end in, cancellations), the files uploaded to it (bytes in `uploads/TOKEN`) and the
//! loopback port it listened on. `state.json` is rewritten (synced, renamed into place) whenever
//! a job or an upload changes, and read back when the next `--sandbox` render of the folder
//! starts: a job's age counts from its submit time on the machine's clock, so jobs submitted
//! before a Ctrl-C went on running meanwhile, and the re-run follows them by the URLs the
//! journal kept (the port is reused for that).

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::schemas::{self, Output};
use super::{Inner, Job, Outcome, Upload};

/// The state file, in the sandbox's folder.
const STATE: &str = "state.json";

/// The folder the sandbox keeps its state in.
#[derive(Debug, Clone)]
pub(super) struct Keeper {
    dir: Utf8PathBuf,
}

/// `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Snapshot {
    /// The loopback port it listened on (the journal's URLs name it).
    pub port: u16,
    /// How many renders started it (the jobs say which start took them).
    pub starts: u32,
    /// The request-id counter.
    pub next_id: u64,
    /// Every job, in submit order.
    pub jobs: Vec<KeptJob>,
    /// Every upload whose bytes arrived.
    pub uploads: Vec<KeptUpload>,
}

/// One fal job.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeptJob {
    pub request_id: String,
    app: String,
    endpoint: String,
    input: Value,
    /// Submitted at, ms since the Unix epoch on the machine's clock.
    pub submitted_ms: u64,
    /// Submitted at on the sandbox's clock (the request history's), ms since the epoch.
    sandbox_time_ms: u64,
    /// From submit to the start of its run, ms.
    starts_ms: u64,
    outcome: KeptOutcome,
    cancelled: bool,
    finished: bool,
    received: Vec<Value>,
    /// Which start of the sandbox took it (1: the first render).
    pub start: u32,
}

/// What a job ends in; a clip or image is made again from the input, as it was the first time.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KeptOutcome {
    Made,
    Voice { voice_id: String },
    Fail { error: String, error_type: String },
    Reject { detail: Value },
}

/// One upload (its bytes in `uploads/TOKEN`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeptUpload {
    token: String,
    content_type: String,
    expires_ms: Option<u64>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Keeper {
    pub(super) fn new(dir: &Utf8Path) -> Keeper {
        Keeper { dir: dir.to_owned() }
    }

    fn state(&self) -> Utf8PathBuf {
        self.dir.join(STATE)
    }

    fn upload(&self, token: &str) -> Utf8PathBuf {
        self.dir.join("uploads").join(token)
    }

    /// Whether an earlier render left a state here.
    pub(super) fn exists(dir: &Utf8Path) -> bool {
        Keeper::new(dir).state().is_file()
    }

    /// The state an earlier render left (empty when none).
    pub(super) fn load(&self) -> std::io::Result<Snapshot> {
        match std::fs::read(self.state()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!(
                    "{} is damaged ({e}): delete the folder {} to start the sandbox afresh (its jobs are then submitted again, for $0)",
                    self.state(),
                    self.dir
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Snapshot::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state of `inner` (and the bytes of uploads not yet written).
    pub(super) fn save(&self, inner: &Inner, port: u16) -> std::io::Result<()> {
        std::fs::create_dir_all(self.dir.join("uploads"))?;
        let mut uploads = Vec::new();
        for (token, u) in &inner.uploads {
            let Some(bytes) = &u.bytes else { continue };
            let path = self.upload(token);
            if !path.is_file() {
                write_exact(&path, bytes)?;
            }
            uploads.push(KeptUpload {
                token: token.clone(),
                content_type: u.content_type.clone(),
                expires_ms: u.expires.map(ms),
            });
        }
        uploads.sort_by(|a, b| a.token.cmp(&b.token));
        let mut jobs: Vec<KeptJob> = inner.jobs.iter().filter_map(|(id, j)| kept_job(inner, id, j)).collect();
        jobs.sort_by(|a, b| (a.submitted_ms, &a.request_id).cmp(&(b.submitted_ms, &b.request_id)));
        let snapshot = Snapshot {
            port,
            starts: inner.start,
            next_id: inner.next_id,
            jobs,
            uploads,
        };
        let text = serde_json::to_vec_pretty(&snapshot).map_err(std::io::Error::other)?;
        write_exact(&self.state(), &text)
    }

    /// Puts the kept jobs and uploads back into `inner` (a new start of the sandbox).
    pub(super) fn restore(&self, snapshot: Snapshot, inner: &mut Inner) -> std::io::Result<()> {
        inner.next_id = snapshot.next_id;
        inner.start = snapshot.starts + 1;
        for u in snapshot.uploads {
            let bytes = std::fs::read(self.upload(&u.token))?;
            let upload = Upload {
                content_type: u.content_type,
                bytes: Some(bytes.into()),
                expires: u.expires_ms.map(time),
                parts: None,
            };
            inner.uploads.insert(u.token, upload);
        }
        for j in snapshot.jobs {
            restore_job(inner, j);
        }
        Ok(())
    }
}

/// Writes a file exactly (synced, renamed into place: whole or absent).
fn write_exact(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("part");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename made durable (the sandbox imports nothing of the client side, `files` included).
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A job as kept (`None` for one the sandbox did not take itself: seeded history).
fn kept_job(inner: &Inner, id: &str, j: &Job) -> Option<KeptJob> {
    let &(submitted_ms, start) = inner.kept.get(id)?;
    let outcome = match &j.outcome {
        Outcome::Clip(_) | Outcome::Image(_) => KeptOutcome::Made,
        Outcome::Voice(v) => KeptOutcome::Voice { voice_id: v.clone() },
        Outcome::Fail { error, error_type } => KeptOutcome::Fail {
            error: error.clone(),
            error_type: error_type.clone(),
        },
        Outcome::Reject(detail) => KeptOutcome::Reject { detail: detail.clone() },
    };
    Some(KeptJob {
        request_id: id.to_owned(),
        app: j.app.clone(),
        endpoint: j.endpoint.clone(),
        input: j.input.clone(),
        submitted_ms,
        sandbox_time_ms: ms(j.created_wall),
        starts_ms: j.starts.as_millis() as u64,
        outcome,
        cancelled: j.cancelled,
        finished: j.finished,
        received: j.received.clone(),
        start,
    })
}

/// Puts one kept job back, aged by the time since it was submitted.
fn restore_job(inner: &mut Inner, j: KeptJob) {
    let outcome = match j.outcome {
        KeptOutcome::Made => match schemas::fal_model(&j.endpoint) {
            Some(m) if m.output == Output::Image => Outcome::Image(super::images::ImageSpec::from_input(
                &j.input,
                &j.endpoint,
                &m.output_fields,
                &j.request_id,
            )),
            m => Outcome::Clip(super::files::ClipSpec::from_input(
                &j.input,
                &j.endpoint,
                m.is_some_and(|m| m.audio_default),
            )),
        },
        KeptOutcome::Voice { voice_id } => Outcome::Voice(voice_id),
        KeptOutcome::Fail { error, error_type } => Outcome::Fail { error, error_type },
        KeptOutcome::Reject { detail } => Outcome::Reject(detail),
    };
    let age = SystemTime::now()
        .duration_since(time(j.submitted_ms))
        .unwrap_or_default();
    let now = Instant::now();
    let created = now.checked_sub(age).unwrap_or(now);
    if !j.finished {
        inner.in_flight += 1;
    }
    inner.kept.insert(j.request_id.clone(), (j.submitted_ms, j.start));
    let job = Job {
        app: j.app,
        endpoint: j.endpoint,
        input: j.input,
        created,
        created_wall: time(j.sandbox_time_ms),
        starts: Duration::from_millis(j.starts_ms),
        outcome,
        cancelled: j.cancelled,
        finished: j.finished,
        received: j.received,
    };
    inner.jobs.insert(j.request_id, job);
}

/// Records that this start of the sandbox took job `id` now (it is then kept).
pub(super) fn taken(inner: &mut Inner, id: &str) {
    let start = inner.start.max(1);
    inner.kept.insert(id.to_owned(), (ms(SystemTime::now()), start));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kept_jobs_and_uploads_come_back_as_they_were_and_as_old_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(dir.path().join("sandbox")).unwrap();
        let keeper = Keeper::new(&dir);
        let endpoint = "fal-ai/kling-video/v2.6/pro/text-to-video";
        let input = json!({"prompt": "a kept job", "duration": "5"});
        let mut inner = Inner {
            start: 1,
            ..Inner::default()
        };
        let id = "11111111-2222-4333-a444-555555555555";
        let job = Job {
            app: "fal-ai/kling-video".into(),
            endpoint: endpoint.into(),
            input: input.clone(),
            created: Instant::now().checked_sub(Duration::from_secs(5)).unwrap(),
            created_wall: SystemTime::now(),
            starts: Duration::from_millis(300),
            outcome: Outcome::Clip(super::super::files::ClipSpec::from_input(&input, endpoint, false)),
            cancelled: true,
            finished: false,
            received: Vec::new(),
        };
        inner.jobs.insert(id.into(), job);
        taken(&mut inner, id);
        let upload = Upload {
            content_type: "image/png".into(),
            bytes: Some(bytes::Bytes::from_static(b"png bytes")),
            ..Upload::default()
        };
        inner.uploads.insert("tok".into(), upload);
        inner.uploads.insert("empty".into(), Upload::default());
        keeper.save(&inner, 4242).unwrap();
        assert!(Keeper::exists(&dir));

        let snapshot = keeper.load().unwrap();
        assert_eq!(
            (snapshot.port, snapshot.jobs.len(), snapshot.uploads.len()),
            (4242, 1, 1)
        );
        let mut again = Inner::default();
        keeper.restore(snapshot, &mut again).unwrap();
        let back = &again.jobs[id];
        assert_eq!(
            (back.endpoint.as_str(), &back.input, back.cancelled),
            (endpoint, &input, true)
        );
        assert!(matches!(&back.outcome, Outcome::Clip(spec) if spec.title == "a kept job"));
        assert_eq!(again.uploads["tok"].bytes.as_deref(), Some(&b"png bytes"[..]));
        assert_eq!(again.start, 2, "the second start of the sandbox");
        // Submitted "now" when taken: restored as at least that old, never younger than zero.
        assert!(back.created <= Instant::now());
    }

    #[test]
    fn a_damaged_state_is_refused_with_how_to_start_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        std::fs::write(dir.join(STATE), b"{not json").unwrap();
        let e = Keeper::new(&dir).load().unwrap_err().to_string();
        assert!(e.contains("damaged") && e.contains("delete the folder"), "{e}");
    }
}
