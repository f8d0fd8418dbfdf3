//! `storyboard clean`: takes nobody selects, removed.

use crate::cli::{self};
use crate::deliver::review::CleanError;
use crate::error::{Error, UsageError, exit};
use crate::report;

/// `storyboard clean`.
pub(crate) fn clean(args: cli::CleanArgs) -> Result<i32, Error> {
    let (_, plan, out) = super::folder_of(&args.file, args.out.as_deref())?;
    let folder = crate::record::folder::Folder::open(&out);
    let list = match args.dry_run {
        true => crate::deliver::review::removable(&folder, &plan).map_err(UsageError::Picks)?,
        false => crate::deliver::review::clean(&folder, &plan).map_err(|e| match e {
            CleanError::Folder(e) => Error::from(e),
            CleanError::Picks(e) => UsageError::Picks(e).into(),
        })?,
    };
    report::stdout(&report::summary::cleaned(&list, args.dry_run));
    Ok(exit::OK)
}
