//! `storyboard completions`: shell completions.

use clap::CommandFactory;

use crate::cli::{self, Cli};
use crate::error::{Error, exit};
use crate::report;

/// `storyboard completions`.
pub(crate) fn completions(args: cli::CompletionsArgs) -> Result<i32, Error> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "storyboard", &mut buf);
    report::stdout(&String::from_utf8_lossy(&buf));
    Ok(exit::OK)
}
