//! The planner: a storyboard expanded into concrete, validated, priced requests.
//! No network, no files written.

mod build;
mod cast;
mod chains;
mod expand;
pub(crate) mod frames;
mod inputs;
mod resolve;
pub(crate) mod template;
pub(crate) mod wire;

pub(crate) use build::request_key;

use camino::Utf8PathBuf;
use minijinja::Value as TValue;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::facts::catalog::{self, Kind, ProviderKind};
use crate::facts::cost::Micros;
use crate::problem::Problem;
use crate::storyboard::{self, ShotSpec, Source, StoryboardFile, VoiceSpec};
use template::Templates;

/// The default model family.
pub(crate) const DEFAULT_FAMILY: &str = "kling-v2.6-pro";
/// The most shots a storyboard may expand to (matrix × takes); far beyond a film.
pub(crate) const MAX_SHOTS: u64 = 10_000;
/// The most takes of one shot in one storyboard.
pub(crate) const MAX_TAKES: u32 = 100;
/// The most frame takes of one shot (`frame: {takes: N}`).
pub(crate) const MAX_FRAME_TAKES: u32 = 20;
/// The longest prompt, in characters (Kling's documented limit).
pub(crate) const MAX_PROMPT_CHARS: usize = 2_500;

/// A value the storyboard gives that cannot be used, with what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<Invalid> for String {
    fn from(i: Invalid) -> String {
        i.0
    }
}

/// Template names of beat prompts (`beats[0].prompt`…), one per beat a shot may have.
const BEAT_FIELDS: [&str; 6] = [
    "beats[0].prompt",
    "beats[1].prompt",
    "beats[2].prompt",
    "beats[3].prompt",
    "beats[4].prompt",
    "beats[5].prompt",
];

/// Sets a body field: a plain name, or a JSON pointer into a list (`/image_urls/0`).
pub(crate) fn set_field(input: &mut Map<String, Value>, field: &str, value: Value) {
    if !field.starts_with('/') {
        input.insert(field.to_owned(), value);
        return;
    }
    let mut doc = Value::Object(std::mem::take(input));
    if let Some(slot) = doc.pointer_mut(field) {
        *slot = value;
    }
    if let Value::Object(m) = doc {
        *input = m;
    }
}

/// Settings a command line may override before planning.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    /// `--provider`.
    pub provider: Option<ProviderKind>,
    /// Where prices come from (the table unless live prices are given).
    pub prices: crate::facts::prices::Prices,
    /// `render --compare m1,m2 --only SHOT`: these shots become shoot-outs of these models.
    pub compare: Option<(Vec<String>, Vec<String>)>,
}

impl Overrides {
    /// `--compare m1,m2` with `--only SHOT…`: those shots as shoot-outs of those models.
    pub(crate) fn compare(models: &[String], only: &[String]) -> Option<(Vec<String>, Vec<String>)> {
        let shots = only.iter().flat_map(|o| o.split(',')).map(str::trim);
        (!models.is_empty()).then(|| (models.to_vec(), shots.map(str::to_owned).collect()))
    }
}

/// A whole plan: every shot resolved into the exact request `render` will send.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Where the storyboard came from (as named in messages).
    pub source: String,
    /// The storyboard's title.
    pub title: Option<String>,
    /// The provider every shot goes to.
    pub provider: ProviderKind,
    /// The model family.
    pub family: String,
    /// The storyboard's `concurrency:` as written (a runtime setting the plan does not read:
    /// `settings::concurrency` resolves it).
    pub concurrency: Option<u32>,
    /// The storyboard's budget.
    pub budget: Option<Micros>,
    /// The team's shared store (`store:`; `--store` overrides).
    pub store: Option<String>,
    /// `approve: frames`: videos wait for their frames to be picked.
    pub approve_frames: bool,
    /// The output folder (resolved against the storyboard's folder).
    pub output: Utf8PathBuf,
    /// The shots in storyboard order.
    pub shots: Vec<PlannedShot>,
    /// Things worth knowing that are not errors.
    pub warnings: Vec<String>,
    /// Voices to create from samples (fal `create-voice`; no list price).
    pub voices_to_create: Vec<VoiceToCreate>,
    /// Where the prices come from, in a line.
    pub price_note: String,
    /// Each character's frontal image (for the review page), by cast name.
    pub frontals: BTreeMap<String, Frontal>,
}

/// A character's frontal image: a URL, or a local file (kept in the output folder for review).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) enum Frontal {
    /// An https URL.
    Url(String),
    /// A local file and its content hash.
    Local {
        /// The file.
        path: Utf8PathBuf,
        /// Its sha256.
        sha256: String,
    },
}

impl Frontal {
    /// Where the review page finds it: the URL, or the kept copy relative to the output folder.
    pub(crate) fn shown(&self) -> String {
        match self {
            Frontal::Url(u) => u.clone(),
            Frontal::Local { path, sha256 } => {
                let ext = path.extension().unwrap_or("png").to_ascii_lowercase();
                crate::record::folder::layout::cast_image(sha256, &ext)
            }
        }
    }
}

/// A voice given as a sample: created once, remembered by the sample's content hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VoiceToCreate {
    /// The name in `voices:`.
    pub name: String,
    /// The sample as written.
    pub written: String,
    /// The sample resolved against the storyboard's folder.
    pub path: Utf8PathBuf,
    /// sha256 of the sample.
    pub sha256: String,
}

/// A frame of another shot's clip used as an image input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Chain {
    /// The body field it goes into.
    pub field: String,
    /// The storyboard field it came from (`start_image`, `end_image`).
    pub shot_field: String,
    /// The upstream shot's id.
    pub upstream: String,
    /// The upstream shot's index in the plan (set once every id is known).
    pub upstream_index: usize,
    /// Seconds into the upstream clip; `None` for its last frame.
    pub at: Option<f64>,
}

/// A part of the request body replaced in the cache key by what it stands for (a file's
/// content hash, an upstream clip's hash), so paths and temporary URLs do not change the key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subst {
    /// Body field: a name, or a JSON pointer into a list (`/voice_ids/0`).
    pub field: String,
    /// The value used for the key.
    pub value: String,
}

/// A local file a request refers to; uploaded before the request is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LocalFile {
    /// The body field it goes into.
    pub field: String,
    /// The path as written in the storyboard.
    pub written: String,
    /// The path resolved against the storyboard's folder.
    pub path: Utf8PathBuf,
    /// sha256 of the content, hex.
    pub sha256: String,
}

/// One shot, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedShot {
    /// The request's label: the shot id, or `<shot>-take<n>` for `takes:`, `<shot> redo` for a
    /// redo.
    pub id: String,
    /// The shot it renders a take of (its selected take is `<shot>.mp4`).
    pub shot: String,
    /// A redo asked for with `storyboard pick --redo`: the number of takes the shot had then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redo: Option<u32>,
    /// `shots[i]` this came from.
    pub spec_index: usize,
    /// Take number (1-based) when the shot has `takes` (or `models`: one take per model).
    pub take: Option<u32>,
    /// The model family that renders it (`None` for an endpoint outside the catalog).
    pub model: Option<String>,
    /// Provider.
    pub provider: ProviderKind,
    /// Endpoint id (fal) or model slug (Eachlabs).
    pub endpoint: String,
    /// Eachlabs model version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the endpoint does (`None` for an endpoint outside the catalog).
    pub kind: Option<Kind>,
    /// The exact request body (model input; local files shown by the path as written).
    pub input: Map<String, Value>,
    /// Local files to upload, with their content hashes.
    pub local_files: Vec<LocalFile>,
    /// Frames of other shots this one starts (or ends) with.
    pub chain: Vec<Chain>,
    /// The characters sent as elements, in `@ElementN` order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cast: Vec<String>,
    /// Sampled voices: (where the created id goes — `/voice_ids/0`, `/elements/1/voice_id` —,
    /// voice name).
    pub voice_samples: Vec<(String, String)>,
    /// Key substitutions known at plan time (local files, voice samples).
    #[serde(skip)]
    pub substs: Vec<Subst>,
    /// Output seconds.
    pub seconds: f64,
    /// Audio generated.
    pub audio: bool,
    /// Voice names used, in marker order.
    pub voices: Vec<String>,
    /// Number of image inputs.
    pub images: usize,
    /// Estimated price; `None` when unpriced.
    pub estimate: Option<Micros>,
    /// The price is assumed (not published for this provider).
    pub price_assumed: bool,
    /// Where the price came from: `table <date>`, `live <time>` (and the difference from the
    /// table), `price_usd`.
    pub price_from: String,
    /// The cache key: sha256 of provider + endpoint + input + take (local files by content).
    pub request_key: String,
    /// Its first frame, made by an image model before it (`frame:`); the video's start image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<frames::PlannedFrame>,
    /// Its end frame, made by an image model before it (`end_frame:`); the video's end image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_frame: Option<frames::PlannedFrame>,
    /// Frame takes 2…N of `frame: {takes: N}` (and of `end_frame:`): rendered beside the
    /// first, to pick from.
    pub more_frames: Vec<frames::PlannedFrame>,
}

impl PlannedShot {
    /// The cache key once the upstream clips are known: each chained frame stands for the
    /// upstream clip's sha256 (and where in it), so re-rendering the upstream re-renders this.
    pub(crate) fn key_with_upstream(&self, upstream_sha: &[String]) -> String {
        let mut substs = self.substs.clone();
        for (c, sha) in self.chain.iter().zip(upstream_sha) {
            let at = c.at.map_or("last".to_owned(), |t| format!("{t}"));
            substs.push(Subst {
                field: c.field.clone(),
                value: format!("frame:{at}:sha256:{sha}"),
            });
        }
        request_key(self.provider, &self.endpoint, &self.input, &substs, self.salt())
    }

    /// A frame attached (its first or end frame): the video's key covers the frame's request
    /// (at render, the frame's bytes).
    pub(crate) fn with_frame(&mut self, frame: frames::PlannedFrame) {
        self.substs.push(Subst {
            field: frame.field.clone(),
            value: "frame-request:".into(),
        });
        self.reframe(frame);
    }

    /// A frame request replaced (a frame redo): the video's key covers the new request.
    pub(crate) fn reframe(&mut self, frame: frames::PlannedFrame) {
        for s in self.substs.iter_mut().filter(|s| s.field == frame.field) {
            s.value = format!("frame-request:{}", frame.request_key);
        }
        self.request_key = request_key(self.provider, &self.endpoint, &self.input, &self.substs, self.salt());
        match frame.edge {
            frames::Edge::Start => self.frame = Some(frame),
            frames::Edge::End => self.end_frame = Some(frame),
        }
    }

    /// Its first frame, then its end frame: the frames its video is made from.
    pub(crate) fn edge_frames(&self) -> impl Iterator<Item = &frames::PlannedFrame> {
        self.frame.iter().chain(&self.end_frame)
    }

    /// Whether a frame is made for it by an image model first.
    pub(crate) fn framed(&self) -> bool {
        self.frame.is_some() || self.end_frame.is_some()
    }

    /// The cache key once its frames are rendered: each frame (by its video body field) stands
    /// for its bytes' sha256, so a new frame re-renders the video and the same frame never does.
    pub(crate) fn key_with_frames(&self, frame_shas: &[(&str, String)]) -> String {
        let mut substs = self.substs.clone();
        for s in substs.iter_mut().filter(|s| s.value.starts_with("frame-request:")) {
            if let Some((_, sha)) = frame_shas.iter().find(|(field, _)| *field == s.field) {
                s.value = format!("frame:sha256:{sha}");
            }
        }
        request_key(self.provider, &self.endpoint, &self.input, &substs, self.salt())
    }

    /// What sets this request apart from the same body: its take, its redo.
    pub(crate) fn salt(&self) -> Salt {
        Salt {
            take: self.take,
            redo: self.redo,
            end: false,
        }
    }

    /// The same shot asked again (`storyboard pick --redo`): one new take, a new request key.
    pub(crate) fn redone(&self, after: u32) -> PlannedShot {
        let mut again = self.clone();
        again.id = format!("{} redo", self.shot);
        again.take = None;
        again.redo = Some(after);
        again.request_key = request_key(self.provider, &self.endpoint, &self.input, &self.substs, again.salt());
        again
    }
}

/// What sets a request apart from another with the same body (part of its key).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Salt {
    /// The take of `takes:`.
    pub take: Option<u32>,
    /// The redo.
    pub redo: Option<u32>,
    /// An end frame's request (`end_frame:`): never the same request as the first frame's.
    pub end: bool,
}

impl Plan {
    /// Adds one request for each shot with a redo pending (`storyboard pick --redo`), after
    /// the plan's own (chained shots keep starting from the shot's own request).
    pub(crate) fn add_redos(&mut self, pending: impl Fn(&str) -> Option<u32>) {
        let mut seen = std::collections::HashSet::new();
        let mut extra = Vec::new();
        for shot in &self.shots {
            if seen.insert(shot.shot.clone())
                && let Some(after) = pending(&shot.shot)
            {
                extra.push(shot.redone(after));
            }
        }
        self.shots.extend(extra);
    }

    /// Asks each framed shot with a frame redo pending (`storyboard pick --redo-frame`; by the
    /// frame's takes' id, `<shot>.frame` or `<shot>.end_frame`: the number of frame takes it
    /// had then) for one new frame take.
    pub(crate) fn add_frame_redos(&mut self, pending: impl Fn(&str) -> Option<u32>) {
        for shot in &mut self.shots {
            let redone: Vec<_> = shot
                .edge_frames()
                .filter_map(|f| pending(&f.edge.id(&shot.shot)).map(|after| f.redone(after)))
                .collect();
            for frame in redone {
                shot.reframe(frame);
            }
        }
    }

    /// Sum of the priced shots and their frames.
    pub(crate) fn total(&self) -> Micros {
        self.video_total() + self.frames_total()
    }

    /// Sum of the priced video requests.
    pub(crate) fn video_total(&self) -> Micros {
        self.shots.iter().filter_map(|s| s.estimate).sum()
    }

    /// The distinct frame requests (takes of one shot share their frame), in plan order.
    pub(crate) fn frames(&self) -> Vec<&frames::PlannedFrame> {
        distinct_frames(self.shots.iter())
    }

    /// Sum of the frame requests.
    pub(crate) fn frames_total(&self) -> Micros {
        self.frames().iter().map(|f| f.estimate).sum()
    }

    /// How many shots have no price.
    pub(crate) fn unpriced(&self) -> usize {
        self.shots.iter().filter(|s| s.estimate.is_none()).count()
    }

    /// What rendering these shots spends (by plan index): their priced sum and how many have no
    /// price.
    pub(crate) fn estimate_of(&self, indices: &[usize]) -> crate::facts::cost::Estimate {
        crate::facts::cost::Estimate {
            shots: indices.len(),
            frames: distinct_frames(indices.iter().map(|&i| &self.shots[i])).len(),
            spend: indices.iter().filter_map(|&i| self.shots[i].estimate).sum::<Micros>()
                + distinct_frames(indices.iter().map(|&i| &self.shots[i]))
                    .iter()
                    .map(|f| f.estimate)
                    .sum(),
            unpriced: indices.iter().filter(|&&i| self.shots[i].estimate.is_none()).count(),
        }
    }

    /// What rendering these videos (by plan index) and these frame requests spends (the
    /// caller leaves out frames already kept).
    pub(crate) fn estimate_split(
        &self,
        videos: &[usize],
        frames: &[&frames::PlannedFrame],
    ) -> crate::facts::cost::Estimate {
        crate::facts::cost::Estimate {
            shots: videos.len(),
            frames: frames.len(),
            spend: videos.iter().filter_map(|&i| self.shots[i].estimate).sum::<Micros>()
                + frames.iter().map(|f| f.estimate).sum(),
            unpriced: videos.iter().filter(|&&i| self.shots[i].estimate.is_none()).count(),
        }
    }

    /// Sum of output seconds.
    pub(crate) fn seconds(&self) -> f64 {
        self.shots.iter().map(|s| s.seconds).sum()
    }

    /// The plan as the JSON document `plan --json` prints, serialized straight from the plan
    /// (nothing copied into an intermediate value).
    /// The `plan --json` document; `concurrency` is the resolved setting (flag, storyboard or
    /// default), which the plan itself does not decide.
    pub(crate) fn to_json(&self, concurrency: u32) -> PlanJson<'_> {
        let unpriced = self.unpriced();
        let total = self.total();
        PlanJson {
            version: 1,
            source: &self.source,
            title: &self.title,
            provider: self.provider,
            model: &self.family,
            output: &self.output,
            concurrency,
            total_usd: total,
            total_seconds: self.seconds(),
            unpriced,
            budget_usd: self.budget,
            within_budget: self.budget.map(|b| unpriced == 0 && total <= b),
            warnings: &self.warnings,
            voices_to_create: self.voices_to_create.iter().map(VoiceJson).collect(),
            shots: self.shots.iter().map(ShotJson).collect(),
        }
    }
}

/// The frames of these shots, each request once.
fn distinct_frames<'p>(shots: impl Iterator<Item = &'p PlannedShot>) -> Vec<&'p frames::PlannedFrame> {
    let mut seen = BTreeSet::new();
    shots
        .flat_map(|s| s.edge_frames().chain(&s.more_frames))
        .filter(|f| seen.insert(f.request_key.as_str()))
        .collect()
}

/// The document `plan --json` prints (its fields in this order).
#[derive(Serialize)]
pub(crate) struct PlanJson<'p> {
    version: u32,
    source: &'p str,
    title: &'p Option<String>,
    provider: ProviderKind,
    model: &'p str,
    output: &'p Utf8PathBuf,
    concurrency: u32,
    total_usd: Micros,
    total_seconds: f64,
    unpriced: usize,
    budget_usd: Option<Micros>,
    within_budget: Option<bool>,
    warnings: &'p [String],
    voices_to_create: Vec<VoiceJson<'p>>,
    shots: Vec<ShotJson<'p>>,
}

/// A voice to create, as `plan --json` shows it.
struct VoiceJson<'p>(&'p VoiceToCreate);

impl Serialize for VoiceJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let v = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("name", &v.name)?;
        m.serialize_entry("sample", &v.written)?;
        m.serialize_entry("sha256", &v.sha256)?;
        m.serialize_entry("estimated_usd", &())?;
        m.end()
    }
}

/// A shot as `plan --json` shows it.
struct ShotJson<'p>(&'p PlannedShot);

impl Serialize for ShotJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let s = self.0;
        let mut m = ser.serialize_map(Some(18))?;
        m.serialize_entry("id", &s.id)?;
        m.serialize_entry("provider", &s.provider)?;
        m.serialize_entry("endpoint", &s.endpoint)?;
        m.serialize_entry("version", &s.version)?;
        m.serialize_entry("kind", &s.kind)?;
        m.serialize_entry("input", &s.input)?;
        m.serialize_entry("seconds", &s.seconds)?;
        m.serialize_entry("audio", &s.audio)?;
        m.serialize_entry("voices", &s.voices)?;
        m.serialize_entry("images", &s.images)?;
        m.serialize_entry("estimated_usd", &s.estimate)?;
        m.serialize_entry("price_assumed", &s.price_assumed)?;
        m.serialize_entry("price_from", &s.price_from)?;
        let key = s.chain.is_empty().then_some(&s.request_key);
        m.serialize_entry("request_key", &key)?;
        let after: Vec<Value> = s
            .chain
            .iter()
            .map(|c| json!({"field": c.field, "shot": c.upstream, "at": c.at}))
            .collect();
        m.serialize_entry("after", &after)?;
        m.serialize_entry("take", &s.take)?;
        m.serialize_entry("model", &s.model)?;
        if let Some(f) = &s.frame {
            m.serialize_entry("frame", f)?;
        }
        if let Some(f) = &s.end_frame {
            m.serialize_entry("end_frame", f)?;
        }
        if !s.more_frames.is_empty() {
            m.serialize_entry("frame_takes", &s.more_frames)?;
        }
        m.end()
    }
}

/// Reads, expands, validates and prices a storyboard. Every problem is reported at once.
pub(crate) fn plan(src: &Source, overrides: &Overrides) -> Result<Plan, Vec<Problem>> {
    match storyboard::parse(src) {
        Ok(sb) => Planner::new(src, &sb, overrides).run(),
        Err(broken) => Err(with_value_problems(src, overrides, broken)),
    }
}

/// The structural problems, and the value problems of the parts that had none (found by
/// planning the repaired storyboard), so one run reports both.
fn with_value_problems(src: &Source, overrides: &Overrides, broken: storyboard::Broken) -> Vec<Problem> {
    let mut problems = broken.problems;
    let Some(sb) = &broken.repaired else {
        return problems;
    };
    let Err(found) = Planner::new(src, sb, overrides).run() else {
        return problems;
    };
    // A value problem about a key the repair dropped only echoes the structural one; so does
    // a missing prompt whose (misspelt or mistyped) key was dropped.
    let echoes = |p: &Problem| {
        broken.dropped.iter().any(|(spec, key)| {
            *spec == p.spec && (p.field.as_deref() == Some(key.as_str()) || p.message.starts_with("missing"))
        })
    };
    problems.extend(found.into_iter().filter(|p| !echoes(p)));
    problems
}

struct Planner<'a> {
    src: &'a Source,
    sb: &'a StoryboardFile,
    /// The command line's settings (`--provider`, prices, `--compare`).
    overrides: &'a Overrides,
    provider: ProviderKind,
    family: String,
    problems: Vec<Problem>,
    voice_names: BTreeSet<String>,
    /// The names under `cast:`.
    cast_names: BTreeSet<String>,
    /// The characters that passed their checks.
    cast: BTreeMap<String, cast::Character>,
    /// Sampled voices by name.
    samples: BTreeMap<String, VoiceToCreate>,
    file_hashes: HashMap<Utf8PathBuf, Result<String, Invalid>>,
}

/// The storyboard shot being planned, as every check of it needs it: where it is, how
/// problems name it, what it says, and in a shoot-out which model's take is being built.
#[derive(Clone, Copy)]
struct ShotCtx<'s> {
    /// `shots[i]`.
    i: usize,
    /// The shot as problems name it: its rendered id once known, else its `id:` as written,
    /// else `shots[i]`.
    name: &'s str,
    /// The shot as written.
    spec: &'s ShotSpec,
    /// In a shoot-out: the model of the take being built.
    shootout: Option<&'s Shootout>,
}

impl<'s> ShotCtx<'s> {
    /// The same shot named otherwise (by its rendered id).
    fn named<'n>(self, name: &'n str) -> ShotCtx<'n>
    where
        's: 'n,
    {
        ShotCtx { name, ..self }
    }
}

/// One take of a shoot-out: its model, its take number, and how many takes (models) there are.
struct Shootout {
    model: String,
    take: u32,
    of: u32,
}

impl<'a> Planner<'a> {
    fn new(src: &'a Source, sb: &'a StoryboardFile, overrides: &'a Overrides) -> Planner<'a> {
        Planner {
            src,
            sb,
            overrides,
            provider: overrides.provider.unwrap_or(ProviderKind::Fal),
            family: DEFAULT_FAMILY.to_owned(),
            problems: Vec::new(),
            voice_names: sb.voices.keys().cloned().collect(),
            cast_names: sb.cast.keys().cloned().collect(),
            cast: BTreeMap::new(),
            samples: BTreeMap::new(),
            file_hashes: HashMap::new(),
        }
    }

    fn top(&mut self, field: &str, message: impl Into<String>) {
        let msg = format!("`{field}`: {}", message.into());
        self.problems
            .push(Problem::in_file(&self.src.name, self.src.locate(field), msg));
    }

    /// A problem of the shot `at`, at its `field`.
    fn problem(&mut self, at: ShotCtx<'_>, field: &str, message: impl Into<String>) {
        self.shot_problem(at.i, at.name, field, message);
    }

    fn shot_problem(&mut self, spec: usize, shot: &str, field: &str, message: impl Into<String>) {
        let at = self.src.locate_in_shot(spec, field);
        let p = Problem::in_shot(&self.src.name, at, spec, shot, field, message);
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn run(mut self) -> Result<Plan, Vec<Problem>> {
        let budget = self.check_top();
        self.check_defaults(&self.sb.defaults);
        self.check_voices();
        self.check_cast();
        if self.sb.shots.is_empty() {
            self.top("shots", "the storyboard has no shots: add at least one under `shots:`");
        }

        let mut shots = self.expand_all();
        self.check_chains(&mut shots);
        self.check_unique_ids(&shots);
        self.check_total(&shots);
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(self.finish(shots, budget))
    }

    /// `version`, `provider`, `model` and `budget_usd`; the budget when valid.
    fn check_top(&mut self) -> Option<Micros> {
        let sb = self.sb;
        if let Some(v) = sb.version
            && v != 1
        {
            self.top(
                "version",
                format!("version {v} is not supported: this storyboard reads format version 1 (write `version: 1`)"),
            );
        }
        if let Some(p) = &sb.provider {
            match ProviderKind::parse(p) {
                Some(k) => self.provider = self.overrides.provider.unwrap_or(k),
                None => self.top("provider", format!("unknown provider `{p}` (allowed: fal, eachlabs)")),
            }
        }
        if let Some(m) = &sb.model {
            let fams = catalog::families();
            if fams.contains(&m.as_str()) {
                self.family = m.clone();
            } else {
                let hint = crate::problem::did_you_mean(m, fams.iter().copied());
                self.top(
                    "model",
                    format!(
                        "unknown model `{m}`{hint} (allowed: {}; see `storyboard models`)",
                        fams.join(", ")
                    ),
                );
            }
        }
        match sb.budget_usd {
            Some(b) => match Micros::from_usd(b) {
                Some(m) => Some(m),
                None => {
                    self.top(
                        "budget_usd",
                        format!("{b} is not an amount of dollars (write a number ≥ 0)"),
                    );
                    None
                }
            },
            None => None,
        }
    }

    /// Voices: ids not empty, samples usable.
    fn check_voices(&mut self) {
        let sb = self.sb;
        for (name, v) in &sb.voices {
            match v {
                VoiceSpec::Id(id) if id.trim().is_empty() => self.top(
                    &format!("voices.{name}"),
                    "the voice id is empty: write a Kling voice id or `{ sample: ./voice.wav }`",
                ),
                VoiceSpec::Id(_) => {}
                VoiceSpec::Sample(sample) => match self.check_sample(&sample.sample) {
                    Ok((path, sha256)) => {
                        self.samples.insert(
                            name.clone(),
                            VoiceToCreate {
                                name: name.clone(),
                                written: sample.sample.clone(),
                                path,
                                sha256,
                            },
                        );
                    }
                    Err(m) => self.top(&format!("voices.{name}"), format!("voice `{name}`: {m}")),
                },
            }
        }
    }

    /// Every shot expanded (matrix × takes), in storyboard order.
    fn expand_all(&mut self) -> Vec<PlannedShot> {
        let sb = self.sb;
        let total = self.expansion_size();
        if total > MAX_SHOTS {
            self.top(
                "shots",
                format!(
                    "the storyboard expands to {total} shots (matrix × takes); at most {MAX_SHOTS} are planned at once: split it into several storyboards"
                ),
            );
            return Vec::new();
        }
        let templates = Templates::new();
        let vars: BTreeMap<String, TValue> = sb
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), TValue::from(minijinja::value::Serde(v))))
            .collect();
        let mut ex = expand::Expansion {
            templates: &templates,
            names: template::Names {
                voices: std::rc::Rc::new(self.voice_names.clone()),
                cast: std::rc::Rc::new(self.cast_names.clone()),
            },
            vars: TValue::from(vars),
            out: Vec::with_capacity(sb.shots.len()),
        };
        for (i, spec) in sb.shots.iter().enumerate() {
            self.expand(&mut ex, i, spec);
        }
        ex.out
    }

    /// How many shots the storyboard expands to, counted before expanding (saturating).
    fn expansion_size(&self) -> u64 {
        self.sb
            .shots
            .iter()
            .map(|spec| {
                let combos = spec
                    .matrix
                    .values()
                    .map(|v| v.as_array().map_or(1, |l| l.len().max(1) as u64))
                    .fold(1u64, u64::saturating_mul);
                combos.saturating_mul(u64::from(spec.takes.unwrap_or(1).max(1)))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Ids must be unique after expansion, also ignoring case (`A.mp4` and `a.mp4` are one file
    /// on macOS and Windows).
    fn check_unique_ids(&mut self, shots: &[PlannedShot]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut folded: HashMap<String, &str> = HashMap::new();
        let mut dups = Vec::new();
        for s in shots {
            if let Some(prev) = seen.insert(&s.id, s.spec_index) {
                dups.push((s.spec_index, s.id.clone(), prev));
            } else if let Some(other) = folded.insert(s.id.to_lowercase(), &s.id) {
                let msg = format!(
                    "`{}` and `{other}` differ only by case: their clips would be one file on macOS and Windows; choose ids that differ in more than case",
                    s.id
                );
                self.shot_problem(s.spec_index, &s.id.clone(), "id", msg);
            }
        }
        for (spec, id, prev) in dups {
            self.shot_problem(
                spec,
                &id,
                "id",
                format!(
                    "duplicate id after expansion (also produced by shots[{prev}]): make ids unique, e.g. put the matrix variables in the id (`id: \"{id}-{{{{ var }}}}\"`)"
                ),
            );
        }
    }

    /// The plan's estimate (shots and frames) within [`crate::facts::cost::MAX_TOTAL`], so no
    /// later sum of it (a selection, a redo, the manifest's total) can wrap or saturate; over it
    /// is a problem naming the dearest shots, their endpoints and price sources.
    fn check_total(&mut self, shots: &[PlannedShot]) {
        let frames = distinct_frames(shots.iter()).into_iter().map(|f| f.estimate);
        if Micros::checked_sum(shots.iter().filter_map(|s| s.estimate).chain(frames)).is_some() {
            return;
        }
        let mut dear: Vec<&PlannedShot> = shots.iter().filter(|s| s.estimate.is_some()).collect();
        dear.sort_by_key(|s| std::cmp::Reverse(s.estimate));
        let named: Vec<String> = dear
            .iter()
            .take(3)
            .map(|s| {
                let each = s.estimate.unwrap_or_default();
                format!("`{}` {each} on {} (price: {})", s.id, s.endpoint, s.price_from)
            })
            .collect();
        self.top(
            "shots",
            format!(
                "the estimate overflows: the shots add up to more than {} (the most a plan can sum), so no total is made and nothing is sent; the dearest: {}. Check their `price_usd`, `takes` and the price source",
                crate::facts::cost::MAX_TOTAL,
                named.join(", ")
            ),
        );
    }

    /// The plan of a storyboard without problems.
    fn finish(self, shots: Vec<PlannedShot>, budget: Option<Micros>) -> Plan {
        let sb = self.sb;
        let mut warnings = Vec::new();
        let mut keys: HashMap<&str, &str> = HashMap::new();
        for s in &shots {
            if let Some(first) = keys.insert(&s.request_key, &s.id) {
                warnings.push(format!(
                    "shots `{first}` and `{}` send the same request: it is rendered once and the clip copied",
                    s.id
                ));
            }
        }
        let output = match &sb.output {
            Some(o) if o.is_absolute() => o.clone(),
            Some(o) => without_dots(&self.src.dir.join(o)),
            None => self.src.dir.join("renders").join(&self.src.stem),
        };
        Plan {
            source: self.src.name.clone(),
            title: sb.title.clone(),
            provider: self.provider,
            family: self.family.clone(),
            concurrency: sb.concurrency,
            budget,
            store: sb.store.clone(),
            approve_frames: sb.approve.is_some(),
            output,
            shots,
            warnings,
            voices_to_create: self.samples.values().cloned().collect(),
            price_note: self.overrides.prices.note(),
            frontals: self.frontals(),
        }
    }
}

/// A path without its `.` components (`examples/./renders` → `examples/renders`), as messages
/// print it; `..` is kept (a link may stand before it).
fn without_dots(path: &camino::Utf8Path) -> Utf8PathBuf {
    let kept: Utf8PathBuf = path
        .components()
        .filter(|c| !matches!(c, camino::Utf8Component::CurDir))
        .collect();
    if kept.as_str().is_empty() {
        Utf8PathBuf::from(".")
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::without_dots;
    use camino::Utf8Path;

    #[test]
    fn an_output_folder_is_printed_without_dot_components() {
        let clean = |p: &str| without_dots(Utf8Path::new(p)).to_string();
        assert_eq!(clean("examples/./renders/ad"), "examples/renders/ad");
        assert_eq!(clean("./renders"), "renders");
        assert_eq!(clean("."), ".");
        assert_eq!(clean("a/../b"), "a/../b", "`..` is kept");
        assert_eq!(clean("/abs/./x"), "/abs/x");
    }
}
