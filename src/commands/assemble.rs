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
    let folder = crate::record::folder::Folder::open(&out);
    let result = assemble::of_plan(&plan, &src.stem, &folder, args.strict)?;
    Ok(report::assembled(&result))
}
