//! Frames of rendered clips, for shots that start where another ended: extracted with ffmpeg
//! as PNG (the exact last frame, or the frame at a time).

use camino::Utf8Path;
use std::process::Command;

/// Whether ffmpeg is on PATH.
pub fn available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes the frame of `clip` at `at` seconds (`None`: its last frame) to `dest` as PNG.
pub fn extract(clip: &Utf8Path, at: Option<f64>, dest: &Utf8Path) -> Result<(), String> {
    let part = crate::download::part_path(dest);
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
    let o = cmd.arg(&part).output().map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !o.status.success() || !part.exists() {
        let _ = std::fs::remove_file(&part);
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(format!(
            "ffmpeg could not take the frame from {clip}: {}",
            err.lines().last().unwrap_or("no output")
        ));
    }
    std::fs::rename(&part, dest).map_err(|e| format!("cannot rename {part}: {e}"))
}
