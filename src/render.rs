//! `storyboard render`: settings, the estimate and its confirmation, the folder lock, the
//! journal's verdict on each shot (cached / resume / submit / uncertain), uploads, and the run.

use camino::{Utf8Path, Utf8PathBuf};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use crate::catalog::ProviderKind;
use crate::cli::RenderArgs;
use crate::cost::Micros;
use crate::download;
use crate::error::{Error, exit};
use crate::journal::{self, History, Journal, KeyState, Record};
use crate::manifest::{Manifest, ShotRecord, ShotStatus};
use crate::plan::{self, Plan};
use crate::provider::http::{self, check_base_url};
use crate::provider::{Endpoints, Provider};
use crate::report::progress::{self, Style};
use crate::report::{self, Event, Reporter};
use crate::runner::{Action, Decision, Ledger, Runner, Stop, Work, uncertain_message};
use crate::sandbox::{Sandbox, SandboxConfig};

/// What the journal and the disk say about one selected shot.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// The clip is on disk and verified.
    Cached,
    /// Render it.
    Go(Action),
    /// An earlier submit's outcome is unknown: left alone.
    Uncertain(String),
    /// The provider forgot an earlier request: left alone.
    Gone(String),
    /// A chained shot whose upstream clip is rendered in this run: decided once it exists.
    Deferred,
}

/// Resolved render settings.
struct Settings {
    concurrency: usize,
    out: Utf8PathBuf,
    provider: ProviderKind,
    endpoints: Endpoints,
    key: Option<String>,
    api: String,
    budget: Option<Micros>,
    style: Style,
}

fn settings(args: &RenderArgs, plan: &Plan) -> Result<Settings, Error> {
    let concurrency = match args.concurrency {
        Some(0) => return Err(Error::Usage("--concurrency must be at least 1".into())),
        Some(n) => n as usize,
        None => plan.concurrency.max(1) as usize,
    };
    let env = |name: &str, default: &str| -> Result<String, Error> {
        let v = std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned());
        check_base_url(name, &v).map_err(Error::Usage)
    };
    let d = Endpoints::default();
    let endpoints = Endpoints {
        fal_queue: env("STORYBOARD_FAL_URL", &d.fal_queue)?,
        fal_storage: env("STORYBOARD_FAL_STORAGE_URL", &d.fal_storage)?,
        eachlabs: env("STORYBOARD_EACHLABS_URL", &d.eachlabs)?,
    };
    let provider = plan.provider;
    let key = match provider {
        ProviderKind::Fal => args.fal_key.clone(),
        ProviderKind::Eachlabs => args.eachlabs_key.clone(),
    }
    .filter(|k| !k.trim().is_empty());
    let api = if args.sandbox {
        "sandbox".to_owned()
    } else {
        match provider {
            ProviderKind::Fal => endpoints.fal_queue.clone(),
            ProviderKind::Eachlabs => endpoints.eachlabs.clone(),
        }
    };
    let budget = match args.max_cost {
        Some(usd) => Some(
            Micros::from_usd(usd)
                .ok_or_else(|| Error::Usage(format!("--max-cost {usd} is not an amount of dollars")))?,
        ),
        None => plan.budget,
    };
    let style = if args.json {
        Style::Json
    } else if args.quiet {
        Style::Quiet
    } else if std::io::stderr().is_terminal() && std::env::var_os("STORYBOARD_PLAIN").is_none() {
        Style::Bars
    } else {
        Style::Plain
    };
    Ok(Settings {
        concurrency,
        out: args.out.clone().unwrap_or_else(|| plan.output.clone()),
        provider,
        endpoints,
        key,
        api,
        budget,
        style,
    })
}

/// Which plan indices `--only` selects (all when empty).
fn select(plan: &Plan, only: &[String]) -> Result<Vec<usize>, Error> {
    if only.is_empty() {
        return Ok((0..plan.shots.len()).collect());
    }
    let mut patterns = Vec::new();
    for o in only
        .iter()
        .flat_map(|o| o.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let p = glob::Pattern::new(o).map_err(|e| Error::Usage(format!("--only `{o}` is not a valid glob: {e}")))?;
        if !plan.shots.iter().any(|s| p.matches(&s.id)) {
            let ids: Vec<&str> = plan.shots.iter().map(|s| s.id.as_str()).collect();
            let hint = crate::problem::closest(o, ids.iter().copied())
                .map(|c| format!(" — did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(Error::Usage(format!("--only `{o}` matches no shot{hint}")));
        }
        patterns.push(p);
    }
    Ok(plan
        .shots
        .iter()
        .enumerate()
        .filter(|(_, s)| patterns.iter().any(|p| p.matches(&s.id)))
        .map(|(i, _)| i)
        .collect())
}

/// The clip a journal's Done record left, if it is still on disk and intact.
fn intact_clip(out: &Utf8Path, state: Option<&KeyState>) -> Option<crate::manifest::ClipRecord> {
    match state {
        Some(KeyState::Done { clip, .. }) if download::verify(&out.join(&clip.path), clip.bytes, &clip.sha256) => {
            Some(clip.clone())
        }
        _ => None,
    }
}

/// The flags that change how the journal's state of a request is read.
#[derive(Debug, Clone, Copy)]
struct Flags {
    force: bool,
    sandbox: bool,
    retry_uncertain: bool,
    resubmit_expired: bool,
}

/// The journal's verdict on one request.
fn decision(out: &Utf8Path, state: Option<&KeyState>, f: Flags) -> Decision {
    if !f.force
        && let Some(clip) = intact_clip(out, state)
    {
        return Decision::Cached(clip);
    }
    match state {
        // The in-process sandbox of an earlier run is gone, and it costs nothing.
        _ if f.sandbox => Decision::Go(Action::Submit),
        Some(KeyState::Accepted(job)) => Decision::Go(Action::Follow(job.clone())),
        Some(KeyState::Intent) if !f.retry_uncertain => {
            Decision::Uncertain(uncertain_message("the previous run stopped while submitting this shot"))
        }
        Some(KeyState::Uncertain(reason)) if !f.retry_uncertain => Decision::Uncertain(uncertain_message(reason)),
        Some(KeyState::Gone { request_id, reason }) if !f.resubmit_expired => Decision::Gone(format!(
            "{reason} (request {request_id}); `render --resubmit-expired` submits it again (a second bill)"
        )),
        _ => Decision::Go(Action::Submit),
    }
}

/// Final request keys where they can be known before rendering: a chained shot's key needs
/// the sha256 of each upstream clip, known when that clip is on disk and stays (not re-rendered).
struct Keys<'a> {
    plan: &'a Plan,
    history: &'a History,
    out: &'a Utf8Path,
    api: &'a str,
    rerendered: &'a dyn Fn(usize) -> bool,
    memo: HashMap<usize, Option<String>>,
}

impl Keys<'_> {
    fn key(&mut self, i: usize) -> Option<String> {
        if let Some(k) = self.memo.get(&i) {
            return k.clone();
        }
        let shot = &self.plan.shots[i];
        let key = if shot.chain.is_empty() {
            Some(shot.request_key.clone())
        } else {
            let ids: Vec<usize> = shot.chain.iter().map(|c| c.upstream_index).collect();
            let mut shas = Vec::new();
            for u in ids {
                match self.settled_sha(u) {
                    Some(sha) => shas.push(sha),
                    None => {
                        self.memo.insert(i, None);
                        return None;
                    }
                }
            }
            Some(shot.key_with_upstream(&shas))
        };
        self.memo.insert(i, key.clone());
        key
    }

    /// The sha256 of a shot's clip when it is on disk and this run will not replace it.
    fn settled_sha(&mut self, u: usize) -> Option<String> {
        if (self.rerendered)(u) {
            return None;
        }
        let key = self.key(u)?;
        intact_clip(self.out, self.history.state(self.api, &key)).map(|c| c.sha256)
    }
}

/// Whether each plan index is selected.
fn selection(plan: &Plan, selected: &[usize]) -> Vec<bool> {
    let mut v = vec![false; plan.shots.len()];
    for &i in selected {
        v[i] = true;
    }
    v
}

/// Each selected shot's verdict, and the request key it has (provisional for deferred ones).
fn verdicts(
    plan: &Plan,
    selected: &[usize],
    history: &History,
    s: &Settings,
    flags: Flags,
) -> HashMap<usize, (Verdict, String)> {
    // A selected shot is re-rendered unless its clip is cached (and not forced).
    let mut base = Keys {
        plan,
        history,
        out: &s.out,
        api: &s.api,
        rerendered: &|_| false,
        memo: HashMap::new(),
    };
    let is_selected = selection(plan, selected);
    let rerendered: Vec<bool> = (0..plan.shots.len())
        .map(|i| {
            is_selected[i]
                && (flags.force
                    || base
                        .key(i)
                        .is_none_or(|k| intact_clip(&s.out, history.state(&s.api, &k)).is_none()))
        })
        .collect();
    let mut keys = Keys {
        plan,
        history,
        out: &s.out,
        api: &s.api,
        rerendered: &|u| rerendered[u],
        memo: HashMap::new(),
    };
    selected
        .iter()
        .map(|&i| match keys.key(i) {
            None => (i, (Verdict::Deferred, plan.shots[i].request_key.clone())),
            Some(k) => {
                let v = match decision(&s.out, history.state(&s.api, &k), flags) {
                    Decision::Cached(_) => Verdict::Cached,
                    Decision::Go(a) => Verdict::Go(a),
                    Decision::Uncertain(m) => Verdict::Uncertain(m),
                    Decision::Gone(m) => Verdict::Gone(m),
                };
                (i, (v, k))
            }
        })
        .collect()
}

/// Runs `storyboard render`.
pub async fn render(args: RenderArgs) -> Result<i32, Error> {
    let src = crate::load_source(&args.file)?;
    let overrides = plan::Overrides {
        provider: args.provider.map(crate::provider_kind),
    };
    let plan = plan::plan(&src, &overrides).map_err(Error::BadInput)?;
    if args.dry_run {
        report::stdout(&report::summary::plan(&plan));
        return Ok(exit::OK);
    }
    let s = settings(&args, &plan)?;
    let selected = select(&plan, &args.only)?;
    let journal_path = Journal::path_in(&s.out);
    let history = Journal::read(&journal_path);
    let flags = Flags {
        force: args.force,
        sandbox: args.sandbox,
        retry_uncertain: args.retry_uncertain,
        resubmit_expired: args.resubmit_expired,
    };
    let verdicts0 = verdicts(&plan, &selected, &history, &s, flags);
    if selected
        .iter()
        .any(|&i| !plan.shots[i].chain.is_empty() && verdicts0[&i].0 != Verdict::Cached)
        && !crate::frames::available()
    {
        return Err(Error::Usage(
            "shots that start from another shot's frame need ffmpeg on PATH (on Debian/Ubuntu: apt install ffmpeg)"
                .into(),
        ));
    }

    // The estimate, the budget and the confirmation: before anything is written or sent.
    let to_submit: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|i| matches!(verdicts0[i].0, Verdict::Go(Action::Submit) | Verdict::Deferred))
        .collect();
    let spend: Micros = to_submit.iter().filter_map(|&i| plan.shots[i].estimate).sum();
    let unpriced = to_submit.iter().filter(|&&i| plan.shots[i].estimate.is_none()).count();
    if s.style != Style::Json && s.style != Style::Quiet {
        report::stderr_line(report::summary::plan(&plan).trim_end());
    }
    let resumes = selected
        .iter()
        .filter(|i| matches!(verdicts0[i].0, Verdict::Go(Action::Follow(_))))
        .count();
    let cached = selected.iter().filter(|i| verdicts0[i].0 == Verdict::Cached).count();
    let to_pay = format!(
        "to render: {} shot{} for {}{} · {cached} cached · {resumes} resumed{}",
        to_submit.len(),
        if to_submit.len() == 1 { "" } else { "s" },
        spend,
        if unpriced > 0 {
            format!(" + {unpriced} unpriced")
        } else {
            String::new()
        },
        if args.sandbox {
            " · sandbox: $0, nothing is billed"
        } else {
            ""
        }
    );
    if s.style != Style::Json {
        report::stderr_line(&to_pay);
    }
    if !args.sandbox
        && let Some(limit) = s.budget
    {
        if unpriced > 0 && !args.allow_unpriced {
            return Err(Error::NotConfirmed(format!(
                "{unpriced} shot(s) have no known price, so the budget of {limit} cannot be checked: give them `price_usd:` or pass --allow-unpriced"
            )));
        }
        if spend > limit {
            return Err(Error::NotConfirmed(format!(
                "the estimate {spend} exceeds the budget of {limit} (budget_usd / --max-cost): nothing was sent"
            )));
        }
    }
    let needs_key = !args.sandbox && (!to_submit.is_empty() || resumes > 0);
    if needs_key && s.key.is_none() {
        let var = if s.provider == ProviderKind::Fal {
            "FAL_KEY"
        } else {
            "EACHLABS_API_KEY"
        };
        return Err(Error::Usage(format!(
            "{var} is not set: export your {} API key as {var} to render for real, or try `storyboard render {} --sandbox` (offline, $0) or `storyboard plan {}` (the estimate)",
            s.provider, args.file, args.file
        )));
    }
    if !args.sandbox && !args.yes && !to_submit.is_empty() {
        confirm(&s, spend, unpriced, to_submit.len())?;
    }

    // From here on, files are written: lock the folder, then read the journal again under the lock.
    std::fs::create_dir_all(s.out.join(".storyboard")).map_err(|source| Error::Write {
        path: s.out.clone(),
        source,
    })?;
    let _lock = lock(&s.out)?;
    let history = Journal::read(&journal_path);
    let verdicts = verdicts(&plan, &selected, &history, &s, flags);
    let journal = Arc::new(Journal::open(&journal_path).map_err(|source| Error::Write {
        path: journal_path.clone(),
        source,
    })?);
    if history.skipped > 0 {
        report::stderr_line(&format!(
            "note: {} unreadable journal line(s) skipped (a crash mid-write)",
            history.skipped
        ));
    }

    let sandbox = if args.sandbox {
        Some(start_sandbox().await?)
    } else {
        None
    };
    let endpoints = match &sandbox {
        Some(sb) => Endpoints {
            fal_queue: sb.base_url(),
            fal_storage: sb.base_url(),
            eachlabs: sb.base_url(),
        },
        None => s.endpoints.clone(),
    };
    let key = if args.sandbox {
        "sandbox".to_owned()
    } else {
        s.key.clone().unwrap_or_default()
    };
    let http_client = http::client();
    let mut provider = Provider::new(s.provider, &endpoints, key, http_client.clone());
    if let Provider::Eachlabs(e) = &mut provider
        && (args.sandbox || std::env::var_os("STORYBOARD_FAST_POLL").is_some())
    {
        e.poll = std::time::Duration::from_millis(100);
    }

    let started = journal::now();
    let ledger = Arc::new(Ledger::new(
        s.out.join("manifest.json"),
        initial_manifest(&src.name, &plan, &selected, &history, &s, &started),
    ));
    ledger.write(None).map_err(|source| Error::Write {
        path: s.out.join("manifest.json"),
        source,
    })?;

    let reporter: Arc<dyn Reporter> = Arc::from(progress::reporter(s.style, selected.len()));
    let stop = Stop::default();
    let signals = tokio::spawn(watch_signals(stop.clone(), reporter.clone()));

    let is_selected = selection(&plan, &selected);
    // Every shot's outcome, for the shots that start from its clip.
    let board: Vec<_> = plan.shots.iter().map(|_| tokio::sync::watch::channel(None).0).collect();
    let publish = |i: usize, outcome: Result<String, String>| {
        board[i].send_replace(Some(outcome));
    };

    // Shots left alone, and cached ones (copied into place when renamed).
    let mut work: Vec<Work> = Vec::new();
    let mut leaders: HashMap<String, usize> = HashMap::new();
    for &i in &selected {
        let shot = &plan.shots[i];
        let (verdict, key) = &verdicts[&i];
        let upstream: Vec<usize> = shot.chain.iter().map(|c| c.upstream_index).collect();
        match verdict {
            Verdict::Cached => match cache_hit(&s.out, &history, &s.api, key, &plan, i, &ledger, reporter.as_ref()) {
                Some(sha) => publish(i, Ok(sha)),
                None => publish(i, Err("its clip could not be put in place".into())),
            },
            Verdict::Uncertain(msg) => {
                ledger.update(i, false, |r| {
                    r.status = ShotStatus::Uncertain;
                    r.error = Some(msg.clone());
                });
                reporter.event(&Event::Uncertain {
                    id: shot.id.clone(),
                    reason: msg.clone(),
                });
                publish(i, Err("uncertain".into()));
            }
            Verdict::Gone(msg) => {
                ledger.update(i, false, |r| {
                    r.status = ShotStatus::Failed;
                    r.error = Some(msg.clone());
                });
                reporter.event(&Event::Failed {
                    id: shot.id.clone(),
                    error: msg.clone(),
                });
                publish(i, Err("its request expired".into()));
            }
            Verdict::Go(_) | Verdict::Deferred => {
                let action = match verdict {
                    Verdict::Go(a) => a.clone(),
                    _ => Action::Submit,
                };
                // The same request twice in one storyboard: sent once, the clip copied.
                if shot.chain.is_empty()
                    && let Some(&w) = leaders.get(key)
                {
                    work[w].copies.push(i);
                    continue;
                }
                leaders.insert(key.clone(), work.len());
                work.push(Work {
                    index: i,
                    copies: Vec::new(),
                    action,
                    key: key.clone(),
                    input: shot.input.clone(),
                    upstream,
                    deferred: *verdict == Verdict::Deferred,
                });
            }
        }
    }
    // Shots not selected (--only) still tell the shots that start from them whether a clip exists.
    for (i, shot) in plan.shots.iter().enumerate() {
        if !is_selected[i] {
            let clip = intact_clip(&s.out, history.state(&s.api, &shot.request_key))
                .filter(|c| c.path.as_str() == format!("{}.mp4", shot.id));
            publish(
                i,
                clip.map(|c| c.sha256)
                    .ok_or_else(|| "not rendered, and not selected by --only".to_owned()),
            );
        }
    }
    let _ = ledger.write(None);

    // Local files: each distinct one uploaded once, remembered across runs by content hash.
    let needed: Vec<usize> = work
        .iter()
        .filter(|w| w.action == Action::Submit)
        .flat_map(|w| std::iter::once(w.index).chain(w.copies.clone()))
        .collect();
    let uploaded = upload_local_files(&plan, &needed, &provider, &history, &journal, &s.api, s.concurrency).await;
    let voices = create_voices(&plan, &needed, &provider, &src.dir, &s.api, reporter.as_ref()).await;
    let mut failed: HashMap<usize, String> = HashMap::new();
    for w in &mut work {
        let shot = &plan.shots[w.index];
        for f in &shot.local_files {
            match uploaded.get(&f.sha256) {
                Some(Ok(url)) => {
                    w.input.insert(f.field.clone(), json!(url));
                }
                Some(Err(e)) => {
                    failed.insert(w.index, format!("upload of {} failed: {e}", f.written));
                }
                None => {}
            }
        }
        for (n, name) in &shot.voice_samples {
            match voices.get(name) {
                Some(Ok(id)) => {
                    if let Some(slot) = w
                        .input
                        .get_mut("voice_ids")
                        .and_then(Value::as_array_mut)
                        .and_then(|a| a.get_mut(*n))
                    {
                        *slot = json!(id);
                    }
                }
                Some(Err(e)) => {
                    failed.insert(w.index, format!("voice `{name}` could not be created: {e}"));
                }
                None => {}
            }
        }
        let input = w.input.clone();
        for i in std::iter::once(w.index).chain(w.copies.iter().copied()) {
            ledger.update(i, false, |r| r.input = input.clone());
        }
    }
    for (i, msg) in &failed {
        ledger.update(*i, true, |r| {
            r.status = ShotStatus::Failed;
            r.error = Some(msg.clone());
        });
        reporter.event(&Event::Failed {
            id: plan.shots[*i].id.clone(),
            error: msg.clone(),
        });
        publish(*i, Err(msg.clone()));
    }
    work.retain(|w| !failed.contains_key(&w.index));

    let attempts: Vec<u32> = plan
        .shots
        .iter()
        .map(|sh| {
            history
                .attempts
                .get(&(s.api.clone(), sh.request_key.clone()))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let uploads: HashMap<String, String> = history
        .uploads
        .iter()
        .filter(|((api, _), _)| *api == s.api && !args.sandbox)
        .map(|((_, sha), url)| (sha.clone(), url.clone()))
        .collect();
    let decide = {
        let (out, api, history) = (s.out.clone(), s.api.clone(), history.clone());
        Arc::new(move |key: &str| decision(&out, history.state(&api, key), flags))
    };
    let runner = Arc::new(Runner {
        provider,
        http: http_client,
        journal,
        ledger: ledger.clone(),
        reporter: reporter.clone(),
        stop: stop.clone(),
        out: s.out.clone(),
        api: s.api.clone(),
        shots: Arc::new(plan.shots.clone()),
        board: Arc::new(board),
        decide,
        uploads: Arc::new(std::sync::Mutex::new(uploads)),
        attempts: Arc::new(attempts),
        concurrency: s.concurrency,
    });
    runner.run(work).await;
    signals.abort();
    reporter.finish();
    let interrupted = stop.signalled();
    ledger.write(Some(journal::now())).map_err(|source| Error::Write {
        path: s.out.join("manifest.json"),
        source,
    })?;
    let manifest = ledger.snapshot();
    drop(sandbox);

    let selected_records: Vec<&ShotRecord> = selected.iter().map(|&i| &manifest.shots[i]).collect();
    let summary = report::summary::render_summary(&selected_records, &s.out, stop.level() >= 1, args.sandbox);
    if s.style == Style::Json {
        report::stdout(&format!(
            "{}\n",
            json!({"state": "summary", "at": journal::now(), "manifest": s.out.join("manifest.json"), "counts": counts(&selected_records)})
        ));
    } else {
        report::stderr_line(summary.trim_end());
    }
    if interrupted {
        return Err(Error::Interrupted);
    }
    drop(_lock);
    let bad = selected_records
        .iter()
        .any(|r| !matches!(r.status, ShotStatus::Done | ShotStatus::Cached));
    let assembled = if args.assemble {
        crate::run_assemble(&plan, &src.stem, &s.out, args.strict)?
    } else {
        exit::OK
    };
    Ok(if bad { exit::SHOTS_FAILED } else { assembled })
}

fn counts(records: &[&ShotRecord]) -> Value {
    let mut m: Map<String, Value> = Map::new();
    for r in records {
        let k = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = m.get(&k).and_then(Value::as_u64).unwrap_or(0) + 1;
        m.insert(k, json!(n));
    }
    Value::Object(m)
}

fn confirm(s: &Settings, spend: Micros, unpriced: usize, n: usize) -> Result<(), Error> {
    let covered = s.budget.is_some_and(|b| unpriced == 0 && spend <= b);
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "Render {n} shot{} for {spend}{} on {}? [y/N] ",
            if n == 1 { "" } else { "s" },
            if unpriced > 0 {
                format!(" + {unpriced} unpriced")
            } else {
                String::new()
            },
            s.provider
        );
        let _ = err.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
        return Err(Error::NotConfirmed("not confirmed: nothing was sent".into()));
    }
    if covered {
        return Ok(());
    }
    Err(Error::NotConfirmed(format!(
        "no terminal to confirm on: a paid render ({spend}) needs --yes, or a budget (budget_usd / --max-cost) that covers the estimate"
    )))
}

/// One render per output folder: an advisory lock the OS releases when the holder dies.
fn lock(out: &Utf8Path) -> Result<std::fs::File, Error> {
    let path = out.join(".storyboard").join("lock");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => {
            let _ = f.set_len(0);
            let _ = write!(f, "{}", std::process::id());
            let _ = f.sync_all();
            Ok(f)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::Locked(format!(
                "another render (process {}) is using {out}: two renders of one folder would pay for every shot twice; wait for it to finish or stop it",
                if holder.trim().is_empty() {
                    "unknown".to_owned()
                } else {
                    holder.trim().to_owned()
                }
            )))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Write { path, source }),
    }
}

async fn start_sandbox() -> Result<Sandbox, Error> {
    // Realistic but fast: seconds, not minutes.
    let config = SandboxConfig {
        queue_time: std::time::Duration::from_millis(300),
        job_time: std::time::Duration::from_millis(1500),
        ..SandboxConfig::default()
    };
    Sandbox::start("127.0.0.1:0".parse().expect("literal address"), config)
        .await
        .map_err(|e| Error::Other(format!("cannot start the sandbox: {e}")))
}

fn initial_manifest(
    source: &str,
    plan: &Plan,
    selected: &[usize],
    history: &History,
    s: &Settings,
    started: &str,
) -> Manifest {
    let estimated = selected.iter().filter_map(|&i| plan.shots[i].estimate).sum::<Micros>();
    let shots = plan
        .shots
        .iter()
        .map(|shot| {
            let mut rec = ShotRecord {
                id: shot.id.clone(),
                status: ShotStatus::Pending,
                provider: shot.provider.to_string(),
                endpoint: shot.endpoint.clone(),
                input: shot.input.clone(),
                request_key: shot.request_key.clone(),
                request_id: None,
                estimated_usd: shot.estimate.map(Micros::usd),
                actual_usd: None,
                clip: None,
                submitted_at: None,
                completed_at: None,
                attempts: history
                    .attempts
                    .get(&(s.api.clone(), shot.request_key.clone()))
                    .copied()
                    .unwrap_or(0),
                error: None,
            };
            // Shots not selected keep what is on disk.
            let state = history.state(&s.api, &shot.request_key);
            if let Some(clip) = intact_clip(&s.out, state)
                && clip.path.as_str() == format!("{}.mp4", shot.id)
            {
                rec.status = ShotStatus::Cached;
                rec.clip = Some(clip);
            }
            match state {
                Some(KeyState::Accepted(job)) => rec.request_id = Some(job.request_id.clone()),
                Some(KeyState::Done {
                    request_id, actual_usd, ..
                }) => {
                    rec.request_id = request_id.clone();
                    rec.actual_usd = *actual_usd;
                }
                _ => {}
            }
            rec
        })
        .collect();
    Manifest {
        version: 1,
        storyboard: source.to_owned(),
        title: plan.title.clone(),
        generator: format!("storyboard {}", env!("CARGO_PKG_VERSION")),
        started_at: started.to_owned(),
        finished_at: None,
        estimated_usd: estimated.usd(),
        shots,
    }
}

#[allow(clippy::too_many_arguments)]
fn cache_hit(
    out: &Utf8Path,
    history: &History,
    api: &str,
    key: &str,
    plan: &Plan,
    i: usize,
    ledger: &Ledger,
    reporter: &dyn Reporter,
) -> Option<String> {
    let shot = &plan.shots[i];
    let mut clip = intact_clip(out, history.state(api, key))?;
    let own = Utf8PathBuf::from(format!("{}.mp4", shot.id));
    if clip.path != own {
        // Renamed shot (or a duplicate request): same request, so the same clip.
        if !download::verify(&out.join(&own), clip.bytes, &clip.sha256)
            && download::copy_clip(&out.join(&clip.path), &out.join(&own)).is_err()
        {
            return None;
        }
        clip.path = own;
    }
    let sha = clip.sha256.clone();
    let key = key.to_owned();
    ledger.update(i, false, |r| {
        r.status = ShotStatus::Cached;
        r.clip = Some(clip);
        r.request_key = key;
        r.error = None;
    });
    reporter.event(&Event::Cached { id: shot.id.clone() });
    Some(sha)
}

/// Voices given as samples: each created once (fal `create-voice`), remembered by the sample's
/// content hash in `.storyboard/voices.json` beside the storyboard, so later runs and other
/// storyboards in the same folder reuse it. By voice name: the voice id, or why not.
async fn create_voices(
    plan: &Plan,
    needed: &[usize],
    provider: &Provider,
    dir: &Utf8Path,
    api: &str,
    reporter: &dyn Reporter,
) -> HashMap<String, Result<String, String>> {
    let mut out = HashMap::new();
    let wanted: std::collections::BTreeSet<&str> = needed
        .iter()
        .flat_map(|&i| plan.shots[i].voice_samples.iter().map(|(_, name)| name.as_str()))
        .collect();
    if wanted.is_empty() {
        return out;
    }
    let path = dir.join(".storyboard").join("voices.json");
    let mut known: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    for v in plan
        .voices_to_create
        .iter()
        .filter(|v| wanted.contains(v.name.as_str()))
    {
        if let Some(id) = known[api][&v.sha256].as_str() {
            out.insert(v.name.clone(), Ok(id.to_owned()));
            continue;
        }
        reporter.event(&Event::Notice(format!(
            "creating voice `{}` from {}",
            v.name, v.written
        )));
        let created = match tokio::fs::read(&v.path).await {
            Ok(bytes) => match provider
                .upload(bytes, content_type(&v.path), v.path.file_name().unwrap_or("voice.wav"))
                .await
            {
                Ok(url) => provider.create_voice(&url).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(format!("cannot read {}: {e}", v.path)),
        };
        if let Ok(id) = &created {
            if !known[api].is_object() {
                known[api] = json!({});
            }
            known[api][&v.sha256] = json!(id);
            let _ = std::fs::create_dir_all(dir.join(".storyboard"));
            let _ = crate::manifest::write_atomic(
                &path,
                serde_json::to_string_pretty(&known).unwrap_or_default().as_bytes(),
            );
        }
        out.insert(v.name.clone(), created);
    }
    out
}

fn content_type(path: &Utf8Path) -> &'static str {
    match path.extension().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// Uploads every distinct local file the shots need, once; by sha256 → URL (or the error).
async fn upload_local_files(
    plan: &Plan,
    needed: &[usize],
    provider: &Provider,
    history: &History,
    journal: &Journal,
    api: &str,
    concurrency: usize,
) -> HashMap<String, Result<String, String>> {
    let mut out: HashMap<String, Result<String, String>> = HashMap::new();
    let mut todo: Vec<(String, Utf8PathBuf)> = Vec::new();
    for &i in needed {
        for f in &plan.shots[i].local_files {
            if out.contains_key(&f.sha256) || todo.iter().any(|(h, _)| *h == f.sha256) {
                continue;
            }
            match history.uploads.get(&(api.to_owned(), f.sha256.clone())) {
                Some(url) if api != "sandbox" => {
                    out.insert(f.sha256.clone(), Ok(url.clone()));
                }
                _ => todo.push((f.sha256.clone(), f.path.clone())),
            }
        }
    }
    let results: Vec<(String, Result<String, String>)> = futures::stream::iter(todo)
        .map(|(sha, path)| async move {
            let result = match tokio::fs::read(&path).await {
                Ok(bytes) if crate::plan::sha256_hex(&bytes) != sha => {
                    Err(format!("{path} changed since it was planned"))
                }
                Ok(bytes) => {
                    provider
                        .upload(bytes, content_type(&path), path.file_name().unwrap_or("upload.bin"))
                        .await
                }
                Err(e) => Err(format!("cannot read {path}: {e}")),
            };
            (sha, result)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (sha, result) in results {
        if let Ok(url) = &result {
            let _ = journal.append(&Record::Upload {
                sha256: sha.clone(),
                api: api.to_owned(),
                url: url.clone(),
                at: journal::now(),
            });
        }
        out.insert(sha, result);
    }
    out
}

/// First Ctrl-C: no new submits, in-flight shots finish. Second Ctrl-C or SIGTERM: stop at
/// once (the journal keeps the in-flight request ids for the next render).
async fn watch_signals(stop: Stop, reporter: Arc<dyn Reporter>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if r.is_err() {
                    return;
                }
                if stop.level() == 0 {
                    reporter.event(&Event::Notice("Ctrl-C: submitting nothing new; in-flight shots finish and download (Ctrl-C again to stop at once)".into()));
                    stop.signal(1, "stopped by Ctrl-C before it was submitted");
                } else {
                    reporter.event(&Event::Notice("stopping now; in-flight request ids are in the journal: run render again to resume".into()));
                    stop.signal(2, "interrupted");
                }
            }
            _ = terminated => {
                stop.signal(2, "terminated");
            }
        }
    }
}
