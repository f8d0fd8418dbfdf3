//! What a director does after a render: pick a take, ask for a redo, write a note (the same
//! code for `storyboard pick` and the review page), remove the takes nobody uses (`clean`),
//! and the review server (`server.rs`).

pub(crate) mod server;

use camino::{Utf8Path, Utf8PathBuf};

use crate::plan::Plan;
use crate::record::folder::{Folder, FolderError};
use crate::record::journal::History;
use crate::record::manifest::Manifest;
use crate::record::store::picks::TeamPicks;
use crate::record::takes::{self, Edge, PickError, Picks};

/// What the director says of a shot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Select this take.
    Take(u32),
    /// Render one new take on the next render.
    Redo,
    /// Withdraw the redo waiting for the next render.
    NoRedo,
    /// Keep this note about a take (none: the selected take; empty text: remove it).
    Note {
        /// The take it is about.
        take: Option<u32>,
        /// The note.
        text: String,
    },
    /// Animate this frame take (frames first): a first frame, or an end frame.
    Frame(Edge, u32),
    /// Render one new frame take on the next render.
    RedoFrame(Edge),
    /// Keep this note about a frame take (empty text: remove it).
    FrameNote(Edge, u32, String),
}

/// The folder's manifest, or why there is none.
fn manifest(out: &Utf8Path) -> Result<Manifest, PickError> {
    Manifest::read(&crate::record::folder::layout::manifest(out))
        .ok_or_else(|| PickError::NothingRendered(out.to_owned()))
}

/// Records a change to one shot (in the team's picks too, when there is a store), puts its
/// selected take at `<id>.mp4` and, when no render holds the folder, brings the manifest up to
/// date; what happened, in a line.
pub(crate) fn change(
    folder: &Folder,
    shot: &str,
    change: Change,
    team: Option<&TeamPicks>,
) -> Result<String, PickError> {
    let (out, history) = (folder.out(), folder.history());
    let m = manifest(out)?;
    let index = shot_index(&m, shot)?;
    if let Change::Frame(edge, _) | Change::RedoFrame(edge) | Change::FrameNote(edge, ..) = change {
        has_frame(&m.shots[index], edge)?;
        return change_frame(folder, shot, change, team);
    }
    let count = takes::count(history, shot);
    let now = takes::of_shots(out, &m.shots[index..=index], history, &folder.picks()?).remove(0);
    let kept: Vec<u32> = now.takes.iter().map(|t| t.n).collect();
    let said = match &change {
        Change::Take(n) | Change::Note { take: Some(n), .. } if !kept.contains(n) => {
            return Err(missing_take(shot, *n, &kept));
        }
        Change::Take(n) => {
            check_content(out, history, shot, *n)?;
            format!("{shot}: take {n} selected ({shot}.mp4)")
        }
        Change::Redo => format!("{shot}: one new take on the next render (`storyboard plan` shows its price)"),
        Change::NoRedo if now.redo_pending(history, shot) => {
            format!("{shot}: redo withdrawn (nothing new on the next render)")
        }
        Change::NoRedo => format!("{shot}: no redo was waiting"),
        Change::Frame(..) | Change::RedoFrame(_) | Change::FrameNote(..) => {
            unreachable!("a frame change is made by change_frame")
        }
        Change::Note { text, .. } if text.chars().count() > takes::MAX_NOTE_CHARS => {
            return Err(PickError::LongNote(text.chars().count()));
        }
        Change::Note { take, .. } => match take.or(now.selected) {
            Some(n) => format!("{shot}: note kept with take {n}"),
            None => format!("{shot}: note kept (the shot has no take yet)"),
        },
    };
    let apply = |p: &mut Picks| {
        let entry = p.shots.entry(shot.to_owned()).or_default();
        match &change {
            Change::Take(n) => entry.pick(*n, count),
            Change::Redo => entry.ask_redo(count),
            Change::NoRedo => entry.withdraw_redo(count),
            Change::Note { take, text } => entry.write_note(take.or(now.selected), text),
            Change::Frame(..) | Change::RedoFrame(_) | Change::FrameNote(..) => {}
        }
        Ok(())
    };
    match team {
        Some(team) => team.change(out, apply)?.0,
        None => Picks::change(out, apply)?,
    }
    said_with(said, refresh(out, history)?)
}

/// What a change did, in a line, and the problems met bringing the folder up to date.
fn said_with(said: String, problems: Vec<String>) -> Result<String, PickError> {
    Ok(std::iter::once(said)
        .chain(problems.into_iter().map(|p| format!("warning: {p}")))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Where a shot is in the manifest, or which shot id was meant.
fn shot_index(m: &Manifest, shot: &str) -> Result<usize, PickError> {
    m.shots
        .iter()
        .position(|s| s.id == shot)
        .ok_or_else(|| PickError::NoShot {
            shot: shot.to_owned(),
            hint: crate::problem::did_you_mean(shot, m.shots.iter().map(|s| s.id.as_str())),
        })
}

/// A frame pick or a frame redo (frames first, #25): kept in the picks under `<shot>.frame`
/// (`<shot>.end_frame`) by the same rules as a video take's; the next render animates the
/// picked frame.
fn change_frame(folder: &Folder, shot: &str, change: Change, team: Option<&TeamPicks>) -> Result<String, PickError> {
    let (out, history) = (folder.out(), folder.history());
    let edge = match change {
        Change::Frame(edge, _) | Change::RedoFrame(edge) | Change::FrameNote(edge, ..) => edge,
        _ => Edge::Start,
    };
    let (id, what) = (edge.id(shot), edge.words());
    let count = takes::count(history, &id);
    let registered = takes::register(out, history).remove(&id).unwrap_or_default();
    let kept: Vec<u32> = registered.iter().map(|t| t.n).collect();
    let said = match change {
        Change::Frame(_, n) | Change::FrameNote(_, n, _) if !kept.contains(&n) => {
            return Err(missing_take(&id, n, &kept));
        }
        Change::Frame(_, n) => {
            check_content(out, history, &id, n)?;
            format!("{shot}: {what} take {n} selected (the next render animates it)")
        }
        Change::FrameNote(_, _, ref text) if text.chars().count() > takes::MAX_NOTE_CHARS => {
            return Err(PickError::LongNote(text.chars().count()));
        }
        Change::FrameNote(_, n, _) => format!("{shot}: note kept with {what} take {n}"),
        _ => format!("{shot}: one new {what} take on the next render (`storyboard plan` shows its price)"),
    };
    let other = match change {
        Change::Frame(edge, n) => video_from_another_frame(out, shot, edge, n),
        _ => None,
    };
    let apply = |p: &mut Picks| {
        if let Some(v) = other
            && let Some(pick) = p.shots.get_mut(shot).filter(|pick| pick.take == Some(v))
        {
            pick.take = None;
        }
        let entry = p.shots.entry(id.clone()).or_default();
        match &change {
            Change::Frame(_, n) => entry.pick(*n, count),
            Change::FrameNote(_, n, text) => entry.write_note(Some(*n), text),
            _ => entry.ask_redo(count),
        }
        Ok(())
    };
    match team {
        Some(team) => team.change(out, apply)?.0,
        None => Picks::change(out, apply)?,
    }
    let said = match other {
        Some(v) => format!("{said}; the pick of video take {v} (made from another {what}) is let go"),
        None => said,
    };
    said_with(said, refresh(out, history)?)
}

/// A frame change needs the shot to have that frame (`frame:`, `end_frame:`) — or frame takes.
fn has_frame(rec: &crate::record::manifest::ShotRecord, edge: Edge) -> Result<(), PickError> {
    if rec.frame_keys(edge).next().is_some() || !rec.frames_at(edge).0.is_empty() {
        return Ok(());
    }
    Err(PickError::Place(format!(
        "shot `{}` has no `{field}:` (no {} of it is made by an image model): add `{field}:` to the shot and render, or pick its video takes",
        rec.id,
        edge.words(),
        field = edge.field()
    )))
}

/// There is no take `n` of `shot` (its kept takes named).
fn missing_take(shot: &str, n: u32, kept: &[u32]) -> PickError {
    let have = kept.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    PickError::NoTake {
        shot: shot.to_owned(),
        take: n,
        have: if have.is_empty() { "none".to_owned() } else { have },
    }
}

/// The shot's picked video take when it was made from a frame (at `edge`) other than frame
/// take `n`: a frame pick lets it go, so the next render shows the video of the picked frame.
fn video_from_another_frame(out: &Utf8Path, shot: &str, edge: Edge, n: u32) -> Option<u32> {
    let m = Manifest::read(&crate::record::folder::layout::manifest(out))?;
    let rec = m.shots.iter().find(|s| s.id == shot)?;
    let picked = Picks::read(out).ok()?.shots.get(shot)?.take?;
    let take = rec.takes.iter().find(|t| t.take == picked)?;
    take.made_from(edge).filter(|f| f.take != n).map(|_| picked)
}

/// A picked take's clip must still be what storyboard kept (its sha256), not only its size.
fn check_content(out: &Utf8Path, history: &History, shot: &str, n: u32) -> Result<(), PickError> {
    let takes = takes::register(out, history).remove(shot).unwrap_or_default();
    match takes.iter().find(|t| t.n == n) {
        Some(t) if !crate::digest::verify(&out.join(&t.clip.path), t.clip.bytes, &t.clip.sha256) => {
            Err(PickError::Place(format!(
                "take {n} of {shot} ({}) was changed since storyboard kept it (its content no longer matches): not selected",
                t.clip.path
            )))
        }
        _ => Ok(()),
    }
}

/// Puts every shot's selected take in place and rewrites the manifest's takes, unless a render
/// holds the folder (it does the same when it ends); the problems met (a user's own file where
/// a take would go: kept), one line each.
fn refresh(out: &Utf8Path, history: &History) -> Result<Vec<String>, PickError> {
    let Ok(_lock) = crate::record::folder::lock(out) else {
        return Ok(Vec::new());
    };
    let mut m = manifest(out)?;
    let picks = Picks::read(out)?;
    let problems = takes::apply(out, &mut m.shots, history, &picks);
    let path = crate::record::folder::layout::manifest(out);
    m.to_bytes()
        .and_then(|bytes| crate::files::write_atomic(&path, &bytes))
        .and_then(|()| crate::record::folder::Written::record(out, &[crate::record::folder::layout::MANIFEST]))
        .map_err(|source| PickError::Io { path, source })?;
    Ok(problems)
}

/// A take `clean` removes (or would).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Removable {
    /// The shot.
    pub shot: String,
    /// The take number.
    pub take: u32,
    /// The clip in the store.
    pub path: Utf8PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// The takes that neither the storyboard given (`plan`: each shot's current requests) nor a
/// pick selects; each clip once. Decided from the storyboard, never from the last render's
/// manifest: a storyboard put back to an earlier version keeps that version's takes. A
/// chained shot's takes are all kept (its requests depend on frames known only when rendered).
pub(crate) fn removable(folder: &Folder, plan: &Plan) -> Result<Vec<Removable>, PickError> {
    let out = folder.out();
    let picks = folder.picks()?;
    let register = takes::register(out, folder.history());
    let written = crate::record::folder::Written::read(out);
    let mut keep = std::collections::HashSet::new();
    for (shot, ts) in &register {
        let planned: Vec<&crate::plan::PlannedShot> = plan.shots.iter().filter(|s| &s.shot == shot).collect();
        let current: Vec<String> = planned.iter().map(|s| s.request_key.clone()).collect();
        let chained = planned.iter().any(|s| !s.chain.is_empty());
        let selected = takes::selected(ts, picks.shots.get(shot), &current, takes::placed(&written, shot)).map(|t| t.n);
        for t in ts {
            if chained || Some(t.n) == selected || current.contains(&t.request_key) {
                keep.insert(t.clip.sha256.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut out_list: Vec<Removable> = register
        .into_iter()
        .flat_map(|(shot, ts)| ts.into_iter().map(move |t| (shot.clone(), t)))
        .filter(|(_, t)| {
            !keep.contains(&t.clip.sha256) && t.clip.path == crate::record::folder::layout::kept_clip(&t.clip.sha256)
        })
        .filter(|(_, t)| seen.insert(t.clip.sha256.clone()))
        .map(|(shot, t)| Removable {
            shot,
            take: t.n,
            path: t.clip.path,
            bytes: t.clip.bytes,
        })
        .collect();
    out_list.sort_by(|a, b| (&a.shot, a.take).cmp(&(&b.shot, b.take)));
    Ok(out_list)
}

/// Why `clean` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CleanError {
    /// The folder is locked, or a take cannot be removed.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The picks cannot be read.
    #[error(transparent)]
    Picks(#[from] PickError),
}

/// Removes the takes [`removable`] lists, while holding the folder's lock (never during a
/// render); what was removed.
pub(crate) fn clean(folder: &Folder, plan: &Plan) -> Result<Vec<Removable>, CleanError> {
    let out = folder.out();
    let _lock = crate::record::folder::lock(out)?;
    let list = removable(folder, plan)?;
    for r in &list {
        let path = out.join(&r.path);
        std::fs::remove_file(&path).map_err(|source| FolderError::Write { path, source })?;
        let clip = r.path.file_stem().unwrap_or_default();
        let _ = std::fs::remove_file(out.join(crate::deliver::assemble::review::poster_path(clip)));
    }
    Ok(list)
}
