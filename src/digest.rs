//! sha256 digests, as lower-case hex: request keys, clip checks, uploads by content.

use camino::Utf8Path;
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

/// The sha256 of a file, hashed once per file (device and inode: a hard link of a hashed file
/// is the same file), size and modification time in this process.
pub(crate) fn file_sha256(path: &Utf8Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let Some(key) = identity(&meta) else {
        return sha256_file(path).ok();
    };
    if let Some(known) = hashed().get(&key).cloned() {
        return Some(known);
    }
    let h = sha256_file(path).ok()?;
    hashed().insert(key, h.clone());
    Some(h)
}

/// Remembers the sha256 of the file at `path`, measured as it was written (a download hashes
/// its bytes as they stream): later checks of the file, or of a hard link to it, read nothing.
pub(crate) fn remember(path: &Utf8Path, sha256: &str) {
    if let Some(key) = std::fs::metadata(path).ok().and_then(|m| identity(&m)) {
        hashed().insert(key, sha256.to_owned());
    }
}

/// Which file, in which state: device, inode, size and modification time.
type Identity = (u64, u64, u64, std::time::SystemTime);

fn identity(meta: &std::fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino(), meta.len(), meta.modified().ok()?))
}

fn hashed() -> std::sync::MutexGuard<'static, std::collections::HashMap<Identity, String>> {
    static HASHED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<Identity, String>>> =
        std::sync::LazyLock::new(Default::default);
    HASHED.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    #[test]
    fn a_hard_link_of_a_hashed_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Utf8PathBuf::from_path_buf(dir.path().join("kept.mp4")).unwrap();
        std::fs::write(&kept, b"clip bytes").unwrap();
        // A remembered digest (here deliberately not the content's) is what the link answers:
        // proof that neither path was read.
        remember(&kept, "remembered");
        let link = kept.with_file_name("shot.mp4");
        std::fs::hard_link(&kept, &link).unwrap();
        assert_eq!(file_sha256(&link).as_deref(), Some("remembered"));
        // Another file with the same bytes is hashed.
        let copy = kept.with_file_name("copy.mp4");
        std::fs::copy(&kept, &copy).unwrap();
        assert_eq!(file_sha256(&copy), Some(sha256_hex(b"clip bytes")));
    }

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
