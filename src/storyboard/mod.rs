//! The storyboard file: the serde model of the YAML a user writes, and the only module that
//! parses YAML. Structural problems (syntax, wrong types, unknown fields) become
//! [`Problem`]s that carry the file, line and column; all of a file's shots are checked in
//! one run, not just the first.

pub(crate) mod schema;
mod spans;
mod usd;

pub(crate) use spans::At;

use camino::{Utf8Path, Utf8PathBuf};
use schemars::JsonSchema;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

use crate::problem::Problem;

/// What a render waits for the director to approve (`approve:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Approve {
    /// Frames: no video is submitted before its frame is picked.
    Frames,
}

/// A storyboard (format version 1): shots with prompt templates, images, voices and settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "storyboard",
    description = "A storyboard for `storyboard render` (format version 1)"
)]
pub(crate) struct StoryboardFile<S = Vec<ShotSpec>> {
    /// Format version; only 1 exists.
    #[serde(default)]
    pub version: Option<u32>,
    /// Title of the film, shown in the manifest and the review page.
    #[serde(default)]
    pub title: Option<String>,
    /// Model family (see `storyboard models`); default `kling-v2.6-pro`.
    #[serde(default)]
    #[schemars(schema_with = "model_schema")]
    pub model: Option<String>,
    /// `fal` (default) or `eachlabs`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Shots in flight at once; `--concurrency` overrides.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
    /// `render` refuses to start when the estimate exceeds this many USD (`12`, `12.50`, `"$12"`).
    #[serde(default, deserialize_with = "usd::usd")]
    #[schemars(schema_with = "usd::usd_schema")]
    pub budget_usd: Option<f64>,
    /// A store shared by the team's machines: `s3://bucket/prefix` (S3, R2, MinIO, … with
    /// `AWS_ENDPOINT_URL`) or `file:///shared/folder`. Clips rendered on any machine are fetched
    /// for $0 and each request is submitted once across machines. Credentials come from the
    /// `AWS_*` environment variables, never from this file. `--store` overrides.
    #[serde(default)]
    pub store: Option<String>,
    /// `frames`: `render` renders every shot's frame and animates only the frames picked with
    /// `storyboard pick FILE SHOT --frame N` (or on the review page).
    #[serde(default)]
    pub approve: Option<Approve>,
    /// Output folder, relative to this file's folder; default `renders/<file stem>`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Utf8PathBuf>,
    /// Model parameters for every shot, unless the shot overrides them.
    #[serde(default)]
    pub defaults: Params,
    /// Free-form values for the templates.
    #[serde(default, deserialize_with = "unique_keys")]
    pub vars: Map<String, Value>,
    /// Friendly names for Kling voices, used with `voice("name")` or a shot's `voices:`: an
    /// existing voice id, or `{ sample: ./voice.wav }` (5–30 s of clean speech) to create one.
    #[serde(default, deserialize_with = "unique_keys")]
    pub voices: BTreeMap<String, VoiceSpec>,
    /// The characters (Kling 3.0 / O3 elements), by name: each a frontal image with 1–3
    /// reference images, or one video; optionally a voice from `voices:`. A prompt writes
    /// `{{ cast("mara") }}`, which becomes `@Element1`… and sends the character with the shot.
    #[serde(default, deserialize_with = "unique_keys")]
    pub cast: BTreeMap<String, CastMember>,
    /// The shots, in film order.
    pub shots: S,
}

/// One character of `cast:`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct CastMember {
    /// A frontal image of the character: an https URL or a local file.
    #[serde(default)]
    pub frontal: Option<String>,
    /// 1–3 more images of the character (other angles), with `frontal`.
    #[serde(default)]
    pub references: Option<Vec<String>>,
    /// Instead of images: one video of the character (at most one video element per shot).
    #[serde(default)]
    pub video: Option<String>,
    /// A name from `voices:` bound to the character (priced at the voice-control tier).
    #[serde(default)]
    pub voice: Option<String>,
}

/// Model parameters a shot (or `defaults`) may set.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    /// Seconds: 5 or 10 (sent to the API as the string "5"/"10").
    #[serde(default)]
    pub duration: Option<Duration>,
    /// `16:9`, `9:16` or `1:1` (text-to-video only: image-to-video follows the image).
    #[serde(default)]
    pub aspect_ratio: Option<String>,
    /// Generate native audio (Kling v2.6 only).
    #[serde(default)]
    pub generate_audio: Option<bool>,
    /// What the model should avoid.
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Classifier-free guidance, 0..1.
    #[serde(default)]
    pub cfg_scale: Option<f64>,
    /// Every shot's first frame made by an image model first (a shot's own `frame:` fields
    /// win; a shot with its own `start_image`, `references` or `motion` has none).
    #[serde(default)]
    pub frame: Option<FrameSpec>,
    /// The fields a shot's own `end_frame:` inherits (a shot has an end frame only when it
    /// writes `end_frame:`).
    #[serde(default)]
    pub end_frame: Option<FrameSpec>,
}

/// A shot's first frame, generated by an image model before its video (frames first, issue
/// #25): the frame becomes the video's start image.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrameSpec {
    /// The frame's prompt (a minijinja template: vars, matrix, `cast("name")`); default: the
    /// shot's prompt.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The image model family (default `nano-banana-2`).
    #[serde(default)]
    #[schemars(schema_with = "image_model_schema")]
    pub model: Option<String>,
    /// The frame's aspect ratio (default: the shot's `aspect_ratio`, else 16:9).
    #[serde(default)]
    pub aspect_ratio: Option<String>,
    /// Nano Banana 2's `resolution`: `0.5K`, `1K` (default), `2K` or `4K`.
    #[serde(default)]
    pub resolution: Option<String>,
    /// How many frames to make to choose from (default 1). The video animates the first
    /// until another is picked (`storyboard pick FILE SHOT --frame N`).
    #[serde(default)]
    pub takes: Option<u32>,
}

impl FrameSpec {
    /// This frame's fields over `defaults`' (a field the shot sets wins).
    pub(crate) fn over(&self, defaults: &FrameSpec) -> FrameSpec {
        let or = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        FrameSpec {
            prompt: or(&self.prompt, &defaults.prompt),
            model: or(&self.model, &defaults.model),
            aspect_ratio: or(&self.aspect_ratio, &defaults.aspect_ratio),
            resolution: or(&self.resolution, &defaults.resolution),
            takes: self.takes.or(defaults.takes),
        }
    }
}

/// The image models a frame may name: the catalog's image families.
fn image_model_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": crate::facts::catalog::image_families(),
        "description": "An image model family of the catalog (frames)."
    })
}

/// A duration as written: `5`, `10` or the strings `"5"`/`"10"`. Anything but a whole number
/// of seconds is refused at the field, naming what to write.
#[derive(Debug, Clone, JsonSchema, PartialEq)]
#[serde(untagged)]
pub(crate) enum Duration {
    /// `duration: 5`
    Seconds(u64),
    /// `duration: "5"`
    Text(String),
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl DurationVisitor {
    fn refuse<E: serde::de::Error>(written: impl fmt::Display) -> E {
        E::custom(format!(
            "duration `{written}` is not allowed: write a whole number of seconds the model takes (e.g. `duration: 5` or `duration: 10`)"
        ))
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of seconds, e.g. 5 or 10")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::Seconds(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v).map(Duration::Seconds).map_err(|_| Self::refuse(v))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Duration, E> {
        Err(Self::refuse(v))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Duration, E> {
        Err(Self::refuse(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        if v.fract() == 0.0 && (0.0..1e6).contains(&v) {
            Ok(Duration::Seconds(v as u64))
        } else {
            Err(Self::refuse(v))
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        Ok(Duration::Text(v.to_owned()))
    }
}

/// A mapping whose keys must be unique: YAML would let the later of two equal keys win
/// silently (`vars`, `voices`, `matrix`, `params`).
pub(crate) fn unique_keys<'de, D, V, M>(d: D) -> Result<M, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
    M: Default + Extend<(String, V)>,
{
    struct Unique<V, M>(std::marker::PhantomData<(V, M)>);
    impl<'de, V: Deserialize<'de>, M: Default + Extend<(String, V)>> Visitor<'de> for Unique<V, M> {
        type Value = M;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<M, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut out = M::default();
            while let Some((k, v)) = map.next_entry::<String, V>()? {
                if !seen.insert(k.clone()) {
                    return Err(serde::de::Error::custom(format!(
                        "duplicate key `{k}`: each name may appear once (YAML would silently keep the later one)"
                    )));
                }
                out.extend([(k, v)]);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Seconds(n) => write!(f, "{n}"),
            Duration::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One shot as written; `matrix` and `takes` may expand it into several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShotSpec {
    /// Shot id (a template); becomes the clip's file name. Default `shot-<n>`.
    #[serde(default)]
    pub id: Option<String>,
    /// The prompt (a minijinja template).
    #[serde(default)]
    pub prompt: Option<String>,
    /// Multi-shot (Kling 3.0 / O3): 1–6 beats, each a prompt template and its seconds, sent as
    /// `multi_prompt` instead of `prompt`; their seconds add up to the shot's duration.
    #[serde(default)]
    pub beats: Option<Vec<Beat>>,
    /// With `beats`: `customize` (default) or `intelligent`.
    #[serde(default)]
    pub shot_type: Option<String>,
    /// The model of this shot (default: the storyboard's `model`).
    #[serde(default)]
    #[schemars(schema_with = "model_schema")]
    pub model: Option<String>,
    /// A shoot-out: one take per model (`models: [kling-v3-pro, veo3.1, seedance-2]`), each
    /// priced on its own line and kept as a take of this shot (ids `-take1` … in this order).
    #[serde(default)]
    #[schemars(schema_with = "models_schema")]
    pub models: Option<Vec<String>>,
    /// Reference images (https URLs or local files), sent as `image_urls` and written in the
    /// prompt as `@Image1`, `@Image2`…; they make the shot reference-to-video (Kling O3).
    #[serde(default)]
    pub references: Vec<String>,
    /// First frame: an http(s) URL, a path relative to the storyboard, `{ after: SHOT }` (that
    /// shot's last frame) or `{ frame_of: SHOT, at: SECONDS }`. Makes the shot image-to-video.
    #[serde(default)]
    pub start_image: Option<ImageSpec>,
    /// Last frame (needs `start_image`): as `start_image`.
    #[serde(default)]
    pub end_image: Option<ImageSpec>,
    /// Voice names (keys of `voices:`) this shot uses, in `<<<voice_N>>>` order.
    #[serde(default)]
    pub voices: Vec<String>,
    /// Expands the shot into the cartesian product of these lists (in declaration order).
    #[serde(default, deserialize_with = "unique_keys")]
    pub matrix: Map<String, Value>,
    /// Renders each expansion this many times, ids suffixed `-take1` … `-takeN`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub takes: Option<u32>,
    /// Motion control: a character image and a reference video.
    #[serde(default)]
    pub motion: Option<Motion>,
    /// Escape hatch: any endpoint id, sent as is.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Escape hatch: raw input fields added to the request body.
    #[serde(default, deserialize_with = "unique_keys")]
    pub params: Map<String, Value>,
    /// Price of one render of this shot in USD, for endpoints without a known price (`0.84`,
    /// `"$0.84"`).
    #[serde(default, deserialize_with = "usd::usd")]
    #[schemars(schema_with = "usd::usd_schema")]
    pub price_usd: Option<f64>,
    /// Seconds: 5 or 10 on Kling v2.x, 3 to 15 on Kling 3.0 / O3.
    #[serde(default)]
    pub duration: Option<Duration>,
    /// `16:9`, `9:16` or `1:1` (text-to-video only).
    #[serde(default)]
    pub aspect_ratio: Option<String>,
    /// Generate native audio (Kling v2.6 only).
    #[serde(default)]
    pub generate_audio: Option<bool>,
    /// What the model should avoid.
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Classifier-free guidance, 0..1.
    #[serde(default)]
    pub cfg_scale: Option<f64>,
    /// The shot's first frame, made by an image model before the video (over `defaults.frame`).
    #[serde(default)]
    pub frame: Option<FrameSpec>,
    /// The shot's last frame, made by an image model before the video and sent as its end
    /// image (over `defaults.end_frame`, then `defaults.frame`'s model, aspect ratio and
    /// resolution). Needs its own `prompt:` and a first frame (`frame:` or `start_image`).
    #[serde(default)]
    pub end_frame: Option<FrameSpec>,
}

impl ShotSpec {
    /// The model parameters the shot sets itself.
    pub(crate) fn params(&self) -> Params {
        Params {
            duration: self.duration.clone(),
            aspect_ratio: self.aspect_ratio.clone(),
            generate_audio: self.generate_audio,
            negative_prompt: self.negative_prompt.clone(),
            cfg_scale: self.cfg_scale,
            frame: self.frame.clone(),
            end_frame: self.end_frame.clone(),
        }
    }
}

/// The models an editor may offer: the catalog's families.
fn model_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": crate::facts::catalog::families(),
        "description": "A model family of the catalog (`storyboard models`)."
    })
}

fn models_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "string", "enum": crate::facts::catalog::families() },
        "minItems": 2,
        "uniqueItems": true,
        "description": "A shoot-out: one take per model family (`storyboard models`)."
    })
}

/// One beat of a multi-shot: `{ prompt, duration }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Beat {
    /// What this beat shows (a minijinja template, like `prompt`).
    pub prompt: String,
    /// Seconds: 1 to 15.
    pub duration: Duration,
}

/// An image input: a URL or local path, or a frame of another shot's clip.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub(crate) enum ImageSpec {
    /// An http(s) URL or a local path.
    Source(String),
    /// The last frame of another shot.
    After(AfterFrame),
    /// The frame of another shot at a time.
    FrameOf(FrameAt),
}

/// `{ after: SHOT }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AfterFrame {
    /// The shot (its expanded id) whose last frame starts this one.
    pub after: String,
}

/// `{ frame_of: SHOT, at: SECONDS }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrameAt {
    /// The shot (its expanded id).
    pub frame_of: String,
    /// Seconds into that shot's clip.
    pub at: f64,
}

/// A voice: an existing Kling voice id, or a sample to create one from.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub(crate) enum VoiceSpec {
    /// An existing voice id (`vc_…`).
    Id(String),
    /// A sample to create the voice from.
    Sample(VoiceSample),
}

/// `{ sample: ./voices/mara.wav }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct VoiceSample {
    /// 5–30 s of clean, single-voice speech: wav, mp3 or m4a (or mp4/mov), relative to the storyboard.
    pub sample: String,
}

/// Motion control inputs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Motion {
    /// The character image: an http(s) URL or a local path.
    pub image: String,
    /// The reference video (3–30 s): an http(s) URL or a local path.
    pub video: String,
    /// `image` or `video`: whose orientation the character follows.
    pub orientation: String,
    /// Length of the reference video in seconds, for the estimate (else the maximum).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Keep the reference video's sound (default true).
    #[serde(default)]
    pub keep_original_sound: Option<bool>,
}

/// The source a storyboard was read from.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// How to name it in messages (`shots.yaml` or `<stdin>`).
    pub name: String,
    /// The folder relative paths in it are resolved against.
    pub dir: Utf8PathBuf,
    /// The file stem, for the default output folder.
    pub stem: String,
    /// The text.
    pub text: String,
    /// Where each node of the text is written, indexed when first asked.
    spans: std::sync::OnceLock<spans::Spans>,
}

/// The largest storyboard file read (far beyond any film's: a 10,000-shot storyboard with
/// templates is about 2 MiB).
pub(crate) const MAX_STORYBOARD_BYTES: u64 = 8 << 20;
/// The deepest `[`/`{` nesting accepted (a storyboard needs three or four levels).
pub(crate) const MAX_FLOW_DEPTH: usize = 64;

/// The storyboard file cannot be read (the one bounded-read error).
pub(crate) use crate::files::ReadError;

impl Source {
    /// Reads a storyboard from a file, or standard input for `-`.
    pub(crate) fn load(path: &Utf8Path) -> Result<Source, ReadError> {
        let text = if path.as_str() == "-" {
            read_bounded(path, std::io::stdin().lock())?
        } else {
            let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
                path: path.to_owned(),
                source,
            })?;
            read_bounded(path, file)?
        };
        if path.as_str() == "-" {
            return Ok(Source {
                name: "<stdin>".into(),
                dir: ".".into(),
                stem: "stdin".into(),
                text: without_bom(text),
                spans: std::sync::OnceLock::new(),
            });
        }
        Ok(Source::from_file(path, text))
    }

    /// A source read from a file (a UTF-8 byte order mark is dropped).
    pub(crate) fn from_file(path: &Utf8Path, text: String) -> Source {
        let text = without_bom(text);
        let dir = match path.parent() {
            Some(p) if !p.as_str().is_empty() => p.to_owned(),
            _ => Utf8PathBuf::from("."),
        };
        Source {
            name: path.to_string(),
            dir,
            stem: path.file_stem().unwrap_or("storyboard").to_owned(),
            text,
            spans: std::sync::OnceLock::new(),
        }
    }

    /// Where the node at `path` is written (`cast.sam.references`, `shots[3].prompt`): the line
    /// and column of its key or list item, else of its closest written ancestor.
    pub(crate) fn locate(&self, path: &str) -> Option<At> {
        self.spans().locate(path)
    }

    fn spans(&self) -> &spans::Spans {
        self.spans.get_or_init(|| spans::Spans::of(&self.text))
    }

    /// Where line `line` of the text at `path` is written, when that text is a literal block
    /// (`prompt: |`) whose lines are the file's; `None` otherwise.
    pub(crate) fn locate_text_line(&self, path: &str, line: usize) -> Option<At> {
        self.spans().text_line(path, line)
    }

    /// Where field `field` of `shots[spec]` is written (see [`Source::locate`]).
    pub(crate) fn locate_in_shot(&self, spec: usize, field: &str) -> Option<At> {
        match field {
            "" => self.locate(&format!("shots[{spec}]")),
            _ => self.locate(&format!("shots[{spec}].{field}")),
        }
    }
}

/// A UTF-8 byte order mark at the start is dropped (editors on Windows write one).
fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// Reads at most [`MAX_STORYBOARD_BYTES`] as UTF-8: a file, standard input, or a stream
/// (`<(…)`, a device) — all bounded.
fn read_bounded(path: &Utf8Path, input: impl std::io::Read) -> Result<String, ReadError> {
    let bytes = crate::files::read_to_limit(path, input, MAX_STORYBOARD_BYTES)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotText { path: path.to_owned() })
}

/// The first place where `[`/`{` nesting goes deeper than [`MAX_FLOW_DEPTH`] (the YAML
/// scanner's time grows with the square of it), outside quotes and comments: (line, column).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '"' | '\'') if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((n + 1, col + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    None
}

/// A storyboard with structural problems: every one found, and — when the rest of the file can
/// be read — the storyboard with the broken parts repaired (an unknown key renamed to the field
/// it most likely meant, or dropped; a value of the wrong type dropped), so the value checks
/// can report their problems in the same run.
#[derive(Debug)]
pub(crate) struct Broken {
    /// The structural problems.
    pub problems: Vec<Problem>,
    /// The storyboard as repaired, when it could be.
    pub repaired: Option<Box<StoryboardFile>>,
    /// The keys the repair dropped: (shot index, or `None` at the top level, key). Value
    /// problems about them would only echo the structural one.
    pub dropped: Vec<Dropped>,
}

/// A key the repair dropped: the shot's index (`None` at the top level) and the key.
pub(crate) type Dropped = (Option<usize>, String);

/// Parses a storyboard, reporting every structural problem (first the top level, then each shot).
pub(crate) fn parse(src: &Source) -> Result<StoryboardFile, Broken> {
    if let Some(at) = too_deep(&src.text) {
        let msg = format!(
            "values nest deeper than {MAX_FLOW_DEPTH} levels of `[`/`{{`: a storyboard never needs that; flatten the value"
        );
        return Err(Broken::only(vec![Problem::in_file(&src.name, Some(at), msg)]));
    }
    match serde_yaml::from_str::<StoryboardFile>(&src.text) {
        Ok(sb) => Ok(sb),
        Err(first) => Err(collect_problems(src, first)),
    }
}

impl Broken {
    /// Problems with nothing to repair.
    pub(crate) fn only(problems: Vec<Problem>) -> Broken {
        Broken {
            problems,
            repaired: None,
            dropped: Vec::new(),
        }
    }
}

/// The field names a type's JSON Schema lists.
fn field_names<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Repairs one mapping for the value checks: an unknown key becomes the known field it most
/// likely meant (when that is not set too) or goes; a key whose value `fits` refuses goes.
fn repair_mapping(
    map: &mut serde_yaml::Mapping,
    known: &[String],
    fits: impl Fn(&str, &serde_yaml::Value) -> bool,
) -> Vec<String> {
    let mut dropped = Vec::new();
    let keys: Vec<serde_yaml::Value> = map.keys().cloned().collect();
    for key in keys {
        let Some(name) = key.as_str().map(str::to_owned) else {
            map.remove(&key);
            continue;
        };
        let Some(value) = map.remove(&key) else { continue };
        let meant = if known.contains(&name) {
            Some(name.clone())
        } else {
            crate::problem::closest(&name, known.iter().map(String::as_str))
                .filter(|c| !map.contains_key(*c))
                .map(str::to_owned)
        };
        match meant.filter(|n| fits(n, &value)) {
            Some(n) => {
                map.insert(serde_yaml::Value::String(n), value);
            }
            None => dropped.push(name),
        }
    }
    dropped
}

/// The storyboard with its broken parts repaired (see [`Broken`]), when it can be read at all,
/// and the keys dropped on the way.
fn repair(mut doc: serde_yaml::Value) -> (Option<Box<StoryboardFile>>, Vec<Dropped>) {
    let top = field_names::<StoryboardFile>();
    let shot_fields = field_names::<ShotSpec>();
    let Some(map) = doc.as_mapping_mut() else {
        return (None, Vec::new());
    };
    let mut dropped: Vec<Dropped> = Vec::new();
    let at_top = repair_mapping(map, &top, |name, value| {
        let mut one = serde_yaml::Mapping::new();
        one.insert(name.into(), value.clone());
        if name != "shots" {
            one.insert("shots".into(), serde_yaml::Value::Sequence(Vec::new()));
        }
        serde_yaml::from_value::<StoryboardFile<IgnoredAny>>(serde_yaml::Value::Mapping(one)).is_ok()
    });
    dropped.extend(at_top.into_iter().map(|k| (None, k)));
    if let Some(shots) = map.get_mut("shots").and_then(|s| s.as_sequence_mut()) {
        for (i, shot) in shots.iter_mut().enumerate() {
            let Some(shot) = shot.as_mapping_mut() else { continue };
            let gone = repair_mapping(shot, &shot_fields, |name, value| {
                let mut one = serde_yaml::Mapping::new();
                one.insert(name.into(), value.clone());
                serde_yaml::from_value::<ShotSpec>(serde_yaml::Value::Mapping(one)).is_ok()
            });
            dropped.extend(gone.into_iter().map(|k| (Some(i), k)));
        }
    }
    (serde_yaml::from_value(doc).ok().map(Box::new), dropped)
}

/// Shots whose structural problems are reported with their line and column in one run (each
/// costs a parse of the whole file).
const MAX_LOCATED: usize = 20;

fn collect_problems(src: &Source, first: serde_yaml::Error) -> Broken {
    // Syntax errors stop the parser: there is nothing more to find.
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&src.text) else {
        return Broken::only(vec![yaml_problem(src, &first)]);
    };
    if !doc.is_mapping() {
        return Broken::only(vec![Problem::in_file(
            &src.name,
            None,
            "the storyboard must be a mapping with at least `version: 1` and `shots:`",
        )]);
    }
    let mut problems = Vec::new();
    if let Err(e) = serde_yaml::from_str::<StoryboardFile<IgnoredAny>>(&src.text) {
        problems.push(yaml_problem(src, &e));
    }
    // Find the shots with problems in one pass over the parsed document, then re-parse the text
    // for each of them (at most MAX_LOCATED) to give its line and column.
    let failing: Vec<usize> = doc
        .get("shots")
        .and_then(|s| s.as_sequence())
        .map(|shots| {
            let bad = |v: &serde_yaml::Value| serde_yaml::from_value::<ShotSpec>(v.clone()).is_err();
            shots
                .iter()
                .enumerate()
                .filter(|(_, v)| bad(v))
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    for &i in failing.iter().take(MAX_LOCATED) {
        if let Err(e) = ShotAt::<ShotSpec>::new(i).parse(&src.text) {
            problems.push(yaml_problem(src, &e));
        }
    }
    if failing.len() > MAX_LOCATED {
        let rest: Vec<String> = failing[MAX_LOCATED..]
            .iter()
            .take(10)
            .map(|i| format!("shots[{i}]"))
            .collect();
        let msg = format!(
            "{} more shots have problems ({}{}): fix the ones above, then plan again",
            failing.len() - MAX_LOCATED,
            rest.join(", "),
            if failing.len() - MAX_LOCATED > rest.len() {
                ", …"
            } else {
                ""
            }
        );
        problems.push(Problem::in_file(&src.name, None, msg));
    }
    if problems.is_empty() {
        problems.push(yaml_problem(src, &first));
    }
    let (repaired, dropped) = repair(doc);
    Broken {
        problems,
        repaired,
        dropped,
    }
}

/// Turns a YAML/serde error into a problem naming the file, line and column, with a
/// "did you mean" for unknown fields.
fn yaml_problem(src: &Source, e: &serde_yaml::Error) -> Problem {
    let loc = e.location().map(|l| (l.line(), l.column()));
    let scanning = e.to_string().contains("while scanning");
    if let Some(tab) = loc
        .filter(|_| scanning)
        .and_then(|(line, _)| tab_indent(&src.text, line))
    {
        return Problem::in_file(&src.name, Some(tab), TAB);
    }
    let mut msg = e.to_string();
    // The location is carried separately; drop it from the text.
    if let Some(i) = msg.find(" at line ") {
        let rest = &msg[i + " at line ".len()..];
        let tail =
            rest.find(|c: char| !(c.is_ascii_digit() || c == ' ' || c.is_ascii_alphabetic() && "column".contains(c)));
        msg = match tail {
            Some(t) => format!("{}{}", &msg[..i], &rest[t..]),
            None => msg[..i].to_owned(),
        };
    }
    let msg = improve_unknown_field(&msg).unwrap_or(msg);
    let msg = improve_huge_number(&msg).unwrap_or(msg);
    let msg = if msg.contains("did not match any variant of untagged enum ImageSpec") {
        msg.replace(
            "data did not match any variant of untagged enum ImageSpec",
            "expected a URL, a local path, `{ after: SHOT }` or `{ frame_of: SHOT, at: SECONDS }`",
        )
    } else if msg.contains("did not match any variant of untagged enum VoiceSpec") {
        msg.replace(
            "data did not match any variant of untagged enum VoiceSpec",
            "expected a voice id or `{ sample: ./voice.wav }`",
        )
    } else {
        msg
    };
    Problem::in_file(&src.name, loc, msg)
}

/// What a tab in the indentation is called.
const TAB: &str = "a tab character indents this line; YAML indents with spaces — replace the tab with spaces";

/// The line and column of the tab in the indentation of `line` (1-based), if it has one.
fn tab_indent(text: &str, line: usize) -> Option<(usize, usize)> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let indent = &l[..l.len() - l.trim_start().len()];
    indent.find('\t').map(|col| (line, indent[..col].chars().count() + 1))
}

/// `invalid type: integer `99999…` as u128, expected u32` → `99999… is too large here
/// (expected u32)`: the number does not fit any integer the field takes.
fn improve_huge_number(msg: &str) -> Option<String> {
    let start = msg.find("invalid type: integer `")?;
    let rest = &msg[start + "invalid type: integer `".len()..];
    let end = rest.find('`')?;
    let number = &rest[..end];
    let after = rest[end + 1..].trim_start();
    let expected = after
        .strip_prefix("as u128, expected ")
        .or_else(|| after.strip_prefix("as i128, expected "))?;
    Some(format!(
        "{}the number {number} is too large here (expected {expected})",
        &msg[..start]
    ))
}

/// `shots[1]: unknown field `promt`, expected one of `id`, `prompt`` →
/// `unknown field `promt` in shots[1] — did you mean `prompt`? (allowed: …)`.
fn improve_unknown_field(msg: &str) -> Option<String> {
    let at = msg.find("unknown field `")?;
    let (path, rest) = msg.split_at(at);
    let rest = &rest["unknown field `".len()..];
    let end = rest.find('`')?;
    let field = &rest[..end];
    let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    let path = path.trim_end_matches(": ").trim();
    let place = if path.is_empty() || path == "." {
        "at the top level".to_owned()
    } else {
        format!("in {path}")
    };
    let hint = crate::problem::did_you_mean(field, expected.iter().copied());
    let allowed = if expected.is_empty() {
        String::new()
    } else {
        format!(
            " (allowed: {})",
            expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        )
    };
    Some(format!("unknown field `{field}` {place}{hint}{allowed}"))
}

/// Deserializes only `shots[index]` strictly (everything else ignored), so that its error
/// carries the line and column in the original text.
struct ShotAt<T> {
    index: usize,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> ShotAt<T> {
    fn new(index: usize) -> Self {
        ShotAt {
            index,
            _t: std::marker::PhantomData,
        }
    }

    fn parse(self, text: &'de str) -> Result<(), serde_yaml::Error> {
        self.deserialize(serde_yaml::Deserializer::from_str(text))
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ShotAt<T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ShotAt<T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a storyboard mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "shots" {
                map.next_value_seed(PickSeq::<T> {
                    index: self.index,
                    _t: std::marker::PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct PickSeq<T> {
    index: usize,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for PickSeq<T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for PickSeq<T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of shots")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let more = if i == self.index {
                seq.next_element::<T>()?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source::from_file(Utf8Path::new("t.yaml"), text.to_owned())
    }

    #[test]
    fn unknown_field_names_closest_and_line() {
        let p = parse(&src(
            "version: 1\nshots:\n  - id: a\n    prompt: x\n  - id: b\n    promt: y\n",
        ))
        .unwrap_err()
        .problems;
        assert_eq!(p.len(), 1, "{p:?}");
        let text = p[0].to_string();
        assert!(text.contains("t.yaml:6:"), "{text}");
        assert!(text.contains("did you mean `prompt`"), "{text}");
        assert!(text.contains("shots[1]"), "{text}");
    }

    #[test]
    fn the_repair_renames_a_misspelt_key_and_drops_a_mistyped_one() {
        let broken = parse(&src(
            "version: 1\nshots:\n  - promt: a\n    duration: 10\n  - prompt: b\n    generate_audio: loud\n",
        ))
        .unwrap_err();
        let sb = broken.repaired.expect("repaired");
        assert_eq!(sb.shots[0].prompt.as_deref(), Some("a"));
        assert_eq!(sb.shots[0].duration, Some(Duration::Seconds(10)));
        assert_eq!(sb.shots[1].generate_audio, None);
        assert_eq!(broken.dropped, [(Some(1), "generate_audio".to_owned())]);
    }

    #[test]
    fn every_shot_with_a_problem_is_reported() {
        let p = parse(&src(
            "version: 1\nshots:\n  - promt: a\n  - prompt: ok\n  - prompt: b\n    duratoin: 5\n",
        ))
        .unwrap_err()
        .problems;
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].to_string().contains("t.yaml:3:"));
        assert!(p[1].to_string().contains("t.yaml:6:"));
    }
}
