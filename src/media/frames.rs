//! Frames of rendered clips, for shots that start where another ended: extracted with ffmpeg
//! as PNG (the exact last frame, or the frame at a time).

use camino::{Utf8Path, Utf8PathBuf};
use std::process::Command;

/// Why a frame could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// ffmpeg could not be started.
    #[error("cannot run ffmpeg: {0}")]
    NoFfmpeg(std::io::Error),
    /// ffmpeg ran and made no frame.
    #[error("ffmpeg could not take the frame from {clip}: {last_line}")]
    Failed {
        /// The clip.
        clip: Utf8PathBuf,
        /// ffmpeg's last line of errors.
        last_line: String,
    },
    /// The frame could not be put in place.
    #[error("cannot rename {path}: {source}")]
    Rename {
        /// The temporary file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether ffmpeg is on PATH.
pub(crate) fn available() -> bool {
    super::tool("ffmpeg")
}

/// Writes the frame of `clip` at `at` seconds (`None`: its last frame) to `dest` as PNG.
pub(crate) fn extract(clip: &Utf8Path, at: Option<f64>, dest: &Utf8Path) -> Result<(), FrameError> {
    let part = crate::files::part_path(dest);
    // ffmpeg follows links: nothing may stand at the temporary name when it starts.
    let _ = std::fs::remove_file(&part);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    match at {
        // Decode the last second and keep overwriting one image: what remains is the last
        // decoded frame, not a keyframe near the end.
        None => {
            cmd.args(["-sseof", "-1", "-i"])
                .arg(clip)
                .args(["-an", "-update", "1", "-f", "image2", "-c:v", "png"]);
        }
        Some(t) => {
            cmd.args(["-ss", &format!("{t}"), "-i"]).arg(clip).args([
                "-an",
                "-frames:v",
                "1",
                "-f",
                "image2",
                "-c:v",
                "png",
            ]);
        }
    }
    let o = cmd.arg(&part).output().map_err(FrameError::NoFfmpeg)?;
    if !o.status.success() || !part.exists() {
        let _ = std::fs::remove_file(&part);
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(FrameError::Failed {
            clip: clip.to_owned(),
            last_line: err.lines().last().unwrap_or("no output").to_owned(),
        });
    }
    std::fs::rename(&part, dest).map_err(|source| FrameError::Rename { path: part, source })
}
