//! `storyboard adopt`: a shot follows a request found on the provider's dashboard.

use super::jobs::Jobs;
use crate::cli::AdoptArgs;
use crate::error::{Error, exit};
use crate::plan::{self};
use crate::record::journal::{self, Record};
use crate::report;
use crate::storyboard::Source;

/// `storyboard adopt FILE SHOT REQUEST_ID`: the shot follows that request (found on the
/// provider's dashboard) instead of being submitted.
pub(crate) fn adopt(args: AdoptArgs) -> Result<i32, Error> {
    check_adopted_id(&args)?;
    let mut jobs = Jobs::open(&args.file, args.out.clone(), &args.keys)?;
    jobs.need_key()?;
    let only = [args.shot.clone()];
    let (id, key) = jobs
        .shots(&only)?
        .into_iter()
        .next()
        .ok_or_else(|| crate::settings::SettingsError::NoMatch {
            pattern: args.shot.clone(),
            closest: None,
        })?;
    let plan_shot = jobs.plan.shots.iter().find(|s| s.id == id).expect("selected");
    let job = jobs.provider.job(&plan_shot.endpoint, &args.request_id);
    jobs.append(Record::Accepted {
        shot: id.clone(),
        request_key: key,
        api: jobs.namespace.clone(),
        job,
        at: journal::now(),
    })?;
    report::stderr_line(&format!(
        "{id}: follows request {} from now on; the next render downloads its clip",
        args.request_id
    ));
    Ok(exit::OK)
}

/// The id given to `adopt` has the storyboard provider's request id form (a fal UUID): anything
/// else would be put into URLs sent with the key (`../../x?y` reached other paths). Checked
/// before the folder is opened: nothing sent, nothing written.
fn check_adopted_id(args: &AdoptArgs) -> Result<(), Error> {
    let src = Source::load(&args.file)?;
    let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
    crate::provider::check_request_id(plan.provider, &args.request_id).map_err(|e| {
        let mut problem = crate::problem::Problem::in_file(
            args.file.as_str(),
            None,
            format!("{e}: copy the request id from the provider's dashboard"),
        );
        problem.shot = Some(args.shot.clone());
        problem.field = Some("REQUEST_ID".into());
        Error::BadInput(vec![problem])
    })
}
