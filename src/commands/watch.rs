//! `storyboard watch FILE`: the storyboard re-planned on every save; sends nothing.

use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::cli::WatchArgs;
use crate::error::{Error, exit};
use crate::facts::cost::Micros;
use crate::plan::{self, Plan};
use crate::report;
use crate::storyboard::Source;

/// `storyboard watch FILE`: plans the file now and after every change, printing what changed.
/// Whatever the file becomes (a FIFO, a device, a huge file), it is refused at once, so Ctrl-C
/// always stops the watch.
pub(crate) async fn watch(args: WatchArgs) -> Result<i32, Error> {
    let mut last_text: Option<Result<String, String>> = None;
    let mut last: Option<Plan> = None;
    let mut inputs = Inputs::default();
    // One listener for the whole watch: a Ctrl-C arriving while the file is read is not lost.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let now = read_watched(&args.file);
        let files_changed = inputs.changed();
        if now.is_some() && (now != last_text || files_changed) {
            match &now {
                Some(Ok(text)) => {
                    // A plan that fails keeps the files as last looked at: not re-planned until
                    // one of them, or the text, changes again.
                    if let Some(plan) = replan(&args.file, text, last.as_ref()) {
                        inputs = Inputs::of(Some(&plan));
                        last = Some(plan);
                    }
                }
                Some(Err(e)) => report::stdout(&format!("{e}\n(waiting for the next save)\n")),
                None => {}
            }
            last_text = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(args.interval_ms.max(20))) => {}
            _ = &mut ctrl_c => return Ok(exit::OK),
        }
    }
}

/// The local files the last plan read (start and end images, cast images, voice samples), each
/// with the sha256 the plan used: a replaced image re-plans like an edited line. A file is hashed
/// again only when its length or modification time moved since it was last looked at.
#[derive(Default)]
struct Inputs(BTreeMap<Utf8PathBuf, (String, Option<Stamp>)>);

/// A file's length and modification time, or `None` when it is missing.
type Stamp = Option<(u64, SystemTime)>;

impl Inputs {
    fn of(plan: Option<&Plan>) -> Self {
        let Some(plan) = plan else { return Self::default() };
        let shots = plan.shots.iter().flat_map(|s| {
            let frame = s.edge_frames().chain(&s.more_frames).flat_map(|f| &f.local_files);
            s.local_files
                .iter()
                .chain(frame)
                .map(|f| (f.path.clone(), f.sha256.clone()))
        });
        let voices = plan.voices_to_create.iter().map(|v| (v.path.clone(), v.sha256.clone()));
        let frontals = plan.frontals.values().filter_map(|f| match f {
            plan::Frontal::Local { path, sha256 } => Some((path.clone(), sha256.clone())),
            plan::Frontal::Url(_) => None,
        });
        Self(
            shots
                .chain(voices)
                .chain(frontals)
                .map(|(p, sha)| (p, (sha, None)))
                .collect(),
        )
    }

    /// Whether any of the files now differs from what the plan read, or went (said once).
    fn changed(&mut self) -> bool {
        self.0.iter_mut().any(|(path, (sha, seen))| {
            let now = stamp(path);
            if *seen == Some(now) {
                return false;
            }
            *seen = Some(now);
            now.is_none() || crate::digest::sha256_file(path).ok().as_ref() != Some(sha)
        })
    }
}

fn stamp(path: &Utf8Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)))
}

/// The watched file's text (`None` while it is missing, mid-save): a regular file (through a
/// link too) of at most the storyboard limit, else why not.
fn read_watched(file: &Utf8Path) -> Option<Result<String, String>> {
    match crate::files::read_limited(file, crate::storyboard::MAX_STORYBOARD_BYTES, true) {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(String::from_utf8(bytes).map_err(|_| format!("{file} is not UTF-8 text"))),
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Plans the text of `file` and prints the changes against `before` (or the plan, the first
/// time); the new plan, or `None` (its problems printed) when it does not plan.
fn replan(file: &Utf8Path, text: &str, before: Option<&Plan>) -> Option<Plan> {
    let src = Source::from_file(file, text.to_owned());
    let planned = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput);
    let planned = planned.and_then(|p| Ok((crate::settings::concurrency(None, &p)?, p)));
    match planned {
        Ok((concurrency, plan)) => {
            match before {
                None => report::stdout(&report::summary::plan(&plan, concurrency)),
                Some(old) => report::stdout(&changes(old, &plan)),
            }
            Some(plan)
        }
        Err(e) => {
            report::stdout(&format!("{e}\n(waiting for the next save)\n"));
            None
        }
    }
}

/// What changed between two plans: shots added, removed and edited (by request), and the
/// estimate's difference.
pub(crate) fn changes(old: &Plan, new: &Plan) -> String {
    let keys = |p: &Plan| -> BTreeMap<String, (String, Option<Micros>)> {
        p.shots
            .iter()
            .map(|s| (s.id.clone(), (s.request_key.clone(), s.estimate)))
            .collect()
    };
    let (a, b) = (keys(old), keys(new));
    let mut out = String::new();
    for (id, (key, est)) in &b {
        match a.get(id) {
            None => out.push_str(&format!("+ {id} (added, {})\n", price(*est))),
            Some((k, _)) if k != key => out.push_str(&format!("~ {id} (edited, {})\n", price(*est))),
            _ => {}
        }
    }
    for id in a.keys().filter(|id| !b.contains_key(*id)) {
        out.push_str(&format!("- {id} (removed)\n"));
    }
    if out.is_empty() {
        out.push_str("no shot changed\n");
    }
    let (was, now) = (old.total(), new.total());
    let delta = if now >= was {
        format!("+{}", Micros(now.0 - was.0))
    } else {
        format!("-{}", Micros(was.0 - now.0))
    };
    out.push_str(&format!("estimate: {now} ({delta}) for {} shots\n", new.shots.len()));
    out
}

fn price(m: Option<Micros>) -> String {
    m.map_or("unpriced".into(), |m| m.to_string())
}
