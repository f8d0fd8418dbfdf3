//! The report layer: the only code (with `main.rs`) that writes to stdout or stderr.

pub(crate) mod checks;
pub(crate) mod confirm;
pub(crate) mod summary;
pub(crate) mod table;

use std::io::Write;

/// Writes text to stdout (the command's result: tables, JSON).
pub(crate) fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(crate::secrets::redact(text).as_bytes());
    let _ = out.flush();
}

/// Writes a line to stderr (progress, warnings, messages for people).
pub(crate) fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", crate::secrets::redact(text));
}

/// Says how many torn journal lines (a crash mid-write) were skipped, if any.
pub(crate) fn skipped_lines_note(n: usize) {
    if n > 0 {
        stderr_line(&format!(
            "note: {n} unreadable journal line(s) skipped (a crash mid-write)"
        ));
    }
}

/// Says that shots cancelled with `storyboard cancel` are submitted again (a new bill each).
pub(crate) fn cancelled_note(n: usize) {
    if n > 0 {
        stderr_line(&format!(
            "note: {n} shot{} cancelled earlier (storyboard cancel) {} submitted again",
            if n == 1 { " was" } else { "s were" },
            if n == 1 { "is" } else { "are" }
        ));
    }
}

/// The width of the terminal stderr writes to, when it is one.
pub(crate) fn terminal_width() -> Option<usize> {
    let term = console::Term::stderr();
    term.is_term().then(|| term.size().1.max(20) as usize)
}

/// A line cut to the width of the terminal stderr writes to (unchanged off a terminal).
pub(crate) fn fit(line: &str) -> String {
    match terminal_width() {
        Some(width) => console::truncate_str(line, width, "…").into_owned(),
        None => line.to_owned(),
    }
}

/// Prose folded at spaces to the width of the terminal stderr writes to (unchanged off a
/// terminal): said whole, never cut.
pub(crate) fn fold(text: &str) -> String {
    match terminal_width() {
        Some(width) => text
            .lines()
            .map(|l| table::wrap(l, width, 2))
            .collect::<String>()
            .trim_end()
            .to_owned(),
        None => text.to_owned(),
    }
}

/// Writes lines to stderr; on a terminal each is cut to its width (tables and headers are
/// never wrapped). Errors and notices use [`stderr_line`], which never cuts.
pub(crate) fn stderr_fitted(text: &str) {
    for line in text.lines() {
        stderr_line(&fit(line));
    }
}

/// What `storyboard sandbox` prints once it listens.
pub(crate) fn sandbox_ready(base: &str) {
    stdout(&format!(
        "sandbox listening on {base}\n\
         \x20 fal queue:    STORYBOARD_FAL_URL={base}\n\
         \x20 fal storage:  STORYBOARD_FAL_STORAGE_URL={base}\n\
         \x20 fal platform: STORYBOARD_FAL_API_URL={base}\n\
         \x20 Eachlabs:     STORYBOARD_EACHLABS_URL={base}\n\
         \x20 counters:     {base}/__sandbox/stats\n\
         any non-empty key is accepted (FAL_KEY=sandbox); Ctrl-C stops it\n"
    ));
}

pub(crate) mod progress;

use crate::record::manifest::ShotStatus;

/// The program that opens a URL in a browser here, or why there is none (no display on Linux:
/// `xdg-open` would fail without a word).
pub(crate) fn browser_opener() -> Result<&'static str, String> {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let has = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if !cfg!(target_os = "macos") && !has("DISPLAY") && !has("WAYLAND_DISPLAY") && !has("BROWSER") {
        return Err("no display (DISPLAY, WAYLAND_DISPLAY and BROWSER are unset)".to_owned());
    }
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(opener).is_file()));
    if found {
        Ok(opener)
    } else {
        Err(format!("{opener} is not installed"))
    }
}

/// Opens a URL in the user's browser (`xdg-open`, or `open` on macOS), saying so when it
/// cannot; the opener is waited for on a thread of its own (no zombie process).
pub(crate) fn open_in_browser(url: &str) {
    let opener = match browser_opener() {
        Ok(opener) => opener,
        Err(why) => return stderr_line(&format!("cannot open a browser ({why}): open the URL above in one")),
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match started {
        Ok(mut child) => {
            std::thread::spawn(move || {
                if child.wait().is_ok_and(|s| !s.success()) {
                    stderr_line(&format!("{opener} failed: open the URL above in a browser"));
                }
            });
        }
        Err(_) => stderr_line(&format!("cannot start {opener}: open the URL above in a browser")),
    }
}

/// Before a render: the plan table under the settings it will really use (not for `--json`
/// or `--quiet`), then the estimate line (for `--json`, an `estimate` event on stdout, before
/// any submit).
pub(crate) fn before_render(
    plan: &crate::plan::Plan,
    effective: &summary::Effective,
    style: progress::Style,
    estimate: &crate::facts::cost::Estimate,
    (cached, resumed): (usize, usize),
) {
    if let Some(line) = summary::dotenv_ignored(effective.dotenv_ignored) {
        stderr_line(&line);
    }
    if style.shows_table() {
        let table = summary::plan_for_render(plan, effective, terminal_width());
        stderr_fitted(table.trim_end());
    }
    if style != progress::Style::Json {
        stderr_line(&fold(&summary::to_render(estimate, cached, resumed, effective.sandbox)));
        return;
    }
    let line = serde_json::json!({
        "state": "estimate",
        "at": crate::record::journal::now(),
        "shots": estimate.shots,
        "frames": estimate.frames,
        "estimated_usd": estimate.spend,
        "unpriced": estimate.unpriced,
        "cached": cached,
        "resumed": resumed,
        "sandbox": effective.sandbox,
        "output": effective.out,
    });
    stdout(&format!("{line}\n"));
}

/// The end of a render: the counts and what to do next (`next:` the review and assemble
/// commands of `next`, when a clip exists and the run was not stopped), or one JSON line for
/// `--json`; whether any of the shots failed.
pub(crate) fn render_end(
    json: bool,
    out: &camino::Utf8Path,
    records: &[&crate::record::manifest::RequestRecord],
    (stopped, sandbox): (bool, bool),
    next: &Next,
) -> bool {
    if json {
        let line = serde_json::json!({
            "state": "summary",
            "at": crate::record::journal::now(),
            "manifest": crate::record::folder::layout::manifest(out),
            "counts": summary::counts(records),
        });
        stdout(&format!("{line}\n"));
    } else {
        let width = terminal_width().unwrap_or(usize::MAX);
        for line in summary::render_summary(records, out, stopped, sandbox)
            .trim_end()
            .lines()
        {
            stderr_line(table::wrap(line, width, 2).trim_end());
        }
        let clips = records
            .iter()
            .any(|r| matches!(r.status, ShotStatus::Done | ShotStatus::Cached));
        if clips && !stopped {
            stderr_line(&next.line());
        }
    }
    records
        .iter()
        .any(|r| !matches!(r.status, ShotStatus::Done | ShotStatus::Cached))
}

/// What to run after a render: the storyboard, and the output folder when `--out` moved it.
pub(crate) struct Next<'a> {
    /// The storyboard file as given.
    pub file: &'a camino::Utf8Path,
    /// `--out`, when it differs from the storyboard's `output:`.
    pub out: Option<&'a camino::Utf8Path>,
}

impl Next<'_> {
    /// `next: storyboard review FILE / storyboard assemble FILE`, quoted to copy.
    pub(crate) fn line(&self) -> String {
        let mut words = vec![self.file.as_str()];
        if let Some(out) = self.out {
            words.extend(["--out", out.as_str()]);
        }
        let args: Vec<String> = words
            .iter()
            .map(|w| shlex::try_quote(w).map_or_else(|_| (*w).to_owned(), |q| q.into_owned()))
            .collect();
        let args = args.join(" ");
        format!("next: storyboard review {args} / storyboard assemble {args}")
    }
}

/// What an assembly wrote (and kept) on stderr; whether it failed: a cut that failed although
/// clips exist (and ffmpeg is installed) fails the command.
pub(crate) fn assembled(result: &crate::deliver::assemble::Assembly) -> bool {
    for line in &result.kept {
        stderr_line(&format!("warning: {line}"));
    }
    stderr_line(summary::assembly(result).trim_end());
    matches!((&result.cut, &result.cut_problem), (None, Some(p)) if !p.contains("not installed") && result.clips > 0)
}

/// What reconciling found, said line by line; whether any request was adopted.
pub(crate) fn reconciled(found: Option<&crate::decide::reconcile::Reconciled>) -> bool {
    let Some(found) = found else { return false };
    for line in &found.lines {
        stderr_line(line);
    }
    found.adopted > 0
}

/// The journal's damaged lines, if any, before a run starts.
pub(crate) fn journal_note(history: &crate::record::journal::History) {
    match history.warning() {
        Some(w) => stderr_line(&w),
        None => skipped_lines_note(history.skipped),
    }
}
