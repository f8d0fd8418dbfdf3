//! `storyboard review`: the live review page.

use crate::cli::{self};
use crate::deliver::assemble;
use crate::error::{Error, UsageError, exit};
use crate::record::store::picks::TeamPicks;
use crate::record::takes::PickError;
use crate::report;

/// `storyboard review`: serves the page until Ctrl-C.
pub(crate) async fn review(args: cli::ReviewArgs) -> Result<i32, Error> {
    let (src, plan, out) = super::folder_of(&args.file, args.out.as_deref())?;
    if !crate::record::folder::layout::manifest(&out).is_file() {
        return Err(UsageError::Picks(PickError::NothingRendered(out)).into());
    }
    let shots: Vec<&str> = plan.shots.iter().map(|s| s.shot.as_str()).collect();
    let cut = format!("{}.mp4", assemble::name(plan.title.as_deref(), &src.stem, &shots));
    let title = plan.title.clone().unwrap_or_else(|| src.stem.clone());
    let open = args.open;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let team = TeamPicks::named(plan.store.as_deref(), &src.stem)
        .map_err(|e| UsageError::Picks(PickError::Shared(e.to_string())))?;
    let team = team.map(|t| (t, report::stderr_line as fn(&str)));
    crate::deliver::review::server::serve(out, (title, cut), team, args.port, |url| {
        report::stdout(&format!("review: {url}\n(Ctrl-C to stop)\n"));
        if open {
            report::open_in_browser(url);
        }
    })
    .await
    .map_err(|source| Error::Serve { addr, source })?;
    Ok(exit::OK)
}
