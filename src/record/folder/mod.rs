//! The owner of the output folder: its layout ([`layout`], the only place that spells a path
//! in it), the [`Folder`] a command opens once (journal read once, refreshed explicitly;
//! picks and manifest read through it, bounded and never through a link), its lock (one
//! render at a time; the OS releases it when the holder dies), its owner file (one
//! storyboard's), the take store ([`keep`], [`intact_clip`]) and the record of written files
//! ([`Written`]): no file in the folder that storyboard did not write is ever overwritten.

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

use crate::record::journal::{History, Journal};
use crate::record::manifest::Manifest;
use crate::record::takes::{PickError, Picks};

pub(crate) mod layout;

/// The output folder as one command opened it: its journal read once (a command that needs a
/// newer one — a render after taking the lock, after reconciling, after running — refreshes it
/// explicitly), its picks and manifest read through here, each bounded and never through a link.
pub(crate) struct Folder {
    out: Utf8PathBuf,
    /// The folder's lock, once [`Folder::hold`] took it (released when the folder is dropped).
    lock: Option<std::fs::File>,
    /// Read when first asked for (a command that never needs it never reads it).
    history: std::cell::OnceCell<History>,
}

impl Folder {
    /// Opens the folder (its journal is read when first asked for; missing: empty).
    pub(crate) fn open(out: &Utf8Path) -> Folder {
        Folder {
            out: out.to_owned(),
            lock: None,
            history: std::cell::OnceCell::new(),
        }
    }

    /// Holds the folder for writing: its state folder made (never a planted link) and its lock
    /// taken until the folder is dropped; the journal is read under the lock.
    pub(crate) fn hold(&mut self) -> Result<(), FolderError> {
        prepare(&self.out)?;
        self.lock = Some(lock(&self.out)?);
        self.history = std::cell::OnceCell::new();
        Ok(())
    }

    /// The journal opened for appending (never through a planted link).
    pub(crate) fn journal(&self) -> Result<Journal, FolderError> {
        open_journal(&self.out)
    }

    /// The output folder.
    pub(crate) fn out(&self) -> &Utf8Path {
        &self.out
    }

    /// The journal as last read.
    pub(crate) fn history(&self) -> &History {
        self.history.get_or_init(|| read_journal(&self.out, "read"))
    }

    /// The journal as last read, handed over (a later [`Folder::history`] reads it again).
    pub(crate) fn take_history(&mut self) -> History {
        self.history.take().unwrap_or_else(|| read_journal(&self.out, "read"))
    }

    /// Reads the journal again (another process, or this one's runner, appended to it) and
    /// hands it over.
    pub(crate) fn refreshed(&mut self) -> History {
        self.refresh();
        self.take_history()
    }

    /// Reads the journal again into the folder (see [`Folder::refreshed`]).
    pub(crate) fn refresh(&mut self) {
        self.history = read_journal(&self.out, "refreshed").into();
    }

    /// The folder as it is now, for a long-lived reader (the review server's each request).
    pub(crate) fn reopen(out: &Utf8Path) -> Folder {
        Folder {
            out: out.to_owned(),
            lock: None,
            history: read_journal(out, "refreshed").into(),
        }
    }

    /// The journal as it is now, for a long-lived reader (the review server, a render's end)
    /// that holds no [`Folder`].
    pub(crate) fn history_now(out: &Utf8Path) -> History {
        read_journal(out, "refreshed")
    }

    /// The picks (none yet: empty); a corrupt picks file is an error naming it.
    pub(crate) fn picks(&self) -> Result<Picks, PickError> {
        Picks::read(&self.out)
    }

    /// The manifest of the last render, if there is a readable one.
    pub(crate) fn manifest(&self) -> Option<Manifest> {
        Manifest::read(&layout::manifest(&self.out))
    }
}

/// The journal's history, unless it cannot be read at all (a link, a device, too large): then a
/// render stops before anything is sent, since what was already paid for is unknown.
pub(crate) fn readable(history: History) -> Result<History, FolderError> {
    match &history.unreadable {
        Some(why) => Err(FolderError::State(format!(
            "{why} (the journal: without it storyboard cannot tell what was paid for; nothing was sent)"
        ))),
        None => Ok(history),
    }
}

/// The folder's journal opened for appending.
pub(crate) fn open_journal(out: &Utf8Path) -> Result<Journal, FolderError> {
    let path = layout::journal(out);
    Journal::open(&path).map_err(|source| FolderError::Write { path, source })
}

/// Reads the journal; with `STORYBOARD_DEBUG_STATE_READS` set, says so on stderr (the tests
/// count the reads of each command: one, plus the refreshes a render names).
fn read_journal(out: &Utf8Path, how: &str) -> History {
    if std::env::var_os("STORYBOARD_DEBUG_STATE_READS").is_some() {
        eprintln!("debug: journal {how}");
    }
    Journal::read(&layout::journal(out))
}

/// Why the folder cannot be used (the command layer turns each into its user-facing error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FolderError {
    /// A state file or folder cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the folder's lock.
    #[error("another render (process {holder}) is using {out}")]
    Locked {
        /// The output folder.
        out: Utf8PathBuf,
        /// The holder's process id as it wrote it.
        holder: String,
    },
    /// Another storyboard owns the folder.
    #[error("{out} holds the renders of another storyboard ({owner})")]
    Owned {
        /// The output folder.
        out: Utf8PathBuf,
        /// The storyboard that owns it.
        owner: String,
    },
    /// A file storyboard would replace is the user's.
    #[error("{0} exists and was not written by storyboard")]
    Foreign(Utf8PathBuf),
    /// A state file cannot be trusted (a link, a device, too large).
    #[error("{0}")]
    State(String),
}

/// The folder's state files, created and checked (not a planted link).
pub(crate) fn prepare(out: &Utf8Path) -> Result<(), FolderError> {
    let state = layout::state(out);
    let failed = |source| FolderError::Write {
        path: state.clone(),
        source,
    };
    std::fs::create_dir_all(&state).map_err(failed)?;
    match std::fs::symlink_metadata(&state) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(failed(std::io::Error::other("it is not a folder (a link?)"))),
        Err(e) => Err(failed(e)),
    }
}

/// Takes the folder's lock, or says which process holds it.
pub(crate) fn lock(out: &Utf8Path) -> Result<std::fs::File, FolderError> {
    let path = layout::lock(out);
    let mut f = crate::files::no_follow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .open(&path)
    .map_err(|source| FolderError::Write {
        path: path.clone(),
        source,
    })?;
    match f.try_lock() {
        Ok(()) => {
            let _ = f.set_len(0);
            let _ = write!(f, "{}", std::process::id());
            let _ = f.sync_all();
            Ok(f)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = read_small(&path);
            let holder = holder.trim();
            Err(FolderError::Locked {
                out: out.to_owned(),
                holder: if holder.is_empty() { "unknown" } else { holder }.to_owned(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(FolderError::Write { path, source }),
    }
}

/// Claims the folder for `storyboard` (its canonical path, or `<stdin>`), or refuses when
/// another storyboard renders into it: their clips would overwrite each other.
pub(crate) fn claim(out: &Utf8Path, storyboard: &Utf8Path) -> Result<(), FolderError> {
    let me = if storyboard.as_str() == "-" {
        Utf8PathBuf::from("<stdin>")
    } else {
        storyboard.canonicalize_utf8().unwrap_or_else(|_| storyboard.to_owned())
    };
    let path = layout::owner(out);
    let owner = match crate::files::read_limited(&path, MAX_SMALL_BYTES, false) {
        Ok(bytes) => String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned(),
        Err(e) => return Err(FolderError::State(e.to_string())),
    };
    let owner = owner.trim();
    if owner.is_empty() {
        return crate::files::write_atomic(&path, me.as_str().as_bytes())
            .map_err(|source| FolderError::Write { path, source });
    }
    if owner != me.as_str() {
        return Err(FolderError::Owned {
            out: out.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(())
}

/// Refuses when a file a render is about to write stands in the folder and storyboard did not
/// write it: `manifest.json` (unless it is a storyboard manifest) and each shot's `<id>.mp4`
/// (unless its content is a clip the journal recorded or what storyboard put there), so a
/// user's own files are never overwritten.
pub(crate) fn check_foreign(
    out: &Utf8Path,
    history: &History,
    clip_names: impl Iterator<Item = String>,
) -> Result<(), FolderError> {
    if !manifest_is_ours(out) {
        return Err(FolderError::Foreign(layout::manifest(out)));
    }
    let written = Written::read(out);
    for name in clip_names {
        if !written.replaceable(out, &name, Some(history)) {
            return Err(FolderError::Foreign(out.join(&name)));
        }
    }
    Ok(())
}

/// Whether `manifest.json` may be rewritten: absent, recorded as written, or a storyboard
/// manifest (a render stopped between two of its rewrites leaves one not yet recorded).
fn manifest_is_ours(out: &Utf8Path) -> bool {
    let written = Written::read(out);
    let path = layout::manifest(out);
    std::fs::symlink_metadata(&path).is_err()
        || written.recorded(out, layout::MANIFEST)
        || crate::files::read_limited(&path, MAX_STATE_BYTES, false)
            .ok()
            .flatten()
            .is_some_and(|b| serde_json::from_slice::<crate::record::manifest::Manifest>(&b).is_ok())
}

/// The longest state file read back (manifest, picks, the record of written files): far
/// beyond any film's.
pub(crate) const MAX_STATE_BYTES: u64 = 64 << 20;

/// The longest small state file (owner, lock).
pub(crate) const MAX_SMALL_BYTES: u64 = 64 << 10;

/// A state file's bytes, bounded and never through a link; `None` when absent or refused.
pub(crate) fn read_state(path: &Utf8Path) -> Option<Vec<u8>> {
    crate::files::read_limited(path, MAX_STATE_BYTES, false).ok().flatten()
}

/// A small state file's text; empty when it cannot be read.
fn read_small(path: &Utf8Path) -> String {
    let bytes = crate::files::read_limited(path, MAX_SMALL_BYTES, false).ok().flatten();
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

/// `.storyboard/written.json`: the files storyboard wrote in the output folder outside its
/// state folder (clips at `<id>.mp4`, the cut, timeline, review page, manifest), by content.
/// A file whose content differs from what storyboard wrote there is the user's: never
/// replaced or removed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Written {
    /// File name (in the output folder) → sha256 of what storyboard wrote.
    files: BTreeMap<String, String>,
    /// No record yet: a folder last rendered by a version that kept none.
    #[serde(skip)]
    legacy: bool,
}

impl Written {
    fn path(out: &Utf8Path) -> Utf8PathBuf {
        layout::written(out)
    }

    /// The record (unreadable: empty, so nothing counts as storyboard's).
    pub(crate) fn read(out: &Utf8Path) -> Written {
        match crate::files::read_limited(&Written::path(out), MAX_STATE_BYTES, false) {
            Ok(None) => Written {
                legacy: true,
                ..Written::default()
            },
            Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(_) => Written::default(),
        }
    }

    /// Whether `name` may be replaced or removed: nothing stands there, or a regular file whose
    /// content storyboard wrote there (or, with the journal, a clip it recorded).
    pub(crate) fn replaceable(&self, out: &Utf8Path, name: &str, history: Option<&History>) -> bool {
        let path = out.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return true;
        };
        let Some(sha) = meta.is_file().then(|| crate::digest::file_sha256(&path)).flatten() else {
            return false;
        };
        // A folder from before the record: its cut, timeline and review page (asked without
        // the journal) are taken as storyboard's once, then recorded.
        let legacy = self.legacy && history.is_none();
        legacy || self.files.get(name) == Some(&sha) || history.is_some_and(|h| h.clip_shas.contains(&sha))
    }

    /// The sha256 of what storyboard last wrote at `name`, when it recorded one.
    pub(crate) fn content(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// Whether `name` holds what storyboard recorded writing there (no legacy allowance).
    fn recorded(&self, out: &Utf8Path, name: &str) -> bool {
        let path = out.join(name);
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
            && crate::digest::file_sha256(&path).is_some_and(|sha| self.files.get(name) == Some(&sha))
    }

    /// Records the content of `name` as written by storyboard (none there: forgets it).
    pub(crate) fn record(out: &Utf8Path, names: &[&str]) -> std::io::Result<()> {
        Written::read(out).record_all(out, names.iter().copied())
    }

    /// Records the content of each of `names` in this record and writes it (once; nothing when
    /// `names` is empty).
    pub(crate) fn record_all<'a>(
        &mut self,
        out: &Utf8Path,
        names: impl IntoIterator<Item = &'a str>,
    ) -> std::io::Result<()> {
        let mut any = false;
        for name in names {
            let path = out.join(name);
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            match regular.then(|| crate::digest::file_sha256(&path)).flatten() {
                Some(sha) => self.files.insert(name.to_owned(), sha),
                None => self.files.remove(name),
            };
            any = true;
        }
        if !any {
            return Ok(());
        }
        self.legacy = false;
        let bytes = serde_json::to_vec_pretty(&*self).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(layout::state(out))?;
        crate::files::write_atomic(&Written::path(out), &bytes)
    }
}

/// Keeps a verified clip (`out/path`, content `sha256`) in the output folder's store: a hard
/// link where the file system allows, else a copy. Nothing is done when it is kept already.
pub(crate) fn keep(out: &Utf8Path, path: &Utf8Path, sha256: &str) -> std::io::Result<()> {
    let kept = out.join(layout::kept_clip(sha256));
    if std::fs::symlink_metadata(&kept).is_ok() {
        return Ok(());
    }
    if let Some(dir) = kept.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(out.join(path), &kept) {
        Ok(()) => Ok(()),
        Err(_) => crate::files::copy_clip(&out.join(path), &kept),
    }
}

/// The clip a journal's Done record left, if it is still on disk and intact.
pub(crate) fn intact_clip(
    out: &Utf8Path,
    state: Option<&crate::record::journal::KeyState>,
) -> Option<crate::record::manifest::ClipRecord> {
    let Some(crate::record::journal::KeyState::Done { clip, .. }) = state else {
        return None;
    };
    if crate::digest::verify(&out.join(&clip.path), clip.bytes, &clip.sha256) {
        return Some(clip.clone());
    }
    // Replaced under its name by a later render: the kept copy (reverting an edit is free).
    let kept = layout::kept_clip(&clip.sha256);
    crate::digest::verify(&out.join(&kept), clip.bytes, &clip.sha256).then(|| crate::record::manifest::ClipRecord {
        path: kept,
        ..clip.clone()
    })
}

/// The clips a render may write under shots' names: every shot's `<id>.mp4` (its selected
/// take, put in place at the end of the render).
pub(crate) fn clip_names<'a>(shots: impl Iterator<Item = &'a str>) -> impl Iterator<Item = String> {
    let mut seen = std::collections::HashSet::new();
    shots.filter(move |s| seen.insert(*s)).map(|s| format!("{s}.mp4"))
}
