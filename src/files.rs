//! Durable file writes: temporary names beside the target, fsync, rename, and a synced folder,
//! so readers see the old file or the new one and never a mix.

use camino::{Utf8Path, Utf8PathBuf};
use std::io::Write;

/// The temporary name of a file being written: `.<name>.part` beside it.
pub fn part_path(path: &Utf8Path) -> Utf8PathBuf {
    let name = path.file_name().unwrap_or("clip.mp4");
    path.with_file_name(format!(".{name}.part"))
}

/// Makes a rename durable.
pub fn sync_dir(path: &Utf8Path) {
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
pub fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().unwrap_or("json")));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Copies a verified clip to another name (duplicate requests, renamed shots), atomically.
pub fn copy_clip(from: &Utf8Path, to: &Utf8Path) -> std::io::Result<()> {
    if from == to {
        return Ok(());
    }
    let part = part_path(to);
    std::fs::copy(from, &part)?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, to)?;
    sync_dir(to);
    Ok(())
}
