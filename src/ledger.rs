//! The ledger: `manifest.json` while a render runs. Shot records change as shots settle; the
//! file is rewritten atomically at most every [`FLUSH_EVERY`] (and at the end, and when the
//! ledger is dropped on any exit path), so bookkeeping stays linear in the number of shots.
//! The journal, not the manifest, is the crash-safe record: a crash leaves the last manifest
//! written, which is always whole.

use camino::Utf8PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::manifest::{Manifest, ShotRecord};

/// The longest a settled shot waits before the manifest on disk shows it.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The manifest being written.
pub struct Ledger {
    path: Utf8PathBuf,
    manifest: Mutex<Manifest>,
    dirty: AtomicBool,
    /// Held while writing (so writes land in order) and when the last one was.
    writer: Mutex<Instant>,
}

impl Ledger {
    /// A ledger writing to `path`, starting from `manifest`.
    pub fn new(path: Utf8PathBuf, manifest: Manifest) -> Ledger {
        Ledger {
            path,
            manifest: Mutex::new(manifest),
            dirty: AtomicBool::new(true),
            writer: Mutex::new(Instant::now() - FLUSH_EVERY),
        }
    }

    /// Changes a shot's record; the file follows within [`FLUSH_EVERY`].
    pub fn update(&self, index: usize, f: impl FnOnce(&mut ShotRecord)) {
        {
            let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rec) = m.shots.get_mut(index) {
                f(rec);
            }
        }
        self.dirty.store(true, Ordering::SeqCst);
        let due = self.writer.try_lock().is_ok_and(|last| last.elapsed() >= FLUSH_EVERY);
        if due {
            let _ = self.flush();
        }
    }

    /// Writes the manifest if anything changed since the last write.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut last = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let snapshot = self.snapshot();
        *last = Instant::now();
        snapshot
            .write(&self.path)
            .inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))
    }

    /// Flushes every [`FLUSH_EVERY`] until the task is dropped.
    pub async fn flush_periodically(&self) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            let _ = self.flush();
        }
    }

    /// Writes the manifest now, with `finished_at`.
    pub fn finish(&self, finished_at: String) -> std::io::Result<()> {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).finished_at = Some(finished_at);
        self.dirty.store(true, Ordering::SeqCst);
        self.flush()
    }

    /// A copy of the manifest.
    pub fn snapshot(&self) -> Manifest {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Ledger {
    /// Every exit path leaves the latest manifest on disk.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
