//! The commands other than `render` (which has its own module): each reads its input, calls
//! one stage, and hands the result to the report layer.

use camino::Utf8Path;
use clap::CommandFactory;

use crate::cli::{self, Cli, SchemaKind};
use crate::error::{Error, UsageError, exit};
use crate::storyboard::Source;
use crate::{assemble, plan, report, sandbox, schema, status};

/// `storyboard plan`.
pub fn plan(args: cli::PlanArgs) -> Result<i32, Error> {
    let src = Source::load(&args.file)?;
    let overrides = plan::Overrides {
        provider: args.provider.map(Into::into),
        prices: crate::prices::cached(&crate::settings::platform_url()),
    };
    let mut plan = plan::plan(&src, &overrides).map_err(Error::BadInput)?;
    // Redos asked for with `pick --redo` are part of what the next render costs.
    let out = plan.output.clone();
    crate::takes::add_redos(&mut plan, &out).map_err(UsageError::Picks)?;
    if args.json {
        report::stdout(&(serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default() + "\n"));
    } else {
        report::stdout(&report::summary::plan(&plan));
    }
    if args.check {
        let all: Vec<usize> = (0..plan.shots.len()).collect();
        plan.estimate_of(&all).check_budget(plan.budget, false)?;
    }
    Ok(exit::OK)
}

/// `storyboard models`: the catalog, priced from fresh live prices when there are some
/// (`--refresh` fetches them now).
pub async fn models(args: cli::ModelsArgs) -> Result<i32, Error> {
    let prices = match args.refresh {
        true => {
            // The key goes to the configured platform URL only: a bad one is an error, not a
            // silent fallback.
            let api = crate::settings::endpoints_from_env()?.fal_api;
            let keys = crate::settings::keys_for(&args.keys, Utf8Path::new("-"));
            if let Some(k) = &keys.fal_key {
                crate::secrets::register(k);
            }
            let http = crate::provider::http::client();
            let ids = crate::prices::catalog_ids();
            crate::prices::refresh(&http, &api, keys.fal_key.as_deref(), &ids)
                .await
                .unwrap_or_else(|e| crate::prices::Prices::table(format!("{e}; the table is used")))
        }
        false => crate::prices::cached(&crate::settings::platform_url()),
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report::summary::models_json(&prices)).unwrap_or_default();
        report::stdout(&(json + "\n"));
    } else {
        report::stdout(&report::summary::models(&prices));
    }
    Ok(exit::OK)
}

/// `storyboard schema`.
pub fn schema(args: cli::SchemaArgs) -> Result<i32, Error> {
    report::stdout(&match args.which {
        SchemaKind::Storyboard => schema::storyboard(),
        SchemaKind::Manifest => schema::manifest(),
    });
    Ok(exit::OK)
}

/// `storyboard completions`.
pub fn completions(args: cli::CompletionsArgs) -> Result<i32, Error> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "storyboard", &mut buf);
    report::stdout(&String::from_utf8_lossy(&buf));
    Ok(exit::OK)
}

/// `storyboard assemble`.
pub fn assemble(args: cli::AssembleArgs) -> Result<i32, Error> {
    let src = Source::load(&args.file)?;
    let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
    let out = args.out.clone().unwrap_or_else(|| plan.output.clone());
    assemble_and_report(&plan, &src.stem, &out, args.strict)
}

/// Assembles the cut, timeline and review page of a rendered plan; reports what was written.
pub fn assemble_and_report(plan: &plan::Plan, stem: &str, out: &Utf8Path, strict: bool) -> Result<i32, Error> {
    let ids: Vec<&str> = plan.shots.iter().map(|s| s.shot.as_str()).collect();
    let name = assemble::name(plan.title.as_deref(), stem, &ids);
    let result = assemble::assemble(out, &name, strict)?;
    for line in &result.kept {
        report::stderr_line(&format!("warning: {line}"));
    }
    report::stderr_line(report::summary::assembly(&result).trim_end());
    Ok(match (&result.cut, &result.cut_problem) {
        (None, Some(p)) if !p.contains("not installed") && result.clips > 0 => exit::SHOTS_FAILED,
        _ => exit::OK,
    })
}

/// The storyboard's output folder (`--out` first) and its plan.
fn folder_of(file: &Utf8Path, out: Option<&Utf8Path>) -> Result<(Source, plan::Plan, camino::Utf8PathBuf), Error> {
    let src = Source::load(file)?;
    let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
    let out = out.map_or_else(|| plan.output.clone(), Utf8Path::to_owned);
    Ok((src, plan, out))
}

/// `storyboard pick`.
pub fn pick(args: cli::PickArgs) -> Result<i32, Error> {
    let (_, _, out) = folder_of(&args.file, args.out.as_deref())?;
    let mut changes = Vec::new();
    if let Some(n) = args.take {
        changes.push(crate::review::Change::Take(n));
    }
    if args.redo {
        changes.push(crate::review::Change::Redo);
    }
    if let Some(note) = args.note {
        changes.push(crate::review::Change::Note(note));
    }
    for change in changes {
        let line = crate::review::change(&out, &args.shot, change).map_err(UsageError::Picks)?;
        report::stdout(&format!("{line}\n"));
    }
    Ok(exit::OK)
}

/// `storyboard clean`.
pub fn clean(args: cli::CleanArgs) -> Result<i32, Error> {
    let (_, plan, out) = folder_of(&args.file, args.out.as_deref())?;
    let list = match args.dry_run {
        true => crate::review::removable(&out, &plan).map_err(UsageError::Picks)?,
        false => crate::review::clean(&out, &plan)?,
    };
    report::stdout(&report::summary::cleaned(&list, args.dry_run));
    Ok(exit::OK)
}

/// `storyboard review`: serves the page until Ctrl-C.
pub async fn review(args: cli::ReviewArgs) -> Result<i32, Error> {
    let (src, plan, out) = folder_of(&args.file, args.out.as_deref())?;
    if !out.join("manifest.json").is_file() {
        return Err(UsageError::Picks(crate::takes::PickError::NothingRendered(out)).into());
    }
    let shots: Vec<&str> = plan.shots.iter().map(|s| s.shot.as_str()).collect();
    let cut = format!("{}.mp4", assemble::name(plan.title.as_deref(), &src.stem, &shots));
    let title = plan.title.clone().unwrap_or_else(|| src.stem.clone());
    let open = args.open;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    crate::review::server::serve(out, title, cut, args.port, |url| {
        report::stdout(&format!("review: {url}\n(Ctrl-C to stop)\n"));
        if open {
            report::open_in_browser(url);
        }
    })
    .await
    .map_err(|source| Error::Serve { addr, source })?;
    Ok(exit::OK)
}

/// `storyboard status FILE|DIR`.
pub fn status(args: cli::StatusArgs) -> Result<i32, Error> {
    let (out, listing) = if args.target.is_dir() {
        let listing = status::listing_from_manifest(&args.target)
            .ok_or_else(|| UsageError::NothingRendered(args.target.clone()))?;
        (args.target.clone(), listing)
    } else {
        let src = Source::load(&args.target)?;
        let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
        let listing = status::listing_from_plan(&plan, &plan.output);
        (plan.output.clone(), listing)
    };
    let states = status::status(&out, &listing);
    let sandbox = status::sandbox_only(&out);
    if args.json {
        let json = serde_json::to_string_pretty(&status::to_json(&out, &states, sandbox)).unwrap_or_default();
        report::stdout(&(json + "\n"));
    } else {
        report::stdout(&report::summary::status(&out, &states, sandbox));
    }
    Ok(exit::OK)
}

/// `storyboard sandbox`: serves the emulator until Ctrl-C.
pub async fn sandbox(args: cli::SandboxArgs) -> Result<i32, Error> {
    let ip: std::net::IpAddr = args.bind.parse().map_err(|_| UsageError::Bind(args.bind.clone()))?;
    let secs = |name: &'static str, v: f64| {
        (v.is_finite() && v >= 0.0)
            .then(|| std::time::Duration::from_secs_f64(v))
            .ok_or(UsageError::Seconds(name))
    };
    let config = sandbox::SandboxConfig {
        queue_time: secs("queue-seconds", args.queue_seconds)?,
        job_time: secs("job-seconds", args.job_seconds)?,
        clip_bytes: args.clip_bytes,
        result_ttl: args
            .result_ttl_seconds
            .map(|s| secs("result-ttl-seconds", s))
            .transpose()?,
        eachlabs_max_in_flight: args.eachlabs_max_in_flight.max(1),
        faults: args.faults.parse().map_err(UsageError::Faults)?,
        ..sandbox::SandboxConfig::default()
    };
    let addr = std::net::SocketAddr::new(ip, args.port);
    let stats = sandbox::serve_until(addr, config, |sb| report::sandbox_ready(&sb.base_url()), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|source| Error::Serve { addr, source })?;
    report::stderr_line(&format!("sandbox stopped; requests served: {}", stats["requests"]));
    Ok(exit::OK)
}
