//! `storyboard assemble`: the cut, timeline and review page of what was rendered.

use crate::cli::{self};
use crate::deliver::assemble;
use crate::error::Error;
use crate::report;

/// `storyboard assemble`.
pub(crate) fn assemble(args: cli::AssembleArgs) -> Result<i32, Error> {
    let (src, plan, out) = super::folder_of(&args.file, args.out.as_deref())?;
    let team = crate::record::store::picks::TeamPicks::named(plan.store.as_deref(), &src.stem);
    let _ = super::status::pull(team, &out);
    let folder = crate::record::folder::Folder::open(&out);
    let result = assemble::of_plan(&plan, &src.stem, &folder, args.strict)?;
    Ok(match report::assembled(&result) {
        true => crate::error::exit::SHOTS_FAILED,
        false => crate::error::exit::OK,
    })
}
