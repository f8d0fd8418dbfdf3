//! The journal: `.storyboard/journal.jsonl` in the output folder, append-only, one JSON record
//! per event, fsync'd. The intent to submit is written before the request leaves and the
//! accepted request id the moment it arrives, so a crash never loses a paid job. A torn last
//! line (a crash mid-write) is skipped on reading.

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use crate::record::manifest::ClipRecord;

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Record {
    /// About to send a submit.
    Intent {
        /// Shot id (informational: requests are matched by key).
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API (`sandbox` or a base URL).
        api: String,
        /// The endpoint it goes to (to find it in the provider's history if the answer is lost).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// The exact body sent (the same purpose).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<serde_json::Map<String, serde_json::Value>>,
        /// When.
        at: String,
    },
    /// A queued job was cancelled (`storyboard cancel`): never billed; the next render submits
    /// the shot again.
    Cancelled {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// The request.
        request_id: String,
        /// When.
        at: String,
    },
    /// The provider accepted the request.
    Accepted {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// How to follow it.
        job: Accepted,
        /// When.
        at: String,
    },
    /// Another machine's request, followed by this folder's render (its claim in the team's
    /// store, or the request history): resumed like an accepted one, never cancelled from here.
    Followed {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// How to follow it.
        job: Accepted,
        /// When.
        at: String,
    },
    /// The job finished and its clip's URL is known (journaled before the download, so a failed
    /// download is retried from it instead of asking the queue, whose result expires).
    Result {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// The request.
        job: Accepted,
        /// Where the clip is.
        source: ClipSource,
        /// When.
        at: String,
    },
    /// The submit went out and no usable answer came back.
    Uncertain {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// What happened.
        reason: String,
        /// When.
        at: String,
    },
    /// The clip is on disk.
    Done {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// The request id it came from.
        request_id: Option<String>,
        /// The clip.
        clip: ClipRecord,
        /// Cost the provider reported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual_usd: Option<f64>,
        /// The estimate it was rendered at (`None` for a clip placed from another shot's request).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_usd: Option<f64>,
        /// The take number the team's store gave this clip (the same clip has the same number
        /// in every folder sharing the store); `None`: numbered in journal order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        take: Option<u32>,
        /// When.
        at: String,
    },
    /// The job failed (failures are never cached: the next run submits again).
    Failed {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// The request id, when there was one.
        request_id: Option<String>,
        /// The provider's message.
        error: String,
        /// When.
        at: String,
    },
    /// The provider no longer knows the request (expired result, unknown id).
    Gone {
        /// Shot id.
        shot: String,
        /// The request key.
        request_key: String,
        /// Which API.
        api: String,
        /// The request id.
        request_id: String,
        /// What the provider said.
        reason: String,
        /// When.
        at: String,
    },
    /// A local file was uploaded (remembered by content hash, so re-runs upload nothing unchanged).
    Upload {
        /// sha256 of the content.
        sha256: String,
        /// Which API.
        api: String,
        /// The URL to send.
        url: String,
        /// When.
        at: String,
    },
}

/// Where one request stands, from the journal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyState {
    /// A submit was about to go out and nothing more is known: it may have been created.
    Intent,
    /// Accepted and not finished: follow it, never resubmit.
    Accepted(Accepted),
    /// Finished, clip not on disk yet: download it from `source`.
    Finished {
        /// The request.
        job: Accepted,
        /// Where the clip is.
        source: ClipSource,
    },
    /// Unknown outcome.
    Uncertain(String),
    /// On disk.
    Done {
        /// The clip.
        clip: ClipRecord,
        /// The request id.
        request_id: Option<String>,
        /// Reported cost.
        actual_usd: Option<f64>,
    },
    /// Failed.
    Failed {
        /// The message.
        error: String,
        /// The request id.
        request_id: Option<String>,
    },
    /// Cancelled while queued (not billed).
    Cancelled {
        /// The request id.
        request_id: String,
    },
    /// The provider forgot it.
    Gone {
        /// The request id.
        request_id: String,
        /// What it said.
        reason: String,
    },
}

/// A submit as its intent recorded it: what went where, and when.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sent {
    /// Shot id.
    pub shot: String,
    /// Endpoint id (fal) or model (Eachlabs).
    pub endpoint: String,
    /// The exact body.
    pub input: serde_json::Map<String, serde_json::Value>,
    /// When (RFC 3339).
    pub at: String,
}

/// What the journal says, folded.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    /// By (api, request key), the latest state.
    pub keys: HashMap<(String, String), KeyState>,
    /// Submit attempts by (api, request key).
    pub attempts: HashMap<(String, String), u32>,
    /// Uploads by (api, sha256): the latest.
    pub uploads: HashMap<(String, String), String>,
    /// Every upload's URL (a file uploaded again keeps its earlier URLs): its sha256.
    pub uploaded: HashMap<String, String>,
    /// When each of those was uploaded (RFC 3339), by (api, sha256).
    pub uploaded_at: HashMap<(String, String), String>,
    /// By request key alone (whichever API wrote last): for `storyboard status`.
    pub latest: HashMap<String, (String, KeyState)>,
    /// Lines that could not be read (a torn last line, damaged lines).
    pub skipped: usize,
    /// The numbers of damaged lines (not the torn last line of a crash), for a warning.
    pub damaged_lines: Vec<usize>,
    /// Request keys named in damaged lines: the journal knew them, so they are never sent
    /// again without the user's flag.
    pub damaged_keys: std::collections::HashSet<String>,
    /// Why the journal as a whole could not be read (a link, a FIFO, a device, too large).
    pub unreadable: Option<String>,
    /// The last submit of each request, as journaled in its intent: by (api, request key).
    pub sent: HashMap<(String, String), Sent>,
    /// The sha256 of every clip the journal says storyboard wrote.
    pub clip_shas: std::collections::HashSet<String>,
    /// Shot ids with an accepted request: their `<id>.mp4` is storyboard's to write (also when
    /// the disk was too full to journal the finished clip).
    pub requested: std::collections::HashSet<String>,
    /// Every clip recorded, in the order they were (the takes are read from these).
    pub done: Vec<DoneRow>,
    /// Request ids of other machines' requests this folder followed (never cancelled here).
    pub followed: std::collections::HashSet<String>,
    /// (shot, clip sha256) of every clip recorded.
    pub shot_clips: std::collections::HashSet<(String, String)>,
}

/// A `Done` record: one clip a shot got.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DoneRow {
    /// Shot id.
    pub shot: String,
    /// Which API.
    pub api: String,
    /// The request key.
    pub request_key: String,
    /// The request id.
    pub request_id: Option<String>,
    /// The clip.
    pub clip: ClipRecord,
    /// Reported cost.
    pub actual_usd: Option<f64>,
    /// The estimate.
    pub estimated_usd: Option<f64>,
    /// The team store's take number, when it gave one.
    pub take: Option<u32>,
    /// When.
    pub at: String,
}

impl History {
    /// What a record adds beyond its request's state: the clips written (the takes) and the
    /// shots with an accepted request.
    fn note(&mut self, r: &Record) {
        match r {
            Record::Done {
                shot,
                request_key,
                api,
                request_id,
                clip,
                actual_usd,
                estimated_usd,
                take,
                at,
            } => {
                self.clip_shas.insert(clip.sha256.clone());
                self.shot_clips.insert((shot.clone(), clip.sha256.clone()));
                self.done.push(DoneRow {
                    shot: shot.clone(),
                    api: api.clone(),
                    request_key: request_key.clone(),
                    request_id: request_id.clone(),
                    clip: clip.clone(),
                    actual_usd: *actual_usd,
                    estimated_usd: *estimated_usd,
                    take: *take,
                    at: at.clone(),
                });
            }
            Record::Accepted { shot, .. } => {
                self.requested.insert(shot.clone());
            }
            Record::Followed { shot, job, .. } => {
                self.requested.insert(shot.clone());
                self.followed.insert(job.request_id.clone());
            }
            _ => {}
        }
    }

    /// What to tell the user of damaged lines, naming them.
    pub(crate) fn warning(&self) -> Option<String> {
        if self.damaged_lines.is_empty() {
            return None;
        }
        let lines: Vec<String> = self.damaged_lines.iter().take(20).map(usize::to_string).collect();
        Some(format!(
            "warning: {}: damaged line(s) skipped: line {}; every other record is kept, and requests named there are not sent again without --retry-uncertain",
            super::folder::layout::JOURNAL,
            lines.join(", line ")
        ))
    }

    /// Whether this clip is already one of the shot's takes.
    pub(crate) fn has_take(&self, shot: &str, sha256: &str) -> bool {
        self.shot_clips.contains(&(shot.to_owned(), sha256.to_owned()))
    }

    /// The state of a request.
    pub(crate) fn state(&self, api: &str, key: &str) -> Option<&KeyState> {
        self.keys.get(&(api.to_owned(), key.to_owned()))
    }

    /// An intent: one more attempt at the request, and what was sent (when recorded).
    fn intent(&mut self, api: &str, key: &str, sent: Option<Sent>) {
        let id = (api.to_owned(), key.to_owned());
        *self.attempts.entry(id.clone()).or_default() += 1;
        if let Some(sent) = sent {
            self.sent.insert(id, sent);
        }
    }

    fn apply(&mut self, r: Record) {
        self.note(&r);
        if let Record::Upload { sha256, api, url, at } = r {
            self.uploaded_at.insert((api.clone(), sha256.clone()), at);
            self.uploaded.insert(url.clone(), sha256.clone());
            self.uploads.insert((api, sha256), url);
            return;
        }
        if let Some((api, key, state)) = self.key_state(r) {
            self.latest.insert(key.clone(), (api.clone(), state.clone()));
            self.keys.insert((api, key), state);
        }
    }

    /// What a record says of its request key (api, key, state); an upload says nothing of one.
    fn key_state(&mut self, r: Record) -> Option<(String, String, KeyState)> {
        let found = match r {
            Record::Intent {
                shot,
                request_key,
                api,
                endpoint,
                input,
                at,
            } => {
                let sent = endpoint.zip(input).map(|(endpoint, input)| Sent {
                    shot,
                    endpoint,
                    input,
                    at,
                });
                self.intent(&api, &request_key, sent);
                (api, request_key, KeyState::Intent)
            }
            Record::Cancelled {
                request_key,
                api,
                request_id,
                ..
            } => (api, request_key, KeyState::Cancelled { request_id }),
            Record::Accepted {
                request_key, api, job, ..
            }
            | Record::Followed {
                request_key, api, job, ..
            } => (api, request_key, KeyState::Accepted(job)),
            Record::Result {
                request_key,
                api,
                job,
                source,
                ..
            } => (api, request_key, KeyState::Finished { job, source }),
            Record::Uncertain {
                request_key,
                api,
                reason,
                ..
            } => (api, request_key, KeyState::Uncertain(reason)),
            Record::Done {
                request_key,
                api,
                clip,
                request_id,
                actual_usd,
                ..
            } => (
                api,
                request_key,
                KeyState::Done {
                    clip,
                    request_id,
                    actual_usd,
                },
            ),
            Record::Failed {
                request_key,
                api,
                error,
                request_id,
                ..
            } => (api, request_key, KeyState::Failed { error, request_id }),
            Record::Gone {
                request_key,
                api,
                request_id,
                reason,
                ..
            } => (api, request_key, KeyState::Gone { request_id, reason }),
            Record::Upload { .. } => return None,
        };
        Some(found)
    }
}

/// The journal file, open for appending.
pub(crate) struct Journal {
    path: Utf8PathBuf,
    file: Mutex<std::fs::File>,
    /// Space set aside beside the journal (`.storyboard/reserve`): given back when the disk is
    /// full, so the records of jobs already in flight can still be written.
    reserve: Utf8PathBuf,
    /// The reserve is spent: no new submit may start.
    low: std::sync::atomic::AtomicBool,
}

/// The space set aside for the records of jobs in flight once the disk is full (a few hundred
/// records).
pub(crate) const RESERVE_BYTES: usize = 64 * 1024;

impl Journal {
    /// Reads a journal (missing = empty): a damaged line costs that line only (its request key,
    /// when it can be made out, is remembered as known), a torn last line is skipped, and a
    /// journal that is not a regular file, or too large, is [`History::unreadable`].
    pub(crate) fn read(path: &Utf8Path) -> History {
        let mut h = History::default();
        let bytes = match crate::files::read_limited(path, MAX_JOURNAL_BYTES, false) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return h,
            Err(e) => {
                h.unreadable = Some(e.to_string());
                return h;
            }
        };
        let torn = !bytes.ends_with(b"\n");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        for (i, line) in lines.iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = std::str::from_utf8(line)
                .ok()
                .and_then(|t| serde_json::from_str::<Record>(t).ok())
                .filter(Record::is_valid);
            match record {
                Some(r) => h.apply(r),
                None if torn && i + 1 == lines.len() => h.skipped += 1,
                None => {
                    h.skipped += 1;
                    h.damaged_lines.push(i + 1);
                    h.damaged_keys.extend(keys_in(&String::from_utf8_lossy(line)));
                }
            }
        }
        h
    }

    /// Opens for appending (creating the folder and file).
    pub(crate) fn open(path: &Utf8Path) -> std::io::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Never through a planted link: the journal is written only where it stands.
        let mut file =
            crate::files::no_follow(std::fs::OpenOptions::new().create(true).append(true).read(true)).open(path)?;
        // A torn last line from a crash: end it, so the next record starts on its own line.
        let len = file.metadata()?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        let reserve = path.with_file_name("reserve");
        // Best effort: without room for it, the journal works as before.
        if std::fs::metadata(&reserve).map_or(true, |m| m.len() < RESERVE_BYTES as u64) {
            let _ = crate::files::create_fresh(&reserve)
                .and_then(|mut f| f.write_all(&[0u8; RESERVE_BYTES]).and_then(|()| f.sync_all()));
        }
        Ok(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
            reserve,
            low: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Appends the intent to submit, unless the disk is full (the reserve spent or the write
    /// refused): a request that cannot be journaled is never sent.
    pub(crate) fn append_intent(&self, record: &Record) -> std::io::Result<()> {
        if self.low.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "the disk is full (the journal is writing into its reserve)",
            ));
        }
        self.append(record)
    }

    /// Appends one record and fsyncs it before returning.
    pub(crate) fn append(&self, record: &Record) -> std::io::Result<()> {
        let mut line = crate::secrets::redact_bytes(serde_json::to_vec(record).map_err(std::io::Error::other)?);
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let first = write_line(&mut f, &line);
        if first.is_err() && std::fs::remove_file(&self.reserve).is_ok() {
            // The disk is full: spend the reserve on this record; no new submits from now on.
            self.low.store(true, std::sync::atomic::Ordering::SeqCst);
            return write_line(&mut f, &line);
        }
        first
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Utf8Path {
        &self.path
    }
}

/// Writes one line and syncs it; on failure (a full disk) takes the partial line back, or at
/// least ends it, so that it never swallows the next record.
fn write_line(f: &mut std::fs::File, line: &[u8]) -> std::io::Result<()> {
    let before = f.metadata()?.len();
    let written = f.write_all(line).and_then(|()| f.sync_data());
    if written.is_err() && f.set_len(before).is_err() {
        let _ = f.write_all(b"\n");
    }
    written
}

/// The longest journal read: far beyond any film's (thousands of shots, re-rendered often).
pub(crate) const MAX_JOURNAL_BYTES: u64 = 512 << 20;

/// Whether a shot id read back from a state file is one a storyboard could have: the same rule
/// as the storyboard's ids (a file name inside the folder).
pub(crate) fn valid_id(id: &str) -> bool {
    crate::files::check_id(id).is_ok()
}

/// Whether a clip path read back from a state file is one storyboard writes: its place in the
/// store (named by its sha256) or a shot's `<id>.mp4`.
pub(crate) fn valid_clip(path: &Utf8Path, sha256: &str) -> bool {
    let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    hex && (path == super::folder::layout::kept_clip(sha256)
        || path == super::folder::layout::kept_frame(sha256)
        || path.as_str().strip_suffix(".mp4").is_some_and(valid_id))
}

/// The request keys a damaged line names (`"request_key":"…"`).
fn keys_in(line: &str) -> Vec<String> {
    line.split("\"request_key\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_owned)
        .collect()
}

impl Record {
    /// Whether the record's shot id and clip path are ones storyboard writes: a crafted
    /// journal never names a file outside the output folder.
    fn is_valid(&self) -> bool {
        let shot = match self {
            Record::Upload { .. } => return true,
            Record::Done { shot, clip, .. } => {
                return valid_id(shot) && valid_clip(&clip.path, &clip.sha256);
            }
            Record::Intent { shot, .. }
            | Record::Cancelled { shot, .. }
            | Record::Accepted { shot, .. }
            | Record::Followed { shot, .. }
            | Record::Result { shot, .. }
            | Record::Uncertain { shot, .. }
            | Record::Failed { shot, .. }
            | Record::Gone { shot, .. } => shot,
        };
        valid_id(shot)
    }
}

pub(crate) use crate::clock::now;
pub(crate) use crate::provider::{Accepted, ClipSource};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_skipped_and_the_next_record_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::record::folder::layout::journal(&Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap());
        let j = Journal::open(&path).unwrap();
        let intent = Record::Intent {
            shot: "a".into(),
            request_key: "k".into(),
            api: "x".into(),
            endpoint: None,
            input: None,
            at: now(),
        };
        j.append(&intent).unwrap();
        drop(j);
        // A crash mid-write leaves half a line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"accepted","shot":"a","req"#).unwrap();
        drop(f);
        let h = Journal::read(&path);
        assert_eq!(h.skipped, 1);
        assert_eq!(h.state("x", "k"), Some(&KeyState::Intent));
        let j = Journal::open(&path).unwrap();
        let job = Accepted::by_id("r1");
        j.append(&Record::Accepted {
            shot: "a".into(),
            request_key: "k".into(),
            api: "x".into(),
            job: job.clone(),
            at: now(),
        })
        .unwrap();
        let h = Journal::read(&path);
        assert_eq!(h.state("x", "k"), Some(&KeyState::Accepted(job)));
        assert_eq!(h.attempts[&("x".to_owned(), "k".to_owned())], 1);
    }

    #[test]
    fn a_file_uploaded_again_keeps_its_earlier_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::record::folder::layout::journal(&Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap());
        let j = Journal::open(&path).unwrap();
        for url in ["https://u/1.png", "https://u/2.png"] {
            let (sha256, api, url, at) = ("ab".into(), "x".into(), url.into(), now());
            j.append(&Record::Upload { sha256, api, url, at }).unwrap();
        }
        let h = Journal::read(&path);
        assert_eq!(
            h.uploads[&("x".to_owned(), "ab".to_owned())],
            "https://u/2.png",
            "the latest is sent"
        );
        assert_eq!(
            h.uploaded["https://u/1.png"], "ab",
            "an older take's URL still names its file"
        );
        assert_eq!(h.uploaded["https://u/2.png"], "ab");
    }

    #[test]
    fn a_damaged_line_costs_that_line_and_crafted_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::record::folder::layout::journal(&Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap());
        let j = Journal::open(&path).unwrap();
        let accepted = |shot: &str, key: &str| Record::Accepted {
            shot: shot.into(),
            request_key: key.into(),
            api: "x".into(),
            job: Accepted::by_id("r1"),
            at: now(),
        };
        for r in [accepted("a", "ka"), accepted("b", "kb"), accepted("../../etc/x", "kc")] {
            j.append(&r).unwrap();
        }
        drop(j);
        let text = std::fs::read(&path).unwrap();
        let mut damaged = Vec::new();
        for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            if i == 1 {
                damaged.push(0xff);
            }
            damaged.extend_from_slice(line);
        }
        std::fs::write(&path, damaged).unwrap();
        let h = Journal::read(&path);
        assert!(
            matches!(h.state("x", "ka"), Some(KeyState::Accepted(_))),
            "the other lines are kept"
        );
        assert_eq!(h.state("x", "kb"), None);
        assert_eq!(
            h.damaged_lines,
            vec![2, 3],
            "line 2 damaged, line 3 names a path, not an id"
        );
        assert!(h.damaged_keys.contains("kb"), "the damaged line's request is known");
        assert!(!h.requested.contains("../../etc/x"));
        assert!(h.warning().unwrap().contains("line 2, line 3"));
    }
}
