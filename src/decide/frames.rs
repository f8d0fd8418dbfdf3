//! Frames first (#25): which frames each framed shot's video is made from, decided before the
//! run from the director's picks — a picked frame take (first frame or end frame), else the
//! frame of the shot's current frame request (rendered first when missing) — and whether videos
//! wait for a pick (`approve: frames`).

use camino::Utf8Path;
use std::collections::HashMap;

use crate::plan::Plan;
use crate::record::journal::History;
use crate::record::manifest::ClipRecord;
use crate::record::takes::{Edge, PickError, Picks};

/// The frames a render animates.
#[derive(Debug, Clone, Default)]
pub(crate) struct FrameChoice {
    /// `approve: frames` (or `--approve frames`): no video before its frames are picked.
    pub gate: bool,
    /// The picked frame takes whose picks are kept and intact, by the frame's takes' id
    /// (`<shot>.frame`, `<shot>.end_frame`).
    pub picked: HashMap<String, ClipRecord>,
}

impl FrameChoice {
    /// The frames picked for the plan's framed shots, from the folder's picks and journal.
    pub(crate) fn read(out: &Utf8Path, plan: &Plan, history: &History, gate: bool) -> Result<FrameChoice, PickError> {
        let mut choice = FrameChoice {
            gate,
            picked: HashMap::new(),
        };
        if !plan.shots.iter().any(|s| s.framed()) {
            return Ok(choice);
        }
        let picks = Picks::read(out)?;
        let takes = crate::record::takes::register(out, history);
        let redo = crate::record::takes::pending_redo(&picks, history);
        for shot in &plan.shots {
            for f in shot.edge_frames() {
                let id = f.edge.id(&shot.shot);
                let pick = picks.shots.get(&id);
                // A frame redo asked after a pick: the redo's frame is animated.
                let n = pick.and_then(|p| p.take).filter(|_| redo(&id).is_none());
                let take = n.and_then(|n| takes.get(&id)?.iter().find(|t| t.n == n));
                // A pick of a frame the storyboard no longer asks for (an edited frame prompt,
                // aspect ratio, model…) is let go: the new frame is made.
                let current = current_keys(shot, f, pick.map_or(&[][..], |p| &p.redo));
                let all = takes.get(&id).map_or(&[][..], Vec::as_slice);
                if let (Some(t), Some(p)) = (take, pick)
                    && crate::record::takes::frame_pick_holds(t, p, all, &current)
                    && crate::digest::verify(&out.join(&t.clip.path), t.clip.bytes, &t.clip.sha256)
                {
                    choice.picked.insert(id, t.clip.clone());
                }
            }
        }
        Ok(choice)
    }

    /// The picked first frame or end frame of a shot.
    pub(crate) fn of(&self, shot: &str, edge: Edge) -> Option<&ClipRecord> {
        self.picked.get(&edge.id(shot))
    }

    /// Whether the shot's video waits for a frame pick (each of its frames is picked).
    pub(crate) fn waits(&self, shot: &crate::plan::PlannedShot) -> bool {
        self.gate && shot.edge_frames().any(|f| self.of(&shot.shot, f.edge).is_none())
    }
}

/// The request keys of a shot's frame (at `f`'s edge) the storyboard asks for now: the frame,
/// its other takes, and each redo asked for it.
fn current_keys(shot: &crate::plan::PlannedShot, f: &crate::plan::frames::PlannedFrame, redos: &[u32]) -> Vec<String> {
    let takes = shot.more_frames.iter().filter(|m| m.edge == f.edge);
    let redone = redos.iter().map(|&after| f.redone(after).request_key);
    std::iter::once(f.request_key.clone())
        .chain(takes.map(|m| m.request_key.clone()))
        .chain(redone)
        .collect()
}

/// The requests whose videos wait for a frame pick (`approve: frames`), and their shots once.
pub(crate) type Waiting<'p> = (Vec<&'p str>, Vec<&'p str>);

/// The requests whose videos wait for a frame pick, and their shots (each once).
pub(crate) fn waiting<'p>(plan: &'p Plan, decided: &[super::Decided]) -> Waiting<'p> {
    let waits = |d: &&super::Decided| d.fate == crate::decide::Fate::AwaitsPick;
    let labels = decided.iter().filter(waits).map(|d| plan.shots[d.index].id.as_str());
    let mut shots: Vec<&str> = decided
        .iter()
        .filter(waits)
        .map(|d| plan.shots[d.index].shot.as_str())
        .collect();
    shots.dedup();
    (labels.collect(), shots)
}
