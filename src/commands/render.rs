//! `storyboard render`, as the steps a user sees: settings → plan → decide →
//! estimate/budget/confirm → lock → prepare → run → select takes → summary → assemble. Each
//! step lives in its own module; this one only wires them.

use crate::cli::RenderArgs;
use crate::decide::{Decided, Resume, Tally, frames::FrameChoice};
use crate::deliver::assemble::of_plan;
use crate::error::{Error, UsageError, exit};
use crate::facts::{catalog::ProviderKind, prices::Prices};
use crate::plan::{self, Plan};
use crate::record::folder;
use crate::record::manifest::Manifest;
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
        let concurrency = settings::concurrency(None, &plan)?;
        report::stdout(&report::summary::plan(&plan, concurrency));
        return Ok(exit::OK);
    }
    let settings = Settings::resolve(super::render_flags(&args), &plan)?;
    if let Some(prices) = live_prices(&settings, &overrides.prices, &plan).await {
        (_, plan) = super::load(&args.file, &plan::Overrides { prices, ..overrides })?;
    }
    let mut state = folder::Folder::open(&settings.out);
    crate::decide::add_redos(&mut plan, &state).map_err(UsageError::Picks)?;
    let selected = settings::select(&plan, &args.only)?;

    // Decide, estimate and confirm before anything is written or sent.
    let history = folder::readable(state.take_history())?;
    plan.approve_frames |= args.approve.is_some();
    let mut resume = Resume {
        out: settings.out.clone(),
        namespace: settings.access.namespace.clone(),
        frames: FrameChoice::read(&settings.out, &plan, &history, plan.approve_frames).map_err(UsageError::Picks)?,
        history,
        flags: sandbox_flags(&settings),
    };
    let decided = resume.decide_all(&plan, &selected);
    report::cancelled_note(resume.cancelled(&decided));
    gate(&settings, &plan, &decided)?;

    // From here on, files are written: lock the folder, then decide again under the lock.
    folder::prepare(&settings.out)?;
    let lock = folder::lock(&settings.out)?;
    folder::claim(&settings.out, &args.file)?;
    resume.history = folder::readable(state.refreshed())?;
    let paid = settings.paid_client();
    let found = crate::decide::reconcile::reconcile_before_render(paid.as_ref(), &resume, &plan, &selected).await?;
    if report::reconciled(found.as_ref()) {
        resume.history = folder::readable(state.refreshed())?;
    }
    let decided = resume.decide_all(&plan, &selected);
    let ids = plan.shots.iter().map(|s| s.shot.as_str());
    folder::check_foreign(&settings.out, &resume.history, folder::clip_names(ids))?;
    report::journal_note(&resume.history);
    let kept_in = settings.sandbox.then(|| folder::layout::sandbox(&settings.out));
    let sandbox = Sandbox::rehearsal(kept_in.as_deref()).await.map_err(Error::Sandbox)?;
    let signals = Signals::install();
    let runner = Launch {
        provider: settings.provider_client(sandbox.as_ref().map(Sandbox::base_url)),
        concurrency: settings.concurrency,
        storage: settings.storage(&src.stem)?,
        name: &src.name,
        reporter: &|estimate| report::progress::reporter(settings.style, selected.len(), estimate),
    }
    .runner(resume, &plan, &selected)?;
    let waiting = crate::decide::frames::waiting(&plan, &decided);
    let tasks = crate::prepare::tasks(&runner, &plan, &src.dir, decided, &selected).await;
    let manifest = launch::drive(&runner, (tasks.now, tasks.later), signals, args.cancel_command()).await?;
    drop(sandbox);
    let failed = summary(
        &settings,
        &plan,
        &selected,
        &manifest,
        runner.stop().level() >= 1,
        &waiting,
    );
    let frames = report::summary::frames_made(&manifest, settings.sandbox);
    for note in frames
        .into_iter()
        .chain(report::summary::frames_waiting(&settings.file, &waiting.1))
    {
        report::stderr_fitted(&note);
    }
    if runner.stop().signalled() {
        return Err(Error::interrupted(
            args.resume_command(),
            settings.sandbox && !sandbox_keeps(&settings),
        ));
    }
    if let Some(refusal) = runner.refusal() {
        return Err(Error::Account(refusal));
    }
    drop(lock);
    let cut = args.assemble.then(|| {
        state.refresh();
        of_plan(&plan, &src.stem, &state, args.strict)
    });
    let cut_failed = cut.transpose()?.is_some_and(|a| report::assembled(&a));
    Ok(if failed || cut_failed {
        exit::SHOTS_FAILED
    } else {
        exit::OK
    })
}

/// Whether the built-in sandbox keeps its jobs in the folder for the next render: its fal
/// jobs (Eachlabs predictions, which it files by API key, are not kept).
fn sandbox_keeps(settings: &Settings) -> bool {
    settings.sandbox && settings.access.provider == ProviderKind::Fal
}

/// The flags the journal is read with. Under `--sandbox`, when an earlier render kept its
/// sandbox's jobs in the folder, they are followed like a provider's (not submitted again),
/// and a submit whose answer was lost, or a job the sandbox no longer has, is sent again (it
/// costs $0).
fn sandbox_flags(settings: &Settings) -> crate::decide::Flags {
    let kept = sandbox_keeps(settings) && Sandbox::kept_in(&folder::layout::sandbox(&settings.out));
    crate::decide::Flags {
        sandbox: settings.sandbox && !kept,
        retry_uncertain: settings.flags.retry_uncertain || kept,
        resubmit_expired: settings.flags.resubmit_expired || kept,
        ..settings.flags
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
    let tally = Tally::of(plan, decided);
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

/// The end of the render reported for the selected shots; whether any of them failed (a video
/// that waits for its frame's pick has not).
fn summary(
    settings: &Settings,
    plan: &Plan,
    selected: &[usize],
    manifest: &Manifest,
    stopped: bool,
    waiting: &crate::decide::frames::Waiting<'_>,
) -> bool {
    let labels: std::collections::HashSet<&str> = selected.iter().map(|&i| plan.shots[i].id.as_str()).collect();
    let held = |r: &&crate::record::manifest::RequestRecord| {
        !stopped && r.status == crate::record::manifest::ShotStatus::Pending && waiting.0.contains(&r.label.as_str())
    };
    let records: Vec<_> = manifest
        .requests()
        .filter(|r| labels.contains(r.label.as_str()) && !held(r))
        .collect();
    let (json, out) = (settings.style == crate::style::Style::Json, &settings.out);
    let next = report::Next {
        file: &settings.file,
        out: (*out != plan.output).then_some(out.as_path()),
    };
    report::render_end(json, out, &records, (stopped, settings.sandbox), &next)
}
