//! `storyboard cancel`: the folder's jobs in flight, cancelled (its own: a request another
//! machine submitted and this folder only followed is left to that machine).

use super::jobs::Jobs;
use crate::cli::JobsArgs;
use crate::error::{Error, exit};
use crate::provider::Cancelled;
use crate::record::journal::{self, KeyState, Record};
use crate::report;

/// `storyboard cancel`: every selected job in flight is cancelled; queued ones are journaled as
/// cancelled (never billed; the next render submits them again).
pub(crate) async fn cancel(args: JobsArgs) -> Result<i32, Error> {
    // A folder never rendered into (a mistyped --out) is said so, and not created.
    let (_, plan, out) = super::folder_of(&args.file, args.out.as_deref())?;
    if !crate::record::folder::layout::state(&out).is_dir() {
        report::stderr_line(&format!("nothing was rendered in {out}: nothing to cancel"));
        return Ok(exit::OK);
    }
    let mut jobs = Jobs::open_at(&args.file, plan, out, &args.keys)?;
    let mut any = false;
    for (id, key) in jobs.shots(&args.only)? {
        let job = match jobs.state(&key) {
            Some(KeyState::Accepted(job) | KeyState::Finished { job, .. }) => job.clone(),
            _ => continue,
        };
        any = true;
        jobs.need_key()?;
        if jobs.folder.history().followed.contains(&job.request_id) {
            report::stderr_line(&format!(
                "{id} (request {}): another machine's request, followed from the team's store: not cancelled here (cancel it in the folder that submitted it)",
                job.request_id
            ));
            continue;
        }
        let line = match jobs.provider.cancel(&job).await {
            Ok(Cancelled::Queued) => {
                jobs.append(Record::Cancelled {
                    shot: id.clone(),
                    request_key: key,
                    api: jobs.namespace.clone(),
                    request_id: job.request_id.clone(),
                    at: journal::now(),
                })?;
                "cancelled while queued: not billed; the next render submits it again".to_owned()
            }
            Ok(Cancelled::Running) => {
                "cancellation requested while running: it may still bill; the next render follows it".to_owned()
            }
            Ok(Cancelled::AlreadyDone) => "already finished: the next render downloads it".to_owned(),
            Ok(Cancelled::Unknown) => "the provider does not know this request".to_owned(),
            Err(e) => format!("could not cancel: {e}"),
        };
        report::stderr_line(&format!("{id} (request {}): {line}", job.request_id));
    }
    if !any {
        report::stderr_line(&format!("no job in flight in {}: nothing to cancel", jobs.folder.out()));
    }
    Ok(exit::OK)
}
