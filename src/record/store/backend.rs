//! The store's four operations over `object_store`: read with a version, create-if-absent,
//! compare-and-swap on a version, list. S3 does the conditional writes itself (`If-None-Match:
//! *`, `If-Match: <etag>`); a shared folder (`file://`) creates by hard link and swaps under an
//! advisory lock (`flock`, released by the kernel when a process dies), because
//! `LocalFileSystem` has no `PutMode::Update`.

use bytes::Bytes;
use camino::{Utf8Path, Utf8PathBuf};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::StoreError;

/// An object's version: what a compare-and-swap must still find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

impl Version {
    fn update(&self) -> UpdateVersion {
        UpdateVersion {
            e_tag: self.e_tag.clone(),
            version: self.version.clone(),
        }
    }
}

/// What a conditional write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; its new version.
    Done(Version),
    /// Create: the object exists. Update: its version moved on.
    Lost,
}

/// One object listed.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Below the store's prefix (`takes/…`).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was last written (the store's clock).
    pub modified: std::time::SystemTime,
}

/// A store at a URL's prefix.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    /// `file://`: the folder, for the swap lock.
    local: Option<Utf8PathBuf>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({} at {})", self.inner, self.prefix)
    }
}

impl Backend {
    /// Over `inner` at `prefix`; `local` is the folder of a `file://` store.
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: Path, local: Option<Utf8PathBuf>) -> Backend {
        Backend { inner, prefix, local }
    }

    fn path(&self, name: &str) -> Path {
        name.split('/')
            .fold(self.prefix.clone(), |p, part| p.clone().join(part))
    }

    fn failed(&self, name: &str, what: &'static str, e: object_store::Error) -> StoreError {
        StoreError::Backend {
            object: name.to_owned(),
            what,
            why: e.to_string(),
        }
    }

    /// The object and its version; `None` when there is none.
    pub async fn get(&self, name: &str) -> Result<Option<(Bytes, Version)>, StoreError> {
        let got = match self.inner.get(&self.path(name)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed(name, "read", e)),
        };
        let version = Version {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got.bytes().await.map_err(|e| self.failed(name, "read", e))?;
        match self.local {
            Some(_) => Ok(Some((bytes.clone(), content_version(&bytes)))),
            None => Ok(Some((bytes, version))),
        }
    }

    /// Whether the object exists, and its size.
    pub async fn size(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.inner.head(&self.path(name)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(name, "read", e)),
        }
    }

    /// Creates the object unless it exists.
    pub async fn create(&self, name: &str, bytes: Bytes) -> Result<Written, StoreError> {
        self.put(name, bytes, PutMode::Create).await
    }

    /// Replaces the object if it is still at `version`.
    pub async fn update(&self, name: &str, bytes: Bytes, version: &Version) -> Result<Written, StoreError> {
        let Some(dir) = self.local.clone() else {
            return self.put(name, bytes, PutMode::Update(version.update())).await;
        };
        let (name, version) = (name.to_owned(), version.clone());
        let swap = move || swap_in_folder(&dir, &name, &bytes, &version);
        let dir = self.local.clone().unwrap_or_default();
        tokio::task::spawn_blocking(swap)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            .map_err(|source| StoreError::Io { path: dir, source })
    }

    async fn put(&self, name: &str, bytes: Bytes, mode: PutMode) -> Result<Written, StoreError> {
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let local = self.local.is_some().then(|| content_version(&bytes));
        match self
            .inner
            .put_opts(&self.path(name), PutPayload::from(bytes), opts)
            .await
        {
            Ok(r) => Ok(Written::Done(local.unwrap_or(Version {
                e_tag: r.e_tag,
                version: r.version,
            }))),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(Written::Lost)
            }
            Err(e) => Err(self.failed(name, "write", e)),
        }
    }

    /// Removes the object (gone already: fine).
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(name, "delete", e)),
        }
    }

    /// Every object below `dir` (`takes`, `claims`, …).
    pub async fn list(&self, dir: &str) -> Result<Vec<Listed>, StoreError> {
        let base = self.path(dir);
        let skip = self.prefix.parts().count();
        let mut out = Vec::new();
        let mut stream = self.inner.list(Some(&base));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.failed(dir, "list", e))?;
            let name: Vec<String> = meta
                .location
                .parts()
                .skip(skip)
                .map(|p| p.as_ref().to_owned())
                .collect();
            out.push(Listed {
                name: name.join("/"),
                bytes: meta.size,
                modified: meta.last_modified.into(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Where a streamed upload is staged before its conditional copy (`uploads/…`).
    fn staging(&self, name: &str) -> String {
        format!("uploads/{}-{:016x}", name.replace('/', "_"), fastrand::u64(..))
    }

    fn io(path: &Utf8Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    }

    /// Copies a local file into the store, create-if-absent (a clip is never replaced),
    /// streamed and checked against `sha256` as it goes: a file of at most [`CHUNK`] bytes is
    /// one conditional PUT (one chunk in memory); a larger one streams in parts of [`CHUNK`]
    /// to `uploads/…` (a multipart upload cannot be conditional on S3's PUT path) and is then
    /// copied to `name` only if absent (S3: a one-part copy completed with `If-None-Match: *`;
    /// a shared folder: a hard link), the staged object removed either way.
    pub async fn create_from_file(&self, name: &str, file: &Utf8Path, sha256: &str) -> Result<Written, StoreError> {
        let mut f = tokio::fs::File::open(file).await.map_err(Self::io(file))?;
        let size = f.metadata().await.map_err(Self::io(file))?.len();
        if size <= CHUNK as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            f.read_to_end(&mut bytes).await.map_err(Self::io(file))?;
            if crate::digest::sha256_hex(&bytes) != sha256 {
                return Err(changed(file));
            }
            return self.create(name, Bytes::from(bytes)).await;
        }
        let staged = self.staging(name);
        let uploaded = self.upload(&staged, f, file, sha256).await;
        let copied = match uploaded {
            Ok(()) => self.copy_if_absent(&staged, name).await,
            Err(e) => Err(e),
        };
        self.delete(&staged).await?;
        copied
    }

    /// Streams `f` to `staged` in parts, hashing as it reads; a different sha256 aborts it.
    async fn upload(
        &self,
        staged: &str,
        mut f: tokio::fs::File,
        file: &Utf8Path,
        sha256: &str,
    ) -> Result<(), StoreError> {
        let upload = self
            .inner
            .put_multipart(&self.path(staged))
            .await
            .map_err(|e| self.failed(staged, "write", e))?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match f.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = parts.abort().await;
                    return Err(Self::io(file)(e));
                }
            };
            hash.update(&buf[..n]);
            parts.write(&buf[..n]);
            if let Err(e) = parts.wait_for_capacity(2).await {
                let _ = parts.abort().await;
                return Err(self.failed(staged, "write", e));
            }
        }
        if crate::digest::hex(&hash.finalize()) != sha256 {
            let _ = parts.abort().await;
            return Err(changed(file));
        }
        parts.finish().await.map_err(|e| self.failed(staged, "write", e))?;
        Ok(())
    }

    async fn copy_if_absent(&self, from: &str, to: &str) -> Result<Written, StoreError> {
        match self.inner.copy_if_not_exists(&self.path(from), &self.path(to)).await {
            Ok(()) => Ok(Written::Done(Version::default())),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(Written::Lost)
            }
            Err(e) => Err(self.failed(to, "write", e)),
        }
    }

    /// Streams the object to `dest` through `.<dest>.part`, checked by size and sha256 as it
    /// goes, renamed into place only when both match. `false` (and no file, not even the
    /// temporary) when the object is absent or is not those bytes.
    pub async fn get_to_file(&self, name: &str, dest: &Utf8Path, bytes: u64, sha256: &str) -> Result<bool, StoreError> {
        let got = match self.inner.get(&self.path(name)).await {
            Ok(g) if g.meta.size == bytes => g,
            Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.failed(name, "read", e)),
        };
        let part = crate::files::part_path(dest);
        let file = crate::files::create_fresh(&part).map_err(Self::io(&part))?;
        let streamed = self
            .stream_into(got.into_stream(), tokio::fs::File::from_std(file), name, &part)
            .await;
        match streamed {
            Ok((n, hash)) if n == bytes && hash == sha256 => {
                std::fs::rename(&part, dest).map_err(Self::io(dest))?;
                crate::files::sync_dir(dest);
                Ok(true)
            }
            other => {
                let _ = std::fs::remove_file(&part);
                other.map(|_| false)
            }
        }
    }

    /// Writes the stream to `file`, hashing it; its length and sha256.
    async fn stream_into(
        &self,
        mut stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
        mut file: tokio::fs::File,
        name: &str,
        part: &Utf8Path,
    ) -> Result<(u64, String), StoreError> {
        let (mut n, mut hash) = (0u64, Sha256::new());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(name, "read", e))?;
            hash.update(&chunk);
            n += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(Self::io(part))?;
        }
        file.sync_all().await.map_err(Self::io(part))?;
        Ok((n, crate::digest::hex(&hash.finalize())))
    }
}

/// Clips up to this size go to the store in one conditional PUT (the only create-if-absent
/// write of new bytes S3 offers; this much is held in memory); larger ones stream in parts of
/// this size (S3's parts must be at least 5 MiB).
pub(crate) const CHUNK: usize = 8 << 20;

fn changed(file: &Utf8Path) -> StoreError {
    StoreError::Io {
        path: file.to_owned(),
        source: std::io::Error::other("the clip changed while it was being published: not the bytes its name says"),
    }
}

/// A shared folder's version of an object: its content's sha256 (a file's inode and coarse
/// mtime repeat too easily to tell writes apart; writers make every write's content unique).
fn content_version(bytes: &[u8]) -> Version {
    Version {
        e_tag: Some(crate::digest::sha256_hex(bytes)),
        version: None,
    }
}

/// A compare-and-swap in a shared folder, under the object's lock: read, compare, write a
/// temporary file, rename it over the object.
fn swap_in_folder(dir: &Utf8Path, name: &str, bytes: &[u8], version: &Version) -> std::io::Result<Written> {
    let _lock = SwapLock::take(dir, name)?;
    let path = dir.join(name);
    let now = match std::fs::read(&path) {
        Ok(now) => now,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::Lost),
        Err(e) => return Err(e),
    };
    if content_version(&now) != *version {
        return Ok(Written::Lost);
    }
    let tmp = dir.join(".locks").join(format!("{}.tmp", name.replace('/', "_")));
    let mut file = crate::files::create_fresh(&tmp)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    crate::files::sync_dir(&path);
    Ok(Written::Done(content_version(bytes)))
}

/// The `file://` store's lock for one object's swap: `flock` on `.locks/<name>.lock`.
struct SwapLock(std::fs::File);

impl SwapLock {
    fn take(dir: &Utf8Path, name: &str) -> std::io::Result<SwapLock> {
        let locks = dir.join(".locks");
        std::fs::create_dir_all(&locks)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locks.join(format!("{}.lock", name.replace('/', "_"))))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock(2) on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(SwapLock(file))
    }
}

impl Drop for SwapLock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock(2) on the descriptor this lock owns.
            unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}
