//! `storyboard assemble`: the cut, timeline and review page of what was rendered.

use crate::cli::{self};
use crate::deliver::assemble;
use crate::error::Error;
use crate::storyboard::Source;
use crate::{plan, report};

/// `storyboard assemble`.
pub(crate) fn assemble(args: cli::AssembleArgs) -> Result<i32, Error> {
    let src = Source::load(&args.file)?;
    let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
    let out = args.out.clone().unwrap_or_else(|| plan.output.clone());
    let result = assemble::of_plan(&plan, &src.stem, &out, args.strict)?;
    Ok(match report::assembled(&result) {
        true => crate::error::exit::SHOTS_FAILED,
        false => crate::error::exit::OK,
    })
}
