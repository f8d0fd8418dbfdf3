//! The top-level error: what stopped a command, how it is shown (a message and a hint line),
//! and which exit code it gets. Leaf errors of each stage are wrapped here, never re-formatted.

use camino::Utf8PathBuf;

use crate::deliver::assemble::AssembleError;
use crate::facts::cost::Refusal;
use crate::problem::Problem;
use crate::settings::SettingsError;
use crate::storyboard::ReadError;

/// Exit codes.
pub(crate) mod exit {
    /// All shots done.
    pub(crate) const OK: i32 = 0;
    /// Some shots failed (the rest are rendered and recorded).
    pub(crate) const SHOTS_FAILED: i32 = 1;
    /// Bad input: nothing was sent, nothing written.
    pub(crate) const BAD_INPUT: i32 = 2;
    /// Over budget or not confirmed.
    pub(crate) const NOT_CONFIRMED: i32 = 3;
    /// The provider refused the credentials or the account's balance: nothing more was sent.
    pub(crate) const ACCOUNT: i32 = 4;
    /// Interrupted.
    pub(crate) const INTERRUPTED: i32 = 130;
}

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The storyboard (or a file it names) is wrong; every problem found.
    #[error("{} problem{} in the storyboard:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    BadInput(Vec<Problem>),
    /// The storyboard file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A command-line value or environment setting is wrong.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A setting (flag, environment, `.env`, storyboard) cannot be used.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The estimate is over budget, or the user did not confirm.
    #[error(transparent)]
    NotConfirmed(#[from] Refusal),
    /// Writing output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process renders into the same folder.
    #[error(
        "another render (process {holder}) is using {out}: two renders of one folder would pay for every shot twice; wait for it to finish or stop it"
    )]
    Locked {
        /// The output folder.
        out: Utf8PathBuf,
        /// The holder's process id as it wrote it (`unknown` when it wrote none).
        holder: String,
    },
    /// The run was interrupted; `resume` is the exact command that resumes it, and `sandbox`
    /// says the built-in emulator (and the jobs it held) ended with this process.
    #[error("interrupted")]
    Interrupted {
        /// The command to copy.
        resume: String,
        /// Rendered against the built-in sandbox.
        sandbox: bool,
    },
    /// The provider refused the key or the balance; nothing more was submitted.
    #[error("{0}")]
    Account(String),
    /// The shared store (`--store`) is misnamed or failed.
    #[error(transparent)]
    Store(#[from] crate::record::store::StoreError),
    /// The built-in sandbox could not start.
    #[error("cannot start the sandbox: {0}")]
    Sandbox(std::io::Error),
    /// `storyboard sandbox` could not listen.
    #[error("cannot serve on {addr}: {source}")]
    Serve {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The cut, timeline or review page could not be made.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
}

/// A command-line value or environment setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    /// `pick`, or the picks a render reads.
    #[error(transparent)]
    Picks(#[from] crate::record::takes::PickError),
    /// Chained shots need ffmpeg.
    #[error("shots that start from another shot's frame need ffmpeg on PATH (on Debian/Ubuntu: apt install ffmpeg)")]
    NeedsFfmpeg,
    /// The output folder holds another storyboard's renders.
    #[error(
        "{out} holds the renders of another storyboard ({owner}): render this one into its own folder (`output:` in the storyboard, or --out)"
    )]
    FolderOwned {
        /// The output folder.
        out: Utf8PathBuf,
        /// The storyboard that owns it.
        owner: String,
    },
    /// A file storyboard would write is already there and was not written by it.
    #[error(
        "{0} exists and was not written by storyboard (the journal has no record of it): move it away, or render into another folder (`output:` or --out); nothing was sent"
    )]
    ForeignFile(Utf8PathBuf),
    /// A state file in the output folder cannot be trusted (a link, a device, too large).
    #[error("{0}")]
    State(String),
    /// `init --model` names no family that can start the starter storyboard.
    #[error("{0}")]
    InitModel(String),
    /// `init` would overwrite files.
    #[error("{0} already exist(s): init never overwrites; choose an empty folder (`storyboard init DIR`)")]
    WouldOverwrite(String),
    /// `status DIR` on a folder nothing was rendered into.
    #[error("{0}: no {m} here: nothing has been rendered into this folder", m = crate::record::folder::layout::MANIFEST)]
    NothingRendered(Utf8PathBuf),
    /// `sandbox --bind` is not an address.
    #[error("--bind `{0}` is not an IP address")]
    Bind(String),
    /// A `sandbox` duration flag.
    #[error("--{0} must be a number of seconds ≥ 0")]
    Seconds(&'static str),
    /// `sandbox --faults`.
    #[error("--faults: {0}")]
    Faults(String),
}

impl From<crate::run::launch::WriteError> for Error {
    fn from(e: crate::run::launch::WriteError) -> Error {
        Error::Write {
            path: e.path,
            source: e.source,
        }
    }
}

impl From<crate::record::folder::FolderError> for Error {
    fn from(e: crate::record::folder::FolderError) -> Error {
        use crate::record::folder::FolderError as F;
        match e {
            F::Write { path, source } => Error::Write { path, source },
            F::Locked { out, holder } => Error::Locked { out, holder },
            F::Owned { out, owner } => UsageError::FolderOwned { out, owner }.into(),
            F::Foreign(path) => UsageError::ForeignFile(path).into(),
            F::State(why) => UsageError::State(why).into(),
        }
    }
}

impl Error {
    /// The run was interrupted: `resume` is the command to copy.
    pub(crate) fn interrupted(resume: String, sandbox: bool) -> Error {
        Error::Interrupted { resume, sandbox }
    }

    /// The exit code for this error.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) | Error::Read(_) | Error::Usage(_) | Error::Settings(_) => exit::BAD_INPUT,
            Error::Assemble(AssembleError::NoManifest(_) | AssembleError::Picks(_)) => exit::BAD_INPUT,
            Error::NotConfirmed(_) => exit::NOT_CONFIRMED,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::Account(_) => exit::ACCOUNT,
            Error::Store(crate::record::store::StoreError::BadUrl { .. }) => exit::BAD_INPUT,
            Error::Store(_) => exit::SHOTS_FAILED,
            Error::Write { .. }
            | Error::Locked { .. }
            | Error::Sandbox(_)
            | Error::Serve { .. }
            | Error::Assemble(_) => exit::SHOTS_FAILED,
        }
    }

    /// What to do about it, when the message does not already say.
    pub(crate) fn hint(&self) -> Option<std::borrow::Cow<'static, str>> {
        if let Error::Interrupted { resume, sandbox } = self {
            return Some(std::borrow::Cow::Owned(if *sandbox {
                format!(
                    "run `{resume}` to resume (the built-in sandbox ended with this process: its jobs are submitted again, for $0)"
                )
            } else {
                format!("run `{resume}` to resume: jobs already submitted are followed, never paid twice")
            }));
        }
        self.static_hint().map(std::borrow::Cow::Borrowed)
    }

    fn static_hint(&self) -> Option<&'static str> {
        match self {
            Error::BadInput(_) => Some(
                "nothing was sent and nothing written; fix what is named above and run the command again (planning is free)",
            ),
            Error::Read(ReadError::Io { .. }) => Some("check the path; `-` reads the storyboard from standard input"),
            Error::Write { .. } => {
                Some("check that the folder is writable and the disk has room; the journal keeps every paid request")
            }
            Error::Settings(SettingsError::NoMatch { .. } | SettingsError::BadGlob { .. }) => {
                Some("`storyboard plan FILE` lists the shot ids; --only takes ids or globs, comma-separated")
            }
            Error::Serve { .. } => Some("choose another --port, or --port 0 for any free one"),
            Error::Account(_) => Some(
                "nothing more was submitted; jobs already accepted were followed. Run render again once the key or balance is fixed: nothing is paid twice",
            ),
            _ => None,
        }
    }
}

impl Error {
    /// Shows the error: JSON lines on stdout for a command asked for JSON, else an `error:`
    /// line and its `hint:` on stderr.
    pub(crate) fn report(&self, json: bool) {
        match json {
            true => error_json(self),
            false => error_lines(self),
        }
    }
}

/// A command's error for people: `error: …` (red on a terminal that wants colour) and its
/// `hint: …` line.
fn error_lines(e: &Error) {
    let colour = crate::report::progress::colour_wanted();
    console::set_colors_enabled_stderr(colour);
    let label = |text: &'static str, style: console::Style| style.for_stderr().apply_to(text).to_string();
    crate::report::stderr_line(&format!("{}: {e}", label("error", console::Style::new().red().bold())));
    if let Some(hint) = e.hint() {
        crate::report::stderr_line(&format!("{}: {hint}", label("hint", console::Style::new().cyan())));
    }
}

/// A command's error as JSON lines on stdout (for `--json`): one object per problem of a bad
/// storyboard (`file`, `line`, `column`, `shot`, `field`, `message`, `hint`), else one object.
fn error_json(e: &Error) {
    let hint = e.hint();
    let lines: Vec<serde_json::Value> = match e {
        Error::BadInput(problems) => problems
            .iter()
            .map(|p| {
                serde_json::json!({
                    "error": "bad_input",
                    "file": p.file,
                    "line": p.location.map(|l| l.0),
                    "column": p.location.map(|l| l.1),
                    "shot": p.shot,
                    "field": p.field,
                    "message": p.message,
                    "hint": hint,
                })
            })
            .collect(),
        other => vec![serde_json::json!({
            "error": "failed",
            "message": other.to_string(),
            "hint": hint,
            "exit_code": other.exit_code(),
        })],
    };
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    crate::report::stdout(&text);
}
