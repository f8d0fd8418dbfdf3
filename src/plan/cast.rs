//! The cast: characters defined once (`cast:`), checked once, and sent with every shot whose
//! prompt names them with `{{ cast("mara") }}` as Kling elements (`../shared/reference/kling-v3-and-platform.md` §2):
//! `{frontal_image_url, reference_image_urls, video_url, voice_id}`, numbered `@Element1`… in
//! the order the shot first names them.

use serde_json::{Map, Value, json};

use super::inputs::{Media, Source};
use super::{Invalid, LocalFile, Planner, ShotCtx};
use crate::facts::catalog::{CATALOG, Endpoint, Kind};
use crate::storyboard::{CastMember, VoiceSpec};

/// The most reference images of one character.
pub(super) const MAX_CAST_REFERENCES: usize = 3;
/// O3 reference-to-video with a video element: at most this many elements + reference images.
pub(super) const MAX_WITH_VIDEO: usize = 4;

/// A checked character.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Character {
    pub(super) frontal: Option<Source>,
    pub(super) references: Vec<Source>,
    pub(super) video: Option<Source>,
    pub(super) voice: Option<String>,
}

/// A shot's elements, built: the body, the files to upload, whether a voice is bound.
pub(super) struct Elements {
    pub(super) body: Vec<Value>,
    pub(super) local: Vec<LocalFile>,
    pub(super) voiced: bool,
    /// Sampled voices: (pointer of the `voice_id`, voice name).
    pub(super) samples: Vec<(String, String)>,
}

impl Planner<'_> {
    /// Checks every character once: its files, 1–3 references with a frontal image or one
    /// video, and a voice defined under `voices:`.
    pub(super) fn check_cast(&mut self) {
        let sb = self.sb;
        for (name, member) in &sb.cast {
            if let Some(c) = self.character(name, member) {
                self.cast.insert(name.clone(), c);
            }
        }
    }

    fn character(&mut self, name: &str, m: &CastMember) -> Option<Character> {
        let before = self.problems.len();
        let at = |field: &str| format!("cast.{name}.{field}");
        match (&m.frontal, &m.video) {
            (None, None) => self.top(
                &at("frontal"),
                "give the character a `frontal:` image (with 1–3 `references:`) or a `video:`",
            ),
            (Some(_), Some(_)) => self.top(
                &at("video"),
                "a character is given by images or by one video, not both: remove `video` or `frontal`",
            ),
            _ => {}
        }
        let refs = m.references.as_deref().unwrap_or_default();
        if m.frontal.is_some() && !(1..=MAX_CAST_REFERENCES).contains(&refs.len()) {
            let msg = format!(
                "{} reference images: Kling takes 1 to {MAX_CAST_REFERENCES} besides the frontal image",
                refs.len()
            );
            self.top(&at("references"), msg);
        }
        if m.video.is_some() && m.references.is_some() {
            self.top(
                &at("references"),
                "references go with a frontal image, not a video: remove them",
            );
        }
        if let Some(v) = &m.voice
            && !self.voice_names.contains(v)
        {
            let hint = crate::problem::did_you_mean(v, self.voice_names.iter().map(String::as_str));
            self.top(
                &at("voice"),
                format!("no voice `{v}` under `voices:`{hint}: define it there (an id or a sample)"),
            );
        }
        let frontal = m
            .frontal
            .as_ref()
            .and_then(|f| self.checked(&at("frontal"), f, Media::Image));
        let references = refs
            .iter()
            .enumerate()
            .filter_map(|(k, r)| self.checked(&at(&format!("references[{k}]")), r, Media::Image))
            .collect();
        let video = m
            .video
            .as_ref()
            .and_then(|v| self.checked(&at("video"), v, Media::Video));
        (self.problems.len() == before).then(|| Character {
            frontal,
            references,
            video,
            voice: m.voice.clone(),
        })
    }

    /// Each checked character's frontal image.
    pub(super) fn frontals(&self) -> std::collections::BTreeMap<String, super::Frontal> {
        self.cast
            .iter()
            .filter_map(|(name, c)| {
                let f = match c.frontal.as_ref()? {
                    Source::Url(u) => super::Frontal::Url(u.clone()),
                    Source::Local { path, sha256, .. } => super::Frontal::Local {
                        path: path.clone(),
                        sha256: sha256.clone(),
                    },
                };
                Some((name.clone(), f))
            })
            .collect()
    }

    /// A URL or a local file, checked like any image or video input; a problem at `field`.
    fn checked(&mut self, field: &str, value: &str, media: Media) -> Option<Source> {
        self.source(value, media)
            .map_err(|m: Invalid| self.top(field, m.0))
            .ok()
    }

    /// The elements of a shot whose prompt names `names` (in `@ElementN` order), checked
    /// against its endpoint; `None` (with a problem) when they cannot be sent.
    pub(super) fn elements(
        &mut self,
        at: ShotCtx<'_>,
        ep: Option<&Endpoint>,
        names: &[String],
        images: usize,
    ) -> Option<Elements> {
        let mut out = Elements {
            body: Vec::new(),
            local: Vec::new(),
            voiced: false,
            samples: Vec::new(),
        };
        if names.is_empty() {
            return Some(out);
        }
        if let Some(msg) = refusal(ep, names, &self.cast, images) {
            self.problem(at, "prompt", msg);
            return None;
        }
        for (n, name) in names.iter().enumerate() {
            let c = self.cast.get(name)?.clone();
            let e = self.element(n, &c, &mut out);
            out.body.push(e);
        }
        Some(out)
    }

    /// One element's body; its local files and sampled voice recorded in `out`.
    fn element(&self, n: usize, c: &Character, out: &mut Elements) -> Value {
        let mut e = Map::new();
        let mut put = |pointer: String, s: &Source| match s {
            Source::Url(u) => json!(u),
            Source::Local { written, path, sha256 } => {
                out.local.push(LocalFile {
                    field: pointer,
                    written: written.clone(),
                    path: path.clone(),
                    sha256: sha256.clone(),
                });
                json!(written)
            }
        };
        if let Some(f) = &c.frontal {
            let v = put(format!("/elements/{n}/frontal_image_url"), f);
            e.insert("frontal_image_url".into(), v);
        }
        if !c.references.is_empty() {
            let refs: Vec<Value> = c
                .references
                .iter()
                .enumerate()
                .map(|(k, r)| put(format!("/elements/{n}/reference_image_urls/{k}"), r))
                .collect();
            e.insert("reference_image_urls".into(), Value::Array(refs));
        }
        if let Some(v) = &c.video {
            let v = put(format!("/elements/{n}/video_url"), v);
            e.insert("video_url".into(), v);
        }
        if let Some(voice) = &c.voice {
            out.voiced = true;
            let id = match self.sb.voices.get(voice) {
                Some(VoiceSpec::Id(id)) => id.clone(),
                Some(VoiceSpec::Sample(s)) => {
                    out.samples.push((format!("/elements/{n}/voice_id"), voice.clone()));
                    format!("<voice from {}>", s.sample)
                }
                None => String::new(),
            };
            e.insert("voice_id".into(), json!(id));
        }
        Value::Object(e)
    }
}

/// Why these characters cannot go with this endpoint, if they cannot.
fn refusal(
    ep: Option<&Endpoint>,
    names: &[String],
    cast: &std::collections::BTreeMap<String, Character>,
    images: usize,
) -> Option<String> {
    let Some(ep) = ep.filter(|e| e.elements) else {
        return Some(no_elements(ep));
    };
    let videos = names
        .iter()
        .filter(|n| cast.get(*n).is_some_and(|c| c.video.is_some()))
        .count();
    if videos > 1 {
        return Some(format!(
            "{videos} characters given by video in one shot; Kling takes at most one video element per request"
        ));
    }
    let total = names.len() + images;
    if videos == 1 && ep.kind == Kind::ReferenceToVideo && total > MAX_WITH_VIDEO {
        return Some(format!(
            "{total} elements and reference images with a video element; O3 reference-to-video takes at most {MAX_WITH_VIDEO} then"
        ));
    }
    None
}

/// Why an endpoint without `elements` cannot take a cast, and the ways out: the same model's
/// endpoint that takes them (and the input that selects it), or another model's.
fn no_elements(ep: Option<&Endpoint>) -> String {
    let Some(ep) = ep else {
        return "`cast()` sends characters as elements, which an endpoint outside the catalog is not known to take: remove `cast()` or use a catalog model".to_owned();
    };
    let input = |k: Kind| match k {
        Kind::ImageToVideo => "a `start_image`",
        Kind::ReferenceToVideo => "`references:`",
        Kind::MotionControl => "`motion:`",
        Kind::TextToVideo => "no image",
    };
    let takers = CATALOG.iter().filter(|e| e.elements && e.provider == ep.provider);
    let mut ways: Vec<String> = takers
        .clone()
        .filter(|e| e.family == ep.family)
        .map(|e| format!("give the shot {} ({} takes them)", input(e.kind), e.kind.name()))
        .collect();
    let same_has_references = takers
        .clone()
        .any(|e| e.family == ep.family && e.kind == Kind::ReferenceToVideo);
    if let Some(other) = takers
        .clone()
        .find(|e| !same_has_references && e.family != ep.family && e.kind == Kind::ReferenceToVideo)
    {
        ways.push(format!(
            "use `model: {}` with {} ({})",
            other.family,
            input(other.kind),
            other.kind.name()
        ));
    }
    if ways.is_empty() {
        ways.push("use a model that takes elements (see `storyboard models`)".to_owned());
    }
    // A family with reference images but no elements (Veo 3.1, Seedance 2.0) carries a
    // character as its pictures: `@Image1` in the prompt.
    if CATALOG
        .iter()
        .any(|e| e.family == ep.family && e.references && !e.elements)
    {
        ways.push(format!(
            "keep `model: {}` and put the character's images under `references:` (sent as `image_urls`, written `@Image1` in the prompt)",
            ep.family
        ));
    }
    format!(
        "{} {} takes no elements (its published input has no `elements`), so `cast()` cannot send characters to it: {}",
        ep.family,
        ep.kind.name(),
        ways.join(", or ")
    )
}
