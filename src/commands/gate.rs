//! What `render` settles before it starts: live prices, the journal's flags under the kept
//! sandbox, and the gate (estimate, budget, key, confirmation).

use crate::decide::{Decided, Resume, Tally};
use crate::error::{Error, UsageError};
use crate::facts::{catalog::ProviderKind, prices::Prices};
use crate::plan::Plan;
use crate::record::folder;
use crate::report::{self, summary::Effective};
use crate::sandbox::Sandbox;
use crate::settings::Settings;

/// Whether the built-in sandbox keeps its jobs in the folder for the next render: its fal
/// jobs (Eachlabs predictions, which it files by API key, are not kept).
pub(super) fn sandbox_keeps(settings: &Settings) -> bool {
    settings.sandbox && settings.access.provider == ProviderKind::Fal
}

/// The flags the journal is read with. Under `--sandbox`, when an earlier render kept its
/// sandbox's jobs in the folder, they are followed like a provider's (not submitted again),
/// and a submit whose answer was lost, or a job the sandbox no longer has, is sent again (it
/// costs $0).
pub(super) fn sandbox_flags(settings: &Settings) -> crate::decide::Flags {
    let kept = sandbox_keeps(settings) && Sandbox::kept_in(&folder::layout::sandbox(&settings.out));
    crate::decide::Flags {
        sandbox: settings.sandbox && !kept,
        retry_uncertain: settings.flags.retry_uncertain || kept,
        resubmit_expired: settings.flags.resubmit_expired || kept,
        ..settings.flags
    }
}

/// Before a paid fal render, fal's live prices when the cached ones are not fresh.
pub(super) async fn live_prices(settings: &Settings, cached: &Prices, plan: &Plan) -> Option<Prices> {
    if settings.sandbox || settings.access.provider != ProviderKind::Fal || cached.live.is_some() {
        return None;
    }
    let (api, key) = (&settings.access.endpoints.fal_api, settings.access.key.as_deref());
    let ids = plan.shots.iter().map(|s| s.endpoint.as_str());
    Some(crate::facts::prices::before_render(ids, api, key, settings.offline).await)
}

/// The estimate, the budget, the key and the confirmation: every reason not to start.
pub(super) fn gate(settings: &Settings, plan: &Plan, decided: &[Decided], resume: &Resume) -> Result<(), Error> {
    let tally = Tally::of(plan, decided, resume);
    if tally.chained && !crate::media::frames::available() {
        return Err(UsageError::NeedsFfmpeg.into());
    }
    let effective = Effective {
        out: &settings.out,
        concurrency: settings.concurrency,
        sandbox: settings.sandbox,
        host: settings.access.host(),
        dotenv_ignored: &settings.access.dotenv_ignored,
    };
    let counts = (tally.cached, tally.resumed);
    report::before_render(plan, &effective, settings.style, &tally.estimate, counts);
    settings.money.check(&tally.estimate)?;
    if settings.money.needs_key(&tally.estimate, tally.resumed) {
        settings.access.require_key(&settings.file)?;
    }
    if settings.money.asks(&tally.estimate) {
        report::confirm::confirm(settings.access.provider, &tally.estimate, settings.money.budget)?;
    }
    Ok(())
}
