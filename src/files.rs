//! Files, a leaf: durable writes (temporary names beside the target, fsync, rename, a synced
//! folder, so readers see the old file or the new one and never a mix), fresh temporaries,
//! the one bounded, no-follow reader ([`read_limited`], [`ReadError`]) and the id rule
//! ([`check_id`]) that ids from a storyboard and ids read back from disk both pass.

use camino::{Utf8Path, Utf8PathBuf};
use std::fs::{File, OpenOptions};
use std::io::Write;

/// Options that never follow a symbolic link at the last component (unix `O_NOFOLLOW`).
pub(crate) fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Why a file storyboard reads (the storyboard, state, `.env`) was refused: the one
/// bounded-read error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Opening or reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A link (where none is followed), a FIFO, a device or a folder.
    #[error(
        "{path} is not a regular file (a link, a FIFO or a device?): storyboard never reads through it; move it away"
    )]
    NotRegular {
        /// The file.
        path: Utf8PathBuf,
    },
    /// Larger than storyboard ever writes or a real film ever needs (a device like /dev/zero,
    /// or the wrong file).
    #[error("{path} is larger than {}, more than storyboard ever needs: is it the right file?", size(*.limit))]
    TooLarge {
        /// The file.
        path: Utf8PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8 text where text is expected.
    #[error("{path} is not UTF-8 text: storyboard reads YAML and JSON text files")]
    NotText {
        /// The file.
        path: Utf8PathBuf,
    },
}

/// A limit as people say it: whole MiB when it is some, else bytes.
fn size(bytes: u64) -> String {
    match bytes % (1 << 20) {
        0 => format!("{} MiB", bytes >> 20),
        _ => format!("{bytes} bytes"),
    }
}

/// Reads at most `limit` bytes of `input` (and one more, to tell a larger input).
pub(crate) fn read_to_limit(path: &Utf8Path, input: impl std::io::Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut input.take(limit + 1), &mut bytes).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Reads a whole file of at most `limit` bytes, refusing anything but a regular file: opened
/// without blocking (a FIFO never hangs the reader) and, unless `follow`, never through a
/// link at the last component. `None` when there is no such file.
pub(crate) fn read_limited(path: &Utf8Path, limit: u64, follow: bool) -> Result<Option<Vec<u8>>, ReadError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    let not_regular = || ReadError::NotRegular { path: path.to_owned() };
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_regular()),
        Err(source) => {
            return Err(ReadError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    read_to_limit(path, file, limit).map(Some)
}

/// A new, empty file at `path` for writing, created exclusively: whatever stood there (a stale
/// temporary, or a link planted to redirect the write) is removed first — the link itself,
/// never its target — and a link planted again in between makes the create fail.
pub(crate) fn create_fresh(path: &Utf8Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    no_follow(OpenOptions::new().write(true).create_new(true)).open(path)
}

/// The temporary name of a file being written: `.<name>.part` beside it.
pub(crate) fn part_path(path: &Utf8Path) -> Utf8PathBuf {
    let name = path.file_name().unwrap_or("clip.mp4");
    path.with_file_name(format!(".{name}.part"))
}

/// Makes a rename durable.
pub(crate) fn sync_dir(path: &Utf8Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_str().is_empty() {
            Utf8Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` so that readers see the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().unwrap_or("json")));
    replace_through(&tmp, path, |f| {
        f.write_all(bytes)?;
        f.write_all(b"\n")
    })
}

/// Copies a verified clip to another name (duplicate requests, renamed shots), atomically.
pub(crate) fn copy_clip(from: &Utf8Path, to: &Utf8Path) -> std::io::Result<()> {
    if from == to {
        return Ok(());
    }
    replace_through(&part_path(to), to, |dest| {
        std::io::copy(&mut File::open(from)?, dest).map(drop)
    })
}

/// Fills the fresh temporary `tmp` with `fill`, syncs it and renames it over `path`. On any
/// failure (a full disk) the old file stays and no half-written temporary is left beside it.
fn replace_through(
    tmp: &Utf8Path,
    path: &Utf8Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let written = create_fresh(tmp).and_then(|mut f| {
        fill(&mut f)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(tmp, path)) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    sync_dir(path);
    Ok(())
}

/// Shot ids become file names: `[A-Za-z0-9][A-Za-z0-9._-]{0,99}`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.contains('/') || id.contains('\\') || id.contains("..") {
        return Err(format!(
            "`{id}` would leave the output folder: ids become file names, so `/`, `\\` and `..` are not allowed"
        ));
    }
    let stem = id.split('.').next().unwrap_or(id).to_ascii_lowercase();
    let reserved = matches!(stem.as_str(), "con" | "prn" | "aux" | "nul")
        || (stem.len() == 4
            && (stem.starts_with("com") || stem.starts_with("lpt"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        return Err(format!(
            "`{id}` is a reserved file name on Windows (CON, PRN, AUX, NUL, COM1–9, LPT1–9, with any extension): choose another id"
        ));
    }
    let mut chars = id.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id.len() <= 100;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a valid id: ids become file names and must match [A-Za-z0-9][A-Za-z0-9._-]{{0,99}} (tip: `{{{{ var | slug }}}}` turns text into an id-safe word)"
        ))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_bounded_reader_refuses_links_fifos_devices_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        std::fs::write(dir.join("state"), b"12345").unwrap();
        assert_eq!(read_limited(&dir.join("state"), 5, false).unwrap().unwrap(), b"12345");
        assert!(matches!(
            read_limited(&dir.join("state"), 4, false),
            Err(ReadError::TooLarge { .. })
        ));
        assert!(read_limited(&dir.join("none"), 5, false).unwrap().is_none());
        std::os::unix::fs::symlink(dir.join("state"), dir.join("link")).unwrap();
        assert!(matches!(
            read_limited(&dir.join("link"), 5, false),
            Err(ReadError::NotRegular { .. })
        ));
        assert!(
            read_limited(&dir.join("link"), 5, true).unwrap().is_some(),
            "followed when asked"
        );
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        assert!(matches!(
            read_limited(&dir.join("zero"), 5, true),
            Err(ReadError::NotRegular { .. })
        ));
        let fifo = std::ffi::CString::new(dir.join("fifo").as_str()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_limited(&dir.join("fifo"), 5, true),
            Err(ReadError::NotRegular { .. })
        ));
    }
}
