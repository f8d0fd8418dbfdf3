//! The planner: a storyboard expanded into concrete, validated, priced requests.
//! No network, no files written.

pub mod template;

use camino::{Utf8Path, Utf8PathBuf};
use minijinja::Value as TValue;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::{self, Endpoint, Kind, ProviderKind};
use crate::cost::Micros;
use crate::digest::{sha256_file, sha256_hex};
use crate::problem::Problem;
use crate::storyboard::{self, Duration, ImageSpec, Motion, Params, ShotSpec, Source, StoryboardFile, VoiceSpec};
use template::{MAX_VOICES, Templates};

/// The default model family.
pub const DEFAULT_FAMILY: &str = "kling-v2.6-pro";
/// The default number of shots in flight.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// Image inputs: extensions and the largest size (protocol.md §2: Kling images ≤ 10 MB).
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];
const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Reference videos for motion control: mp4/mov, ≤ 100 MB (protocol.md §2).
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov"];
const VIDEO_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Voice samples for `create-voice` (protocol.md §3: ".mp3/.wav audio or .mp4/.mov video").
const SAMPLE_EXTENSIONS: &[&str] = &["wav", "mp3", "m4a", "mp4", "mov"];

/// Settings a command line may override before planning.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--provider`.
    pub provider: Option<ProviderKind>,
}

/// A whole plan: every shot resolved into the exact request `render` will send.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the storyboard came from (as named in messages).
    pub source: String,
    /// The storyboard's title.
    pub title: Option<String>,
    /// The provider every shot goes to.
    pub provider: ProviderKind,
    /// The model family.
    pub family: String,
    /// Shots in flight at once (from the storyboard, before `--concurrency`).
    pub concurrency: u32,
    /// The storyboard's budget.
    pub budget: Option<Micros>,
    /// The output folder (resolved against the storyboard's folder).
    pub output: Utf8PathBuf,
    /// The shots in storyboard order.
    pub shots: Vec<PlannedShot>,
    /// Things worth knowing that are not errors.
    pub warnings: Vec<String>,
    /// Voices to create from samples (fal `create-voice`; no list price).
    pub voices_to_create: Vec<VoiceToCreate>,
}

/// A voice given as a sample: created once, remembered by the sample's content hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceToCreate {
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
pub struct Chain {
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
pub struct Subst {
    /// Body field.
    pub field: String,
    /// Index within a list field (`voice_ids`).
    pub index: Option<usize>,
    /// The value used for the key.
    pub value: String,
}

/// A local file a request refers to; uploaded before the request is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalFile {
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
pub struct PlannedShot {
    /// The expanded id (also the clip's file name without `.mp4`).
    pub id: String,
    /// `shots[i]` this came from.
    pub spec_index: usize,
    /// Take number (1-based) when the shot has `takes`.
    pub take: Option<u32>,
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
    /// Sampled voices in `voice_ids`: (index, voice name).
    pub voice_samples: Vec<(usize, String)>,
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
    /// The cache key: sha256 of provider + endpoint + input + take (local files by content).
    pub request_key: String,
}

impl PlannedShot {
    /// The cache key once the upstream clips are known: each chained frame stands for the
    /// upstream clip's sha256 (and where in it), so re-rendering the upstream re-renders this.
    pub fn key_with_upstream(&self, upstream_sha: &[String]) -> String {
        let mut substs = self.substs.clone();
        for (c, sha) in self.chain.iter().zip(upstream_sha) {
            let at = c.at.map_or("last".to_owned(), |t| format!("{t}"));
            substs.push(Subst {
                field: c.field.clone(),
                index: None,
                value: format!("frame:{at}:sha256:{sha}"),
            });
        }
        request_key(self.provider, &self.endpoint, &self.input, &substs, self.take)
    }
}

impl Plan {
    /// Sum of the priced shots.
    pub fn total(&self) -> Micros {
        self.shots.iter().filter_map(|s| s.estimate).sum()
    }

    /// How many shots have no price.
    pub fn unpriced(&self) -> usize {
        self.shots.iter().filter(|s| s.estimate.is_none()).count()
    }

    /// Sum of output seconds.
    pub fn seconds(&self) -> f64 {
        self.shots.iter().map(|s| s.seconds).sum()
    }

    /// The plan as the JSON document `plan --json` prints (DESIGN §3).
    pub fn to_json(&self) -> Value {
        json!({
            "version": 1,
            "source": self.source,
            "title": self.title,
            "provider": self.provider,
            "model": self.family,
            "output": self.output,
            "concurrency": self.concurrency,
            "total_usd": self.total(),
            "total_seconds": self.seconds(),
            "unpriced": self.unpriced(),
            "budget_usd": self.budget,
            "within_budget": self.budget.map(|b| self.unpriced() == 0 && self.total() <= b),
            "warnings": self.warnings,
            "voices_to_create": self.voices_to_create.iter().map(|v| json!({
                "name": v.name, "sample": v.written, "sha256": v.sha256, "estimated_usd": null,
            })).collect::<Vec<_>>(),
            "shots": self.shots.iter().map(|s| json!({
                "id": s.id,
                "provider": s.provider,
                "endpoint": s.endpoint,
                "version": s.version,
                "kind": s.kind,
                "input": s.input,
                "seconds": s.seconds,
                "audio": s.audio,
                "voices": s.voices,
                "images": s.images,
                "estimated_usd": s.estimate,
                "price_assumed": s.price_assumed,
                "request_key": if s.chain.is_empty() { json!(s.request_key) } else { Value::Null },
                "after": s.chain.iter().map(|c| json!({"field": c.field, "shot": c.upstream, "at": c.at})).collect::<Vec<_>>(),
                "take": s.take,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Reads, expands, validates and prices a storyboard. Every problem is reported at once.
pub fn plan(src: &Source, overrides: &Overrides) -> Result<Plan, Vec<Problem>> {
    let sb = storyboard::parse(src)?;
    Planner::new(src, &sb, overrides).run()
}

struct Planner<'a> {
    src: &'a Source,
    sb: &'a StoryboardFile,
    provider: ProviderKind,
    cli_provider: Option<ProviderKind>,
    family: String,
    problems: Vec<Problem>,
    voice_names: BTreeSet<String>,
    /// Sampled voices by name.
    samples: BTreeMap<String, VoiceToCreate>,
    /// Chained references to check once every id is known: (shot index in the plan, spec, field, upstream, at).
    refs: Vec<(usize, usize, String, String, Option<f64>)>,
    /// Index the next built shot will have in the plan.
    next_index: usize,
    file_hashes: HashMap<Utf8PathBuf, Result<String, String>>,
}

/// Where a parameter's value came from: the shot itself is strict, `defaults` is skipped
/// for endpoints that do not take the parameter.
#[derive(Clone, Copy, PartialEq)]
enum From {
    Shot,
    Defaults,
}

impl<'a> Planner<'a> {
    fn new(src: &'a Source, sb: &'a StoryboardFile, overrides: &Overrides) -> Planner<'a> {
        Planner {
            src,
            sb,
            provider: overrides.provider.unwrap_or(ProviderKind::Fal),
            cli_provider: overrides.provider,
            family: DEFAULT_FAMILY.to_owned(),
            problems: Vec::new(),
            voice_names: sb.voices.keys().cloned().collect(),
            samples: BTreeMap::new(),
            refs: Vec::new(),
            next_index: 0,
            file_hashes: HashMap::new(),
        }
    }

    fn top(&mut self, field: &str, message: impl Into<String>) {
        let msg = format!("`{field}`: {}", message.into());
        self.problems
            .push(Problem::in_file(&self.src.name, self.top_line(field), msg));
    }

    fn top_line(&self, field: &str) -> Option<(usize, usize)> {
        let key = field.split('.').next().unwrap_or(field);
        self.src
            .text
            .lines()
            .position(|l| l.starts_with(&format!("{key}:")))
            .map(|i| (i + 1, 1))
    }

    fn shot_problem(&mut self, spec: usize, shot: &str, field: &str, message: impl Into<String>) {
        let line = storyboard::shot_line(&self.src.text, spec);
        let p = Problem::in_shot(&self.src.name, line, shot, field, message);
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn run(mut self) -> Result<Plan, Vec<Problem>> {
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
                Some(k) => self.provider = self.cli_provider.unwrap_or(k),
                None => self.top("provider", format!("unknown provider `{p}` (allowed: fal, eachlabs)")),
            }
        }
        if let Some(m) = &sb.model {
            let fams = catalog::families();
            if fams.contains(&m.as_str()) {
                self.family = m.clone();
            } else {
                let hint = crate::problem::closest(m, fams.iter().copied())
                    .map(|c| format!(" — did you mean `{c}`?"))
                    .unwrap_or_default();
                self.top(
                    "model",
                    format!(
                        "unknown model `{m}`{hint} (allowed: {}; see `storyboard models`)",
                        fams.join(", ")
                    ),
                );
            }
        }
        if sb.concurrency == Some(0) {
            self.top("concurrency", "must be at least 1");
        }
        let budget = match sb.budget_usd {
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
        };
        self.check_defaults(&sb.defaults);
        for (name, v) in &sb.voices {
            match v {
                VoiceSpec::Id(id) if id.trim().is_empty() => {
                    self.top("voices", format!("voice `{name}` has an empty voice id"))
                }
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
                    Err(m) => self.top("voices", format!("voice `{name}`: {m}")),
                },
            }
        }
        if sb.shots.is_empty() {
            self.top("shots", "the storyboard has no shots: add at least one under `shots:`");
        }

        let mut templates = Templates::new();
        let mut shots = Vec::with_capacity(sb.shots.len());
        let vars: BTreeMap<String, TValue> = sb
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), TValue::from(minijinja::value::Serde(v))))
            .collect();
        for (i, spec) in sb.shots.iter().enumerate() {
            self.expand(&mut templates, &vars, i, spec, &mut shots);
        }

        self.check_chains(&mut shots);

        // Ids must be unique after expansion.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut dups = Vec::new();
        for s in &shots {
            if let Some(prev) = seen.insert(&s.id, s.spec_index) {
                dups.push((s.spec_index, s.id.clone(), prev));
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

        if !self.problems.is_empty() {
            return Err(self.problems);
        }

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
            Some(o) => self.src.dir.join(o),
            None => self.src.dir.join("renders").join(&self.src.stem),
        };
        Ok(Plan {
            source: self.src.name.clone(),
            title: sb.title.clone(),
            provider: self.provider,
            family: self.family.clone(),
            concurrency: sb.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
            budget,
            output,
            shots,
            warnings,
            voices_to_create: self.samples.values().cloned().collect(),
        })
    }

    /// A voice sample: exists, wav/mp3/m4a (or mp4/mov), not empty, 5–30 s when ffprobe is
    /// installed. Returns the resolved path and its sha256.
    fn check_sample(&mut self, written: &str) -> Result<(Utf8PathBuf, String), String> {
        let path = if Utf8Path::new(written).is_absolute() {
            Utf8PathBuf::from(written)
        } else {
            self.src.dir.join(written)
        };
        let ext = path.extension().map(str::to_ascii_lowercase).unwrap_or_default();
        if !SAMPLE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(format!(
                "sample `{written}` must be {} (got `.{ext}`)",
                SAMPLE_EXTENSIONS.join("/")
            ));
        }
        let meta = std::fs::metadata(&path).map_err(|_| {
            format!(
                "sample `{written}` does not exist (looked for {path}); paths are relative to the storyboard's folder"
            )
        })?;
        if !meta.is_file() || meta.len() == 0 {
            return Err(format!("sample `{written}` is empty or not a regular file"));
        }
        if let Some(secs) = crate::media::probe_duration(&path)
            && !(5.0..=30.0).contains(&secs)
        {
            return Err(format!(
                "sample `{written}` is {secs:.1} s long; Kling needs 5–30 s of clean speech"
            ));
        }
        let sha = sha256_file(&path).map_err(|e| format!("cannot read `{written}`: {e}"))?;
        Ok((path, sha))
    }

    /// Chained frames: every reference names one existing shot, not itself, with no cycles.
    fn check_chains(&mut self, shots: &mut [PlannedShot]) {
        let index: HashMap<String, usize> = shots.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        for shot in shots.iter_mut() {
            for c in &mut shot.chain {
                c.upstream_index = index.get(&c.upstream).copied().unwrap_or(usize::MAX);
            }
        }
        let shots: &[PlannedShot] = shots;
        let refs = std::mem::take(&mut self.refs);
        let mut ok = true;
        for (at_shot, spec, field, upstream, at) in &refs {
            let me = &shots[*at_shot].id;
            let field = field.as_str();
            match index.get(upstream.as_str()) {
                Some(&u) if shots[u].id == *me => {
                    ok = false;
                    self.shot_problem(
                        *spec,
                        me,
                        field,
                        format!("`{upstream}` is this shot itself: a shot cannot start from its own clip"),
                    );
                }
                Some(&u) => {
                    if let Some(t) = at
                        && (*t < 0.0 || *t > shots[u].seconds)
                    {
                        ok = false;
                        self.shot_problem(
                            *spec,
                            me,
                            field,
                            format!("at {t} s is outside `{upstream}` (0–{} s)", shots[u].seconds),
                        );
                    }
                }
                None => {
                    ok = false;
                    let family: Vec<&str> = shots
                        .iter()
                        .filter(|s| {
                            self.sb.shots[s.spec_index].id.as_deref() == Some(upstream.as_str())
                                || s.id.starts_with(&format!("{upstream}-"))
                        })
                        .map(|s| s.id.as_str())
                        .collect();
                    let msg = if family.len() > 1 {
                        format!(
                            "`{upstream}` expands to several shots ({}): name one of them, e.g. `after: {}`",
                            family.join(", "),
                            family[0]
                        )
                    } else {
                        let ids: Vec<&str> = shots.iter().map(|s| s.id.as_str()).collect();
                        let hint = crate::problem::closest(upstream, ids.iter().copied())
                            .map(|c| format!(" — did you mean `{c}`?"))
                            .unwrap_or_default();
                        format!("no shot `{upstream}`{hint}")
                    };
                    self.shot_problem(*spec, me, field, msg);
                }
            }
        }
        if !ok {
            return;
        }
        // Cycles: depth-first search over the references.
        let deps: Vec<Vec<usize>> = shots
            .iter()
            .map(|s| {
                s.chain
                    .iter()
                    .filter_map(|c| index.get(c.upstream.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut state = vec![0u8; shots.len()];
        let mut stack = Vec::new();
        fn visit(n: usize, deps: &[Vec<usize>], state: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
            state[n] = 1;
            stack.push(n);
            for &d in &deps[n] {
                if state[d] == 1 {
                    let from = stack.iter().position(|&x| x == d).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                if state[d] == 0
                    && let Some(c) = visit(d, deps, state, stack)
                {
                    return Some(c);
                }
            }
            stack.pop();
            state[n] = 2;
            None
        }
        for n in 0..shots.len() {
            if state[n] == 0
                && let Some(cycle) = visit(n, &deps, &mut state, &mut stack)
            {
                let names: Vec<&str> = cycle.iter().map(|&i| shots[i].id.as_str()).collect();
                let first = &shots[cycle[0]];
                let field = first
                    .chain
                    .first()
                    .map_or("start_image", |c| c.shot_field.as_str())
                    .to_owned();
                self.shot_problem(
                    first.spec_index,
                    &first.id,
                    &field,
                    format!("the shots wait on each other in a cycle: {}", names.join(" → ")),
                );
                return;
            }
        }
    }

    fn check_defaults(&mut self, d: &Params) {
        if let Some(dur) = &d.duration
            && let Err(m) = parse_duration(dur)
        {
            self.top("defaults.duration", m);
        }
        if let Some(ar) = &d.aspect_ratio
            && let Err(m) = check_aspect(ar)
        {
            self.top("defaults.aspect_ratio", m);
        }
        if let Some(c) = d.cfg_scale
            && let Err(m) = check_cfg(c)
        {
            self.top("defaults.cfg_scale", m);
        }
    }

    fn expand(
        &mut self,
        templates: &mut Templates<'a>,
        vars: &BTreeMap<String, TValue>,
        i: usize,
        spec: &'a ShotSpec,
        out: &mut Vec<PlannedShot>,
    ) {
        let name = spec.id.clone().unwrap_or_else(|| format!("shots[{i}]"));
        let before = self.problems.len();

        // Matrix: every value a non-empty list; cartesian product in declaration order.
        let mut axes: Vec<(&str, &Vec<Value>)> = Vec::new();
        for (k, v) in &spec.matrix {
            match v.as_array() {
                Some(list) if !list.is_empty() => axes.push((k, list)),
                Some(_) => self.shot_problem(
                    i,
                    &name,
                    &format!("matrix.{k}"),
                    "the list is empty: give at least one value",
                ),
                None => self.shot_problem(
                    i,
                    &name,
                    &format!("matrix.{k}"),
                    format!("must be a list of values, e.g. `{k}: [a, b]` (got {})", kind_of(v)),
                ),
            }
        }
        if spec.takes == Some(0) {
            self.shot_problem(i, &name, "takes", "must be at least 1");
        }

        // Templates: compile and find every undefined variable once per shot.
        let mut known: BTreeSet<String> = self.sb.vars.keys().cloned().collect();
        known.extend(spec.matrix.keys().cloned());
        known.insert("shot".into());
        let id_tmpl = match &spec.id {
            Some(src) => self.compile(templates, "id", src, &known, i, &name),
            None => None,
        };
        let prompt_tmpl = match &spec.prompt {
            Some(src) => self.compile(templates, "prompt", src, &known, i, &name),
            None => {
                if spec.motion.is_none() {
                    self.shot_problem(
                        i,
                        &name,
                        "prompt",
                        "missing: every shot needs a prompt (motion-control shots may omit it)",
                    );
                }
                None
            }
        };
        for v in &spec.voices {
            if !self.voice_names.contains(v) {
                self.unknown_voice(i, &name, v);
            }
        }

        let resolved = self.resolve(i, &name, spec);
        if self.problems.len() > before {
            return;
        }
        let Some(resolved) = resolved else { return };

        let combos = cartesian(&axes);
        let takes = spec.takes.unwrap_or(1).max(1);
        for (c, combo) in combos.iter().enumerate() {
            let mut ctx = vars.clone();
            for (k, v) in combo {
                ctx.insert((*k).to_owned(), TValue::from(minijinja::value::Serde(v)));
            }
            for take in 1..=takes {
                let index = out.len();
                ctx.insert(
                    "shot".into(),
                    TValue::from(minijinja::value::Serde(json!({ "index": index }))),
                );
                let base = match &id_tmpl {
                    Some(t) => match templates.render(t, &ctx, &self.voice_names, &[]) {
                        Ok((text, _)) => text.trim().to_owned(),
                        Err(e) => {
                            self.template_problem(i, &name, "id", &e);
                            continue;
                        }
                    },
                    None if combos.len() > 1 => format!("shot-{}-{}", i + 1, c + 1),
                    None => format!("shot-{}", i + 1),
                };
                let id = if takes > 1 { format!("{base}-take{take}") } else { base };
                if let Err(m) = check_id(&id) {
                    self.shot_problem(i, &id, "id", m);
                    continue;
                }
                ctx.insert(
                    "shot".into(),
                    TValue::from(minijinja::value::Serde(json!({ "index": index, "id": id }))),
                );
                let (prompt, voices) = match &prompt_tmpl {
                    Some(t) => match templates.render(t, &ctx, &self.voice_names, &spec.voices) {
                        Ok((text, voices)) => (Some(text), voices),
                        Err(e) => {
                            self.template_problem(i, &id, "prompt", &e);
                            continue;
                        }
                    },
                    None => (None, spec.voices.clone()),
                };
                if let Some(shot) = self.build(i, &id, spec, &resolved, prompt, voices, take, takes) {
                    out.push(shot);
                }
            }
        }
    }

    /// Compiles a shot's template as `<field><i>`; its name, when it has no problems.
    #[allow(clippy::too_many_arguments)]
    fn compile(
        &mut self,
        templates: &mut Templates<'a>,
        field: &'static str,
        src: &'a str,
        known: &BTreeSet<String>,
        i: usize,
        name: &str,
    ) -> Option<String> {
        let tname = format!("{field}{i}");
        match templates.compile(tname.clone(), src) {
            Ok(()) => {
                let missing = templates.check(&tname, known);
                for e in &missing {
                    self.template_problem(i, name, field, e);
                }
                missing.is_empty().then_some(tname)
            }
            Err(e) => {
                self.template_problem(i, name, field, &e);
                None
            }
        }
    }

    fn template_problem(&mut self, i: usize, shot: &str, field: &str, e: &template::TemplateError) {
        let at = e.line.map(|l| format!(" (template line {l})")).unwrap_or_default();
        let mut msg = format!("{}{at}", e.message);
        if e.message.starts_with("undefined variable") {
            let mut names: Vec<&str> = self.sb.vars.keys().map(String::as_str).collect();
            names.extend(self.sb.shots[i].matrix.keys().map(String::as_str));
            msg.push_str(&format!(
                "; define it under `vars:` or the shot's `matrix:` (defined: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        self.shot_problem(i, shot, field, msg);
    }

    fn unknown_voice(&mut self, i: usize, shot: &str, v: &str) {
        let names: Vec<&str> = self.voice_names.iter().map(String::as_str).collect();
        let hint = crate::problem::closest(v, names.iter().copied())
            .map(|c| format!(" — did you mean `{c}`?"))
            .unwrap_or_default();
        self.shot_problem(
            i,
            shot,
            "voices",
            format!(
                "unknown voice `{v}`{hint}; define it under `voices:` (defined: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
    }

    /// Everything about a shot that does not depend on its matrix values: the endpoint and
    /// the parameters. Reports problems; `None` when the shot cannot be resolved.
    fn resolve(&mut self, i: usize, name: &str, spec: &ShotSpec) -> Option<Resolved> {
        let d = &self.sb.defaults;
        let s = &spec.params();
        let kind = if spec.motion.is_some() {
            Kind::MotionControl
        } else if spec.start_image.is_some() {
            Kind::ImageToVideo
        } else {
            Kind::TextToVideo
        };
        if spec.end_image.is_some() && spec.start_image.is_none() {
            self.shot_problem(
                i,
                name,
                "end_image",
                "an end image needs a start image: add `start_image:` (image-to-video), or remove `end_image`",
            );
        }
        if spec.motion.is_some() && (spec.start_image.is_some() || spec.end_image.is_some()) {
            self.shot_problem(
                i,
                name,
                "motion",
                "a motion-control shot takes its image from `motion.image`: remove `start_image`/`end_image`",
            );
        }

        let endpoint: EndpointChoice = match &spec.endpoint {
            Some(id) => match catalog::by_id(self.provider, id) {
                Some(e) if e.kind == kind => EndpointChoice::Known(e),
                Some(e) => {
                    self.shot_problem(
                        i,
                        name,
                        "endpoint",
                        format!(
                            "`{id}` is a {} endpoint, but the shot's inputs make it {}",
                            e.kind.name(),
                            kind.name()
                        ),
                    );
                    return None;
                }
                None => {
                    if spec.price_usd.is_none() {
                        self.shot_problem(
                            i,
                            name,
                            "price_usd",
                            format!("endpoint `{id}` is not in the catalog, so its price is unknown: add `price_usd:` (the price of one render)"),
                        );
                    }
                    if spec.start_image.is_some() || spec.end_image.is_some() || spec.motion.is_some() {
                        self.shot_problem(i, name, "endpoint", format!("endpoint `{id}` is not in the catalog, so storyboard does not know its image fields: pass them under `params:`"));
                    }
                    EndpointChoice::Raw(id.clone())
                }
            },
            None => match catalog::select(&self.family, self.provider, kind) {
                Some(e) => EndpointChoice::Known(e),
                None => {
                    let field = match kind {
                        Kind::MotionControl => "motion",
                        Kind::ImageToVideo => "start_image",
                        Kind::TextToVideo => "model",
                    };
                    let advice = if self.provider == ProviderKind::Eachlabs {
                        format!(
                            "Eachlabs has no {} model in the catalog: use `provider: fal` for this storyboard",
                            kind.name()
                        )
                    } else {
                        let fams: Vec<&str> = catalog::CATALOG
                            .iter()
                            .filter(|e| e.provider == self.provider && e.kind == kind)
                            .map(|e| e.family)
                            .collect();
                        format!(
                            "model `{}` has no {} endpoint (models that do: {})",
                            self.family,
                            kind.name(),
                            fams.join(", ")
                        )
                    };
                    self.shot_problem(i, name, field, advice);
                    return None;
                }
            },
        };

        let ep = match endpoint {
            EndpointChoice::Known(e) => e,
            EndpointChoice::Raw(id) => {
                let seconds = match pick(&s.duration, &d.duration) {
                    Some((v, _)) => parse_duration(v).unwrap_or(catalog::DEFAULT_DURATION) as f64,
                    None => catalog::DEFAULT_DURATION as f64,
                };
                return Some(Resolved {
                    endpoint: None,
                    raw_id: Some(id),
                    chain: Vec::new(),
                    body: Map::new(),
                    seconds,
                    audio: false,
                    images: 0,
                    local: Vec::new(),
                });
            }
        };

        let mut body = Map::new();
        let mut local = Vec::new();
        let mut images = 0;
        let check = |this: &mut Self, field: &str, taken: bool, set: Option<From>, why: &str| -> bool {
            match (taken, set) {
                (true, _) => true,
                (false, Some(From::Shot)) => {
                    this.shot_problem(
                        i,
                        name,
                        field,
                        format!(
                            "{} ({}) does not take `{field}`{why}: remove it from the shot",
                            ep.kind.name(),
                            ep.id
                        ),
                    );
                    false
                }
                _ => false,
            }
        };

        // duration / negative_prompt: every endpoint but motion control.
        let dur = pick(&s.duration, &d.duration);
        let mut seconds = catalog::DEFAULT_DURATION as f64;
        if check(
            self,
            "duration",
            ep.takes_duration(),
            dur.map(|x| x.1),
            "; the output follows the reference video",
        ) {
            let n = match dur {
                Some((v, from)) => match parse_duration(v) {
                    Ok(n) => n,
                    Err(m) => {
                        if from == From::Shot {
                            self.shot_problem(i, name, "duration", m);
                        }
                        catalog::DEFAULT_DURATION
                    }
                },
                None => catalog::DEFAULT_DURATION,
            };
            seconds = n as f64;
            body.insert("duration".into(), json!(n.to_string()));
        }
        let ar = pick(&s.aspect_ratio, &d.aspect_ratio);
        if check(
            self,
            "aspect_ratio",
            ep.aspect_ratio,
            ar.map(|x| x.1),
            "; the frame follows the image",
        ) {
            let v = ar.map_or(catalog::DEFAULT_ASPECT_RATIO, |x| x.0.as_str());
            if let Err(m) = check_aspect(v)
                && ar.is_some_and(|x| x.1 == From::Shot)
            {
                self.shot_problem(i, name, "aspect_ratio", m);
            }
            body.insert("aspect_ratio".into(), json!(v));
        }
        let neg = pick(&s.negative_prompt, &d.negative_prompt);
        if check(self, "negative_prompt", ep.takes_duration(), neg.map(|x| x.1), "") {
            body.insert(
                "negative_prompt".into(),
                json!(neg.map_or(catalog::DEFAULT_NEGATIVE_PROMPT, |x| x.0.as_str())),
            );
        }
        let cfg = pick(&s.cfg_scale, &d.cfg_scale);
        if check(self, "cfg_scale", ep.cfg_scale, cfg.map(|x| x.1), "") {
            let v = cfg.map_or(catalog::DEFAULT_CFG_SCALE, |x| *x.0);
            if let Err(m) = check_cfg(v)
                && cfg.is_some_and(|x| x.1 == From::Shot)
            {
                self.shot_problem(i, name, "cfg_scale", m);
            }
            body.insert("cfg_scale".into(), json!(v));
        }
        let audio_set = pick(&s.generate_audio, &d.generate_audio);
        let mut audio = false;
        if check(
            self,
            "generate_audio",
            ep.generate_audio,
            audio_set.map(|x| x.1),
            " (it makes no audio)",
        ) {
            audio = audio_set.is_none_or(|x| *x.0);
            body.insert("generate_audio".into(), json!(audio));
        }

        // Images.
        let mut chain = Vec::new();
        if let (Some(img), Some(field)) = (&spec.start_image, ep.start_image_field) {
            images += 1;
            self.image(i, name, "start_image", field, img, &mut body, &mut local, &mut chain);
        }
        if let Some(img) = &spec.end_image {
            match ep.end_image_field {
                Some(field) if spec.start_image.is_some() => {
                    images += 1;
                    self.image(i, name, "end_image", field, img, &mut body, &mut local, &mut chain);
                }
                _ => {}
            }
        }
        if let Some(m) = &spec.motion {
            seconds = self.motion(i, name, m, &mut body, &mut local);
            images += 1;
            audio = m.keep_original_sound.unwrap_or(true);
        }
        Some(Resolved {
            endpoint: Some(ep),
            raw_id: None,
            chain,
            body,
            seconds,
            audio,
            images,
            local,
        })
    }

    fn motion(
        &mut self,
        i: usize,
        name: &str,
        m: &Motion,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
    ) -> f64 {
        self.media(
            i,
            name,
            "motion.image",
            "image_url",
            &m.image,
            Media::Image,
            body,
            local,
        );
        self.media(
            i,
            name,
            "motion.video",
            "video_url",
            &m.video,
            Media::Video,
            body,
            local,
        );
        if !catalog::ORIENTATIONS.contains(&m.orientation.as_str()) {
            self.shot_problem(
                i,
                name,
                "motion.orientation",
                format!("`{}` is not allowed (allowed: image, video)", m.orientation),
            );
        }
        body.insert("character_orientation".into(), json!(m.orientation));
        body.insert(
            "keep_original_sound".into(),
            json!(m.keep_original_sound.unwrap_or(true)),
        );
        let max = catalog::motion_max_seconds(&m.orientation);
        match m.seconds {
            Some(s) if !(3.0..=max).contains(&s) => {
                self.shot_problem(
                    i,
                    name,
                    "motion.seconds",
                    format!(
                        "{s} s is outside 3–{max} s, the reference video length Kling accepts with orientation `{}`",
                        m.orientation
                    ),
                );
                max
            }
            Some(s) => s.ceil(),
            None => max,
        }
    }

    /// An image input: a URL or local file, or a frame of another shot (checked once all ids are known).
    #[allow(clippy::too_many_arguments)]
    fn image(
        &mut self,
        i: usize,
        name: &str,
        field: &str,
        body_field: &str,
        value: &ImageSpec,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
        chain: &mut Vec<Chain>,
    ) {
        let (upstream, at) = match value {
            ImageSpec::Source(s) => return self.media(i, name, field, body_field, s, Media::Image, body, local),
            ImageSpec::After(a) => (a.after.clone(), None),
            ImageSpec::FrameOf(f) => (f.frame_of.clone(), Some(f.at)),
        };
        let shown = match at {
            None => format!("<last frame of {upstream}>"),
            Some(t) => format!("<frame of {upstream} at {t} s>"),
        };
        body.insert(body_field.into(), json!(shown));
        chain.push(Chain {
            field: body_field.to_owned(),
            shot_field: field.to_owned(),
            upstream,
            upstream_index: usize::MAX,
            at,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn media(
        &mut self,
        i: usize,
        name: &str,
        field: &str,
        body_field: &str,
        value: &str,
        media: Media,
        body: &mut Map<String, Value>,
        local: &mut Vec<LocalFile>,
    ) {
        body.insert(body_field.into(), json!(value));
        if let Some(scheme) = url_scheme(value) {
            if scheme != "http" && scheme != "https" {
                self.shot_problem(
                    i,
                    name,
                    field,
                    format!("`{value}`: only http(s) URLs or local paths are allowed (got a `{scheme}:` URL)"),
                );
            }
            return;
        }
        let path = if Utf8Path::new(value).is_absolute() {
            Utf8PathBuf::from(value)
        } else {
            self.src.dir.join(value)
        };
        let (exts, max, what) = match media {
            Media::Image => (IMAGE_EXTENSIONS, IMAGE_MAX_BYTES, "image"),
            Media::Video => (VIDEO_EXTENSIONS, VIDEO_MAX_BYTES, "video"),
        };
        let ext = path.extension().map(str::to_ascii_lowercase).unwrap_or_default();
        if !exts.contains(&ext.as_str()) {
            self.shot_problem(
                i,
                name,
                field,
                format!("`{value}`: an {what} must be {} (got `.{ext}`)", exts.join("/")),
            );
            return;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => {
                self.shot_problem(i, name, field, format!("local file `{value}` does not exist (looked for {path}); paths are relative to the storyboard's folder"));
                return;
            }
        };
        if !meta.is_file() {
            self.shot_problem(i, name, field, format!("`{value}` is not a regular file"));
            return;
        }
        if meta.len() == 0 || meta.len() > max {
            self.shot_problem(
                i,
                name,
                field,
                format!(
                    "`{value}` is {} bytes; an {what} must be 1 byte to {} MB",
                    meta.len(),
                    max / 1024 / 1024
                ),
            );
            return;
        }
        let hash = self
            .file_hashes
            .entry(path.clone())
            .or_insert_with(|| sha256_file(&path).map_err(|e| e.to_string()))
            .clone();
        match hash {
            Ok(sha256) => local.push(LocalFile {
                field: body_field.into(),
                written: value.into(),
                path,
                sha256,
            }),
            Err(e) => self.shot_problem(i, name, field, format!("cannot read `{value}`: {e}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        i: usize,
        id: &str,
        spec: &ShotSpec,
        r: &Resolved,
        prompt: Option<String>,
        voices: Vec<String>,
        take: u32,
        takes: u32,
    ) -> Option<PlannedShot> {
        let mut input = Map::new();
        if let Some(p) = prompt {
            if p.trim().is_empty() && spec.motion.is_none() {
                self.shot_problem(
                    i,
                    id,
                    "prompt",
                    "the prompt renders to nothing: write what the shot shows",
                );
                return None;
            }
            input.insert("prompt".into(), json!(p));
        }
        for (k, v) in &r.body {
            input.insert(k.clone(), v.clone());
        }
        if voices.len() > MAX_VOICES {
            self.shot_problem(
                i,
                id,
                "voices",
                format!(
                    "{} voices ({}); Kling takes at most {MAX_VOICES} per shot: split the dialogue across shots",
                    voices.len(),
                    voices.join(", ")
                ),
            );
            return None;
        }
        if !voices.is_empty() {
            match r.endpoint {
                Some(ep) if ep.voice_ids => {
                    if input.get("generate_audio") == Some(&json!(false)) {
                        self.shot_problem(
                            i,
                            id,
                            "voices",
                            "voices need audio: remove `generate_audio: false` or the voices",
                        );
                        return None;
                    }
                    let ids: Vec<String> = voices
                        .iter()
                        .map(|v| match self.sb.voices.get(v) {
                            Some(VoiceSpec::Id(id)) => id.clone(),
                            Some(VoiceSpec::Sample(s)) => format!("<voice from {}>", s.sample),
                            None => String::new(),
                        })
                        .collect();
                    input.insert("voice_ids".into(), json!(ids));
                }
                _ => {
                    let ep = r
                        .endpoint
                        .map_or_else(|| r.raw_id.clone().unwrap_or_default(), |e| e.id.to_owned());
                    self.shot_problem(
                        i,
                        id,
                        "voices",
                        format!("`{ep}` takes no voices; only Kling v2.6 pro image-to-video does (give the shot a `start_image`, with `model: kling-v2.6-pro` and `provider: fal`)"),
                    );
                    return None;
                }
            }
        }
        for (k, v) in &spec.params {
            if input.contains_key(k) {
                self.shot_problem(
                    i,
                    id,
                    &format!("params.{k}"),
                    format!("`{k}` is set by storyboard itself: use the shot's own field instead of `params`"),
                );
                return None;
            }
            input.insert(k.clone(), v.clone());
        }
        let (provider, endpoint, version, kind) = match (r.endpoint, &r.raw_id) {
            (Some(ep), _) => (
                ep.provider,
                ep.id.to_owned(),
                ep.version.map(str::to_owned),
                Some(ep.kind),
            ),
            (None, Some(raw)) => (self.provider, raw.clone(), None, None),
            (None, None) => return None,
        };
        let has_voices = !voices.is_empty();
        let (estimate, price_assumed) = match spec.price_usd {
            Some(p) => (Micros::from_usd(p), false),
            None => match r.endpoint {
                Some(ep) => (
                    ep.pricing.price(r.seconds.ceil() as u64, r.audio, has_voices),
                    ep.price_assumed,
                ),
                None => (None, false),
            },
        };
        let take_no = (takes > 1).then_some(take);
        let voice_samples: Vec<(usize, String)> = voices
            .iter()
            .enumerate()
            .filter(|(_, v)| self.samples.contains_key(*v))
            .map(|(n, v)| (n, v.clone()))
            .collect();
        let mut substs: Vec<Subst> = r
            .local
            .iter()
            .map(|f| Subst {
                field: f.field.clone(),
                index: None,
                value: format!("sha256:{}", f.sha256),
            })
            .collect();
        for (n, v) in &voice_samples {
            substs.push(Subst {
                field: "voice_ids".into(),
                index: Some(*n),
                value: format!("voice-sample:sha256:{}", self.samples[v].sha256),
            });
        }
        let request_key = request_key(provider, &endpoint, &input, &substs, take_no);
        let index = self.next_index;
        self.next_index += 1;
        for c in &r.chain {
            self.refs
                .push((index, i, c.shot_field.clone(), c.upstream.clone(), c.at));
        }
        Some(PlannedShot {
            id: id.to_owned(),
            spec_index: i,
            take: take_no,
            provider,
            endpoint,
            version,
            kind,
            input,
            local_files: r.local.clone(),
            chain: r.chain.clone(),
            voice_samples,
            substs,
            seconds: r.seconds,
            audio: r.audio,
            voices,
            images: r.images,
            estimate,
            price_assumed,
            request_key,
        })
    }
}

enum EndpointChoice {
    Known(&'static Endpoint),
    Raw(String),
}

#[derive(Clone, Copy)]
enum Media {
    Image,
    Video,
}

struct Resolved {
    endpoint: Option<&'static Endpoint>,
    raw_id: Option<String>,
    chain: Vec<Chain>,
    body: Map<String, Value>,
    seconds: f64,
    audio: bool,
    images: usize,
    local: Vec<LocalFile>,
}

fn pick<'v, T>(shot: &'v Option<T>, defaults: &'v Option<T>) -> Option<(&'v T, From)> {
    match (shot, defaults) {
        (Some(v), _) => Some((v, From::Shot)),
        (None, Some(v)) => Some((v, From::Defaults)),
        _ => None,
    }
}

fn parse_duration(d: &Duration) -> Result<u64, String> {
    let n = match d {
        Duration::Seconds(n) => Some(*n),
        Duration::Text(s) => s.trim().parse::<u64>().ok(),
    };
    match n {
        Some(n) if catalog::DURATIONS.contains(&n) => Ok(n),
        _ => Err(format!(
            "{d} seconds is not allowed: Kling renders 5 or 10 seconds (write `duration: 5` or `duration: 10`)"
        )),
    }
}

fn check_aspect(ar: &str) -> Result<(), String> {
    if catalog::ASPECT_RATIOS.contains(&ar) {
        Ok(())
    } else {
        Err(format!(
            "`{ar}` is not allowed (allowed: {}; quote it in YAML: \"16:9\")",
            catalog::ASPECT_RATIOS.join(", ")
        ))
    }
}

fn check_cfg(c: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&c) {
        Ok(())
    } else {
        Err(format!("{c} is outside 0..1 (cfg_scale is a number from 0 to 1)"))
    }
}

/// Shot ids become file names: `[A-Za-z0-9][A-Za-z0-9._-]{0,99}`.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.contains('/') || id.contains('\\') || id.contains("..") {
        return Err(format!(
            "`{id}` would leave the output folder: ids become file names, so `/`, `\\` and `..` are not allowed"
        ));
    }
    let mut chars = id.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id.len() <= 100;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a valid id: ids become file names and must match [A-Za-z0-9][A-Za-z0-9._-]{{0,99}} (tip: `{{{{ var | slug }}}}` turns text into an id-safe word)"
        ))
    }
}

fn url_scheme(v: &str) -> Option<&str> {
    let (scheme, _) = v.split_once(':')?;
    let mut c = scheme.chars();
    let looks = matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '.' | '-'))
        && scheme.len() > 1; // `C:\…` is a Windows path, not a URL
    looks.then_some(scheme)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn cartesian<'v>(axes: &[(&'v str, &'v Vec<Value>)]) -> Vec<Vec<(&'v str, &'v Value)>> {
    let mut out: Vec<Vec<(&str, &Value)>> = vec![Vec::new()];
    for (k, values) in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((*k, v));
                    p
                })
            })
            .collect();
    }
    out
}

/// The cache key (DESIGN §5): sha256 of the canonical JSON of provider + endpoint + input +
/// take, with local files by content hash instead of path or upload URL.
pub fn request_key(
    provider: ProviderKind,
    endpoint: &str,
    input: &Map<String, Value>,
    substs: &[Subst],
    take: Option<u32>,
) -> String {
    let mut input = input.clone();
    for s in substs {
        match s.index {
            None => {
                input.insert(s.field.clone(), json!(s.value));
            }
            Some(n) => {
                if let Some(slot) = input
                    .get_mut(&s.field)
                    .and_then(Value::as_array_mut)
                    .and_then(|a| a.get_mut(n))
                {
                    *slot = json!(s.value);
                }
            }
        }
    }
    let doc =
        json!({ "provider": provider, "endpoint": endpoint, "input": canonical(&Value::Object(input)), "take": take });
    let text = serde_json::to_string(&canonical(&doc)).unwrap_or_default();
    format!("sha256:{}", sha256_hex(text.as_bytes()))
}

/// The same value with every object's keys sorted (canonical JSON).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_product_keeps_declaration_order() {
        let a = vec![json!(1), json!(2)];
        let b = vec![json!("x"), json!("y")];
        let out = cartesian(&[("a", &a), ("b", &b)]);
        let flat: Vec<String> = out.iter().map(|c| format!("{}{}", c[0].1, c[1].1)).collect();
        assert_eq!(flat, ["1\"x\"", "1\"y\"", "2\"x\"", "2\"y\""]);
    }

    #[test]
    fn ids_must_be_safe_file_names() {
        assert!(check_id("portrait-smiling-take1").is_ok());
        assert!(check_id("../x").unwrap_err().contains("leave the output folder"));
        assert!(check_id("a/b").is_err());
        assert!(check_id("-a").is_err());
        assert!(check_id(&"a".repeat(101)).is_err());
    }

    #[test]
    fn request_key_ignores_key_order_and_uses_file_content() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"prompt":"x","duration":"5"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"duration":"5","prompt":"x"}"#).unwrap();
        let e = "fal-ai/kling-video/v2.6/pro/text-to-video";
        assert_eq!(
            request_key(ProviderKind::Fal, e, &a, &[], None),
            request_key(ProviderKind::Fal, e, &b, &[], None)
        );
        assert_ne!(
            request_key(ProviderKind::Fal, e, &a, &[], None),
            request_key(ProviderKind::Fal, e, &a, &[], Some(1))
        );
        let mut with_path = a.clone();
        with_path.insert("start_image_url".into(), json!("./one.png"));
        let mut other_path = a.clone();
        other_path.insert("start_image_url".into(), json!("./two.png"));
        let file = |_p: &str| Subst {
            field: "start_image_url".into(),
            index: None,
            value: "sha256:ab".into(),
        };
        assert_eq!(
            request_key(ProviderKind::Fal, e, &with_path, &[file("./one.png")], None),
            request_key(ProviderKind::Fal, e, &other_path, &[file("./two.png")], None)
        );
    }

    #[test]
    fn url_scheme_tells_urls_from_paths() {
        assert_eq!(url_scheme("https://x/y.png"), Some("https"));
        assert_eq!(url_scheme("ftp://x"), Some("ftp"));
        assert_eq!(url_scheme("./frames/a.png"), None);
        assert_eq!(url_scheme("C:\\a.png"), None);
    }
}
