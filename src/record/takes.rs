//! Takes: every clip a shot has had (read from the journal's `Done` records, kept in the
//! output folder's store), the director's picks, redos and notes (`.storyboard/picks.json`),
//! and the one rule that says which take is a shot's selected take.
//!
//! The rule ([`selected`]): a pick holds until the director changes it (a redo's take becomes
//! the pick, since the director asked for it); else the newest take whose request is the
//! shot's current one (what the storyboard asks for now), so editing a prompt and rendering
//! selects the new clip, and putting the prompt back selects the first clip again, for free;
//! else — the current request has no take yet — the take last put at `<id>.mp4`, else the
//! newest take. A shot never loses its clip while it has a take: a take made from an earlier
//! request is kept and marked stale ([`is_stale`]).

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::record::journal::{DoneRow, History};
use crate::record::manifest::{ClipRecord, ShotRecord, TakeRecord};

/// One clip a shot has had.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Take {
    /// Take number: 1, 2, … in the order the shot's clips were made; with a team's store, the
    /// store's number (the same clip has the same number in every folder: [`register`]).
    pub n: u32,
    /// Which API made it (`sandbox` or a base URL).
    pub api: String,
    /// The request key that produced it.
    pub request_key: String,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// The clip, at its place in the store.
    pub clip: ClipRecord,
    /// The estimate it was rendered at.
    pub estimated_usd: Option<f64>,
    /// The cost the provider reported.
    pub actual_usd: Option<f64>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// Every shot's takes, from the journal, numbered per shot ([`numbered`]); a take whose clip
/// is no longer in the store (removed by `clean`) keeps its number and is left out.
pub(crate) fn register(out: &Utf8Path, history: &History) -> HashMap<String, Vec<Take>> {
    let mut by_shot: HashMap<&str, Vec<&DoneRow>> = HashMap::new();
    for row in &history.done {
        by_shot.entry(&row.shot).or_default().push(row);
    }
    let mut takes: HashMap<String, Vec<Take>> = HashMap::new();
    for (shot, rows) in by_shot {
        for (row, n) in numbered(&rows) {
            let Some(path) = stored(out, &row.clip) else {
                continue;
            };
            takes.entry(shot.to_owned()).or_default().push(Take {
                n,
                api: row.api.clone(),
                request_key: row.request_key.clone(),
                request_id: row.request_id.clone(),
                clip: ClipRecord {
                    path,
                    ..row.clip.clone()
                },
                estimated_usd: row.estimated_usd,
                actual_usd: row.actual_usd,
                created_at: row.at.clone(),
            });
        }
    }
    takes
}

/// One shot's takes (its `Done` rows, journal order) numbered, oldest first, one per clip: a
/// clip with a number from the team's store (`take`, on any of its rows) keeps it; the others
/// are numbered 1, 2, … in journal order, skipping the numbers the store gave (no two takes
/// of a shot share a number; a store number met twice is kept by its first clip only).
/// Without a team store no row has a number: the journal's order, as always.
fn numbered<'a>(rows: &[&'a DoneRow]) -> Vec<(&'a DoneRow, u32)> {
    let mut clips: Vec<(&DoneRow, Option<u32>)> = Vec::new();
    for row in rows {
        match clips.iter_mut().find(|(r, _)| r.clip.sha256 == row.clip.sha256) {
            Some((_, n)) => *n = n.or(row.take),
            None => clips.push((row, row.take)),
        }
    }
    let mut used: HashSet<u32> = HashSet::new();
    for (_, n) in &mut clips {
        *n = n.filter(|n| *n > 0 && used.insert(*n));
    }
    let mut next = 0;
    clips
        .into_iter()
        .map(|(row, n)| {
            let n = n.unwrap_or_else(|| {
                next += 1;
                while used.contains(&next) {
                    next += 1;
                }
                next
            });
            (row, n)
        })
        .collect()
}

/// Where a recorded clip is in the store, when it is there whole (by size; contents are
/// verified where a clip is used).
fn stored(out: &Utf8Path, clip: &ClipRecord) -> Option<Utf8PathBuf> {
    let kept = super::folder::layout::kept_clip(&clip.sha256);
    [kept, clip.path.clone()]
        .into_iter()
        .find(|p| std::fs::metadata(out.join(p)).is_ok_and(|m| m.is_file() && m.len() == clip.bytes))
}

/// The number of takes a shot has had (removed ones included): its highest take number, so
/// that in folders sharing a team's store, where a folder may lack some of a shot's takes, a
/// redo asked after take `n` is pending in every folder until it has a take numbered above `n`.
/// Without a team store, the count of its clips.
pub(crate) fn count(history: &History, shot: &str) -> u32 {
    let rows: Vec<&DoneRow> = history.done.iter().filter(|r| r.shot == shot).collect();
    numbered(&rows).into_iter().map(|(_, n)| n).max().unwrap_or(0)
}

/// Which end of a shot's video a frame is (frames first, #25): its first frame (`frame:`, the
/// video's start image) or its last (`end_frame:`, the end image). Frame takes are takes like a
/// video's, numbered and picked by the same rules, under the shot's id and the frame's field
/// ([`Edge::id`]: `<shot>.frame`, `<shot>.end_frame`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Edge {
    /// `frame:`
    #[default]
    Start,
    /// `end_frame:`
    End,
}

impl Edge {
    /// Both, start first.
    pub(crate) const BOTH: [Edge; 2] = [Edge::Start, Edge::End];

    /// The journal's and the picks' name of the shot's takes of this frame (`<shot>.frame`,
    /// `<shot>.end_frame`).
    pub(crate) fn id(self, shot: &str) -> String {
        format!("{shot}.{}", self.field())
    }

    /// The storyboard field (`frame`, `end_frame`).
    pub(crate) fn field(self) -> &'static str {
        match self {
            Edge::Start => "frame",
            Edge::End => "end_frame",
        }
    }

    /// In a sentence: `frame`, `end frame`.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Edge::Start => "frame",
            Edge::End => "end frame",
        }
    }

    /// Whether it is the start (serde's `skip_serializing_if`).
    pub(crate) fn is_start(&self) -> bool {
        *self == Edge::Start
    }
}

/// What the director said of one shot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pick {
    /// The picked take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<u32>,
    /// How many takes the shot had when it was picked (a record: a newer take never ends a
    /// pick).
    #[serde(default)]
    pub after: u32,
    /// Each redo asked for, by the number of takes the shot had then; the last one is pending
    /// until the shot has a newer take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redo: Vec<u32>,
    /// A note about the shot written before it had a take (notes about a take are in
    /// `notes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Notes by take number: a note stays with the take it was written about.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<u32, String>,
}

/// `.storyboard/picks.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Picks {
    /// Format version (1).
    pub version: u32,
    /// By shot id.
    pub shots: BTreeMap<String, Pick>,
}

/// The longest note kept.
pub(crate) const MAX_NOTE_CHARS: usize = 4000;

/// Reading or writing the picks failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PickError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what storyboard writes.
    #[error("{path} cannot be read ({why}): move it away; picks start afresh")]
    Unreadable {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        why: String,
    },
    /// No such shot in the storyboard.
    #[error("no shot `{shot}` in the storyboard{hint}")]
    NoShot {
        /// The id given.
        shot: String,
        /// A did-you-mean.
        hint: String,
    },
    /// No such take.
    #[error("shot `{shot}` has no take {take} (takes: {have}); `storyboard status FILE` lists them")]
    NoTake {
        /// Shot id.
        shot: String,
        /// The number given.
        take: u32,
        /// The takes it has.
        have: String,
    },
    /// Nothing was rendered into the folder.
    #[error("no {m} in {0}: render the storyboard first (`storyboard render FILE`)", m = crate::record::folder::layout::MANIFEST)]
    NothingRendered(Utf8PathBuf),
    /// A selected take could not be put at `<id>.mp4`.
    #[error("{0}")]
    Place(String),
    /// The note is too long.
    #[error("the note is {0} characters; at most {MAX_NOTE_CHARS} are kept")]
    LongNote(usize),
    /// The team's picks in the shared store could not be read or changed.
    #[error("the team's picks: {0}")]
    Shared(String),
}

impl Picks {
    /// The picks file of an output folder.
    pub(crate) fn path_in(out: &Utf8Path) -> Utf8PathBuf {
        super::folder::layout::picks(out)
    }

    /// Reads the picks (none yet: empty); a file that is not a regular file, too large, or
    /// names a shot id no storyboard could have is refused.
    pub(crate) fn read(out: &Utf8Path) -> Result<Picks, PickError> {
        let path = Picks::path_in(out);
        let unreadable = |why: String| PickError::Unreadable {
            path: path.clone(),
            why,
        };
        let bytes = match crate::files::read_limited(&path, crate::record::folder::MAX_STATE_BYTES, false) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Ok(Picks {
                    version: 1,
                    ..Picks::default()
                });
            }
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let picks: Picks = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        match picks.shots.keys().find(|id| !crate::record::journal::valid_id(id)) {
            Some(bad) => Err(unreadable(format!("`{bad}` is not a shot id"))),
            None => Ok(picks),
        }
    }

    /// Changes the picks under their own lock (so the review page and `pick` never lose each
    /// other's changes) and writes them atomically: a crash leaves the old file or the new one.
    pub(crate) fn change<T>(
        out: &Utf8Path,
        f: impl FnOnce(&mut Picks) -> Result<T, PickError>,
    ) -> Result<T, PickError> {
        let path = Picks::path_in(out);
        let io = |source| PickError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(super::folder::layout::state(out)).map_err(io)?;
        let lock = crate::files::no_follow(std::fs::OpenOptions::new().create(true).truncate(false).write(true))
            .open(super::folder::layout::picks_lock(out))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        let mut picks = Picks::read(out)?;
        let answer = f(&mut picks)?;
        picks.version = 1;
        let bytes = serde_json::to_vec_pretty(&picks).map_err(|e| io(std::io::Error::other(e)))?;
        crate::files::write_atomic(&path, &bytes).map_err(io)?;
        Ok(answer)
    }

    /// The redo pending for a shot with `count` takes: the number it is salted with.
    pub(crate) fn pending_redo(&self, shot: &str, count: u32) -> Option<u32> {
        self.shots.get(shot)?.pending_redo(count)
    }
}

impl Pick {
    /// The last redo asked for, while the shot (with `count` takes) has no newer take.
    pub(crate) fn pending_redo(&self, count: u32) -> Option<u32> {
        let last = *self.redo.last()?;
        (count <= last).then_some(last)
    }

    /// Picks take `n` of a shot with `count` takes: it holds until the director changes it.
    pub(crate) fn pick(&mut self, n: u32, count: u32) {
        self.take = Some(n);
        self.after = count;
    }

    /// Asks for one new take on the next render (once: a pending redo is not asked twice).
    pub(crate) fn ask_redo(&mut self, count: u32) {
        if self.pending_redo(count).is_none() {
            self.redo.push(count);
        }
    }

    /// Withdraws the pending redo, if one waits (nothing is rendered for it).
    pub(crate) fn withdraw_redo(&mut self, count: u32) {
        if self.pending_redo(count).is_some() {
            self.redo.pop();
        }
    }

    /// Keeps a note about take `n` (none: the shot has no take yet); empty text removes it.
    pub(crate) fn write_note(&mut self, n: Option<u32>, text: &str) {
        let text = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        match (n, text) {
            (Some(n), Some(text)) => {
                self.notes.insert(n, text);
            }
            (Some(n), None) => {
                // Clearing a take with no note clears a note written before the shot had a take.
                if self.notes.remove(&n).is_none() {
                    self.note = None;
                }
            }
            (None, text) => self.note = text,
        }
    }
}

/// The selected take of a shot (the module's rule): the pick (a kept take), else the newest
/// take whose request key is one of `current`, else the take whose clip storyboard last put at
/// `<id>.mp4` (`placed`: its sha256), else the newest take. `None` only when no take is kept.
pub(crate) fn selected<'a>(
    takes: &'a [Take],
    pick: Option<&Pick>,
    current: &[String],
    placed: Option<&str>,
) -> Option<&'a Take> {
    let picked = pick.and_then(|p| p.take).and_then(|n| takes.iter().find(|t| t.n == n));
    picked
        .or_else(|| {
            takes
                .iter()
                .filter(|t| current.contains(&t.request_key))
                .max_by_key(|t| t.n)
        })
        .or_else(|| placed.and_then(|sha| takes.iter().find(|t| t.clip.sha256 == sha)))
        .or_else(|| takes.iter().max_by_key(|t| t.n))
}

/// Whether a frame pick still holds: the picked take is of a request the storyboard asks for now
/// (`current`), or was picked knowing every take of those (a frame prompt edited after the pick
/// lets it go: the new frame is made and animated; an earlier frame picked back after the edit
/// holds).
pub(crate) fn frame_pick_holds(picked: &Take, pick: &Pick, takes: &[Take], current: &[String]) -> bool {
    if current.contains(&picked.request_key) {
        return true;
    }
    let mut now = takes.iter().filter(|t| current.contains(&t.request_key));
    let first = now.next();
    first.is_some_and(|t| t.n <= pick.after) && now.all(|t| t.n <= pick.after)
}

/// Whether a take was made from an earlier request than the shot's `current` ones (an edited
/// prompt or setting): it stays selected until the current request has a take, marked stale.
pub(crate) fn is_stale(take: &Take, current: &[String]) -> bool {
    !current.contains(&take.request_key)
}

/// The sha256 of the clip storyboard last put at `<shot>.mp4`, as its record of written
/// files says.
pub(crate) fn placed<'a>(written: &'a crate::record::folder::Written, shot: &str) -> Option<&'a str> {
    written.content(&format!("{shot}.mp4"))
}

/// The take number after which each shot's pending redo (`storyboard pick --redo`) is to be
/// made, as the picks and the journal say: none when nothing waits.
pub(crate) fn pending_redo<'a>(picks: &'a Picks, history: &'a History) -> impl Fn(&str) -> Option<u32> + 'a {
    move |shot| picks.pending_redo(shot, count(history, shot))
}

/// A redo's new take stays selected after the render that made it (its request is not the
/// shot's current one once the redo is done): recorded as a pick, which holds until a newer
/// take. `redos`: (shot, request key) of the redo requests of the render.
pub(crate) fn keep_redos(out: &Utf8Path, redos: &[(String, String)], history: &History) -> Result<(), PickError> {
    if redos.is_empty() {
        return Ok(());
    }
    let register = register(out, history);
    let made: Vec<(&str, u32)> = redos
        .iter()
        .filter_map(|(shot, key)| {
            let take = register.get(shot)?.iter().find(|t| t.request_key == *key)?;
            Some((shot.as_str(), take.n))
        })
        .collect();
    if made.is_empty() {
        return Ok(());
    }
    Picks::change(out, |p| {
        for (shot, n) in made {
            p.shots
                .entry(shot.to_owned())
                .or_default()
                .pick(n, count(history, shot));
        }
        Ok(())
    })
}

/// One shot's takes as they stand: the takes kept, the selected one, what the director said.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ShotTakes {
    /// The takes kept, oldest first.
    pub takes: Vec<Take>,
    /// The selected take's number.
    pub selected: Option<u32>,
    /// The selected take was made from an earlier request than the current one.
    pub stale: bool,
    /// The shot's current request keys.
    pub current: Vec<String>,
    /// The pick, redo and notes.
    pub pick: Pick,
}

impl ShotTakes {
    /// The selected take.
    pub(crate) fn selected_take(&self) -> Option<&Take> {
        self.takes.iter().find(|t| Some(t.n) == self.selected)
    }

    /// Whether a redo waits for the next render.
    pub(crate) fn redo_pending(&self, history: &History, shot: &str) -> bool {
        !self.pick.redo.is_empty() && self.pick.pending_redo(count(history, shot)).is_some()
    }

    /// The note about take `n`.
    pub(crate) fn note_of(&self, n: u32) -> Option<&String> {
        self.pick.notes.get(&n)
    }

    /// The note shown for the shot: its selected take's, else one written before it had a take.
    pub(crate) fn note(&self) -> Option<&String> {
        self.selected.and_then(|n| self.note_of(n)).or(self.pick.note.as_ref())
    }
}

/// Each shot's takes and selection, for a manifest's shots (in its order): the current
/// requests are the manifest's (a redo included).
pub(crate) fn of_shots(out: &Utf8Path, shots: &[ShotRecord], history: &History, picks: &Picks) -> Vec<ShotTakes> {
    let mut register = register(out, history);
    let written = crate::record::folder::Written::read(out);
    shots
        .iter()
        .map(|s| {
            let takes = register.remove(&s.id).unwrap_or_default();
            let current: Vec<String> = std::iter::once(&s.request)
                .chain(&s.more)
                .map(|r| r.request_key.clone())
                .collect();
            let pick = picks.shots.get(&s.id).cloned().unwrap_or_default();
            let chosen = selected(&takes, Some(&pick), &current, placed(&written, &s.id));
            let (selected, stale) = (chosen.map(|t| t.n), chosen.is_some_and(|t| is_stale(t, &current)));
            ShotTakes {
                takes,
                selected,
                stale,
                current,
                pick,
            }
        })
        .collect()
}

/// The manifest's record of a take (the input and endpoint from the journal's intent).
pub(crate) fn record(take: &Take, history: &History, note: Option<&String>) -> TakeRecord {
    let sent = history.sent.get(&(take.api.clone(), take.request_key.clone()));
    TakeRecord {
        take: take.n,
        request_id: take.request_id.clone(),
        request_key: take.request_key.clone(),
        endpoint: sent.map(|s| s.endpoint.clone()),
        input: sent.map(|s| s.input.clone()),
        clip: take.clip.clone(),
        estimated_usd: take.estimated_usd,
        actual_usd: take.actual_usd,
        created_at: take.created_at.clone(),
        sandbox: take.api == "sandbox",
        note: note.cloned(),
        frame: None,
        end_frame: None,
    }
}

/// Frames first: each shot's frame takes and selected frame (the pick, else the newest of its
/// frame request, else the newest), its end frames likewise, and the frames each video take was
/// made from (its images' uploads, by content).
fn fill_frames(out: &Utf8Path, shots: &mut [ShotRecord], history: &History, picks: &Picks) {
    let mut register = register(out, history);
    let by_url = &history.uploaded;
    for rec in shots {
        for edge in Edge::BOTH {
            let id = edge.id(&rec.id);
            let frames = register.remove(&id).unwrap_or_default();
            let pick = picks.shots.get(&id);
            let current: Vec<String> = rec.frame_keys(edge).cloned().collect();
            let holds = |p: &&Pick| {
                let picked = p.take.and_then(|n| frames.iter().find(|t| t.n == n));
                picked.is_some_and(|t| frame_pick_holds(t, p, &frames, &current))
            };
            let selected = selected(&frames, pick.filter(holds), &current, None).map(|t| t.n);
            let records = frames
                .iter()
                .map(|t| record(t, history, pick.and_then(|p| p.notes.get(&t.n))))
                .collect();
            match edge {
                Edge::Start => (rec.selected_frame, rec.frames) = (selected, records),
                Edge::End => (rec.selected_end_frame, rec.end_frames) = (selected, records),
            }
            for take in &mut rec.takes {
                let sent = take
                    .input
                    .iter()
                    .flat_map(|i| i.values())
                    .filter_map(serde_json::Value::as_str);
                let made_from = sent
                    .filter_map(|url| by_url.get(url))
                    .find_map(|sha| frames.iter().find(|f| f.clip.sha256 == *sha))
                    .map(|f| crate::record::manifest::FrameOf {
                        take: f.n,
                        sha256: f.clip.sha256.clone(),
                    });
                match edge {
                    Edge::Start => take.frame = made_from,
                    Edge::End => take.end_frame = made_from,
                }
            }
        }
    }
}

/// Fills each shot's takes, selected take (stale or not) and notes; each shot's takes as they
/// stand.
pub(crate) fn fill(out: &Utf8Path, shots: &mut [ShotRecord], history: &History, picks: &Picks) -> Vec<ShotTakes> {
    let all = of_shots(out, shots, history, picks);
    for (rec, st) in shots.iter_mut().zip(&all) {
        rec.takes = st.takes.iter().map(|t| record(t, history, st.note_of(t.n))).collect();
        rec.selected_take = st.selected;
        rec.stale = st.stale;
        rec.note = st.note().cloned();
        rec.redo = st.redo_pending(history, &rec.id);
    }
    fill_frames(out, shots, history, picks);
    all
}

/// The body fields that tell takes' settings apart, with how each is shown.
const SETTINGS: [(&str, &str); 5] = [
    ("duration", "s"),
    ("aspect_ratio", ""),
    ("resolution", ""),
    ("mode", ""),
    ("generate_audio", "audio"),
];

/// A body's prompt (the beats joined, for a multi-prompt body).
fn prompt_of(input: &serde_json::Map<String, serde_json::Value>) -> String {
    match input.get("multi_prompt").and_then(|b| b.as_array()) {
        Some(beats) => beats
            .iter()
            .filter_map(|b| b.get("prompt")?.as_str())
            .collect::<Vec<_>>()
            .join(" / "),
        None => input.get("prompt").and_then(|p| p.as_str()).unwrap_or("").to_owned(),
    }
}

/// A take's settings in a few words: `5 s · 16:9 · audio`.
pub(crate) fn settings(input: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    let Some(input) = input else { return "-".into() };
    let shown: Vec<String> = SETTINGS
        .iter()
        .filter_map(|(field, unit)| {
            let v = input.get(*field)?;
            Some(match (v, *unit) {
                (serde_json::Value::Bool(true), "audio") => "audio".to_owned(),
                (serde_json::Value::Bool(false), "audio") => "no audio".to_owned(),
                (serde_json::Value::String(s), "s") => format!("{s} s"),
                (v, "s") => format!("{v} s"),
                (serde_json::Value::String(s), _) => s.clone(),
                (v, _) => v.to_string(),
            })
        })
        .collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(" · ")
    }
}

/// A take's prompt version against the shot's current request: `current`, or what changed
/// (`earlier prompt: -red +blue`, `current prompt, earlier settings: duration 5→10`), at most
/// about 60 characters.
pub(crate) fn version(
    take: Option<&serde_json::Map<String, serde_json::Value>>,
    current: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let Some(take) = take else {
        return "earlier prompt (not journaled)".into();
    };
    let (was, now) = (prompt_of(take), prompt_of(current));
    let mut said = if was == now {
        "current".to_owned()
    } else {
        format!("earlier prompt: {}", word_diff(&was, &now))
    };
    let changed: Vec<String> = SETTINGS
        .iter()
        .filter(|(f, _)| take.get(*f) != current.get(*f))
        .map(|(f, _)| {
            let show = |v: Option<&serde_json::Value>| {
                v.map_or("-".into(), |v| v.as_str().map_or(v.to_string(), str::to_owned))
            };
            format!("{f} {}→{}", show(take.get(*f)), show(current.get(*f)))
        })
        .collect();
    if !changed.is_empty() {
        said = match said.as_str() {
            "current" => format!("current prompt, earlier settings: {}", changed.join(", ")),
            _ => format!("{said}; {}", changed.join(", ")),
        };
    }
    shorten(&said, 60)
}

/// The words of `was` missing from `now` (`-word`) and the words `now` added (`+word`).
fn word_diff(was: &str, now: &str) -> String {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let (a, b) = (words(was), words(now));
    let gone = a.iter().filter(|w| !b.contains(w)).map(|w| format!("-{w}"));
    let came = b.iter().filter(|w| !a.contains(w)).map(|w| format!("+{w}"));
    let diff: Vec<String> = gone.chain(came).collect();
    if diff.is_empty() {
        "word order".into()
    } else {
        diff.join(" ")
    }
}

/// `text` cut to `max` characters with an ellipsis.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => text.chars().take(max - 1).chain(std::iter::once('…')).collect(),
        false => text.to_owned(),
    }
}

/// [`fill`], and each selected take put at `<id>.mp4` (a shot with none has no `<id>.mp4`);
/// the problems met, one line each.
pub(crate) fn apply(out: &Utf8Path, shots: &mut [ShotRecord], history: &History, picks: &Picks) -> Vec<String> {
    let all = fill(out, shots, history, picks);
    let mut problems = Vec::new();
    // The record of written files is read once and written once for the whole folder (one
    // write per clip made the end of a 2,000-shot render quadratic).
    let mut written = crate::record::folder::Written::read(out);
    let mut changed = Vec::new();
    for (rec, st) in shots.iter().zip(&all) {
        match place(out, &rec.id, st.selected_take(), history, &written) {
            Ok(true) => changed.push(format!("{}.mp4", rec.id)),
            Ok(false) => {}
            Err(e) => problems.push(format!("cannot put the selected take at {}.mp4: {e}", rec.id)),
        }
    }
    if let Err(e) = written.record_all(out, changed.iter().map(String::as_str)) {
        problems.push(format!("cannot record the clips placed: {e}"));
    }
    problems
}

/// Puts `take` at `<id>.mp4` (a hard link to the store where the file system allows, else a
/// copy, swapped in whole) once its content is verified; with no take, removes a `<id>.mp4`
/// storyboard wrote. A file storyboard did not write there is the user's: never replaced or
/// removed. Whether `<id>.mp4` changed (the caller records it in `written`).
fn place(
    out: &Utf8Path,
    id: &str,
    take: Option<&Take>,
    history: &History,
    written: &crate::record::folder::Written,
) -> std::io::Result<bool> {
    let name = format!("{id}.mp4");
    let own = out.join(&name);
    let ours = written.replaceable(out, &name, Some(history));
    let Some(take) = take else {
        if !ours || std::fs::symlink_metadata(&own).is_err() {
            return Ok(false);
        }
        std::fs::remove_file(&own)?;
        return Ok(true);
    };
    let kept = out.join(&take.clip.path);
    if crate::digest::verify(&own, take.clip.bytes, &take.clip.sha256) {
        return Ok(false);
    }
    if !ours {
        return Err(std::io::Error::other(
            "a file storyboard did not write stands there (yours?): it is never replaced; move it away to get the take there",
        ));
    }
    if !crate::digest::verify(&kept, take.clip.bytes, &take.clip.sha256) {
        return Err(std::io::Error::other(format!(
            "take {}'s clip ({}) was changed since storyboard kept it: not placed",
            take.n, take.clip.path
        )));
    }
    let tmp = crate::files::part_path(&own);
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(&kept, &tmp).is_ok() {
        std::fs::rename(&tmp, &own).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    } else {
        crate::files::copy_clip(&kept, &own)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(n: u32, key: &str) -> Take {
        Take {
            n,
            api: "sandbox".into(),
            request_key: key.into(),
            request_id: None,
            clip: ClipRecord {
                path: format!("{n}.mp4").into(),
                bytes: 1,
                sha256: format!("{n}"),
                source_url: String::new(),
            },
            estimated_usd: None,
            actual_usd: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn a_pick_holds_and_the_selection_never_disappears_while_a_take_exists() {
        let takes = vec![take(1, "a"), take(2, "b"), take(3, "a")];
        let current = vec!["a".to_owned()];
        let n = |p: Option<&Pick>, cur: &[String], placed: Option<&str>| selected(&takes, p, cur, placed).map(|t| t.n);
        assert_eq!(n(None, &current, None), Some(3), "the newest of the current request");
        assert_eq!(n(None, &["b".to_owned()], None), Some(2));
        let edited = ["c".to_owned()];
        assert_eq!(
            n(None, &edited, Some("1")),
            Some(1),
            "no take of `c` yet: the one in place"
        );
        assert_eq!(n(None, &edited, None), Some(3), "nothing placed: the newest");
        assert!(is_stale(&takes[0], &edited) && !is_stale(&takes[2], &current));
        assert_eq!(selected(&[], None, &current, None), None, "no take: nothing");
        let held = Pick {
            take: Some(2),
            after: 2,
            ..Pick::default()
        };
        assert_eq!(
            n(Some(&held), &current, None),
            Some(2),
            "take 3 came after: the pick holds"
        );
        let gone = Pick { take: Some(9), ..held };
        assert_eq!(
            n(Some(&gone), &current, None),
            Some(3),
            "a removed take is not selected"
        );
    }

    fn done(shot: &str, sha: &str, take: Option<u32>) -> DoneRow {
        DoneRow {
            shot: shot.into(),
            api: "sandbox".into(),
            request_key: format!("key-{sha}"),
            request_id: None,
            clip: ClipRecord {
                path: format!("{sha}.mp4").into(),
                bytes: 1,
                sha256: sha.into(),
                source_url: String::new(),
            },
            actual_usd: None,
            estimated_usd: None,
            take,
            at: String::new(),
        }
    }

    fn numbers_of(rows: &[DoneRow]) -> Vec<(&str, u32)> {
        let rows: Vec<&DoneRow> = rows.iter().collect();
        numbered(&rows)
            .into_iter()
            .map(|(r, n)| (r.clip.sha256.as_str(), n))
            .collect()
    }

    #[test]
    fn store_numbers_hold_and_the_other_takes_fill_the_free_numbers_in_journal_order() {
        let plain = [done("s", "a", None), done("s", "b", None), done("s", "a", None)];
        assert_eq!(numbers_of(&plain), [("a", 1), ("b", 2)], "no store: journal order");
        let mixed = [
            done("s", "a", None),
            done("s", "b", Some(1)),
            done("s", "c", Some(3)),
            done("s", "d", None),
            done("s", "e", None),
            done("s", "a", Some(5)),
            done("s", "f", Some(3)),
        ];
        assert_eq!(
            numbers_of(&mixed),
            [("a", 5), ("b", 1), ("c", 3), ("d", 2), ("e", 4), ("f", 6)],
            "a number on any row of a clip holds; a number taken twice is the first clip's"
        );
        let history = History {
            done: mixed.to_vec(),
            ..History::default()
        };
        assert_eq!(count(&history, "s"), 6, "the highest number");
        let gaps = History {
            done: vec![done("s", "x", Some(4))],
            ..History::default()
        };
        assert_eq!(count(&gaps, "s"), 4, "a folder lacking takes 1-3 still counts to 4");
        assert_eq!(count(&gaps, "t"), 0);
        let dir = tempfile::tempdir().unwrap();
        let out = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(out.join("x.mp4"), "x").unwrap();
        let register = register(out, &gaps);
        assert_eq!(register["s"].iter().map(|t| t.n).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn a_redo_is_pending_until_the_shot_has_a_newer_take() {
        let mut picks = Picks::default();
        picks.shots.insert(
            "s".into(),
            Pick {
                redo: vec![1, 3],
                ..Pick::default()
            },
        );
        assert_eq!(picks.pending_redo("s", 3), Some(3));
        assert_eq!(picks.pending_redo("s", 4), None);
        assert_eq!(picks.pending_redo("t", 0), None);
    }

    #[test]
    fn a_takes_version_says_what_changed_from_the_current_request() {
        let body = |v: serde_json::Value| v.as_object().unwrap().clone();
        let now = body(serde_json::json!({"prompt": "a blue door", "duration": "5", "aspect_ratio": "16:9"}));
        assert_eq!(version(Some(&now), &now), "current");
        let red = body(serde_json::json!({"prompt": "a red door", "duration": "5", "aspect_ratio": "16:9"}));
        assert_eq!(version(Some(&red), &now), "earlier prompt: -red +blue");
        let long = body(serde_json::json!({"prompt": "a blue door", "duration": "10", "aspect_ratio": "16:9"}));
        assert_eq!(
            version(Some(&long), &now),
            "current prompt, earlier settings: duration 10→5"
        );
        assert_eq!(version(None, &now), "earlier prompt (not journaled)");
        assert_eq!(settings(Some(&now)), "5 s · 16:9");
        assert!(
            version(Some(&body(serde_json::json!({"prompt": "x ".repeat(80)}))), &now)
                .chars()
                .count()
                <= 60
        );
    }
}
