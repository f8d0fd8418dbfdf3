//! `storyboard render`, as the steps a user sees: settings → plan → decide →
//! estimate/budget/confirm → lock → prepare → run → summary → assemble. Each step lives in
//! its own module; this one only wires them.

use std::sync::Arc;

use crate::cli::RenderArgs;
use crate::decide::{Decided, Fate, Resume};
use crate::error::{Error, UsageError, exit};
use crate::facts::cost::Refusal;
use crate::plan::{self, Plan};
use crate::prepare::Preparation;
use crate::record::folder;
use crate::record::journal::{self, Journal};
use crate::record::ledger::Ledger;
use crate::record::manifest::{Manifest, RequestRecord, ShotStatus};
use crate::report::progress::Style;
use crate::report::{self, Reporter};
use crate::run::{Runner, Settle, Task};
use crate::sandbox::Sandbox;
use crate::settings::{self, Settings};
use crate::signals::Signals;
use crate::storyboard::Source;

/// Runs `storyboard render`.
pub(crate) async fn render(args: RenderArgs) -> Result<i32, Error> {
    let src = Source::load(&args.file)?;
    let overrides = plan::Overrides {
        provider: args.provider.map(Into::into),
        prices: crate::facts::prices::cached(&settings::platform_url()),
        compare: plan::Overrides::compare(&args.compare, &args.only),
    };
    let mut plan = plan::plan(&src, &overrides).map_err(Error::BadInput)?;
    if args.dry_run {
        report::stdout(&report::summary::plan(&plan));
        return Ok(exit::OK);
    }
    let settings = Settings::resolve(&args, &plan)?;
    if let Some(prices) = live_prices(&args, &settings, &overrides.prices, &plan).await {
        plan = plan::plan(&src, &plan::Overrides { prices, ..overrides }).map_err(Error::BadInput)?;
    }
    let mut state = folder::Folder::open(&settings.out);
    crate::decide::add_redos(&mut plan, &state).map_err(UsageError::Picks)?;
    let selected = settings::select(&plan, &args.only)?;

    // Decide, estimate and confirm before anything is written or sent.
    let mut resume = Resume {
        out: settings.out.clone(),
        namespace: settings.namespace.clone(),
        history: state.take_history(),
        flags: settings.flags,
    };
    refuse_unreadable(&resume.history)?;
    let decided = resume.decide_all(&plan, &selected);
    report::cancelled_note(resume.cancelled(&decided));
    gate(&args, &settings, &plan, &decided)?;

    // From here on, files are written: lock the folder, then decide again under the lock.
    folder::prepare(&settings.out)?;
    let lock = folder::lock(&settings.out)?;
    folder::claim(&settings.out, &args.file)?;
    resume.history = state.refreshed();
    refuse_unreadable(&resume.history)?;
    if crate::decide::reconcile::reconcile_before_render(&settings, &plan, &selected, &resume.history).await? {
        resume.history = state.refreshed();
    }
    let decided = resume.decide_all(&plan, &selected);
    folder::check_foreign(
        &settings.out,
        &resume.history,
        folder::clip_names(plan.shots.iter().map(|s| s.shot.as_str())),
    )?;
    let sandbox = Sandbox::rehearsal(args.sandbox).await.map_err(Error::Sandbox)?;
    let signals = Signals::install();
    let runner = start(&settings, resume, &plan, &src, &selected, sandbox.as_ref())?;
    let tasks = prepare(&runner, &plan, &src, decided, &selected).await;
    let manifest = run(&runner, tasks, signals, report::hints::cancel_command(&args)).await?;
    drop(sandbox);
    let labels: std::collections::HashSet<&str> = selected.iter().map(|&i| plan.shots[i].id.as_str()).collect();
    let records: Vec<&RequestRecord> = manifest
        .requests()
        .filter(|r| labels.contains(r.label.as_str()))
        .collect();
    report::render_end(
        settings.style == Style::Json,
        &settings.out,
        &records,
        runner.stop().level() >= 1,
        args.sandbox,
    );
    if runner.stop().signalled() {
        return Err(Error::Interrupted {
            resume: report::hints::resume_command(&args),
            sandbox: args.sandbox,
        });
    }
    if let Some(refusal) = runner.refusal() {
        return Err(Error::Account(refusal));
    }
    drop(lock);
    let bad = records
        .iter()
        .any(|r| !matches!(r.status, ShotStatus::Done | ShotStatus::Cached));
    let assembled = if args.assemble {
        state.refresh();
        report::assembled(&crate::deliver::assemble::of_plan(
            &plan,
            &src.stem,
            &state,
            args.strict,
        )?)
    } else {
        exit::OK
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

/// Runs the tasks with the signal handler and the manifest flusher beside them; the final
/// manifest.
async fn run(runner: &Arc<Runner>, tasks: Vec<Task>, signals: Signals, cancel: String) -> Result<Manifest, Error> {
    let signals = tokio::spawn(signals.watch(runner.stop().clone(), runner.reporter().clone(), cancel));
    let flusher = tokio::spawn({
        let ledger = runner.ledger().clone();
        async move { ledger.flush_periodically().await }
    });
    runner.clone().run(tasks).await;
    signals.abort();
    flusher.abort();
    select_takes(runner);
    runner.reporter().finish();
    let out = runner.out();
    runner
        .ledger()
        .finish(journal::now())
        .and_then(|()| folder::Written::record(out, &[crate::record::folder::layout::MANIFEST]))
        .map_err(|source| Error::Write {
            path: crate::record::folder::layout::manifest(out),
            source,
        })?;
    Ok(runner.ledger().snapshot())
}

/// Before a paid fal render, fal's live prices for the plan's endpoints when the cached ones
/// are not fresh (`--offline`, no key, or no answer: the table, said in the plan's note).
async fn live_prices(
    args: &RenderArgs,
    settings: &Settings,
    cached: &crate::facts::prices::Prices,
    plan: &Plan,
) -> Option<crate::facts::prices::Prices> {
    let paid_fal = !args.sandbox && settings.provider == crate::facts::catalog::ProviderKind::Fal;
    if !paid_fal || cached.live.is_some() {
        return None;
    }
    if args.offline {
        return Some(crate::facts::prices::Prices::table("--offline"));
    }
    let mut ids: Vec<&str> = plan.shots.iter().map(|s| s.endpoint.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let api = crate::settings::platform_url();
    let fetched =
        crate::facts::prices::refresh(&crate::provider::http::client(), &api, settings.key.as_deref(), &ids).await;
    Some(fetched.unwrap_or_else(|e| crate::facts::prices::Prices::table(format!("{e}"))))
}

/// Every shot's selected take at `<id>.mp4`, and the takes in the manifest.
fn select_takes(runner: &Runner) {
    let out = runner.out();
    let history = folder::Folder::history_now(out);
    // The redo requests' final keys (a chained shot's is known once its frames are).
    let redo_labels: std::collections::HashMap<&str, &str> = runner
        .shots()
        .iter()
        .filter(|s| s.redo.is_some())
        .map(|s| (s.id.as_str(), s.shot.as_str()))
        .collect();
    let redos: Vec<(String, String)> = runner
        .ledger()
        .snapshot()
        .requests()
        .filter_map(|r| Some((redo_labels.get(r.label.as_str())?.to_string(), r.request_key.clone())))
        .collect();
    let mut problems = Vec::new();
    if let Err(e) = crate::record::takes::keep_redos(out, &redos, &history) {
        problems.push(e.to_string());
    }
    // Read (and refused when corrupt) before anything was sent; changed since: said, not skipped.
    let picks = crate::record::takes::Picks::read(out).unwrap_or_else(|e| {
        problems.push(e.to_string());
        crate::record::takes::Picks::default()
    });
    runner
        .ledger()
        .update_shots(|shots| problems = crate::record::takes::apply(out, shots, &history, &picks));
    for p in problems {
        runner.reporter().event(&report::Event::Notice(format!("warning: {p}")));
    }
}

/// Opens the journal, writes the starting manifest and builds the runner (ledger, reporter,
/// stop level, outcome board and the one concurrency limit).
fn start(
    settings: &Settings,
    resume: Resume,
    plan: &Plan,
    src: &Source,
    selected: &[usize],
    sandbox: Option<&Sandbox>,
) -> Result<Arc<Runner>, Error> {
    let journal_path = Journal::path_in(&settings.out);
    let journal = Arc::new(Journal::open(&journal_path).map_err(|source| Error::Write {
        path: journal_path.clone(),
        source,
    })?);
    match resume.history.warning() {
        Some(w) => report::stderr_line(&w),
        None => report::skipped_lines_note(resume.history.skipped),
    }
    let manifest_path = crate::record::folder::layout::manifest(&settings.out);
    let (manifest, locate) = resume.starting_manifest(&src.name, plan, selected, journal::now());
    let estimate = manifest.estimated_usd;
    let ledger = Arc::new(Ledger::new(manifest_path.clone(), manifest, locate));
    ledger.flush().map_err(|source| Error::Write {
        path: manifest_path,
        source,
    })?;
    let reporter: Arc<dyn Reporter> = Arc::from(report::progress::reporter(settings.style, selected.len(), estimate));
    let runner = Arc::new(Runner::new(crate::run::Parts {
        provider: settings.provider_client(sandbox.map(Sandbox::base_url)),
        resume,
        shots: plan.shots.clone(),
        journal,
        ledger,
        reporter,
        concurrency: settings.concurrency,
        store: storage(settings, src)?,
    }));
    Ok(runner)
}

/// Where takes and claims go: this folder only, or the team's store when `--store` (or
/// `STORYBOARD_STORE`) names one.
fn storage(settings: &Settings, src: &Source) -> Result<crate::run::Storage, Error> {
    let Some(url) = &settings.store else {
        return Ok(crate::run::Storage::default());
    };
    let store = crate::record::store::open(url)?;
    let secs = |var: &str, default: u64| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let team = crate::run::Team {
        storyboard: src.stem.clone(),
        lease: std::time::Duration::from_secs(secs("STORYBOARD_STORE_LEASE", 300)),
        poll: match settings.fast_poll {
            true => std::time::Duration::from_millis(50),
            false => std::time::Duration::from_secs(2),
        },
        worker: std::env::var("STORYBOARD_WORKER")
            .ok()
            .and_then(|w| crate::run::worker(&w)),
    };
    Ok(crate::run::Storage::shared(store, &team))
}

/// The estimate, the budget, the key and the confirmation: every reason not to start.
fn gate(args: &RenderArgs, settings: &Settings, plan: &Plan, decided: &[Decided]) -> Result<(), Error> {
    let chained_to_render = decided
        .iter()
        .any(|d| !plan.shots[d.index].chain.is_empty() && !matches!(d.fate, Fate::Cached(_)));
    if chained_to_render && !crate::media::frames::available() {
        return Err(UsageError::NeedsFfmpeg.into());
    }
    let submits: Vec<usize> = decided.iter().filter(|d| d.fate.submits()).map(|d| d.index).collect();
    let estimate = plan.estimate_of(&submits);
    let resumed = decided.iter().filter(|d| d.fate.resumes()).count();
    let cached = decided.iter().filter(|d| matches!(d.fate, Fate::Cached(_))).count();
    if settings.style != Style::Json && settings.style != Style::Quiet {
        let effective = report::summary::Effective {
            out: &settings.out,
            concurrency: settings.concurrency,
            sandbox: args.sandbox,
            host: match settings.provider {
                crate::facts::catalog::ProviderKind::Fal => &settings.endpoints.fal_queue,
                crate::facts::catalog::ProviderKind::Eachlabs => &settings.endpoints.eachlabs,
            },
        };
        let table = report::summary::plan_for_render(plan, &effective, report::terminal_width());
        report::stderr_fitted(table.trim_end());
    }
    if settings.style != Style::Json {
        let line = report::summary::to_render(&estimate, cached, resumed, args.sandbox);
        report::stderr_fitted(&line);
    }
    if !args.ignore_budget {
        // The sandbox rehearses the money rules: what a paid render would refuse, it refuses.
        let checked = estimate.check_budget(settings.budget, args.allow_unpriced);
        checked.map_err(|r| {
            if args.sandbox {
                Refusal::Rehearsed(Box::new(r))
            } else {
                r
            }
        })?;
    }
    let needs_key = !args.sandbox && (estimate.shots > 0 || resumed > 0);
    if needs_key && settings.key.is_none() {
        return Err(UsageError::MissingKey {
            var: settings.key_var(),
            provider: settings.provider.to_string(),
            file: args.file.clone(),
        }
        .into());
    }
    if !args.sandbox && !args.yes && estimate.shots > 0 {
        report::confirm::confirm(settings.provider, &estimate, settings.budget)?;
    }
    Ok(())
}

/// The tasks of the run, with their local files uploaded and voices created; tasks whose
/// preparation failed are settled as failed and left out.
async fn prepare(runner: &Runner, plan: &Plan, src: &Source, decided: Vec<Decided>, selected: &[usize]) -> Vec<Task> {
    let mut is_selected = vec![false; plan.shots.len()];
    for &i in selected {
        is_selected[i] = true;
    }
    let mut tasks = Task::from_decisions(plan, decided);
    runner.spread(&mut tasks);
    runner.publish_unselected(&is_selected);
    crate::prepare::keep_frontals(plan, runner.out());
    let prepared = Preparation {
        plan,
        provider: runner.provider(),
        resume: runner.resume(),
        journal: runner.journal(),
        dir: &src.dir,
        slots: runner.slots(),
        reporter: runner.reporter().as_ref(),
    }
    .run(&tasks)
    .await;
    let mut ready = Vec::with_capacity(tasks.len());
    for mut task in tasks.drain(..) {
        let failure = prepared.apply(plan, &mut task);
        let input = task.input.clone();
        for i in task.indices() {
            runner.ledger().update(i, |r| r.input = input.clone());
        }
        match failure {
            Some(error) => runner.settle(
                &task,
                Settle::Failed {
                    request_id: None,
                    attempts: 0,
                    error,
                },
            ),
            None => ready.push(task),
        }
    }
    ready
}
