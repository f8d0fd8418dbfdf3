//! The commands, one file each: a short sequence of stage calls from the command line's
//! arguments to the report layer. A command never calls another command.

pub(crate) mod adopt;
pub(crate) mod assemble;
pub(crate) mod cancel;
pub(crate) mod clean;
pub(crate) mod completions;
pub(crate) mod doctor;
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

use camino::Utf8Path;

use crate::storyboard::Source;

/// The storyboard's output folder (`--out` first) and its plan.
pub(crate) fn folder_of(
    file: &Utf8Path,
    out: Option<&Utf8Path>,
) -> Result<(Source, crate::plan::Plan, camino::Utf8PathBuf), Error> {
    let src = Source::load(file)?;
    let plan = crate::plan::plan(&src, &crate::plan::Overrides::default()).map_err(Error::BadInput)?;
    let out = out.map_or_else(|| plan.output.clone(), Utf8Path::to_owned);
    Ok((src, plan, out))
}

use crate::cli::{Cli, Command};
use crate::error::{self, Error};

/// Runs one command; returns the exit code. Callable in-process and more than once.
pub(crate) async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Plan(args) => plan::plan(args),
        Command::Render(args) => render::render(args).await,
        Command::Models(args) => models::models(args).await,
        Command::Doctor(args) => {
            let checks = doctor::examine(&args.keys, &args.file).await;
            crate::report::doctor(&checks, args.json);
            Ok(match checks.iter().any(|c| c.verdict == doctor::Verdict::Fail) {
                true => error::exit::SHOTS_FAILED,
                false => error::exit::OK,
            })
        }
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
