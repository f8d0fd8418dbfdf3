//! `storyboard pick`: a take, a redo or a note for a shot.

use crate::cli::{self};
use crate::error::{Error, UsageError, exit};
use crate::record::store::picks::TeamPicks;
use crate::record::takes::{Edge, PickError};
use crate::report;

/// `storyboard pick`.
pub(crate) fn pick(args: cli::PickArgs) -> Result<i32, Error> {
    let (src, plan, out) = super::folder_of(&args.file, args.out.as_deref())?;
    let team = TeamPicks::named(plan.store.as_deref(), &src.stem)
        .map_err(|e| UsageError::Picks(PickError::Shared(e.to_string())))?;
    let mut changes = Vec::new();
    if let Some(n) = args.take {
        changes.push(crate::deliver::review::Change::Take(n));
    }
    if args.redo {
        changes.push(crate::deliver::review::Change::Redo);
    }
    for (edge, n, redo) in [
        (Edge::Start, args.frame, args.redo_frame),
        (Edge::End, args.end_frame, args.redo_end_frame),
    ] {
        if let Some(n) = n {
            changes.push(crate::deliver::review::Change::Frame(edge, n));
        }
        if redo {
            changes.push(crate::deliver::review::Change::RedoFrame(edge));
        }
    }
    if args.no_redo {
        changes.push(crate::deliver::review::Change::NoRedo);
    }
    let frame = [(Edge::Start, args.frame), (Edge::End, args.end_frame)]
        .into_iter()
        .find_map(|(edge, n)| Some((edge, n?)));
    match (args.note, frame) {
        // A note given with a frame take is about that frame take.
        (Some(text), Some((edge, n))) if args.take.is_none() => {
            changes.push(crate::deliver::review::Change::FrameNote(edge, n, text));
        }
        // A note given with a take is about that take; else about the shot's selected take.
        (Some(text), _) => changes.push(crate::deliver::review::Change::Note { take: args.take, text }),
        (None, _) => {}
    }
    let folder = crate::record::folder::Folder::open(&out);
    for change in changes {
        let line =
            crate::deliver::review::change(&folder, &args.shot, change, team.as_ref()).map_err(UsageError::Picks)?;
        report::stdout(&format!("{line}\n"));
    }
    Ok(exit::OK)
}
