//! `storyboard`: render a whole film's worth of AI video shots from one YAML storyboard.
//!
//! Data flow: [`storyboard`] (the YAML) → [`plan`] (expanded, validated, priced requests) →
//! [`resume`] (what happens to each shot) → [`runner`] (providers, downloads, journal) →
//! [`ledger`] / [`manifest`] (the record) → [`assemble`] (cut, timeline, review page).
//! [`render`] wires the render steps; [`commands`] the other commands; [`run`] dispatches.

pub mod assemble;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod digest;
pub mod doctor;
pub mod download;
pub mod error;
pub mod files;
pub mod folder;
pub mod jobs;
pub mod journal;
pub mod ledger;
pub mod manifest;
pub mod media;
pub mod plan;
pub mod prepare;
pub mod prices;
pub mod problem;
pub mod provider;
pub mod published;
pub mod render;
pub mod report;
pub mod resume;
pub mod review;
pub mod runner;
pub mod sandbox;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod signals;
pub mod status;
pub mod store;
pub mod storyboard;
pub mod takes;
pub mod workspace;

use cli::{Cli, Command};
use error::Error;

/// Runs one command; returns the exit code. Callable in-process and more than once.
pub async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Plan(args) => commands::plan(args),
        Command::Render(args) => render::render(args).await,
        Command::Models(args) => commands::models(args).await,
        Command::Doctor(args) => {
            let checks = doctor::examine(&args.keys, &args.file).await;
            report::doctor(&checks, args.json);
            Ok(match checks.iter().any(|c| c.verdict == doctor::Verdict::Fail) {
                true => error::exit::SHOTS_FAILED,
                false => error::exit::OK,
            })
        }
        Command::Schema(args) => commands::schema(args),
        Command::Sandbox(args) => commands::sandbox(args).await,
        Command::Status(args) => commands::status(args),
        Command::Init(args) => workspace::init(args),
        Command::Watch(args) => workspace::watch(args).await,
        Command::Cancel(args) => jobs::cancel(args).await,
        Command::Reconcile(args) => jobs::reconcile(args).await,
        Command::Adopt(args) => jobs::adopt(args),
        Command::Assemble(args) => commands::assemble(args),
        Command::Pick(args) => commands::pick(args),
        Command::Review(args) => commands::review(args).await,
        Command::Clean(args) => commands::clean(args),
        Command::Completions(args) => commands::completions(args),
        Command::Store(args) => store::command::run(args).await,
    }
}
