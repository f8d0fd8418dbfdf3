//! One render per output folder: an advisory lock (`.storyboard/lock`) that the OS releases
//! when the holder dies; the holder writes its process id into it for the message.

use camino::Utf8Path;
use std::io::Write;

use crate::error::Error;

/// Takes the folder's lock, or says which process holds it.
pub fn acquire(out: &Utf8Path) -> Result<std::fs::File, Error> {
    let path = out.join(".storyboard").join("lock");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
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
