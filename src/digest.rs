//! sha256 digests, as lower-case hex: request keys, clip checks, uploads by content.

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

/// sha256 of a file's content, hex.
pub(crate) fn sha256_file(path: &Utf8Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

/// sha256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether the file at `path` has this size and sha256.
///
/// A render asks this about the same clip several times (the verdict before and after taking
/// the folder lock, the manifest, the shots chained to it): a file already hashed with this
/// size and modification time is not read again.
pub(crate) fn verify(path: &Utf8Path, bytes: u64, sha256: &str) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes => file_sha256(path).is_some_and(|h| h == sha256),
        _ => false,
    }
}

/// The sha256 of a file, hashed once per path, size and modification time in this process.
pub(crate) fn file_sha256(path: &Utf8Path) -> Option<String> {
    type Seen = std::collections::HashMap<(Utf8PathBuf, u64, std::time::SystemTime), String>;
    static HASHED: std::sync::Mutex<Option<Seen>> = std::sync::Mutex::new(None);
    let meta = std::fs::metadata(path).ok()?;
    let Ok(modified) = meta.modified() else {
        return sha256_file(path).ok();
    };
    let key = (path.to_owned(), meta.len(), modified);
    let known = HASHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .get(&key)
        .cloned();
    if known.is_some() {
        return known;
    }
    let h = sha256_file(path).ok()?;
    HASHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .insert(key, h.clone());
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rereads_a_file_that_changed_since_it_was_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("clip.mp4")).unwrap();
        std::fs::write(&path, b"first").unwrap();
        let sha = sha256_hex(b"first");
        assert!(verify(&path, 5, &sha));
        assert!(verify(&path, 5, &sha), "asked again");
        assert!(!verify(&path, 5, &sha256_hex(b"other")));
        // Same size, new content, a later modification time: hashed again.
        std::fs::write(&path, b"secnd").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        assert!(!verify(&path, 5, &sha));
        assert!(verify(&path, 5, &sha256_hex(b"secnd")));
        assert!(!verify(&path, 6, &sha), "size must match");
    }
}
