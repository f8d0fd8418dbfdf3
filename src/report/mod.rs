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

/// What `storyboard sandbox` prints once it listens.
pub fn sandbox_ready(base: &str) {
    stdout(&format!(
        "sandbox listening on {base}\n\
         \x20 fal queue:    STORYBOARD_FAL_URL={base}\n\
         \x20 fal storage:  STORYBOARD_FAL_STORAGE_URL={base}\n\
         \x20 Eachlabs:     STORYBOARD_EACHLABS_URL={base}\n\
         \x20 counters:     {base}/__sandbox/stats\n\
         any non-empty key is accepted (FAL_KEY=sandbox); Ctrl-C stops it\n"
    ));
}
