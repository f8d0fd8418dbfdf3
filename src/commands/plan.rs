//! `storyboard plan`: the plan and its estimate; sends nothing.

use crate::cli;
use crate::error::{Error, UsageError, exit};
use crate::{plan, report};

/// `storyboard plan`.
pub(crate) fn plan(args: cli::PlanArgs) -> Result<i32, Error> {
    let overrides = plan::Overrides {
        provider: super::provider(args.provider),
        prices: crate::facts::prices::cached(&crate::settings::platform_url()),
        compare: None,
    };
    let (_, mut plan) = super::load(&args.file, &overrides)?;
    let concurrency = crate::settings::concurrency(None, &plan)?;
    // Redos asked for with `pick --redo` are part of what the next render costs.
    let out = plan.output.clone();
    crate::decide::add_redos(&mut plan, &crate::record::folder::Folder::open(&out)).map_err(UsageError::Picks)?;
    if args.json {
        let json = plan.to_json(u32::try_from(concurrency.get()).unwrap_or(u32::MAX));
        report::stdout(&(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"));
    } else {
        report::stdout(&report::summary::plan(&plan, concurrency));
    }
    if args.check {
        let all: Vec<usize> = (0..plan.shots.len()).collect();
        plan.estimate_of(&all).check_budget(plan.budget, false)?;
    }
    Ok(exit::OK)
}
