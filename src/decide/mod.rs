//! Resume: what happens to each shot of a render, decided in one place from the journal and the
//! clips on disk. The runner is handed the answer as data ([`Fate`]); chained shots, whose
//! request keys need their upstream clips, are decided by the same [`Resume::decide`] once those
//! clips exist.

pub(crate) mod frames;
pub(crate) mod reconcile;

use camino::{Utf8Path, Utf8PathBuf};
use std::collections::HashMap;

use crate::facts::cost::Micros;
use crate::plan::frames::PlannedFrame;
use crate::plan::{Plan, PlannedShot};
use crate::provider::{Accepted, ClipSource};
use crate::record::folder::Folder;
use crate::record::folder::intact_clip;
use crate::record::journal::{History, KeyState};
use crate::record::manifest::Manifest;
use crate::record::manifest::{ClipRecord, RequestRecord, ShotStatus};
use crate::record::takes::PickError;

/// What happens to one shot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fate {
    /// The clip for this exact request is on disk and verified: nothing is sent.
    Cached(ClipRecord),
    /// Follow a job an earlier run submitted (already paid: never resubmitted).
    Follow(Accepted),
    /// Download the clip of a job that finished in an earlier run (from its journaled URL,
    /// falling back to the queue and the request history).
    Fetch(Accepted, ClipSource),
    /// Submit it (a new bill).
    Submit,
    /// An earlier submit's outcome is unknown: left alone.
    Uncertain(String),
    /// The provider forgot an earlier request: left alone.
    Gone(String),
    /// A chained shot whose upstream clip is rendered in this run: decided once it exists.
    AwaitsUpstream,
    /// `approve: frames`: its frame is rendered (when missing) and its video waits for a pick.
    AwaitsPick,
}

impl Fate {
    /// Whether this fate sends a new (paid) submit, as far as can be known before the run.
    pub(crate) fn submits(&self) -> bool {
        matches!(self, Fate::Submit | Fate::AwaitsUpstream)
    }

    /// Whether it takes up a job an earlier run submitted (already paid: followed even after the
    /// first Ctrl-C).
    pub(crate) fn resumes(&self) -> bool {
        matches!(self, Fate::Follow(_) | Fate::Fetch(..))
    }

    /// Whether the runner has work to do for it (the rest are settled as they stand).
    pub(crate) fn runs(&self) -> bool {
        self.submits() || self.resumes() || *self == Fate::AwaitsPick
    }
}

/// The flags that change how the journal's state of a request is read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    /// `--force`: render even what is cached.
    pub force: bool,
    /// `--sandbox`: an earlier run's sandbox is gone, and it costs nothing.
    pub sandbox: bool,
    /// `--retry-uncertain`.
    pub retry_uncertain: bool,
    /// `--resubmit-expired`.
    pub resubmit_expired: bool,
}

/// What a shot is decided from: the output folder, the journal's history in this API's
/// namespace, and the flags.
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    /// The output folder.
    pub out: Utf8PathBuf,
    /// The journal namespace (`sandbox` or the provider's base URL).
    pub namespace: String,
    /// What the journal says.
    pub history: History,
    /// How to read it.
    pub flags: Flags,
    /// The frames the videos animate.
    pub frames: frames::FrameChoice,
}

/// What the decisions add up to before a render: the estimate of what is submitted, how many
/// shots resume a paid request, how many are cached, and whether a chained shot renders.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// The cost of the shots submitted.
    pub estimate: crate::facts::cost::Estimate,
    /// Shots that follow or fetch a request already paid for.
    pub resumed: usize,
    /// Shots whose clip is cached.
    pub cached: usize,
    /// A shot that starts from another shot's frame is rendered (needs ffmpeg).
    pub chained: bool,
}

impl Tally {
    /// The tally of `decided`.
    pub(crate) fn of(plan: &Plan, decided: &[Decided], resume: &Resume) -> Tally {
        let submits: Vec<usize> = decided.iter().filter(|d| d.fate.submits()).map(|d| d.index).collect();
        let cached = |d: &&Decided| matches!(d.fate, Fate::Cached(_));
        Tally {
            estimate: plan.estimate_split(&submits, &resume.frames_to_pay(plan, decided)),
            resumed: decided.iter().filter(|d| d.fate.resumes()).count(),
            cached: decided.iter().filter(cached).count(),
            chained: decided
                .iter()
                .any(|d| !plan.shots[d.index].chain.is_empty() && !cached(&d)),
        }
    }
}

/// One selected shot's fate and the request key it has (provisional while it awaits upstream).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decided {
    /// Plan index.
    pub index: usize,
    /// What happens to it.
    pub fate: Fate,
    /// Its request key.
    pub key: String,
}

/// What an uncertain submit means for the user.
pub(crate) fn uncertain_message(reason: &str) -> String {
    format!(
        "{reason}: the request may or may not have been created (and billed). It will not be submitted again by itself: check your provider's dashboard, then run `render --retry-uncertain` to submit it again"
    )
}

/// Adds to the plan one request for each shot a redo waits on (`storyboard pick --redo`), as
/// the folder's journal and picks say.
pub(crate) fn add_redos(plan: &mut Plan, folder: &Folder) -> Result<(), PickError> {
    let picks = folder.picks()?;
    if picks.shots.values().all(|p| p.redo.is_empty()) {
        return Ok(());
    }
    plan.add_redos(crate::record::takes::pending_redo(&picks, folder.history()));
    plan.add_frame_redos(crate::record::takes::pending_redo(&picks, folder.history()));
    Ok(())
}

/// Each shot of a plan with the request key it was last rendered with (a chained shot's key
/// depends on its upstream clip, a framed shot's on its frame: the one in the folder's manifest)
/// and its estimate.
pub(crate) fn listing_from_plan(plan: &Plan, out: &Utf8Path) -> crate::record::status::Listing {
    let rendered = Manifest::read(&crate::record::folder::layout::manifest(out));
    plan.shots
        .iter()
        .map(|shot| {
            let last = rendered
                .as_ref()
                .and_then(|m| m.requests().find(|r| r.label == shot.id));
            let key = match last {
                Some(r) if !shot.chain.is_empty() || shot.framed() => r.request_key.clone(),
                _ => shot.request_key.clone(),
            };
            (shot.id.clone(), key, shot.estimate.map(crate::facts::cost::Micros::usd))
        })
        .collect()
}

impl Resume {
    /// The journal's state of a request in this namespace.
    pub(crate) fn state(&self, key: &str) -> Option<&KeyState> {
        self.history.state(&self.namespace, key)
    }

    /// The decision table for one request key (never [`Fate::AwaitsUpstream`]).
    pub(crate) fn decide(&self, key: &str) -> Fate {
        let state = self.state(key);
        if !self.flags.force
            && let Some(clip) = intact_clip(&self.out, state)
        {
            return Fate::Cached(clip);
        }
        match state {
            _ if self.flags.sandbox => Fate::Submit,
            Some(KeyState::Accepted(job)) => Fate::Follow(job.clone()),
            Some(KeyState::Finished { job, source }) => Fate::Fetch(job.clone(), source.clone()),
            Some(KeyState::Intent) if !self.flags.retry_uncertain => {
                Fate::Uncertain(uncertain_message("the previous run stopped while submitting this shot"))
            }
            Some(KeyState::Uncertain(reason)) if !self.flags.retry_uncertain => {
                Fate::Uncertain(uncertain_message(reason))
            }
            None if self.history.damaged_keys.contains(key) && !self.flags.retry_uncertain => {
                Fate::Uncertain(uncertain_message("the journal line recording this request is damaged"))
            }
            Some(KeyState::Gone { request_id, reason }) if !self.flags.resubmit_expired => Fate::Gone(format!(
                "{reason} (request {request_id}); `render --resubmit-expired` submits it again (a second bill)"
            )),
            _ => Fate::Submit,
        }
    }

    /// Every selected shot's fate, in the order given.
    pub(crate) fn decide_all(&self, plan: &Plan, selected: &[usize]) -> Vec<Decided> {
        let mut is_selected = vec![false; plan.shots.len()];
        for &i in selected {
            is_selected[i] = true;
        }
        // A selected shot is re-rendered unless its clip is cached (and not forced).
        let mut first = ChainKeys::new(plan, self, vec![false; plan.shots.len()]);
        let rerendered: Vec<bool> = (0..plan.shots.len())
            .map(|i| {
                is_selected[i]
                    && (self.flags.force
                        || first
                            .key(i)
                            .is_none_or(|k| intact_clip(&self.out, self.state(&k)).is_none()))
            })
            .collect();
        let mut keys = ChainKeys::new(plan, self, rerendered);
        selected
            .iter()
            .map(|&index| match keys.key(index) {
                _ if self.frames.waits(&plan.shots[index]) => Decided {
                    index,
                    fate: Fate::AwaitsPick,
                    key: plan.shots[index].request_key.clone(),
                },
                None => Decided {
                    index,
                    fate: Fate::AwaitsUpstream,
                    key: plan.shots[index].request_key.clone(),
                },
                Some(key) => Decided {
                    index,
                    fate: self.decide(&key),
                    key,
                },
            })
            .collect()
    }

    /// The sha256 of each frame a framed shot's video is made from, by its video body field:
    /// the picked frame take, else the kept frame of the shot's frame request; `None` while
    /// one is not kept.
    pub(crate) fn frame_shas<'p>(&self, shot: &'p PlannedShot) -> Option<Vec<(&'p str, String)>> {
        shot.edge_frames()
            .map(|f| {
                let sha = match self.frames.of(&shot.shot, f.edge) {
                    Some(picked) => picked.sha256.clone(),
                    None => intact_clip(&self.out, self.state(&f.request_key))?.sha256,
                };
                Some((f.field.as_str(), sha))
            })
            .collect()
    }

    /// The request keys of the plan's frames not kept when the render starts (the frames it
    /// may make).
    pub(crate) fn frames_not_kept(&self, plan: &Plan) -> std::collections::HashSet<String> {
        let kept = |f: &&PlannedFrame| matches!(self.decide(&f.request_key), Fate::Cached(_));
        plan.frames()
            .into_iter()
            .filter(|f| !kept(f))
            .map(|f| f.request_key.clone())
            .collect()
    }

    /// The frame requests this render pays for: a shot's frame when its video waits for it
    /// (not kept yet, or not picked under `approve: frames`) and its other frame takes
    /// (`frame: {takes: N}`), each once and only when neither kept nor already submitted.
    pub(crate) fn frames_to_pay<'p>(&self, plan: &'p Plan, decided: &[Decided]) -> Vec<&'p PlannedFrame> {
        let mut seen = std::collections::HashSet::new();
        let mut pay = Vec::new();
        for d in decided {
            let shot = &plan.shots[d.index];
            // `--force` makes the shot's frames again too.
            let waits = self.flags.force || matches!(d.fate, Fate::AwaitsUpstream | Fate::AwaitsPick);
            // A picked frame is not rendered again.
            let first = shot
                .edge_frames()
                .filter(|f| waits && self.frames.of(&shot.shot, f.edge).is_none());
            for f in first.chain(&shot.more_frames) {
                if seen.insert(f.request_key.as_str()) && matches!(self.decide(&f.request_key), Fate::Submit) {
                    pay.push(f);
                }
            }
        }
        pay
    }

    /// The clip of a shot's own request, when it is kept (shots not selected by `--only`: their
    /// dependents need to know whether it exists).
    pub(crate) fn own_clip(&self, shot: &PlannedShot) -> Option<ClipRecord> {
        intact_clip(&self.out, self.state(&shot.request_key))
    }

    /// A shot's record before the run: pending, or what is on disk for it.
    pub(crate) fn starting_record(&self, plan: &Plan, index: usize) -> RequestRecord {
        let shot = &plan.shots[index];
        let state = self.state(&shot.request_key);
        let mut rec = RequestRecord {
            label: shot.id.clone(),
            status: ShotStatus::Pending,
            provider: shot.provider.to_string(),
            endpoint: shot.endpoint.clone(),
            input: shot.input.clone(),
            request_key: shot.request_key.clone(),
            frame_request_key: shot.frame.as_ref().map(|f| f.request_key.clone()),
            end_frame_request_key: shot.end_frame.as_ref().map(|f| f.request_key.clone()),
            request_id: None,
            estimated_usd: shot.estimate.map(Micros::usd),
            actual_usd: None,
            clip: None,
            submitted_at: None,
            completed_at: None,
            attempts: self.attempts(&shot.request_key),
            error: None,
        };
        if let Some(clip) = self.own_clip(shot) {
            rec.status = ShotStatus::Cached;
            rec.clip = Some(clip);
        }
        match state {
            Some(KeyState::Accepted(job) | KeyState::Finished { job, .. }) => {
                rec.request_id = Some(job.request_id.clone())
            }
            Some(KeyState::Done {
                request_id, actual_usd, ..
            }) => {
                rec.request_id = request_id.clone();
                rec.actual_usd = *actual_usd;
            }
            _ => {}
        }
        rec
    }

    /// The manifest as a render starts: every request pending, or what is on disk for it;
    /// and where each plan index's request is in it.
    pub(crate) fn starting_manifest(
        &self,
        source: &str,
        plan: &Plan,
        selected: &[usize],
        started: String,
    ) -> (Manifest, Vec<(usize, usize)>) {
        let requests = (0..plan.shots.len())
            .map(|i| (plan.shots[i].shot.clone(), self.starting_record(plan, i)))
            .collect();
        let (mut shots, locate) = crate::record::manifest::group(requests);
        for (shot, &(s, n)) in plan.shots.iter().zip(&locate) {
            if n == 0 {
                shots[s].seconds = shot.seconds;
                shots[s].voices = shot.voices.clone();
                shots[s].cast = (1..)
                    .zip(&shot.cast)
                    .map(|(element, name)| crate::record::manifest::CastRecord {
                        name: name.clone(),
                        element,
                        frontal: plan.frontals.get(name).map(crate::plan::Frontal::shown),
                    })
                    .collect();
            }
        }
        let manifest = Manifest {
            version: crate::record::manifest::VERSION,
            storyboard: source.to_owned(),
            title: plan.title.clone(),
            generator: format!("storyboard {}", env!("CARGO_PKG_VERSION")),
            started_at: started,
            finished_at: None,
            estimated_usd: selected
                .iter()
                .filter_map(|&i| plan.shots[i].estimate)
                .sum::<Micros>()
                .usd(),
            shots,
        };
        (manifest, locate)
    }

    /// How many of these shots are submitted again because their last request was cancelled.
    pub(crate) fn cancelled(&self, decided: &[Decided]) -> usize {
        decided
            .iter()
            .filter(|d| d.fate == Fate::Submit && matches!(self.state(&d.key), Some(KeyState::Cancelled { .. })))
            .count()
    }

    /// Submit attempts the journal counts for a request.
    pub(crate) fn attempts(&self, key: &str) -> u32 {
        self.history
            .attempts
            .get(&(self.namespace.clone(), key.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Uploads remembered by content hash (none under the sandbox: its files die with it).
    pub(crate) fn uploads(&self) -> HashMap<String, String> {
        if self.flags.sandbox {
            return HashMap::new();
        }
        self.history
            .uploads
            .iter()
            .filter(|((ns, _), _)| *ns == self.namespace)
            .map(|((_, sha), url)| (sha.clone(), url.clone()))
            .collect()
    }
}

/// Final request keys where they can be known before rendering: a chained shot's key needs
/// the sha256 of each upstream clip, known when that clip is on disk and stays (not re-rendered).
struct ChainKeys<'a> {
    plan: &'a Plan,
    resume: &'a Resume,
    rerendered: Vec<bool>,
    memo: HashMap<usize, Option<String>>,
}

impl<'a> ChainKeys<'a> {
    fn new(plan: &'a Plan, resume: &'a Resume, rerendered: Vec<bool>) -> ChainKeys<'a> {
        ChainKeys {
            plan,
            resume,
            rerendered,
            memo: HashMap::new(),
        }
    }

    fn key(&mut self, i: usize) -> Option<String> {
        if let Some(k) = self.memo.get(&i) {
            return k.clone();
        }
        let shot = &self.plan.shots[i];
        let key = if shot.framed() {
            // Known once the frames are kept: each stands for its bytes.
            self.resume.frame_shas(shot).map(|shas| shot.key_with_frames(&shas))
        } else if shot.chain.is_empty() {
            Some(shot.request_key.clone())
        } else {
            let upstream: Vec<usize> = shot.chain.iter().map(|c| c.upstream_index).collect();
            let shas: Option<Vec<String>> = upstream.into_iter().map(|u| self.settled_sha(u)).collect();
            shas.map(|s| shot.key_with_upstream(&s))
        };
        self.memo.insert(i, key.clone());
        key
    }

    /// The sha256 of a shot's clip when it is on disk and this run will not replace it.
    fn settled_sha(&mut self, u: usize) -> Option<String> {
        if self.rerendered[u] {
            return None;
        }
        let key = self.key(u)?;
        intact_clip(&self.resume.out, self.resume.state(&key)).map(|c| c.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::journal::{Journal, Record};

    fn accepted(id: &str) -> Accepted {
        Accepted::by_id(id)
    }

    /// A folder whose journal holds `records` for key `k`, and a clip `a.mp4` of `clip_bytes`.
    fn resume_with(records: &[Record], flags: Flags) -> (tempfile::TempDir, Resume) {
        let dir = tempfile::tempdir().unwrap();
        let out = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        std::fs::create_dir_all(crate::record::folder::layout::state(&out)).unwrap();
        let journal = Journal::open(&crate::record::folder::layout::journal(&out)).unwrap();
        for r in records {
            journal.append(r).unwrap();
        }
        std::fs::write(out.join("a.mp4"), b"clip").unwrap();
        let history = Journal::read(&crate::record::folder::layout::journal(&out));
        let resume = Resume {
            out,
            namespace: "ns".into(),
            history,
            flags,
            frames: frames::FrameChoice::default(),
        };
        (dir, resume)
    }

    fn rec(kind: &str, sha: &str) -> Record {
        let (shot, request_key, api, at) = ("a".to_owned(), "k".to_owned(), "ns".to_owned(), "t".to_owned());
        match kind {
            "intent" => Record::Intent {
                shot,
                request_key,
                api,
                endpoint: None,
                input: None,
                at,
            },
            "accepted" => Record::Accepted {
                shot,
                request_key,
                api,
                job: accepted("r1"),
                at,
            },
            "uncertain" => Record::Uncertain {
                shot,
                request_key,
                api,
                reason: "no answer".into(),
                at,
            },
            "gone" => Record::Gone {
                shot,
                request_key,
                api,
                request_id: "r1".into(),
                reason: "expired".into(),
                at,
            },
            "cancelled" => Record::Cancelled {
                shot,
                request_key,
                api,
                request_id: "r1".into(),
                at,
            },
            "failed" => Record::Failed {
                shot,
                request_key,
                api,
                request_id: Some("r1".into()),
                error: "model failed".into(),
                at,
            },
            _ => Record::Done {
                shot,
                request_key,
                api,
                request_id: Some("r1".into()),
                clip: ClipRecord {
                    path: "a.mp4".into(),
                    bytes: 4,
                    sha256: sha.to_owned(),
                    source_url: "https://x/a.mp4".into(),
                },
                actual_usd: None,
                estimated_usd: None,
                take: None,
                at,
            },
        }
    }

    #[test]
    fn the_decision_table() {
        let good = crate::digest::sha256_hex(b"clip");
        let none = Flags::default();
        let force = Flags { force: true, ..none };
        let sandbox = Flags { sandbox: true, ..none };
        let retry = Flags {
            retry_uncertain: true,
            ..none
        };
        let resubmit = Flags {
            resubmit_expired: true,
            ..none
        };
        type Check = fn(&Fate) -> bool;
        let cached: Check = |f| matches!(f, Fate::Cached(c) if c.path == "a.mp4");
        let follow: Check = |f| *f == Fate::Follow(accepted("r1"));
        let submit: Check = |f| *f == Fate::Submit;
        let uncertain: Check = |f| matches!(f, Fate::Uncertain(m) if m.contains("--retry-uncertain"));
        let gone: Check =
            |f| matches!(f, Fate::Gone(m) if m.contains("request r1") && m.contains("--resubmit-expired"));
        let table: Vec<(&str, Vec<Record>, Flags, Check)> = vec![
            ("nothing journaled", vec![], none, submit),
            ("clip on disk", vec![rec("done", &good)], none, cached),
            ("clip on disk, --force", vec![rec("done", &good)], force, submit),
            ("clip changed on disk", vec![rec("done", &"0".repeat(64))], none, submit),
            ("accepted", vec![rec("intent", ""), rec("accepted", "")], none, follow),
            (
                "accepted, under the sandbox",
                vec![rec("accepted", "")],
                sandbox,
                submit,
            ),
            ("intent only", vec![rec("intent", "")], none, uncertain),
            ("intent only, --retry-uncertain", vec![rec("intent", "")], retry, submit),
            ("uncertain", vec![rec("uncertain", "")], none, uncertain),
            (
                "uncertain, --retry-uncertain",
                vec![rec("uncertain", "")],
                retry,
                submit,
            ),
            ("gone", vec![rec("gone", "")], none, gone),
            ("gone, --resubmit-expired", vec![rec("gone", "")], resubmit, submit),
            ("failed (never cached)", vec![rec("failed", "")], none, submit),
            (
                "cancelled while queued",
                vec![rec("accepted", ""), rec("cancelled", "")],
                none,
                submit,
            ),
        ];
        for (name, records, flags, check) in table {
            let (_dir, resume) = resume_with(&records, flags);
            let fate = resume.decide("k");
            assert!(check(&fate), "{name}: got {fate:?}");
        }
    }
}
