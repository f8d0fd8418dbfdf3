//! Hand-off: the cut (ffmpeg), an OpenTimelineIO timeline and a static review page, from the
//! rendered clips in storyboard order. Durations are read from the clips themselves.

pub(crate) mod otio;
pub(crate) mod review;

use crate::record::folder::Folder;
use camino::{Utf8Path, Utf8PathBuf};
use std::process::Command;

use crate::digest;
use crate::files;
use crate::media::{self, Probe, mp4};
use crate::record::manifest::{Manifest, ShotRecord, ShotStatus};

/// What went wrong while assembling.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssembleError {
    /// Nothing was rendered into the folder.
    #[error("no {m} in {0}: render the storyboard first (`storyboard render …`)", m = crate::record::folder::layout::MANIFEST)]
    NoManifest(Utf8PathBuf),
    /// The picks file cannot be read (a corrupt picks file is never skipped).
    #[error(transparent)]
    Picks(#[from] crate::record::takes::PickError),
    /// `--strict` and some shots are missing.
    #[error("--strict: {} shot(s) have no clip: {}", .0.len(), .0.join("; "))]
    Strict(Vec<String>),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Which.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A shot in the cut: its selected take, or a gap of its planned duration.
#[derive(Debug, Clone)]
pub(crate) struct Clip {
    /// The shot's record (takes and selection filled in).
    pub record: ShotRecord,
    /// Path relative to the output folder (`<id>.mp4`); `None` for a gap.
    pub rel: Option<String>,
    /// Seconds: from the file, or the planned duration for a gap.
    pub duration: f64,
    /// What ffprobe said (when installed).
    pub probe: Option<Probe>,
}

impl Clip {
    /// The selected take's record.
    pub(crate) fn take(&self) -> Option<&crate::record::manifest::TakeRecord> {
        self.record
            .takes
            .iter()
            .find(|t| Some(t.take) == self.record.selected_take)
    }
}

/// The result of `assemble`.
#[derive(Debug, Clone)]
pub(crate) struct Assembly {
    /// The cut, when ffmpeg made one.
    pub cut: Option<Utf8PathBuf>,
    /// Why there is no cut.
    pub cut_problem: Option<String>,
    /// Stream copy (true) or re-encode (false).
    pub stream_copy: bool,
    /// The timeline.
    pub otio: Utf8PathBuf,
    /// The review page.
    pub review: Utf8PathBuf,
    /// Clips in the cut.
    pub clips: usize,
    /// Total seconds.
    pub seconds: f64,
    /// Shots left out, with why.
    pub skipped: Vec<String>,
    /// Files not written because storyboard did not write what stands there (the user's).
    pub kept: Vec<String>,
}

/// The name of the cut and timeline: the title as a slug, else the storyboard's stem; never a
/// shot's own clip name.
pub(crate) fn name(title: Option<&str>, stem: &str, ids: &[&str]) -> String {
    let base = title
        .map(|t| crate::plan::template::slug(t.to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| stem.to_owned());
    if ids.contains(&base.as_str()) {
        format!("{base}-cut")
    } else {
        base
    }
}

/// The shots of the folder's manifest with their selected takes (each put at `<id>.mp4` when
/// `place`); a shot with none is a gap of its planned duration.
pub(crate) fn segments(folder: &Folder, place: bool) -> Result<(Manifest, Vec<Clip>, Vec<String>), AssembleError> {
    let out = folder.out();
    let mut manifest = folder
        .manifest()
        .ok_or_else(|| AssembleError::NoManifest(out.to_owned()))?;
    let history = folder.history();
    let picks = folder.picks()?;
    let mut skipped = match place {
        true => crate::record::takes::apply(out, &mut manifest.shots, history, &picks),
        false => {
            crate::record::takes::fill(out, &mut manifest.shots, history, &picks);
            Vec::new()
        }
    };
    let has_ffprobe = media::tool("ffprobe");
    let mut clips = Vec::new();
    for rec in &manifest.shots {
        let take = rec.takes.iter().find(|t| Some(t.take) == rec.selected_take);
        // `<id>.mp4`, else (not put in place yet) the take in the store.
        let rel = take.and_then(|t| {
            [format!("{}.mp4", rec.id), t.clip.path.to_string()]
                .into_iter()
                .find(|p| digest::verify(&out.join(p), t.clip.bytes, &t.clip.sha256))
        });
        let Some(rel) = rel else {
            skipped.push(gap_reason(rec));
            clips.push(Clip {
                record: rec.clone(),
                rel: None,
                duration: rec.seconds,
                probe: None,
            });
            continue;
        };
        let path = out.join(&rel);
        let (duration, probe) = match if has_ffprobe { media::probe(&path) } else { None } {
            Some((d, p)) => (d, Some(p)),
            None => (mp4::duration(&path).unwrap_or(0.0), None),
        };
        clips.push(Clip {
            record: rec.clone(),
            rel: Some(rel),
            duration,
            probe,
        });
    }
    Ok((manifest, clips, skipped))
}

/// Why a shot is a gap in the cut.
fn gap_reason(rec: &ShotRecord) -> String {
    let why = match rec.request.status {
        ShotStatus::Failed | ShotStatus::Uncertain => format!("{:?}", rec.request.status).to_lowercase(),
        _ if !rec.takes.is_empty() => "no take selected for the current request".to_owned(),
        _ => "not rendered".to_owned(),
    };
    format!("{}: {why} (a gap of {} s)", rec.id, rec.seconds)
}

/// Assembles the cut, timeline and review page of a rendered plan, named after its title or file.
pub(crate) fn of_plan(
    plan: &crate::plan::Plan,
    stem: &str,
    folder: &Folder,
    strict: bool,
) -> Result<Assembly, AssembleError> {
    let ids: Vec<&str> = plan.shots.iter().map(|s| s.shot.as_str()).collect();
    assemble(folder, &name(plan.title.as_deref(), stem, &ids), strict)
}

/// Builds the cut, the timeline and the review page in `out`.
pub(crate) fn assemble(folder: &Folder, name: &str, strict: bool) -> Result<Assembly, AssembleError> {
    let out = folder.out();
    let (manifest, clips, skipped) = segments(folder, true)?;
    if strict && !skipped.is_empty() {
        return Err(AssembleError::Strict(skipped));
    }
    let (otio_name, cut_name, review_name) = (format!("{name}.otio"), format!("{name}.mp4"), "review.html");
    let ([otio_free, cut_free, review_free], kept) = free(out, [&otio_name, &cut_name, review_name]);
    let title = manifest.title.clone().unwrap_or_else(|| name.to_owned());
    let otio = out.join(&otio_name);
    if otio_free {
        write_output(out, &otio_name, &otio::timeline(&title, &clips))?;
    }
    let seconds = clips.iter().map(|c| c.duration).sum();
    let rendered = clips.iter().filter(|c| c.rel.is_some()).count();
    let (cut, cut_problem, stream_copy) = if rendered == 0 {
        (None, Some("no clips to join".to_owned()), false)
    } else if !cut_free {
        (
            None,
            Some(format!("{cut_name} was not written by storyboard (kept)")),
            false,
        )
    } else if !media::tool("ffmpeg") {
        (None, Some("ffmpeg is not installed (on Debian/Ubuntu: apt install ffmpeg); the timeline and review page were written".to_owned()), false)
    } else {
        let copy = can_stream_copy(&clips);
        match cut(out, name, &clips, copy) {
            Ok(path) => (Some(path), None, copy),
            Err(e) => (None, Some(e.to_string()), copy),
        }
    };
    let view = review::View {
        posters: review::make_posters(out, &clips),
        ..review::View::default()
    };
    let cut_file = cut.as_ref().and_then(|c| c.file_name());
    let review = out.join(review_name);
    if review_free {
        write_output(
            out,
            review_name,
            &review::page(&title, &manifest, &clips, cut_file, &view),
        )?;
    }
    Ok(Assembly {
        cut,
        cut_problem,
        stream_copy,
        otio,
        review,
        clips: rendered,
        seconds,
        skipped,
        kept,
    })
}

/// Which of the outputs may be written (nothing there, or what storyboard wrote there); a
/// line for each that is kept because someone else wrote it.
fn free<const N: usize>(out: &Utf8Path, names: [&str; N]) -> ([bool; N], Vec<String>) {
    let written = crate::record::folder::Written::read(out);
    let free = names.map(|name| written.replaceable(out, name, None));
    let kept = names
        .iter()
        .zip(&free)
        .filter(|(_, free)| !**free)
        .map(|(name, _)| {
            format!(
                "{} was not written by storyboard: it is kept as it is (move it away to get a new one)",
                out.join(name)
            )
        })
        .collect();
    (free, kept)
}

/// Writes one output file atomically and records it as storyboard's.
fn write_output(out: &Utf8Path, name: &str, text: &str) -> Result<(), AssembleError> {
    let path = out.join(name);
    crate::files::write_atomic(&path, text.as_bytes())
        .and_then(|()| crate::record::folder::Written::record(out, &[name]))
        .map_err(|source| AssembleError::Write { path, source })
}

/// Stream copy needs one codec, size, frame rate and audio layout across every clip, and no
/// gap (gaps are made by re-encoding).
fn can_stream_copy(clips: &[Clip]) -> bool {
    let first = clips[0].probe.as_ref();
    first.is_some() && clips.iter().all(|c| c.rel.is_some() && c.probe.as_ref() == first)
}

/// Why ffmpeg made no cut.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CutError {
    /// The concat list could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Which.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// ffmpeg could not be started.
    #[error("cannot run ffmpeg: {0}")]
    Spawn(std::io::Error),
    /// ffmpeg ran and failed: its last line of errors.
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
}

/// Joins the clips into `<name>.mp4` (written as a temporary file, then renamed).
fn cut(out: &Utf8Path, name: &str, clips: &[Clip], copy: bool) -> Result<Utf8PathBuf, CutError> {
    let dest = out.join(format!("{name}.mp4"));
    let part = files::part_path(&dest);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-v", "error"]);
    if copy {
        stream_copy_args(&mut cmd, out, clips)?;
    } else {
        reencode_args(&mut cmd, out, clips);
    }
    // A fresh temporary: whatever stood at its name (a planted link) is removed, never written
    // through.
    files::create_fresh(&part).map_err(|source| CutError::Write {
        path: part.clone(),
        source,
    })?;
    cmd.arg(&part);
    let o = cmd.output().map_err(CutError::Spawn)?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&part);
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(CutError::Ffmpeg(err.lines().last().unwrap_or("").to_owned()));
    }
    std::fs::rename(&part, &dest)
        .and_then(|()| crate::record::folder::Written::record(out, &[&format!("{name}.mp4")]))
        .map_err(|source| CutError::Write { path: part, source })?;
    Ok(dest)
}

/// The concat demuxer with stream copy: identical codec, size and time base.
fn stream_copy_args(cmd: &mut Command, out: &Utf8Path, clips: &[Clip]) -> Result<(), CutError> {
    let list = crate::record::folder::layout::concat_list(out);
    let text: String = clips
        .iter()
        .filter_map(|c| c.rel.as_ref())
        .map(|rel| {
            let path = out.join(rel);
            let path = path.canonicalize_utf8().unwrap_or(path);
            format!("file '{}'\n", path.as_str().replace('\'', "'\\''"))
        })
        .collect();
    let failed = |source| CutError::Write {
        path: list.clone(),
        source,
    };
    std::fs::create_dir_all(crate::record::folder::layout::state(out)).map_err(failed)?;
    files::create_fresh(&list)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(failed)?;
    cmd.args(["-f", "concat", "-safe", "0", "-i"]).arg(&list).args([
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]);
    Ok(())
}

/// Re-encode through the concat filter to the first clip's size: scaled and padded (never
/// stretched), one frame rate, silence for clips without audio so sound stays in sync, and
/// black for a gap.
fn reencode_args(cmd: &mut Command, out: &Utf8Path, clips: &[Clip]) {
    let (w, h, fps) = clips
        .iter()
        .find_map(|c| c.probe.as_ref())
        .map_or((1280, 720, "30/1".to_owned()), |p| {
            (p.width, p.height, p.frame_rate.clone())
        });
    let mut filter = String::new();
    for (i, c) in clips.iter().enumerate() {
        match &c.rel {
            Some(rel) => cmd.arg("-i").arg(out.join(rel)),
            None => cmd
                .args(["-f", "lavfi", "-t", &format!("{}", c.duration), "-i"])
                .arg(format!("color=c=black:s={w}x{h}:r={fps}")),
        };
        filter.push_str(&format!(
            "[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p[v{i}];"
        ));
        let d = c.duration;
        if c.probe.as_ref().is_some_and(|p| p.audio) {
            filter.push_str(&format!(
                "[{i}:a]aresample=48000,aformat=channel_layouts=stereo,apad,atrim=0:{d}[a{i}];"
            ));
        } else {
            filter.push_str(&format!(
                "anullsrc=channel_layout=stereo:sample_rate=48000,atrim=0:{d}[a{i}];"
            ));
        }
    }
    for i in 0..clips.len() {
        filter.push_str(&format!("[v{i}][a{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1:a=1[v][a]", clips.len()));
    cmd.args(["-filter_complex", &filter, "-map", "[v]", "-map", "[a]"]);
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_never_takes_a_clip_name() {
        assert_eq!(
            name(Some("Reunion at the station"), "reunion", &["reunion"]),
            "reunion-at-the-station"
        );
        assert_eq!(name(None, "reunion", &["reunion", "arrival"]), "reunion-cut");
        assert_eq!(name(Some("!!"), "film", &[]), "film");
    }
}
