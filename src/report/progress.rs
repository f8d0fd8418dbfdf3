//! Reporters: indicatif bars on a terminal, one plain line per state change without one,
//! JSON lines for `--json`, errors only for `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Event, Reporter, stderr_line, stdout};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars on a terminal.
    Bars,
    /// One line per state change on stderr.
    Plain,
    /// One JSON object per line on stdout.
    Json,
    /// Only failures.
    Quiet,
}

/// The reporter for a style.
pub fn reporter(style: Style, total: usize) -> Box<dyn Reporter> {
    match style {
        Style::Bars => Box::new(Bars::new(total)),
        Style::Plain => Box::new(Plain {
            total,
            done: Mutex::new(0),
            last: Mutex::new(HashMap::new()),
        }),
        Style::Json => Box::new(Json),
        Style::Quiet => Box::new(Quiet),
    }
}

/// `--json`: one object per event on stdout.
struct Json;

impl Reporter for Json {
    fn event(&self, e: &Event) {
        let mut v = json!({ "state": e.state(), "at": crate::journal::now() });
        if let Some(id) = e.shot() {
            v["shot"] = json!(id);
        }
        match e {
            Event::Notice(m) => v["message"] = json!(m),
            Event::Submitted { request_id, .. } | Event::Resumed { request_id, .. } => {
                v["request_id"] = json!(request_id)
            }
            Event::Queued { position, .. } => v["queue_position"] = json!(position),
            Event::Downloading { bytes, total, .. } => {
                v["bytes"] = json!(bytes);
                v["total_bytes"] = json!(total);
            }
            Event::Retrying { reason, delay_ms, .. } => {
                v["reason"] = json!(reason);
                v["delay_ms"] = json!(delay_ms);
            }
            Event::Done {
                path,
                bytes,
                estimated_usd,
                ..
            } => {
                v["path"] = json!(path);
                v["bytes"] = json!(bytes);
                v["estimated_usd"] = json!(estimated_usd);
            }
            Event::Failed { error, .. } => v["error"] = json!(error),
            Event::Uncertain { reason, .. } | Event::Pending { reason, .. } | Event::Skipped { reason, .. } => {
                v["error"] = json!(reason)
            }
            Event::Cached { .. } | Event::Submitting { .. } | Event::Running { .. } => {}
        }
        stdout(&format!("{}\n", Value::to_string(&v)));
    }
}

/// `--quiet`: failures and notices only.
struct Quiet;

impl Reporter for Quiet {
    fn event(&self, e: &Event) {
        match e {
            Event::Failed { id, error } => stderr_line(&format!("{id}: failed: {error}")),
            Event::Uncertain { id, reason } => stderr_line(&format!("{id}: uncertain: {reason}")),
            _ => {}
        }
    }
}

/// No terminal: one line per state change.
struct Plain {
    total: usize,
    done: Mutex<usize>,
    last: Mutex<HashMap<String, &'static str>>,
}

impl Reporter for Plain {
    fn event(&self, e: &Event) {
        if let Event::Notice(m) = e {
            stderr_line(m);
            return;
        }
        let Some(id) = e.shot() else { return };
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.get(id) == Some(&e.state()) {
                return;
            }
            last.insert(id.to_owned(), e.state());
        }
        let n = if e.is_final() {
            let mut d = self.done.lock().unwrap_or_else(|p| p.into_inner());
            *d += 1;
            *d
        } else {
            *self.done.lock().unwrap_or_else(|p| p.into_inner())
        };
        stderr_line(&format!("[{n}/{}] {id}: {}", self.total, describe(e)));
    }
}

/// One event in words, with any key masked.
fn describe(e: &Event) -> String {
    crate::secrets::redact(&describe_raw(e)).into_owned()
}

fn describe_raw(e: &Event) -> String {
    match e {
        Event::Notice(m) => m.clone(),
        Event::Cached { .. } => "cached (unchanged, clip on disk)".into(),
        Event::Submitting { .. } => "submitting".into(),
        Event::Submitted { request_id, .. } => format!("submitted (request {request_id})"),
        Event::Resumed { request_id, .. } => format!("following request {request_id} from an earlier run"),
        Event::Queued { position: Some(p), .. } => format!("queued #{p}"),
        Event::Queued { position: None, .. } => "queued".into(),
        Event::Running { .. } => "running".into(),
        Event::Downloading { bytes, total, .. } => format!("downloading {}", mb(*bytes, *total)),
        Event::Retrying { reason, delay_ms, .. } => {
            format!("retrying in {:.1} s ({reason})", *delay_ms as f64 / 1000.0)
        }
        Event::Done { path, bytes, .. } => format!("done → {path} ({:.1} MB)", *bytes as f64 / 1e6),
        Event::Failed { error, .. } => format!("FAILED: {error}"),
        Event::Uncertain { reason, .. } => format!("UNCERTAIN: {reason}"),
        Event::Pending { reason, .. } => format!("not rendered: {reason}"),
        Event::Skipped { reason, .. } => format!("SKIPPED: {reason}"),
    }
}

fn mb(bytes: u64, total: Option<u64>) -> String {
    match total {
        Some(t) => format!("{:.1} of {:.1} MB", bytes as f64 / 1e6, t as f64 / 1e6),
        None => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// A terminal: an overall bar and one line per shot in flight.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    shots: Mutex<HashMap<String, ProgressBar>>,
    spent: Mutex<f64>,
}

impl Bars {
    fn new(total: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} shots · {msg} · {elapsed_precise} (ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.set_message("$0.00 of the estimate rendered");
        overall.enable_steady_tick(Duration::from_millis(250));
        Bars {
            multi,
            overall,
            shots: Mutex::new(HashMap::new()),
            spent: Mutex::new(0.0),
        }
    }

    fn line(&self, id: &str) -> ProgressBar {
        let mut shots = self.shots.lock().unwrap_or_else(|p| p.into_inner());
        shots
            .entry(id.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.insert_before(&self.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:24} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(id.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            })
            .clone()
    }
}

impl Reporter for Bars {
    fn event(&self, e: &Event) {
        if let Event::Notice(m) = e {
            let _ = self.multi.println(crate::secrets::redact(m));
            return;
        }
        let Some(id) = e.shot() else { return };
        if e.is_final() {
            if let Some(bar) = self.shots.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
                bar.finish_and_clear();
            }
            if let Event::Done {
                estimated_usd: Some(usd),
                ..
            } = e
            {
                let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
                *spent += usd;
                self.overall
                    .set_message(format!("${spent:.2} of the estimate rendered"));
            }
            if matches!(e, Event::Failed { .. } | Event::Uncertain { .. }) {
                let _ = self.multi.println(format!("{id}: {}", describe(e)));
            }
            self.overall.inc(1);
            return;
        }
        let bar = self.line(id);
        bar.set_message(describe(e));
    }

    fn finish(&self) {
        for (_, bar) in self.shots.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            bar.finish_and_clear();
        }
        self.overall.finish();
    }
}
