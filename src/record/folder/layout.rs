//! The output folder's layout: every path storyboard keeps in it is spelled here and nowhere
//! else (`scripts/check-layout` fails the build otherwise). Paths are either absolute in the
//! folder (`fn …(out)`) or relative to it (for the journal, manifest and review page).

use camino::{Utf8Path, Utf8PathBuf};

/// The state folder, beside the clips.
const STATE: &str = ".storyboard";

/// The manifest's file name, in the output folder.
pub(crate) const MANIFEST: &str = "manifest.json";

/// The manifest schema's description.
pub(crate) const MANIFEST_DESCRIPTION: &str = "manifest.json written by `storyboard render`";

/// The state folder.
pub(crate) fn state(out: &Utf8Path) -> Utf8PathBuf {
    out.join(STATE)
}

/// `manifest.json`: what the last render made.
pub(crate) fn manifest(out: &Utf8Path) -> Utf8PathBuf {
    out.join(MANIFEST)
}

/// The journal, relative to the output folder (as warnings name it).
pub(crate) const JOURNAL: &str = ".storyboard/journal.jsonl";

/// The journal: every request's life, appended.
pub(crate) fn journal(out: &Utf8Path) -> Utf8PathBuf {
    out.join(JOURNAL)
}

/// The user's picks (selected takes, redos, notes).
pub(crate) fn picks(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("picks.json")
}

/// The lock taken while the picks are rewritten.
pub(crate) fn picks_lock(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("picks.lock")
}

/// The record of the files storyboard wrote outside the state folder, by content.
pub(crate) fn written(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("written.json")
}

/// The folder's lock (one render at a time).
pub(crate) fn lock(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("lock")
}

/// The storyboard that owns the folder.
pub(crate) fn owner(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("owner")
}

/// Voices created from samples, by namespace and sample content.
pub(crate) fn voices(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("voices.json")
}

/// Where the built-in sandbox of `render --sandbox` keeps its jobs and uploads between
/// renders of the folder (so a re-run after Ctrl-C follows them).
pub(crate) fn sandbox(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("sandbox")
}

/// ffmpeg's concat list for the cut.
pub(crate) fn concat_list(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("concat.txt")
}

/// Frames taken from clips to start chained shots.
pub(crate) fn frames(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("frames")
}

/// Where a frame made by an image model (frames first) is kept, by content, relative to the
/// output folder.
pub(crate) fn kept_frame(sha256: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{STATE}/frames/frame-{sha256}.png"))
}

/// The take store: every verified clip, by content.
pub(crate) fn clips(out: &Utf8Path) -> Utf8PathBuf {
    state(out).join("clips")
}

/// Where a clip of this content is kept, relative to the output folder: every verified clip
/// stays there, so going back to an earlier request costs nothing.
pub(crate) fn kept_clip(sha256: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{STATE}/clips/{sha256}.mp4"))
}

/// A cast member's frontal image as kept for the review page, relative to the output folder.
pub(crate) fn cast_image(sha256: &str, ext: &str) -> String {
    format!("{STATE}/cast/{sha256}.{ext}")
}

/// The poster frame of a take, relative to the output folder.
pub(crate) fn poster(sha256: &str) -> String {
    format!("{STATE}/posters/{sha256}.png")
}

/// The part of a path relative to the output folder inside the state folder, if it is there.
pub(crate) fn in_state(rel: &str) -> Option<&str> {
    rel.strip_prefix(STATE)?.strip_prefix('/')
}

/// Whether a folder relative to the output folder is the take store.
pub(crate) fn is_clips(rel: &str) -> bool {
    in_state(rel) == Some("clips")
}
