//! `storyboard plan`: the plan and its estimate; sends nothing.

use crate::cli::{self};
use crate::error::{Error, UsageError, exit};
use crate::storyboard::Source;
use crate::{plan, report};

/// `storyboard plan`.
pub(crate) fn plan(args: cli::PlanArgs) -> Result<i32, Error> {
    let src = Source::load(&args.file)?;
    let overrides = plan::Overrides {
        provider: args.provider.map(Into::into),
        prices: crate::facts::prices::cached(&crate::settings::platform_url()),
        compare: None,
    };
    let mut plan = plan::plan(&src, &overrides).map_err(Error::BadInput)?;
    // Redos asked for with `pick --redo` are part of what the next render costs.
    let out = plan.output.clone();
    crate::decide::add_redos(&mut plan, &crate::record::folder::Folder::open(&out)).map_err(UsageError::Picks)?;
    if args.json {
        report::stdout(&(serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default() + "\n"));
    } else {
        report::stdout(&report::summary::plan(&plan));
    }
    if args.check {
        let all: Vec<usize> = (0..plan.shots.len()).collect();
        plan.estimate_of(&all).check_budget(plan.budget, false)?;
    }
    Ok(exit::OK)
}
