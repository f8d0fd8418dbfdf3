//! Media inputs: image and video URLs or local files (checked, hashed once), motion control's
//! reference, and voice samples.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value, json};

use super::{Chain, Invalid, LocalFile, Planner};
use crate::catalog;
use crate::digest::sha256_file;
use crate::storyboard::{ImageSpec, Motion};

/// Image inputs: extensions and the largest size (protocol.md §2: Kling images ≤ 10 MB).
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];
const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Reference videos for motion control: mp4/mov, ≤ 100 MB (protocol.md §2).
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov"];
const VIDEO_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Voice samples for `create-voice` (protocol.md §3: ".mp3/.wav audio or .mp4/.mov video").
const SAMPLE_EXTENSIONS: &[&str] = &["wav", "mp3", "m4a", "mp4", "mov"];

#[derive(Clone, Copy)]
pub(super) enum Media {
    Image,
    Video,
}

impl Planner<'_> {
    /// A voice sample: exists, wav/mp3/m4a (or mp4/mov), not empty, 5–30 s when ffprobe is
    /// installed. Returns the resolved path and its sha256.
    pub(super) fn check_sample(&mut self, written: &str) -> Result<(Utf8PathBuf, String), Invalid> {
        let path = if Utf8Path::new(written).is_absolute() {
            Utf8PathBuf::from(written)
        } else {
            self.src.dir.join(written)
        };
        let ext = path.extension().map(str::to_ascii_lowercase).unwrap_or_default();
        if !SAMPLE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(Invalid(format!(
                "sample `{written}` must be {} (got `.{ext}`)",
                SAMPLE_EXTENSIONS.join("/")
            )));
        }
        let meta = std::fs::metadata(&path).map_err(|_| {
            Invalid(format!(
                "sample `{written}` does not exist (looked for {path}); paths are relative to the storyboard's folder"
            ))
        })?;
        if !meta.is_file() || meta.len() == 0 {
            return Err(Invalid(format!("sample `{written}` is empty or not a regular file")));
        }
        if let Some(secs) = crate::media::probe_duration(&path)
            && !(5.0..=30.0).contains(&secs)
        {
            return Err(Invalid(format!(
                "sample `{written}` is {secs:.1} s long; Kling needs 5–30 s of clean speech"
            )));
        }
        let sha = sha256_file(&path).map_err(|e| Invalid(format!("cannot read `{written}`: {e}")))?;
        Ok((path, sha))
    }

    pub(super) fn motion(
        &mut self,
        i: usize,
        name: &str,
        m: &Motion,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
    ) -> f64 {
        self.media(
            i,
            name,
            "motion.image",
            "image_url",
            &m.image,
            Media::Image,
            body,
            local,
        );
        self.media(
            i,
            name,
            "motion.video",
            "video_url",
            &m.video,
            Media::Video,
            body,
            local,
        );
        if !catalog::ORIENTATIONS.contains(&m.orientation.as_str()) {
            self.shot_problem(
                i,
                name,
                "motion.orientation",
                format!("`{}` is not allowed (allowed: image, video)", m.orientation),
            );
        }
        body.insert("character_orientation".into(), json!(m.orientation));
        body.insert(
            "keep_original_sound".into(),
            json!(m.keep_original_sound.unwrap_or(true)),
        );
        let max = catalog::motion_max_seconds(&m.orientation);
        match m.seconds {
            Some(s) if !(3.0..=max).contains(&s) => {
                self.shot_problem(
                    i,
                    name,
                    "motion.seconds",
                    format!(
                        "{s} s is outside 3–{max} s, the reference video length Kling accepts with orientation `{}`",
                        m.orientation
                    ),
                );
                max
            }
            Some(s) => s.ceil(),
            None => max,
        }
    }

    /// An image input: a URL or local file, or a frame of another shot (checked once all ids are known).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn image(
        &mut self,
        i: usize,
        name: &str,
        field: &str,
        body_field: &str,
        value: &ImageSpec,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
        chain: &mut Vec<Chain>,
    ) {
        let (upstream, at) = match value {
            ImageSpec::Source(s) => return self.media(i, name, field, body_field, s, Media::Image, body, local),
            ImageSpec::After(a) => (a.after.clone(), None),
            ImageSpec::FrameOf(f) => (f.frame_of.clone(), Some(f.at)),
        };
        let shown = match at {
            None => format!("<last frame of {upstream}>"),
            Some(t) => format!("<frame of {upstream} at {t} s>"),
        };
        body.insert(body_field.into(), json!(shown));
        chain.push(Chain {
            field: body_field.to_owned(),
            shot_field: field.to_owned(),
            upstream,
            upstream_index: usize::MAX,
            at,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn media(
        &mut self,
        i: usize,
        name: &str,
        field: &str,
        body_field: &str,
        value: &str,
        media: Media,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
    ) {
        body.insert(body_field.into(), json!(value));
        if let Some(scheme) = url_scheme(value) {
            if scheme != "http" && scheme != "https" {
                self.shot_problem(
                    i,
                    name,
                    field,
                    format!("`{value}`: only http(s) URLs or local paths are allowed (got a `{scheme}:` URL)"),
                );
            }
            return;
        }
        let path = if Utf8Path::new(value).is_absolute() {
            Utf8PathBuf::from(value)
        } else {
            self.src.dir.join(value)
        };
        let (exts, max, what) = match media {
            Media::Image => (IMAGE_EXTENSIONS, IMAGE_MAX_BYTES, "image"),
            Media::Video => (VIDEO_EXTENSIONS, VIDEO_MAX_BYTES, "video"),
        };
        let ext = path.extension().map(str::to_ascii_lowercase).unwrap_or_default();
        if !exts.contains(&ext.as_str()) {
            self.shot_problem(
                i,
                name,
                field,
                format!("`{value}`: an {what} must be {} (got `.{ext}`)", exts.join("/")),
            );
            return;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => {
                self.shot_problem(i, name, field, format!("local file `{value}` does not exist (looked for {path}); paths are relative to the storyboard's folder"));
                return;
            }
        };
        if !meta.is_file() {
            self.shot_problem(i, name, field, format!("`{value}` is not a regular file"));
            return;
        }
        if meta.len() == 0 || meta.len() > max {
            self.shot_problem(
                i,
                name,
                field,
                format!(
                    "`{value}` is {} bytes; an {what} must be 1 byte to {} MB",
                    meta.len(),
                    max / 1024 / 1024
                ),
            );
            return;
        }
        let hash = self
            .file_hashes
            .entry(path.clone())
            .or_insert_with(|| sha256_file(&path).map_err(|e| Invalid(e.to_string())))
            .clone();
        match hash {
            Ok(sha256) => local.push(LocalFile {
                field: body_field.into(),
                written: value.into(),
                path,
                sha256,
            }),
            Err(e) => self.shot_problem(i, name, field, format!("cannot read `{value}`: {e}")),
        }
    }
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
