//! `storyboard reconcile`: uncertain submits looked up in the provider's request history.

use super::jobs::Jobs;
use crate::cli::JobsArgs;
use crate::decide::reconcile::find_uncertain;
use crate::error::{Error, exit};
use crate::report;

/// `storyboard reconcile`: each uncertain submit is looked up in fal's request history by its
/// exact input; a match is adopted (followed by the next render, never resubmitted).
pub(crate) async fn reconcile(args: JobsArgs) -> Result<i32, Error> {
    let mut jobs = Jobs::open(&args.file, args.out.clone(), &args.keys)?;
    jobs.need_key()?;
    let shots = jobs.shots(&args.only)?;
    let found = find_uncertain(
        &jobs.provider,
        &jobs.journal,
        jobs.folder.history(),
        &jobs.namespace,
        &shots,
    )
    .await?;
    for line in &found.lines {
        report::stderr_line(line);
    }
    Ok(if found.unresolved > 0 {
        exit::SHOTS_FAILED
    } else {
        exit::OK
    })
}
