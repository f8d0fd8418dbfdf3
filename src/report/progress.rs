//! Reporters: indicatif bars on a terminal, one plain line per state change without one,
//! JSON lines for `--json`, errors only for `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{fit, stderr_line, stdout};
use crate::run::{Event, Reporter};

pub(crate) use crate::style::Style;

/// The reporter for a style.
pub(crate) fn reporter(style: Style, total: usize, estimate_usd: f64) -> Box<dyn Reporter> {
    match style {
        Style::Bars => Box::new(Bars::new(total, estimate_usd)),
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
        let mut v = json!({ "state": e.state(), "at": crate::record::journal::now() });
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
                take,
                sha256,
                ..
            } => {
                v["path"] = json!(path);
                v["bytes"] = json!(bytes);
                v["estimated_usd"] = json!(estimated_usd);
                v["take"] = json!(take);
                v["sha256"] = json!(sha256);
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
        Event::Downloading { bytes: 0, total, .. } if total.is_none_or(|t| t == 0) => "downloading".into(),
        Event::Downloading { bytes, total, .. } => format!("downloading {}", mb(*bytes, *total)),
        Event::Retrying { reason, delay_ms, .. } => {
            format!("retrying in {:.1} s ({reason})", *delay_ms as f64 / 1000.0)
        }
        Event::Done { path, bytes, take, .. } => {
            let take = take.map_or(String::new(), |n| format!(", take {n}"));
            format!("done → {path}{take} ({:.1} MB)", *bytes as f64 / 1e6)
        }
        Event::Failed { error, .. } => format!("FAILED: {error}"),
        Event::Uncertain { reason, .. } => format!("UNCERTAIN: {reason}"),
        Event::Pending { reason, .. } => format!("not rendered: {reason}"),
        Event::Skipped { reason, .. } => format!("SKIPPED: {reason}"),
    }
}

fn mb(bytes: u64, total: Option<u64>) -> String {
    match total.filter(|&t| t > 0) {
        Some(t) => format!("{:.1} of {:.1} MB", bytes as f64 / 1e6, t as f64 / 1e6),
        None => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// A terminal, cargo-style: a line left behind per finished shot (`✓ arrival  24s  $0.70
/// arrival.mp4`, `✗` with the reason), the live lines below it — one per shot in flight and an
/// overall bar with the money rendered against the estimate and an ETA from observed job
/// times. Colour unless `NO_COLOR` or `CLICOLOR=0`; every line fits the terminal's width.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    shots: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    tally: Mutex<Tally>,
    estimate: f64,
    /// Set by `finish` (the run is over or stopping): no new live line is drawn after it, so
    /// a late event cannot leave a spinner behind under the summary.
    finished: std::sync::atomic::AtomicBool,
}

/// What the overall line says.
#[derive(Default)]
struct Tally {
    spent: f64,
    finished: usize,
    /// Seconds from a shot's first event to its clip, for shots rendered in this run.
    took: Vec<f64>,
}

/// Whether to colour stderr: a terminal, and neither `NO_COLOR` nor `CLICOLOR=0`.
pub(crate) fn colour_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let clicolor_off = std::env::var("CLICOLOR").is_ok_and(|v| v == "0");
    std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color && !clicolor_off
}

impl Bars {
    fn new(total: usize, estimate: f64) -> Bars {
        console::set_colors_enabled_stderr(colour_wanted());
        Bars::drawn_to(ProgressDrawTarget::stderr(), total, estimate)
    }

    fn drawn_to(target: ProgressDrawTarget, total: usize, estimate: f64) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("{bar:20} {pos}/{len} shots · {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(Duration::from_millis(250));
        let bars = Bars {
            multi,
            overall,
            shots: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::default()),
            estimate,
            finished: std::sync::atomic::AtomicBool::new(false),
        };
        bars.refresh(&bars.tally.lock().unwrap_or_else(|p| p.into_inner()));
        bars
    }

    fn line(&self, id: &str) -> ProgressBar {
        let mut shots = self.shots.lock().unwrap_or_else(|p| p.into_inner());
        shots
            .entry(id.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.insert_before(&self.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:20!} {elapsed:>4} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(id.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                (bar, Instant::now())
            })
            .0
            .clone()
    }

    /// The overall line: money rendered against the estimate, and an ETA once a job finished.
    fn refresh(&self, t: &Tally) {
        let left = self.overall.length().unwrap_or(0).saturating_sub(t.finished as u64);
        let in_flight = self.shots.lock().unwrap_or_else(|p| p.into_inner()).len().max(1) as f64;
        let eta = match t.took.is_empty() {
            true => "ETA –".to_owned(),
            false if left == 0 => String::new(),
            false => {
                let mean = t.took.iter().sum::<f64>() / t.took.len() as f64;
                let secs = (left as f64 / in_flight).ceil() * mean;
                format!(
                    "ETA {}",
                    humantime::format_duration(Duration::from_secs(secs.round() as u64))
                )
            }
        };
        self.overall
            .set_message(format!("${:.2} of ${:.2} rendered · {eta}", t.spent, self.estimate));
    }

    /// The line a finished shot leaves behind.
    fn finished_line(&self, e: &Event, id: &str, took: Option<Duration>) -> Option<String> {
        let secs = took.map_or(String::new(), |d| format!("{:>4}s", d.as_secs()));
        // A finished take is named as the director knows it (`grind take 3`, not the request's
        // `grind-take3` label); ids in one column, as in the live lines below (20 wide).
        let label = match e {
            Event::Done {
                path, take: Some(n), ..
            } => format!("{} take {n}", path.strip_suffix(".mp4").unwrap_or(path)),
            _ => id.to_owned(),
        };
        let id = console::pad_str(&label, 20, console::Alignment::Left, Some("…"));
        let line = match e {
            Event::Done {
                path, estimated_usd, ..
            } => format!(
                "{} {id}  {secs}  {}  {path}",
                console::style("✓").green().for_stderr(),
                estimated_usd.map_or("unpriced".into(), |u| format!("${u:.2}"))
            ),
            Event::Cached { .. } => format!("{} {id}  cached", console::style("=").dim().for_stderr()),
            Event::Failed { error, .. } => format!("{} {id}  {error}", console::style("✗").red().for_stderr()),
            Event::Uncertain { reason, .. } => {
                format!(
                    "{} {id}  uncertain: {reason}",
                    console::style("?").yellow().for_stderr()
                )
            }
            Event::Skipped { reason, .. } => {
                format!("{} {id}  skipped: {reason}", console::style("-").yellow().for_stderr())
            }
            _ => return None,
        };
        Some(fit(&crate::secrets::redact(&line)))
    }
}

impl Reporter for Bars {
    fn event(&self, e: &Event) {
        if let Event::Notice(m) = e {
            let _ = self.multi.println(super::fold(&crate::secrets::redact(m)));
            return;
        }
        let Some(id) = e.shot() else { return };
        if !e.is_final() {
            if !self.finished.load(std::sync::atomic::Ordering::SeqCst) {
                self.line(id).set_message(describe(e));
            }
            return;
        }
        let started = self.shots.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let took = started.as_ref().map(|(_, at)| at.elapsed());
        if let Some((bar, _)) = started {
            bar.finish_and_clear();
        }
        if let Some(line) = self.finished_line(e, id, took) {
            let _ = self.multi.println(line);
        }
        // A shot left pending (the run is stopping) is not finished: the counts stay true.
        if matches!(e, Event::Pending { .. }) {
            return;
        }
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        t.finished += 1;
        if let Event::Done { estimated_usd, .. } = e {
            t.spent += estimated_usd.unwrap_or(0.0);
            if let Some(d) = took {
                t.took.push(d.as_secs_f64());
            }
        }
        self.overall.inc(1);
        self.refresh(&t);
    }

    fn finish(&self) {
        self.finished.store(true, std::sync::atomic::Ordering::SeqCst);
        for (_, (bar, _)) in self.shots.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            bar.finish_and_clear();
        }
        // The summary below says how the run ended; no bar is left half-drawn above it.
        self.overall.finish_and_clear();
    }
}

/// A run that ends without `finish` (an error, a stop before the runner ran) still clears
/// its live lines.
impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(id: &str) -> Event {
        Event::Running { id: id.to_owned() }
    }

    #[test]
    fn after_finish_no_live_line_is_drawn_and_every_spinner_is_cleared() {
        let bars = Bars::drawn_to(ProgressDrawTarget::hidden(), 3, 2.1);
        bars.event(&running("a"));
        bars.event(&running("b"));
        let spinners: Vec<ProgressBar> = bars.shots.lock().unwrap().values().map(|(b, _)| b.clone()).collect();
        assert_eq!(spinners.len(), 2);
        bars.finish();
        assert!(
            spinners.iter().all(ProgressBar::is_finished),
            "Ctrl-C clears the live lines"
        );
        assert!(bars.overall.is_finished());
        // An event arriving while the run stops draws no new spinner.
        bars.event(&running("c"));
        bars.event(&Event::Queued {
            id: "a".into(),
            position: Some(1),
        });
        assert!(bars.shots.lock().unwrap().is_empty(), "no spinner after the stop");
    }

    #[test]
    fn a_finished_take_is_named_by_its_shot_and_take_number() {
        let bars = Bars::drawn_to(ProgressDrawTarget::hidden(), 1, 0.7);
        let done = |take| Event::Done {
            id: "grind-take3".into(),
            path: "grind.mp4".into(),
            bytes: 1_000_000,
            estimated_usd: Some(0.7),
            take,
            sha256: "ab".into(),
        };
        let line = bars.finished_line(&done(Some(3)), "grind-take3", None).unwrap();
        assert!(line.contains("grind take 3"), "{line}");
        assert!(!line.contains("grind-take3"), "{line}");
        let line = bars.finished_line(&done(None), "grind-take3", None).unwrap();
        assert!(
            line.contains("grind-take3"),
            "without a take number, the request's label: {line}"
        );
        assert!(describe(&done(Some(3))).contains("grind.mp4, take 3"));
    }

    #[test]
    fn a_reporter_dropped_without_finish_clears_its_spinners() {
        let bars = Bars::drawn_to(ProgressDrawTarget::hidden(), 1, 0.7);
        bars.event(&running("a"));
        let spinner = bars.shots.lock().unwrap()["a"].0.clone();
        drop(bars);
        assert!(spinner.is_finished());
    }
}
