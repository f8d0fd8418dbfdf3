//! The output folder: one render at a time (an advisory lock the OS releases when the holder
//! dies), one storyboard's (`.storyboard/owner`), and no file in it that storyboard did not
//! write is ever overwritten.

use camino::{Utf8Path, Utf8PathBuf};
use std::io::{Read, Write};

use crate::error::{Error, UsageError};
use crate::journal::History;
use crate::plan::Plan;

/// The folder's state files, created and checked (not a planted link).
pub fn prepare(out: &Utf8Path) -> Result<(), Error> {
    let state = out.join(".storyboard");
    let failed = |source| Error::Write {
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
pub fn lock(out: &Utf8Path) -> Result<std::fs::File, Error> {
    let path = out.join(".storyboard").join("lock");
    let mut f = crate::files::no_follow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .open(&path)
    .map_err(|source| Error::Write {
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
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Err(Error::Locked {
                out: out.to_owned(),
                holder: if holder.is_empty() { "unknown" } else { holder }.to_owned(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Write { path, source }),
    }
}

/// Claims the folder for `storyboard` (its canonical path, or `<stdin>`), or refuses when
/// another storyboard renders into it: their clips would overwrite each other.
pub fn claim(out: &Utf8Path, storyboard: &Utf8Path) -> Result<(), Error> {
    let me = if storyboard.as_str() == "-" {
        Utf8PathBuf::from("<stdin>")
    } else {
        storyboard.canonicalize_utf8().unwrap_or_else(|_| storyboard.to_owned())
    };
    let path = out.join(".storyboard").join("owner");
    let mut owner = String::new();
    if let Ok(mut f) = crate::files::no_follow(std::fs::OpenOptions::new().read(true)).open(&path) {
        let _ = f.read_to_string(&mut owner);
    }
    let owner = owner.trim();
    if owner.is_empty() {
        return crate::files::write_atomic(&path, me.as_str().as_bytes())
            .map_err(|source| Error::Write { path, source });
    }
    if owner != me.as_str() {
        return Err(UsageError::FolderOwned {
            out: out.to_owned(),
            owner: owner.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// Refuses when a clip storyboard is about to write stands in the folder and is not one the
/// journal says it wrote — a recorded clip's content, or the file of a shot it submitted —
/// so a user's own `a.mp4` is never overwritten.
pub fn check_foreign(out: &Utf8Path, history: &History, clip_names: impl Iterator<Item = String>) -> Result<(), Error> {
    for name in clip_names {
        let path = out.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // Ours: the content of a clip the journal recorded (under this name, or copied to it
        // from a shot that sent the same request).
        let requested = name
            .strip_suffix(".mp4")
            .is_some_and(|id| history.requested.contains(id));
        let ours = meta.is_file()
            && (requested || crate::download::file_sha256(&path).is_some_and(|sha| history.clip_shas.contains(&sha)));
        if !ours {
            return Err(UsageError::ForeignFile(path).into());
        }
    }
    Ok(())
}

/// The clips a render may write under shots' names: every shot's `<id>.mp4` (its selected
/// take, put in place at the end of the render).
pub fn clip_names(plan: &Plan) -> impl Iterator<Item = String> + '_ {
    let mut seen = std::collections::HashSet::new();
    plan.shots
        .iter()
        .filter(move |s| seen.insert(s.shot.as_str()))
        .map(|s| format!("{}.mp4", s.shot))
}
