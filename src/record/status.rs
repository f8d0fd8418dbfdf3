//! `storyboard status`: where each shot stands, from the manifest and the journal, without
//! network: done / cached / in flight (request id) / failed (why) / uncertain / pending, whether
//! each clip is present and verified, and the money committed.

use camino::Utf8Path;
use serde_json::{Value, json};

use crate::record::journal::KeyState;
use crate::record::manifest::{Manifest, ShotStatus};

/// One shot's standing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShotState {
    /// Shot id.
    pub id: String,
    /// `done`, `cached`, `in flight`, `failed`, `uncertain`, `skipped`, `pending`.
    pub state: &'static str,
    /// The request id, when there is one.
    pub request_id: Option<String>,
    /// `verified`, `missing`, `corrupt`, or `-` (no clip expected).
    pub clip: &'static str,
    /// Why (failed, uncertain).
    pub reason: Option<String>,
    /// Estimated USD.
    pub estimated_usd: Option<f64>,
    /// What the provider billed (fal's billing events, Eachlabs' cost), when known.
    pub billed_usd: Option<f64>,
    /// The shot this request renders a take of, with its takes (filled from the manifest, journal and picks).
    pub takes: TakesState,
}

/// A shot's takes, as `status` shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TakesState {
    /// The shot id.
    pub shot: String,
    /// Take numbers kept.
    pub numbers: Vec<u32>,
    /// The selected take.
    pub selected: Option<u32>,
    /// A redo waits for the next render.
    pub redo: bool,
    /// The director's note.
    pub note: Option<String>,
    /// Each kept take's number with the endpoint and model family that made it (shoot-outs).
    pub made_by: Vec<(u32, Option<String>, Option<&'static str>)>,
    /// The selected take was made from an earlier request than the current one (it stays in
    /// the cut until the current request has a take).
    pub stale: bool,
    /// Each kept take, told apart.
    pub lines: Vec<TakeLine>,
    /// Frames first: each kept frame take's number and what it cost (billed, else estimated).
    pub frames: Vec<(u32, Option<f64>)>,
    /// The frame take the shot's next video animates.
    pub selected_frame: Option<u32>,
    /// The end frame takes likewise (`end_frame:`).
    pub end_frames: Vec<(u32, Option<f64>)>,
    /// The end frame take the shot's next video ends on.
    pub selected_end_frame: Option<u32>,
}

/// One take, told apart from the shot's others.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TakeLine {
    /// Take number.
    pub n: u32,
    /// The model family that made it, else its endpoint.
    pub model: Option<String>,
    /// Its prompt version against the current request (`current`, or what changed).
    pub version: String,
    /// Its settings in a few words.
    pub settings: String,
    /// What it cost: billed when known, else its estimate.
    pub usd: Option<f64>,
    /// When it was made (RFC 3339).
    pub made: String,
    /// The director's note about it.
    pub note: Option<String>,
}

/// Each take of a shot, told apart against the shot's current request.
pub(crate) fn take_lines(
    shot: &crate::record::manifest::ShotRecord,
    t: &crate::record::takes::ShotTakes,
    history: &crate::record::journal::History,
) -> Vec<TakeLine> {
    t.takes
        .iter()
        .map(|take| {
            let rec = crate::record::takes::record(take, history, t.note_of(take.n));
            let version = crate::record::takes::version(rec.input.as_ref(), &shot.request.input);
            TakeLine {
                n: take.n,
                model: rec
                    .endpoint
                    .as_deref()
                    .map(|e| family_of(e).map_or(e.to_owned(), str::to_owned)),
                version: match t.current.contains(&take.request_key) {
                    true => "current".into(),
                    false => version,
                },
                settings: crate::record::takes::settings(rec.input.as_ref()),
                usd: rec.actual_usd.or(rec.estimated_usd),
                made: rec.created_at,
                note: rec.note,
            }
        })
        .collect()
}

/// Fills each state's takes from the folder's manifest, journal and picks.
fn with_takes(
    folder: &super::folder::Folder,
    m: &Manifest,
    states: &mut [ShotState],
) -> Result<(), crate::record::takes::PickError> {
    let (out, history) = (folder.out(), folder.history());
    let picks = folder.picks()?;
    let all = crate::record::takes::of_shots(out, &m.shots, history, &picks);
    let by_label: std::collections::HashMap<&str, usize> = m
        .shots
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            std::iter::once(&s.request)
                .chain(&s.more)
                .map(move |r| (r.label.as_str(), i))
        })
        .collect();
    for state in states.iter_mut() {
        if let Some(&i) = by_label.get(state.id.as_str()) {
            let (shot, t) = (&m.shots[i], &all[i]);
            state.takes = TakesState {
                shot: shot.id.clone(),
                numbers: t.takes.iter().map(|t| t.n).collect(),
                selected: t.selected,
                redo: t.redo_pending(history, &shot.id),
                note: t.note().cloned(),
                stale: t.stale,
                lines: take_lines(shot, t, history),
                frames: shot.frames.iter().map(frame_cost).collect(),
                selected_frame: shot.selected_frame,
                end_frames: shot.end_frames.iter().map(frame_cost).collect(),
                selected_end_frame: shot.selected_end_frame,
                made_by: shot
                    .takes
                    .iter()
                    .map(|r| (r.take, r.endpoint.clone(), r.endpoint.as_deref().and_then(family_of)))
                    .collect(),
            };
        }
    }
    Ok(())
}

/// The model family an endpoint id (or Eachlabs slug) belongs to.
fn family_of(endpoint: &str) -> Option<&'static str> {
    crate::facts::catalog::CATALOG
        .iter()
        .find(|e| e.id == endpoint)
        .map(|e| e.family)
}

/// The shots to report: (id, request key, estimate), from a storyboard's plan or a manifest.
pub(crate) type Listing = Vec<(String, String, Option<f64>)>;

/// Reads the folder's manifest and journal and reports each listed shot, with its takes.
pub(crate) fn status(
    folder: &super::folder::Folder,
    listing: &Listing,
) -> Result<Vec<ShotState>, crate::record::takes::PickError> {
    let manifest = folder.manifest();
    let mut states = states(folder.out(), listing, folder.history(), manifest.as_ref());
    if let Some(m) = &manifest {
        with_takes(folder, m, &mut states)?;
    }
    Ok(states)
}

/// Each listed shot's standing.
fn states(
    out: &Utf8Path,
    listing: &Listing,
    history: &crate::record::journal::History,
    manifest: Option<&Manifest>,
) -> Vec<ShotState> {
    listing
        .iter()
        .map(|(id, key, est)| {
            let record = manifest.and_then(|m| m.requests().find(|s| s.request_key == *key && s.label == *id));
            let latest = history.latest.get(key).map(|(_, s)| s);
            // A sandbox render bills nothing, whatever its emulated billing events said.
            let billed_usd = match history.latest.get(key) {
                Some((api, KeyState::Done { actual_usd, .. })) if api != "sandbox" => *actual_usd,
                _ => None,
            };
            let (state, request_id, clip, reason) = standing(out, latest, record);
            ShotState {
                id: id.clone(),
                state,
                request_id,
                clip,
                reason,
                estimated_usd: *est,
                billed_usd,
                takes: TakesState::default(),
            }
        })
        .collect()
}

/// A listed shot's standing from its latest journal state (and its manifest record): state,
/// request id, clip check, reason.
fn standing(
    out: &Utf8Path,
    latest: Option<&KeyState>,
    record: Option<&crate::record::manifest::RequestRecord>,
) -> (&'static str, Option<String>, &'static str, Option<String>) {
    let clip_state = |clip: &crate::record::manifest::ClipRecord| {
        let kept = super::folder::layout::kept_clip(&clip.sha256);
        if super::folder::intact_clip(out, latest).is_some() {
            "verified"
        } else if out.join(&clip.path).exists() || out.join(kept).exists() {
            "corrupt"
        } else {
            "missing"
        }
    };
    match latest {
        Some(KeyState::Done { clip, request_id, .. }) => {
            let c = clip_state(clip);
            let st = if record.is_some_and(|r| r.status == ShotStatus::Cached) {
                "cached"
            } else {
                "done"
            };
            (
                if c == "verified" { st } else { "pending" },
                request_id.clone(),
                c,
                None,
            )
        }
        Some(KeyState::Accepted(job)) => ("in flight", Some(job.request_id.clone()), "-", None),
        Some(KeyState::Finished { job, .. }) => (
            "in flight",
            Some(job.request_id.clone()),
            "-",
            Some("finished; the clip downloads on the next render".to_owned()),
        ),
        Some(KeyState::Failed { error, request_id }) => ("failed", request_id.clone(), "-", Some(error.clone())),
        Some(KeyState::Gone { request_id, reason }) => ("failed", Some(request_id.clone()), "-", Some(reason.clone())),
        Some(KeyState::Uncertain(reason)) => ("uncertain", None, "-", Some(reason.clone())),
        Some(KeyState::Cancelled { request_id }) => (
            "cancelled",
            Some(request_id.clone()),
            "-",
            Some("cancelled while queued (not billed); the next render submits it again".into()),
        ),
        Some(KeyState::Intent) => (
            "uncertain",
            None,
            "-",
            Some("the render stopped while submitting".into()),
        ),
        None => match record {
            Some(r) if r.status == ShotStatus::Skipped => ("skipped", None, "-", r.error.clone()),
            _ => ("pending", None, "-", None),
        },
    }
}

/// Whether everything in the folder's journal was rendered against the sandbox ($0).
pub(crate) fn sandbox_only(history: &crate::record::journal::History) -> bool {
    !history.latest.is_empty() && history.latest.values().all(|(api, _)| api == "sandbox")
}

/// Money committed: shots the provider accepted (in flight or finished), by estimate.
pub(crate) fn committed(states: &[ShotState]) -> f64 {
    let videos = states
        .iter()
        .filter(|s| s.request_id.is_some() && s.state != "cached")
        .filter_map(|s| s.estimated_usd)
        .fold(0.0, |a, b| a + b);
    videos + frames_usd(states)
}

/// A frame take's number and what it cost (billed, else estimated).
fn frame_cost(f: &crate::record::manifest::TakeRecord) -> (u32, Option<f64>) {
    (f.take, f.actual_usd.or(f.estimated_usd))
}

/// What every shot's kept frame takes (first and end) cost (each shot once).
pub(crate) fn frames_usd(states: &[ShotState]) -> f64 {
    let mut seen = std::collections::HashSet::new();
    states
        .iter()
        .filter(|s| seen.insert(s.takes.shot.as_str()))
        .flat_map(|s| {
            s.takes
                .frames
                .iter()
                .chain(&s.takes.end_frames)
                .filter_map(|(_, usd)| *usd)
        })
        .sum()
}

/// Whether a shot's bill differs from its estimate by more than a cent.
pub(crate) fn bill_differs(s: &ShotState) -> bool {
    matches!((s.estimated_usd, s.billed_usd), (Some(e), Some(b)) if (e - b).abs() > 0.01)
}

/// A shot's billed cell: `$0.70`, `$0.56 (est. $1.12)` when it differs by more than a cent,
/// `-` when unknown.
pub(crate) fn billed_cell(s: &ShotState) -> String {
    match (s.billed_usd, s.estimated_usd) {
        (Some(b), Some(e)) if bill_differs(s) => format!("${b:.2} (est. ${e:.2})"),
        (Some(b), _) => format!("${b:.2}"),
        (None, _) => "-".into(),
    }
}

/// Estimated against billed over the shots with a bill: one line, or none when no bill is
/// known.
pub(crate) fn billing_line(states: &[ShotState]) -> Option<String> {
    let billed: Vec<&ShotState> = states.iter().filter(|s| s.billed_usd.is_some()).collect();
    if billed.is_empty() {
        return None;
    }
    let sum = |f: fn(&ShotState) -> Option<f64>| billed.iter().filter_map(|s| f(s)).sum::<f64>();
    let (est, bill) = (sum(|s| s.estimated_usd), sum(|s| s.billed_usd));
    let differ = billed.iter().filter(|s| bill_differs(s)).count();
    Some(format!(
        "billed ${bill:.2} for {} shot(s) estimated at ${est:.2}{}\n",
        billed.len(),
        match differ {
            0 => String::new(),
            n => format!(" — {n} differ from their estimate by more than a cent"),
        }
    ))
}

/// The listing from a manifest (when given a folder).
pub(crate) fn listing_from_manifest(out: &Utf8Path) -> Option<Listing> {
    let m = Manifest::read(&super::folder::layout::manifest(out))?;
    Some(
        m.requests()
            .map(|s| (s.label.clone(), s.request_key.clone(), s.estimated_usd))
            .collect(),
    )
}

/// The report as JSON.
pub(crate) fn to_json(out: &Utf8Path, states: &[ShotState], sandbox: bool) -> Value {
    json!({
        "output": out,
        "sandbox": sandbox,
        "committed_usd": if sandbox { 0.0 } else { committed(states) },
        "estimated_usd": committed(states),
        "frames_usd": frames_usd(states),
        "billed_usd": states.iter().filter_map(|s| s.billed_usd).reduce(|a, b| a + b),
        "shots": states.iter().map(|s| json!({
            "id": s.id, "state": s.state, "request_id": s.request_id, "clip": s.clip,
            "reason": s.reason, "estimated_usd": s.estimated_usd, "billed_usd": s.billed_usd,
            "billed_differs": bill_differs(s),
            "shot": s.takes.shot, "takes": s.takes.numbers, "selected_take": s.takes.selected,
            "redo": s.takes.redo, "note": s.takes.note, "stale": s.takes.stale,
            "take_details": s.takes.lines.iter().map(line_json).collect::<Vec<_>>(),
            "frames": s.takes.frames.iter().map(|(n, usd)| json!({"take": n, "usd": usd})).collect::<Vec<_>>(),
            "selected_frame": s.takes.selected_frame,
            "end_frames": s.takes.end_frames.iter().map(|(n, usd)| json!({"take": n, "usd": usd})).collect::<Vec<_>>(),
            "selected_end_frame": s.takes.selected_end_frame,
            "take_models": s.takes.made_by.iter().map(|(n, endpoint, model)| {
                json!({"take": n, "endpoint": endpoint, "model": model})
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// One take's line as JSON.
fn line_json(l: &TakeLine) -> Value {
    json!({"take": l.n, "model": l.model, "prompt_version": l.version, "settings": l.settings,
        "usd": l.usd, "made_at": l.made, "note": l.note})
}

/// When a take was made, to the minute (`2026-11-30 15:40`).
pub(crate) fn minute(rfc3339: &str) -> String {
    rfc3339
        .get(..16)
        .map_or_else(|| rfc3339.to_owned(), |s| s.replace('T', " "))
}

/// Each shot's takes told apart, for `status` below its table: one line per take (`*` marks
/// the selected one) with its prompt version and note below it, and a stale selection said
/// plainly; every line at most 80 columns.
pub(crate) fn takes_text(states: &[ShotState]) -> String {
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in states
        .iter()
        .filter(|s| !s.takes.lines.is_empty() || !s.takes.frames.is_empty() || !s.takes.end_frames.is_empty())
    {
        if !seen.insert(s.takes.shot.as_str()) {
            continue;
        }
        lines.push(String::new());
        lines.push(s.takes.shot.clone());
        if s.takes.stale {
            lines.push(format!(
                "  stale: take {} is from an earlier prompt (in the cut until rendered again)",
                s.takes.selected.unwrap_or_default()
            ));
        }
        let t = &s.takes;
        let rows = [
            ("frames", &t.frames, t.selected_frame, "animated", "--frame"),
            (
                "end frames",
                &t.end_frames,
                t.selected_end_frame,
                "ends on",
                "--end-frame",
            ),
        ];
        for (what, frames, selected, mark, flag) in rows.into_iter().filter(|r| !r.1.is_empty()) {
            let numbers: Vec<String> = frames
                .iter()
                .map(|(n, _)| match Some(*n) == selected {
                    true => format!("*{n}"),
                    false => n.to_string(),
                })
                .collect();
            lines.push(format!(
                "  {what}: {} (* {mark}; `storyboard pick FILE {} {flag} N`)",
                numbers.join(" "),
                t.shot
            ));
        }
        for l in &s.takes.lines {
            let mark = if Some(l.n) == s.takes.selected { '*' } else { ' ' };
            lines.push(format!(
                "  {mark} take {}  {}  {}  {}  {}",
                l.n,
                l.model.as_deref().unwrap_or("-"),
                l.settings,
                l.usd.map_or("unpriced".into(), |u| format!("${u:.2}")),
                minute(&l.made),
            ));
            lines.push(format!("      prompt: {}", l.version));
            lines.extend(l.note.iter().map(|note| format!("      note: {note}")));
        }
    }
    lines
        .iter()
        .map(|l| crate::record::takes::shorten(l, 80) + "\n")
        .collect()
}
