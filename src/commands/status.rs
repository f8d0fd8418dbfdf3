//! `storyboard status`: what each shot of a folder has.

use crate::cli::{self};
use crate::error::{Error, UsageError, exit};
use crate::record::folder::Folder;
use crate::record::status;
use crate::storyboard::Source;
use crate::{plan, report};

/// `storyboard status FILE|DIR`.
pub(crate) fn status(args: cli::StatusArgs) -> Result<i32, Error> {
    let (out, listing) = if args.target.is_dir() {
        let listing = status::listing_from_manifest(&args.target)
            .ok_or_else(|| UsageError::NothingRendered(args.target.clone()))?;
        (args.target.clone(), listing)
    } else {
        let src = Source::load(&args.target)?;
        let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
        let listing = crate::decide::listing_from_plan(&plan, &plan.output);
        (plan.output.clone(), listing)
    };
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
