//! `storyboard render`, as the steps a user sees: settings → plan → decide →
//! estimate/budget/confirm → lock → prepare → run → select takes → summary → assemble. Each
//! step lives in its own module; this one only wires them.

use crate::cli::RenderArgs;
use crate::decide::{Resume, frames::FrameChoice};
use crate::deliver::assemble::of_plan;
use crate::error::{Error, UsageError, exit};
use crate::plan::{self, Plan};
use crate::record::folder;
use crate::record::manifest::Manifest;
use crate::report;
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
    if let Some(prices) = super::gate::live_prices(&settings, &overrides.prices, &plan).await {
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
        flags: super::gate::sandbox_flags(&settings),
    };
    let decided = resume.decide_all(&plan, &selected);
    report::cancelled_note(resume.cancelled(&decided));
    super::gate::gate(&settings, &plan, &decided, &resume)?;

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
    let fresh = resume.frames_not_kept(&plan);
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
    let frames = report::summary::frames_made(&manifest, &fresh, settings.sandbox);
    for note in frames
        .into_iter()
        .chain(report::summary::frames_waiting(&settings.file, &waiting.1))
    {
        report::stderr_fitted(&note);
    }
    if runner.stop().signalled() {
        return Err(Error::interrupted(
            args.resume_command(),
            settings.sandbox && !super::gate::sandbox_keeps(&settings),
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
