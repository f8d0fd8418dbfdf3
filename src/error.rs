//! The top-level error: decides how a failure is shown and which exit code it gets.

use crate::problem::Problem;
use camino::Utf8PathBuf;

/// Exit codes (DESIGN §3).
pub mod exit {
    /// All shots done.
    pub const OK: i32 = 0;
    /// Some shots failed (the rest are rendered and recorded).
    pub const SHOTS_FAILED: i32 = 1;
    /// Bad input: nothing was sent, nothing written.
    pub const BAD_INPUT: i32 = 2;
    /// Over budget or not confirmed.
    pub const NOT_CONFIRMED: i32 = 3;
    /// Interrupted.
    pub const INTERRUPTED: i32 = 130;
}

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storyboard (or a file it names) is wrong; every problem found.
    #[error("{} problem{} in the storyboard:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    BadInput(Vec<Problem>),
    /// The storyboard file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A command-line value or environment setting is wrong.
    #[error("{0}")]
    Usage(String),
    /// The estimate is over budget, or the user did not confirm.
    #[error("{0}")]
    NotConfirmed(String),
    /// Writing output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process renders into the same folder.
    #[error("{0}")]
    Locked(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Interrupted,
    /// Anything else that ends the run.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) | Error::Read { .. } | Error::Usage(_) => exit::BAD_INPUT,
            Error::NotConfirmed(_) => exit::NOT_CONFIRMED,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Write { .. } | Error::Locked(_) | Error::Other(_) => exit::SHOTS_FAILED,
        }
    }
}
