//! `storyboard doctor`'s checks as data (what was checked, how it came out, what was found)
//! and their report: a line per check, or one JSON document.

use serde::Serialize;

use super::stdout;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Ready.
    Ok,
    /// Works without it, or could not be told.
    Warn,
    /// A paid render would fail.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// What was checked.
    pub name: String,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found (never a key).
    pub detail: String,
}

/// `storyboard doctor`'s report: a line per check (or one JSON document).
pub(crate) fn doctor(checks: &[Check], json: bool) {
    if json {
        return stdout(&format!("{}\n", serde_json::json!({ "checks": checks })));
    }
    let mut text = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        text.push_str(&format!("{mark}  {:<26} {}\n", c.name, c.detail));
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    text.push_str(&match failed {
        0 => "ready: nothing above stops a paid render\n".to_owned(),
        n => format!("{n} problem(s) above would stop a paid render\n"),
    });
    stdout(&text);
}
