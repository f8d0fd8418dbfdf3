//! The report layer: the only code (with `main.rs`) that writes to stdout or stderr.

pub mod summary;

use std::io::Write;

/// Writes text to stdout (the command's result: tables, JSON).
pub fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes a line to stderr (progress, warnings, messages for people).
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
