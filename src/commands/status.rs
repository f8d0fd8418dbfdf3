//! `storyboard status`: what each shot of a folder has.

use crate::cli::{self};
use crate::error::{Error, UsageError, exit};
use crate::record::folder::Folder;
use crate::record::status;
use crate::record::store::picks::TeamPicks;
use crate::storyboard::Source;
use crate::{plan, report};

/// `storyboard status FILE|DIR`.
pub(crate) fn status(args: cli::StatusArgs) -> Result<i32, Error> {
    let (out, listing, team) = if args.target.is_dir() {
        let listing = status::listing_from_manifest(&args.target)
            .ok_or_else(|| UsageError::NothingRendered(args.target.clone()))?;
        let stem = storyboard_stem(&args.target).unwrap_or_default();
        (args.target.clone(), listing, TeamPicks::named(None, &stem))
    } else {
        let src = Source::load(&args.target)?;
        let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
        let listing = crate::decide::listing_from_plan(&plan, &plan.output);
        let team = TeamPicks::named(plan.store.as_deref(), &src.stem);
        (plan.output.clone(), listing, team)
    };
    pull(team, &out);
    let folder = Folder::open(&out);
    let states = status::status(&folder, &listing).map_err(UsageError::Picks)?;
    let sandbox = status::sandbox_only(folder.history());
    if args.json {
        let json = serde_json::to_string_pretty(&status::to_json(&out, &states, sandbox)).unwrap_or_default();
        report::stdout(&(json + "\n"));
    } else {
        report::stdout(&report::summary::status(
            &out,
            &states,
            sandbox,
            report::table::stdout_width(),
        ));
    }
    Ok(exit::OK)
}

/// The team's picks brought into the folder first, when there is a store (a store that cannot
/// be reached is a warning: the folder's own picks are shown).
pub(crate) fn pull(team: Result<Option<TeamPicks>, crate::record::store::StoreError>, out: &camino::Utf8Path) {
    let pulled = team
        .map_err(|e| e.to_string())
        .and_then(|t| t.map_or(Ok(()), |t| t.pull(out).map_err(|e| e.to_string())));
    if let Err(e) = pulled {
        report::stderr_line(&format!("warning: {e}; showing this folder's picks"));
    }
}

/// The stem of the storyboard a folder was rendered from (its manifest says).
fn storyboard_stem(out: &camino::Utf8Path) -> Option<String> {
    let m = crate::record::manifest::Manifest::read(&crate::record::folder::layout::manifest(out))?;
    camino::Utf8Path::new(&m.storyboard).file_stem().map(str::to_owned)
}
