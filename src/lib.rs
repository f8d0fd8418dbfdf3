//! `storyboard`: render a whole film's worth of AI video shots from one YAML storyboard.
//!
//! Stages: [`storyboard`] (the YAML) → [`plan`] (expanded, validated, priced requests) →
//! render (providers, runner, downloads, manifest). [`run`] is the only place they are wired.

pub mod assemble;
pub mod catalog;
pub mod cli;
pub mod cost;
pub mod download;
pub mod error;
pub mod frames;
pub mod journal;
pub mod manifest;
pub mod plan;
pub mod problem;
pub mod provider;
pub mod render;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod schema;
pub mod status;
pub mod storyboard;

use camino::Utf8Path;
use clap::CommandFactory;
use std::io::Read;

use cli::{Cli, Command, ProviderArg, SchemaKind};
use error::{Error, exit};
use storyboard::Source;

/// Runs one command; returns the exit code. Callable in-process and more than once.
pub async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Plan(args) => {
            let src = load_source(&args.file)?;
            let plan = plan::plan(
                &src,
                &plan::Overrides {
                    provider: args.provider.map(provider_kind),
                },
            )
            .map_err(Error::BadInput)?;
            if args.json {
                report::stdout(&(serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default() + "\n"));
            } else {
                report::stdout(&report::summary::plan(&plan));
            }
            Ok(exit::OK)
        }
        Command::Render(args) => render::render(args).await,
        Command::Models(args) => {
            if args.json {
                report::stdout(
                    &(serde_json::to_string_pretty(&report::summary::models_json()).unwrap_or_default() + "\n"),
                );
            } else {
                report::stdout(&report::summary::models());
            }
            Ok(exit::OK)
        }
        Command::Schema(args) => {
            report::stdout(&match args.which {
                SchemaKind::Storyboard => schema::storyboard(),
                SchemaKind::Manifest => schema::manifest(),
            });
            Ok(exit::OK)
        }
        Command::Sandbox(args) => run_sandbox(args).await,
        Command::Status(args) => run_status(args),
        Command::Assemble(args) => {
            let src = load_source(&args.file)?;
            let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
            let out = args.out.clone().unwrap_or_else(|| plan.output.clone());
            run_assemble(&plan, &src.stem, &out, args.strict)
        }
        Command::Completions(args) => {
            let mut buf = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "storyboard", &mut buf);
            report::stdout(&String::from_utf8_lossy(&buf));
            Ok(exit::OK)
        }
    }
}

/// Assembles the cut, timeline and review page of a rendered plan; reports what was written.
pub fn run_assemble(plan: &plan::Plan, stem: &str, out: &Utf8Path, strict: bool) -> Result<i32, Error> {
    let ids: Vec<&str> = plan.shots.iter().map(|s| s.id.as_str()).collect();
    let name = assemble::name(plan.title.as_deref(), stem, &ids);
    let result = assemble::assemble(out, &name, strict).map_err(|e| match e {
        assemble::AssembleError::NoManifest(_) => Error::Usage(e.to_string()),
        other => Error::Other(other.to_string()),
    })?;
    report::stderr_line(report::summary::assembly(&result).trim_end());
    Ok(match (&result.cut, &result.cut_problem) {
        (None, Some(p)) if !p.contains("not installed") && result.clips > 0 => exit::SHOTS_FAILED,
        _ => exit::OK,
    })
}

fn run_status(args: cli::StatusArgs) -> Result<i32, Error> {
    let (out, listing) = if args.target.is_dir() {
        let listing = status::listing_from_manifest(&args.target).ok_or_else(|| {
            Error::Usage(format!(
                "{}: no manifest.json here: nothing has been rendered into this folder",
                args.target
            ))
        })?;
        (args.target.clone(), listing)
    } else {
        let src = load_source(&args.target)?;
        let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
        // A chained shot's key depends on its upstream clip: take the one the last render used.
        let rendered = manifest::Manifest::read(&plan.output.join("manifest.json"));
        let key_of = |shot: &plan::PlannedShot| {
            let last = rendered.as_ref().and_then(|m| m.shots.iter().find(|r| r.id == shot.id));
            match last {
                Some(r) if !shot.chain.is_empty() => r.request_key.clone(),
                _ => shot.request_key.clone(),
            }
        };
        let listing = plan
            .shots
            .iter()
            .map(|s| (s.id.clone(), key_of(s), s.estimate.map(cost::Micros::usd)))
            .collect();
        (plan.output.clone(), listing)
    };
    let states = status::status(&out, &listing);
    if args.json {
        report::stdout(&(serde_json::to_string_pretty(&status::to_json(&out, &states)).unwrap_or_default() + "\n"));
    } else {
        report::stdout(&report::summary::status(&out, &states));
    }
    Ok(exit::OK)
}

async fn run_sandbox(args: cli::SandboxArgs) -> Result<i32, Error> {
    let ip: std::net::IpAddr = args
        .bind
        .parse()
        .map_err(|_| Error::Usage(format!("--bind `{}` is not an IP address", args.bind)))?;
    let secs = |name: &str, v: f64| {
        (v.is_finite() && v >= 0.0)
            .then(|| std::time::Duration::from_secs_f64(v))
            .ok_or_else(|| Error::Usage(format!("--{name} must be a number of seconds ≥ 0")))
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
        faults: args
            .faults
            .parse()
            .map_err(|e| Error::Usage(format!("--faults: {e}")))?,
        ..sandbox::SandboxConfig::default()
    };
    let stats = sandbox::serve_until(
        std::net::SocketAddr::new(ip, args.port),
        config,
        |sb| report::sandbox_ready(&sb.base_url()),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
    .map_err(|e| Error::Other(format!("cannot serve on {ip}:{}: {e}", args.port)))?;
    report::stderr_line(&format!("sandbox stopped; requests served: {}", stats["requests"]));
    Ok(exit::OK)
}

/// The provider a command-line value names.
pub fn provider_kind(p: ProviderArg) -> catalog::ProviderKind {
    match p {
        ProviderArg::Fal => catalog::ProviderKind::Fal,
        ProviderArg::Eachlabs => catalog::ProviderKind::Eachlabs,
    }
}

/// Reads a storyboard from a file, or standard input for `-`.
pub fn load_source(path: &Utf8Path) -> Result<Source, Error> {
    if path.as_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| Error::Read {
                path: path.to_owned(),
                source,
            })?;
        return Ok(Source {
            name: "<stdin>".into(),
            dir: ".".into(),
            stem: "stdin".into(),
            text,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(Source::from_file(path, text))
}
