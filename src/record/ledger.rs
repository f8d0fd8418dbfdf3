//! The ledger: `manifest.json` while a render runs. Shot records change as shots settle; the
//! file is rewritten atomically at most every [`FLUSH_EVERY`] (and at the end, and when the
//! ledger is dropped on any exit path), so bookkeeping stays linear in the number of shots.
//! The journal, not the manifest, is the crash-safe record: a crash leaves the last manifest
//! written, which is always whole.

use camino::Utf8PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::record::manifest::{Manifest, RequestRecord, ShotRecord};

/// The longest a settled shot waits before the manifest on disk shows it.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The manifest being written.
pub(crate) struct Ledger {
    path: Utf8PathBuf,
    manifest: Mutex<Manifest>,
    dirty: AtomicBool,
    /// The least time between two writes made by [`Ledger::update`].
    every: Duration,
    /// Held while writing (so writes land in order) and when the last one was.
    writer: Mutex<Instant>,
    /// Where each plan index's request is: (shot, 0 for its first request, n for `more[n - 1]`).
    locate: Vec<(usize, usize)>,
}

impl Ledger {
    /// A ledger writing to `path`, starting from `manifest`, whose request for plan index `i`
    /// is at `locate[i]` (see [`crate::record::manifest::group`]).
    pub(crate) fn new(path: Utf8PathBuf, manifest: Manifest, locate: Vec<(usize, usize)>) -> Ledger {
        Ledger::with_interval(path, manifest, locate, FLUSH_EVERY)
    }

    /// A ledger whose updates rewrite the file at most once per `every`.
    pub(crate) fn with_interval(
        path: Utf8PathBuf,
        manifest: Manifest,
        locate: Vec<(usize, usize)>,
        every: Duration,
    ) -> Ledger {
        Ledger {
            path,
            manifest: Mutex::new(manifest),
            dirty: AtomicBool::new(true),
            every,
            writer: Mutex::new(Instant::now() - every),
            locate,
        }
    }

    /// Changes the record of plan index `index`'s request; the file follows within the
    /// interval (at once when the last write is older than that).
    pub(crate) fn update(&self, index: usize, f: impl FnOnce(&mut RequestRecord)) {
        {
            let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
            let rec = self.locate.get(index).and_then(|&(s, n)| {
                let shot = m.shots.get_mut(s)?;
                match n {
                    0 => Some(&mut shot.request),
                    n => shot.more.get_mut(n - 1),
                }
            });
            if let Some(rec) = rec {
                f(rec);
            }
        }
        self.touched();
    }

    /// Changes the shots' records (takes, selection) and writes them within the interval.
    pub(crate) fn update_shots(&self, f: impl FnOnce(&mut [ShotRecord])) {
        f(&mut self.manifest.lock().unwrap_or_else(|e| e.into_inner()).shots);
        self.touched();
    }

    /// Marks the manifest changed and writes it when the last write is old enough.
    fn touched(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        let due = self.writer.try_lock().is_ok_and(|last| last.elapsed() >= self.every);
        if due {
            let _ = self.flush();
        }
    }

    /// Writes the manifest if anything changed since the last write.
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        let mut last = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        // Serialized under the lock (no copy of the manifest), keys masked, written outside it.
        let bytes = self.manifest.lock().unwrap_or_else(|e| e.into_inner()).to_bytes()?;
        *last = Instant::now();
        crate::files::write_atomic(&self.path, &bytes).inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))
    }

    /// Flushes every [`FLUSH_EVERY`] until the task is dropped.
    pub(crate) async fn flush_periodically(&self) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            let _ = self.flush();
        }
    }

    /// Writes the manifest now, with `finished_at`.
    pub(crate) fn finish(&self, finished_at: String) -> std::io::Result<()> {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).finished_at = Some(finished_at);
        self.dirty.store(true, Ordering::SeqCst);
        self.flush()
    }

    /// A copy of the manifest.
    pub(crate) fn snapshot(&self) -> Manifest {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Ledger {
    /// Every exit path leaves the latest manifest on disk.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::manifest::ShotStatus;

    /// Three requests: `s0`, and `s1` with two takes (plan indices 1 and 2).
    fn manifest() -> (Manifest, Vec<(usize, usize)>) {
        let request = |i: usize| RequestRecord {
            label: format!("r{i}"),
            status: ShotStatus::Pending,
            provider: "fal".into(),
            endpoint: "e".into(),
            input: Default::default(),
            request_key: format!("k{i}"),
            frame_request_key: None,
            end_frame_request_key: None,
            request_id: None,
            estimated_usd: None,
            actual_usd: None,
            clip: None,
            submitted_at: None,
            completed_at: None,
            attempts: 0,
            error: None,
        };
        let ids = ["s0", "s1", "s1"];
        let (shots, locate) = crate::record::manifest::group((0..3).map(|i| (ids[i].to_owned(), request(i))).collect());
        let m = Manifest {
            version: crate::record::manifest::VERSION,
            storyboard: "s.yaml".into(),
            title: None,
            generator: "test".into(),
            started_at: "t".into(),
            finished_at: None,
            estimated_usd: 0.0,
            shots,
        };
        (m, locate)
    }

    #[test]
    fn updates_between_writes_reach_the_file_on_flush_finish_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::record::folder::layout::manifest(&Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap());
        let (m, locate) = manifest();
        assert_eq!(m.shots.len(), 2, "two takes of one shot are one shot");
        let ledger = Ledger::with_interval(path.clone(), m, locate, Duration::from_secs(3600));
        ledger.flush().unwrap();
        // Written just now: the next update waits for a flush instead of rewriting the file.
        ledger.update(0, |r| r.status = ShotStatus::Done);
        assert_eq!(
            Manifest::read(&path).unwrap().shots[0].request.status,
            ShotStatus::Pending
        );
        ledger.flush().unwrap();
        assert_eq!(Manifest::read(&path).unwrap().shots[0].request.status, ShotStatus::Done);

        ledger.update(1, |r| r.status = ShotStatus::Failed);
        ledger.finish("end".into()).unwrap();
        let m = Manifest::read(&path).unwrap();
        assert_eq!(
            (m.shots[1].request.status, m.finished_at.as_deref()),
            (ShotStatus::Failed, Some("end"))
        );

        ledger.update(2, |r| r.status = ShotStatus::Uncertain);
        drop(ledger);
        let m = Manifest::read(&path).unwrap();
        assert_eq!(
            m.shots[1].more[0].status,
            ShotStatus::Uncertain,
            "the second take's request"
        );
        assert_eq!(m.shots[1].request.status, ShotStatus::Failed);
        assert!(!path.with_extension("json.tmp").exists(), "no temporary left behind");
    }
}
