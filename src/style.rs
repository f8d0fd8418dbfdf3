//! How a command's progress is shown: the choice the settings resolve (`--json`, `--quiet`, a
//! terminal, `STORYBOARD_PLAIN`) and the report layer draws. A leaf, so both can name it.

use std::io::IsTerminal;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Bars on a terminal.
    Bars,
    /// One line per state change on stderr.
    Plain,
    /// One JSON object per line on stdout.
    Json,
    /// Only failures.
    Quiet,
}

impl Style {
    /// `--json`, `--quiet`, bars on a terminal (unless `STORYBOARD_PLAIN`), else plain lines.
    pub(crate) fn resolve(json: bool, quiet: bool) -> Style {
        if json {
            Style::Json
        } else if quiet {
            Style::Quiet
        } else if std::io::stderr().is_terminal() && std::env::var_os("STORYBOARD_PLAIN").is_none() {
            Style::Bars
        } else {
            Style::Plain
        }
    }

    /// Whether the plan table and the estimate line are shown before a render.
    pub(crate) fn shows_table(self) -> bool {
        !matches!(self, Style::Json | Style::Quiet)
    }
}
