//! `storyboard render`, as the steps a user sees: settings → plan → decide →
//! estimate/budget/confirm → lock → prepare → run → select takes → summary → assemble. Each
//! step lives in its own module; this one only wires them.

use crate::cli::RenderArgs;
use crate::decide::{Decided, Fate, Resume};
use crate::error::{Error, UsageError, exit};
use crate::facts::catalog::ProviderKind;
use crate::facts::prices::Prices;
use crate::plan::{self, Plan};
use crate::record::folder;
use crate::record::journal::{self, Journal};
use crate::record::manifest::{RequestRecord, ShotStatus};
use crate::report::{self, summary::Effective};
use crate::run::launch::{self, Launch};
use crate::sandbox::Sandbox;
use crate::settings::{self, Settings};
use crate::signals::Signals;

/// Runs `storyboard render`.
pub(crate) async fn render(args: RenderArgs) -> Result<i32, Error> {
    let overrides = plan::Overrides {
        provider: super::provider(args.provider),
        prices: crate::facts::prices::cached(&settings::platform_url()),
        compare: plan::Overrides::compare(&args.compare, &args.only),
    };
    let (src, mut plan) = super::load(&args.file, &overrides)?;
    if args.dry_run {
        let concurrency = settings::concurrency(None, plan.concurrency)?;
        report::stdout(&report::summary::plan(&plan, concurrency));
        return Ok(exit::OK);
    }
    let settings = Settings::resolve(super::render_flags(&args), &plan)?;
    if let Some(prices) = live_prices(&settings, &overrides.prices, &plan).await {
        (_, plan) = super::load(&args.file, &plan::Overrides { prices, ..overrides })?;
    }
    crate::record::takes::add_redos(&mut plan, &settings.out).map_err(UsageError::Picks)?;
    let selected = settings::select(&plan, &args.only)?;

    // Decide, estimate and confirm before anything is written or sent.
    let journal_path = Journal::path_in(&settings.out);
    let mut resume = Resume {
        out: settings.out.clone(),
        namespace: settings.access.namespace.clone(),
        history: Journal::read(&journal_path),
        flags: settings.flags,
    };
    refuse_unreadable(&resume.history)?;
    let decided = resume.decide_all(&plan, &selected);
    report::cancelled_note(resume.cancelled(&decided));
    gate(&settings, &plan, &decided)?;

    // From here on, files are written: lock the folder, then decide again under the lock.
    folder::prepare(&settings.out)?;
    let lock = folder::lock(&settings.out)?;
    folder::claim(&settings.out, &args.file)?;
    resume.history = Journal::read(&journal_path);
    refuse_unreadable(&resume.history)?;
    let provider = settings.paid_client();
    if crate::decide::reconcile::reconcile_before_render(provider.as_ref(), &resume, &plan, &selected).await? {
        resume.history = Journal::read(&journal_path);
    }
    let decided = resume.decide_all(&plan, &selected);
    folder::check_foreign(&settings.out, &resume.history, folder::clip_names(&plan))?;
    let sandbox = Sandbox::rehearsal(settings.sandbox).await.map_err(Error::Sandbox)?;
    let signals = Signals::install();
    let shared = match &settings.store {
        Some(s) => Some(crate::run::shared::Shared::new(
            crate::record::store::open(&s.url)?,
            src.stem.clone(),
            s.lease,
            s.poll,
        )),
        None => None,
    };
    let runner = Launch {
        provider: settings.provider_client(sandbox.as_ref().map(Sandbox::base_url)),
        concurrency: settings.concurrency,
        style: settings.style,
        shared,
        name: &src.name,
    }
    .runner(resume, &plan, &selected)?;
    let tasks = crate::prepare::tasks(&runner, &plan, &src.dir, decided, &selected).await;
    let manifest = launch::drive(&runner, tasks, signals, args.cancel_command()).await?;
    drop(sandbox);
    let records: Vec<&RequestRecord> = manifest
        .requests()
        .filter(|r| selected.iter().any(|&i| plan.shots[i].id == r.label))
        .collect();
    let json = settings.style == report::progress::Style::Json;
    report::render_end(
        json,
        &settings.out,
        &records,
        runner.stop.level() >= 1,
        settings.sandbox,
    );
    if runner.stop.signalled() {
        return Err(Error::Interrupted {
            resume: args.resume_command(),
            sandbox: settings.sandbox,
        });
    }
    if let Some(refusal) = runner.refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(Error::Account(refusal));
    }
    drop(lock);
    let bad = records
        .iter()
        .any(|r| !matches!(r.status, ShotStatus::Done | ShotStatus::Cached));
    let assembled = match args.assemble {
        true => report::assembled(&crate::deliver::assemble::of_plan(
            &plan,
            &src.stem,
            &settings.out,
            args.strict,
        )?),
        false => exit::OK,
    };
    Ok(if bad { exit::SHOTS_FAILED } else { assembled })
}

/// A journal that cannot be read at all (a link, a device, too large) stops the render before
/// anything is sent: without it, what was already paid for is unknown.
fn refuse_unreadable(history: &journal::History) -> Result<(), Error> {
    match &history.unreadable {
        Some(why) => Err(UsageError::State(format!(
            "{why} (the journal: without it storyboard cannot tell what was paid for; nothing was sent)"
        ))
        .into()),
        None => Ok(()),
    }
}

/// Before a paid fal render, fal's live prices when the cached ones are not fresh.
async fn live_prices(settings: &Settings, cached: &Prices, plan: &Plan) -> Option<Prices> {
    if settings.sandbox || settings.access.provider != ProviderKind::Fal || cached.live.is_some() {
        return None;
    }
    let (api, key) = (&settings.access.endpoints.fal_api, settings.access.key.as_deref());
    let ids = plan.shots.iter().map(|s| s.endpoint.as_str());
    Some(crate::facts::prices::before_render(ids, api, key, settings.offline).await)
}

/// The estimate, the budget, the key and the confirmation: every reason not to start.
fn gate(settings: &Settings, plan: &Plan, decided: &[Decided]) -> Result<(), Error> {
    let renders_chained = |d: &&Decided| !plan.shots[d.index].chain.is_empty() && !matches!(d.fate, Fate::Cached(_));
    if decided.iter().any(|d| renders_chained(&d)) && !crate::media::frames::available() {
        return Err(UsageError::NeedsFfmpeg.into());
    }
    let submits: Vec<usize> = decided.iter().filter(|d| d.fate.submits()).map(|d| d.index).collect();
    let estimate = plan.estimate_of(&submits);
    let resumed = decided.iter().filter(|d| d.fate.resumes()).count();
    let cached = decided.iter().filter(|d| matches!(d.fate, Fate::Cached(_))).count();
    let effective = Effective {
        out: &settings.out,
        concurrency: settings.concurrency,
        sandbox: settings.sandbox,
        host: settings.access.host(),
    };
    report::before_render(plan, &effective, settings.style, &estimate, (cached, resumed));
    settings.money.check(&estimate)?;
    if settings.money.needs_key(&estimate, resumed) {
        settings.access.require_key(&settings.file)?;
    }
    if settings.money.asks(&estimate) {
        report::confirm::confirm(settings.access.provider, &estimate, settings.money.budget)?;
    }
    Ok(())
}
