//! Media inputs: image and video URLs or local files (checked, hashed once), motion control's
//! reference, and voice samples.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use super::resolve::Resolved;
use super::{Chain, Invalid, LocalFile, Planner, ShotCtx};
use crate::digest::sha256_file;
use crate::facts::catalog;
use crate::storyboard::{ImageSpec, Motion};

/// Image inputs: extensions and the largest size (`../shared/reference/protocol.md` §2: Kling images ≤ 10 MB).
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];
const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Reference videos for motion control: mp4/mov, ≤ 100 MB (`../shared/reference/protocol.md` §2).
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov"];
/// Kling takes videos up to 100 MB (`../shared/reference/protocol.md` §2); above 90 MiB they go up in parts, as
/// fal's own JS client sends them. Voice samples are uploaded the same way.
const UPLOAD_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Voice samples for `create-voice` (`../shared/reference/protocol.md` §3: ".mp3/.wav audio or .mp4/.mov video").
const SAMPLE_EXTENSIONS: &[&str] = &["wav", "mp3", "m4a", "mp4", "mov"];

/// Where an input goes: the storyboard field it is written at (problems name it) and the
/// body field (a name, or a JSON pointer into a list).
#[derive(Clone, Copy)]
pub(super) struct Slot<'f> {
    pub(super) field: &'f str,
    pub(super) body: &'f str,
}

/// An image, video or sample input: a URL, or a local file (uploaded once by content).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    Url(String),
    Local {
        written: String,
        path: Utf8PathBuf,
        sha256: String,
    },
}

impl Planner<'_> {
    /// A voice sample: a local file checked like every other (wav/mp3/m4a or mp4/mov, of
    /// audio content), 5–30 s when ffprobe is installed. Returns the resolved path and its sha256.
    pub(super) fn check_sample(&mut self, written: &str) -> Result<(Utf8PathBuf, String), Invalid> {
        let (path, sha) = self.local_file(written, Media::Audio)?;
        if let Some(secs) = crate::media::probe_duration(&path)
            && !(5.0..=30.0).contains(&secs)
        {
            return Err(Invalid(format!(
                "sample `{written}` is {secs:.1} s long; Kling needs 5–30 s of clean speech"
            )));
        }
        Ok((path, sha))
    }

    /// Motion control's image and reference video, orientation and sound; the seconds of the
    /// output (the reference video's, bounded by what the orientation allows).
    pub(super) fn motion(&mut self, at: ShotCtx<'_>, m: &Motion, r: &mut Resolved) -> f64 {
        let image = Slot {
            field: "motion.image",
            body: "image_url",
        };
        self.media(at, image, &m.image, Media::Image, r);
        let video = Slot {
            field: "motion.video",
            body: "video_url",
        };
        self.media(at, video, &m.video, Media::Video, r);
        if !catalog::ORIENTATIONS.contains(&m.orientation.as_str()) {
            let msg = format!("`{}` is not allowed (allowed: image, video)", m.orientation);
            self.problem(at, "motion.orientation", msg);
        }
        r.body.insert("character_orientation".into(), json!(m.orientation));
        r.body.insert(
            "keep_original_sound".into(),
            json!(m.keep_original_sound.unwrap_or(true)),
        );
        let max = catalog::motion_max_seconds(&m.orientation);
        match m.seconds {
            Some(s) if !(3.0..=max).contains(&s) => {
                let msg = format!(
                    "{s} s is outside 3–{max} s, the reference video length Kling accepts with orientation `{}`",
                    m.orientation
                );
                self.problem(at, "motion.seconds", msg);
                max
            }
            Some(s) => s.ceil(),
            None => max,
        }
    }

    /// An image input: a URL or local file, or a frame of another shot (checked once all ids are known).
    pub(super) fn image(&mut self, at: ShotCtx<'_>, slot: Slot<'_>, value: &ImageSpec, r: &mut Resolved) {
        let (upstream, at_s) = match value {
            ImageSpec::Source(s) => return self.media(at, slot, s, Media::Image, r),
            ImageSpec::After(a) => (a.after.clone(), None),
            ImageSpec::FrameOf(f) => (f.frame_of.clone(), Some(f.at)),
        };
        let shown = match at_s {
            None => format!("<last frame of {upstream}>"),
            Some(t) => format!("<frame of {upstream} at {t} s>"),
        };
        r.body.insert(slot.body.into(), json!(shown));
        r.chain.push(Chain {
            field: slot.body.to_owned(),
            shot_field: slot.field.to_owned(),
            upstream,
            upstream_index: usize::MAX,
            at: at_s,
        });
    }

    /// A media input: an https URL, or a local file checked and hashed once.
    pub(super) fn media(&mut self, at: ShotCtx<'_>, slot: Slot<'_>, value: &str, media: Media, r: &mut Resolved) {
        super::set_field(&mut r.body, slot.body, json!(value));
        match self.source(value, media) {
            Ok(Source::Url(_)) => {}
            Ok(Source::Local { written, path, sha256 }) => r.local.push(LocalFile {
                field: slot.body.into(),
                written,
                path,
                sha256,
            }),
            Err(m) => self.problem(at, slot.field, m),
        }
    }

    /// An https URL (checked), or a local file (checked and hashed once).
    pub(super) fn source(&mut self, value: &str, media: Media) -> Result<Source, Invalid> {
        match url_scheme(value) {
            Some(scheme) => check_url(value, scheme).map(|()| Source::Url(value.to_owned())),
            None => self.local_file(value, media).map(|(path, sha256)| Source::Local {
                written: value.to_owned(),
                path,
                sha256,
            }),
        }
    }

    /// A local image, video or voice sample: extension, a regular file of a sensible size,
    /// inside the storyboard's folder when reached through a link, content of that kind; its
    /// sha256.
    pub(super) fn local_file(&mut self, value: &str, media: Media) -> Result<(Utf8PathBuf, String), Invalid> {
        let path = self.local_path(value);
        let (exts, max, what) = match media {
            Media::Image => (IMAGE_EXTENSIONS, IMAGE_MAX_BYTES, "an image"),
            Media::Video => (VIDEO_EXTENSIONS, UPLOAD_MAX_BYTES, "a video"),
            Media::Audio => (SAMPLE_EXTENSIONS, UPLOAD_MAX_BYTES, "a voice sample"),
        };
        let ext = path.extension().map(str::to_ascii_lowercase).unwrap_or_default();
        if !exts.contains(&ext.as_str()) {
            return Err(Invalid(format!(
                "`{value}`: {what} must be {} (got `.{ext}`)",
                exts.join("/")
            )));
        }
        let meta = std::fs::metadata(&path).map_err(|_| {
            // `./a.png` in a storyboard in `.` was looked for as `a.png`, not `././a.png`.
            let shown: Utf8PathBuf = path
                .components()
                .filter(|c| *c != camino::Utf8Component::CurDir)
                .collect();
            Invalid(format!(
                "local file `{value}` does not exist (looked for {shown}); paths are relative to the storyboard's folder"
            ))
        })?;
        if !meta.is_file() {
            return Err(Invalid(format!("`{value}` is not a regular file")));
        }
        if meta.len() == 0 || meta.len() > max {
            let size = match meta.len() {
                0 => "empty".to_owned(),
                n => format!("{n} bytes"),
            };
            return Err(Invalid(format!(
                "`{value}` is {size}; {what} must be 1 byte to {} MB",
                max / 1024 / 1024
            )));
        }
        self.contained(value, &path)?;
        check_content(value, &path, media)?;
        self.file_hashes
            .entry(path.clone())
            .or_insert_with(|| sha256_file(&path).map_err(|e| Invalid(format!("cannot read `{value}`: {e}"))))
            .clone()
            .map(|sha| (path, sha))
    }

    /// A path as written, resolved against the storyboard's folder.
    fn local_path(&self, written: &str) -> Utf8PathBuf {
        if Utf8Path::new(written).is_absolute() {
            Utf8PathBuf::from(written)
        } else {
            self.src.dir.join(written)
        }
    }

    /// A file reached through a symbolic link must stay inside the storyboard's folder: a
    /// planted `frame.png` → `/etc/passwd` is never uploaded. Writing the real path is the way
    /// to use a file elsewhere on purpose.
    fn contained(&self, written: &str, path: &Utf8Path) -> Result<(), Invalid> {
        let real = path
            .canonicalize_utf8()
            .map_err(|e| Invalid(format!("cannot read `{written}`: {e}")))?;
        let dir = self
            .src
            .dir
            .canonicalize_utf8()
            .unwrap_or_else(|_| self.src.dir.clone());
        // Where the path leads with no link followed: a link in any component (a `frames`
        // folder that is a link) counts, not only the last one.
        let lexical = if Utf8Path::new(written).is_absolute() {
            path.parent()
                .and_then(|p| p.canonicalize_utf8().ok())
                .map(|p| p.join(path.file_name().unwrap_or_default()))
        } else {
            Some(lexical_join(&dir, written))
        };
        let through_link = lexical.as_ref() != Some(&real);
        if through_link && !real.starts_with(&dir) {
            return Err(Invalid(format!(
                "`{written}` is a link to {real}, outside the storyboard's folder ({dir}): links may only point inside it; write the real path if you mean to upload that file"
            )));
        }
        Ok(())
    }
}

/// `dir` joined with the relative `written`, `.` and `..` resolved by name (no link followed).
fn lexical_join(dir: &Utf8Path, written: &str) -> Utf8PathBuf {
    let mut out = dir.to_owned();
    for part in Utf8Path::new(written).components() {
        match part {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_str()),
        }
    }
    out
}

/// What a local file is, and so must contain.
#[derive(Clone, Copy)]
pub(super) enum Media {
    /// PNG, JPEG or WebP.
    Image,
    /// MP4 or QuickTime.
    Video,
    /// WAV, MP3, or an MP4/M4A/MOV container.
    Audio,
}

/// The file's first bytes must be those of its kind: a text file named `.png` is not an image.
pub(super) fn check_content(written: &str, path: &Utf8Path, content: Media) -> Result<(), Invalid> {
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Invalid(format!("cannot read `{written}`: {e}")))?;
    let h = &head[..n];
    let mp4 = h.len() >= 8 && matches!(&h[4..8], b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free");
    let (ok, what) = match content {
        Media::Image => (
            h.starts_with(b"\x89PNG\r\n\x1a\n")
                || h.starts_with(&[0xff, 0xd8, 0xff])
                || (h.starts_with(b"RIFF") && h.len() >= 12 && &h[8..12] == b"WEBP"),
            "a PNG, JPEG or WebP image",
        ),
        Media::Video => (mp4, "an MP4 or QuickTime video"),
        Media::Audio => (
            mp4 || (h.starts_with(b"RIFF") && h.len() >= 12 && &h[8..12] == b"WAVE")
                || h.starts_with(b"ID3")
                || (h.len() >= 2 && h[0] == 0xff && h[1] & 0xe0 == 0xe0),
            "WAV, MP3 or M4A audio (or an MP4/MOV video)",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "`{written}` is not {what}: its content does not start like one (a renamed file?)"
        )))
    }
}

/// A URL input: https only, and no user name or password in it.
pub(super) fn check_url(value: &str, scheme: &str) -> Result<(), Invalid> {
    match scheme {
        "https" => {}
        "http" => {
            return Err(Invalid(format!(
                "`{value}`: use an https:// URL (the provider fetches it; plain http is refused)"
            )));
        }
        other => {
            return Err(Invalid(format!(
                "`{value}`: only https URLs or local paths are allowed (got a `{other}:` URL)"
            )));
        }
    }
    let parsed = url::Url::parse(value).map_err(|e| Invalid(format!("`{value}` is not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Invalid(
            "a URL with a user name or password is refused: the credentials would be sent to the provider and written to the manifest; use a link without them, or a local file".into(),
        ));
    }
    Ok(())
}

pub(super) fn url_scheme(v: &str) -> Option<&str> {
    let (scheme, _) = v.split_once(':')?;
    let mut c = scheme.chars();
    let looks = matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '.' | '-'))
        && scheme.len() > 1; // `C:\…` is a Windows path, not a URL
    looks.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_scheme_tells_urls_from_paths() {
        assert_eq!(url_scheme("https://x/y.png"), Some("https"));
        assert_eq!(url_scheme("ftp://x"), Some("ftp"));
        assert_eq!(url_scheme("./frames/a.png"), None);
        assert_eq!(url_scheme("C:\\a.png"), None);
    }
}
