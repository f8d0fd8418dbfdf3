//! The commands, one file each: a short sequence of stage calls from the command line's
//! arguments to the report layer. A command never calls another command.

pub(crate) mod adopt;
pub(crate) mod assemble;
pub(crate) mod cancel;
pub(crate) mod clean;
pub(crate) mod completions;
pub(crate) mod doctor;
mod gate;
pub(crate) mod init;
pub(crate) mod jobs;
pub(crate) mod models;
pub(crate) mod pick;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub(crate) mod render;
pub(crate) mod review;
pub(crate) mod sandbox;
pub(crate) mod schema;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod watch;

use camino::{Utf8Path, Utf8PathBuf};

use crate::cli::{Cli, Command, ProviderArg};
use crate::error::Error;
use crate::facts::catalog::ProviderKind;
use crate::plan::{Overrides, Plan};
use crate::storyboard::Source;

/// The storyboard loaded and planned: the load → plan sequence, written once.
pub(crate) fn load(file: &Utf8Path, overrides: &Overrides) -> Result<(Source, Plan), Error> {
    let src = Source::load(file)?;
    let plan = crate::plan::plan(&src, overrides).map_err(Error::BadInput)?;
    Ok((src, plan))
}

/// The storyboard, its plan and its output folder (`--out` first).
pub(crate) fn folder_of(file: &Utf8Path, out: Option<&Utf8Path>) -> Result<(Source, Plan, Utf8PathBuf), Error> {
    let (src, plan) = load(file, &Overrides::default())?;
    let out = out.map_or_else(|| plan.output.clone(), Utf8Path::to_owned);
    Ok((src, plan, out))
}

/// The keys as the settings read them (clap's type stops here).
pub(crate) fn keys(k: &crate::cli::Keys) -> crate::settings::Keys {
    crate::settings::Keys {
        fal: k.fal_key.clone(),
        eachlabs: k.eachlabs_key.clone(),
    }
}

/// The command line as the settings read it (clap's types stop here).
pub(crate) fn render_flags(args: &crate::cli::RenderArgs) -> crate::settings::RenderFlags {
    crate::settings::RenderFlags {
        file: args.file.clone(),
        out: args.out.clone(),
        concurrency: args.concurrency,
        max_cost: args.max_cost,
        store: args.store.clone(),
        keys: keys(&args.keys),
        sandbox: args.sandbox,
        json: args.json,
        quiet: args.quiet,
        yes: args.yes,
        offline: args.offline,
        flags: crate::decide::Flags {
            force: args.force,
            sandbox: args.sandbox,
            retry_uncertain: args.retry_uncertain,
            resubmit_expired: args.resubmit_expired,
        },
        ignore_budget: args.ignore_budget,
        allow_unpriced: args.allow_unpriced,
    }
}

/// `--provider` as the planner reads it.
pub(crate) fn provider(p: Option<ProviderArg>) -> Option<ProviderKind> {
    p.map(|p| match p {
        ProviderArg::Fal => ProviderKind::Fal,
        ProviderArg::Eachlabs => ProviderKind::Eachlabs,
    })
}

/// Runs one command; returns the exit code. Callable in-process and more than once.
pub(crate) async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Plan(args) => plan::plan(args),
        Command::Render(args) => render::render(args).await,
        Command::Models(args) => models::models(args).await,
        Command::Doctor(args) => Ok(doctor::doctor(args).await),
        Command::Schema(args) => schema::schema(args),
        Command::Sandbox(args) => sandbox::sandbox(args).await,
        Command::Status(args) => status::status(args),
        Command::Init(args) => init::init(args),
        Command::Watch(args) => watch::watch(args).await,
        Command::Cancel(args) => cancel::cancel(args).await,
        Command::Reconcile(args) => reconcile::reconcile(args).await,
        Command::Adopt(args) => adopt::adopt(args),
        Command::Assemble(args) => assemble::assemble(args),
        Command::Pick(args) => pick::pick(args),
        Command::Review(args) => review::review(args).await,
        Command::Clean(args) => clean::clean(args),
        Command::Completions(args) => completions::completions(args),
        Command::Store(args) => store::run(args).await,
    }
}
