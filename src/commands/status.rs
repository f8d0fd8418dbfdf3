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
    let team = pull(team, &out);
    let folder = Folder::open(&out);
    let states = status::status(&folder, &listing).map_err(UsageError::Picks)?;
    let sandbox = status::sandbox_only(folder.history());
    let shared = team.map(|t| in_team_store(&t, &folder, &listing)).unwrap_or_default();
    if args.json {
        let mut json = status::to_json(&out, &states, sandbox);
        json["in_team_store"] = serde_json::json!(shared);
        report::stdout(&(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"));
    } else {
        let mut text = report::summary::status(&out, &states, sandbox, report::table::stdout_width());
        for shot in &shared {
            text.push_str(&format!(
                "  {shot}: a take in the team store — `storyboard render` fetches it for $0, no provider request\n"
            ));
        }
        report::stdout(&text);
    }
    Ok(exit::OK)
}

/// The listed shots whose current request has no take in this folder but one in the team's
/// store (under any API namespace this machine could render against); a store that cannot be
/// reached is a warning.
fn in_team_store(team: &TeamPicks, folder: &Folder, listing: &status::Listing) -> Vec<String> {
    let done: std::collections::HashSet<&str> = folder.history().done.iter().map(|r| r.request_key.as_str()).collect();
    let missing: Vec<String> = listing
        .iter()
        .filter(|(_, key, _)| !done.contains(key.as_str()))
        .map(|(_, key, _)| key.clone())
        .collect();
    let mut apis = vec!["sandbox".to_owned()];
    if let Ok(e) = crate::settings::endpoints_from_env() {
        apis.extend([e.fal_queue, e.eachlabs]);
    }
    match team.in_store(&apis, &missing) {
        Ok(held) => listing
            .iter()
            .filter(|(_, key, _)| held.contains(key))
            .map(|(shot, _, _)| shot.clone())
            .collect(),
        Err(e) => {
            report::stderr_line(&format!("warning: {e}; takes in the team store are not listed"));
            Vec::new()
        }
    }
}

/// The team's picks brought into the folder first, when there is a store (a store that cannot
/// be reached is a warning: the folder's own picks are shown).
pub(crate) fn pull(
    team: Result<Option<TeamPicks>, crate::record::store::StoreError>,
    out: &camino::Utf8Path,
) -> Option<TeamPicks> {
    let pulled = team
        .map_err(|e| e.to_string())
        .and_then(|t| t.map_or(Ok(None), |t| t.pull(out).map(|()| Some(t)).map_err(|e| e.to_string())));
    pulled.unwrap_or_else(|e| {
        report::stderr_line(&format!("warning: {e}; showing this folder's picks"));
        None
    })
}

/// The stem of the storyboard a folder was rendered from (its manifest says).
fn storyboard_stem(out: &camino::Utf8Path) -> Option<String> {
    let m = crate::record::manifest::Manifest::read(&crate::record::folder::layout::manifest(out))?;
    camino::Utf8Path::new(&m.storyboard).file_stem().map(str::to_owned)
}
