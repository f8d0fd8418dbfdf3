//! Resolution: the endpoint a shot's inputs select and the parameters it sends, each checked
//! against what the endpoint takes (a value the shot sets is strict; one from `defaults` is
//! left out where it does not apply).

use serde_json::{Map, Value, json};

use super::frames::Edge;
use super::inputs::{Media, Slot};
use super::{Chain, Invalid, LocalFile, Planner, ShotCtx};
use crate::facts::catalog::{self, Endpoint, Kind, ProviderKind};
use crate::facts::cost::Micros;
use crate::storyboard::{Duration, ShotSpec};

/// Where a parameter's value came from: the shot itself is strict, `defaults` is skipped
/// for endpoints that do not take the parameter.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum SetIn {
    Shot,
    Defaults,
}

impl Planner<'_> {
    pub(super) fn check_defaults(&mut self, d: &crate::storyboard::Params) {
        if let Some(dur) = &d.duration
            && let Err(m) = parse_seconds(dur)
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
        for (name, f) in [("frame", &d.frame), ("end_frame", &d.end_frame)] {
            if let Some(m) = f.as_ref().and_then(|f| f.model.as_ref())
                && let Err(msg) = super::frames::check_image_model(m)
            {
                self.top(&format!("defaults.{name}.model"), msg);
            }
            if let Some(Err(msg)) = f.as_ref().and_then(|f| f.takes).map(super::frames::check_takes) {
                self.top(&format!("defaults.{name}.takes"), msg);
            }
        }
    }

    /// Everything about a shot that does not depend on its matrix values: the endpoint and
    /// the parameters. Reports problems; `None` when the shot cannot be resolved.
    pub(super) fn resolve(&mut self, at: ShotCtx<'_>) -> Option<Resolved> {
        let spec = at.spec;
        if let Some(p) = spec.price_usd
            && Micros::from_usd(p).is_none()
        {
            let msg = format!("{p} is not an amount of dollars: write the price of one render, a number ≥ 0");
            self.problem(at, "price_usd", msg);
        }
        let frame = self.shot_frame(at);
        let end = self.shot_end_frame(at, frame.is_some());
        let kind = match frame {
            Some(_) => Kind::ImageToVideo,
            None => self.shot_kind(at),
        };
        let family = self.shot_model(at)?;
        let ep = match self.choose_endpoint(at, &family, kind)? {
            EndpointChoice::Known(e) => e,
            EndpointChoice::Raw(id) => return Some(self.raw(spec, id)),
        };
        let mut r = Resolved {
            endpoint: Some(ep),
            raw_id: None,
            chain: Vec::new(),
            body: Map::new(),
            seconds: ep.default_seconds as f64,
            audio: false,
            images: 0,
            local: Vec::new(),
            beats: Vec::new(),
            frames: Vec::new(),
        };
        let mut set = spec.params();
        if frame.is_some() {
            // The shot's aspect ratio is the frame's: image-to-video follows the image.
            set.aspect_ratio = None;
        }
        let mut params = Params {
            planner: self,
            at,
            ep,
            set,
        };
        params.all(&mut r);
        params.beats(spec, &mut r);
        self.images(at, ep, frame.is_some(), &mut r);
        self.references(at, ep, &mut r);
        let specs = [frame.map(|f| (Edge::Start, f)), end.map(|f| (Edge::End, f))];
        r.frames = specs
            .into_iter()
            .flatten()
            .filter_map(|f| self.frame_slot(at, ep, f, &mut r))
            .collect();
        Some(r)
    }

    /// The shot's model: its own `model:`, else the storyboard's. `None` when the storyboard's
    /// is unknown (reported once at `model:`; the shot's checks would be about a model never
    /// chosen).
    fn shot_model(&mut self, at: ShotCtx<'_>) -> Option<String> {
        let fams = catalog::families();
        let m = match (at.shootout, &at.spec.model) {
            (Some(s), _) => s.model.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => {
                let top_unknown = self.sb.model.as_deref().is_some_and(|m| !fams.contains(&m));
                return (!top_unknown).then(|| self.family.clone());
            }
        };
        if fams.contains(&m.as_str()) {
            return Some(m.clone());
        }
        let hint = crate::problem::did_you_mean(&m, fams.iter().copied());
        let msg = format!(
            "unknown model `{m}`{hint} (allowed: {}; see `storyboard models`)",
            fams.join(", ")
        );
        self.problem(at, "model", msg);
        None
    }

    /// What the shot's inputs make it: motion control, image- or text-to-video.
    fn shot_kind(&mut self, at: ShotCtx<'_>) -> Kind {
        let spec = at.spec;
        if spec.end_image.is_some() && spec.start_image.is_none() {
            self.problem(
                at,
                "end_image",
                "an end image needs a start image: add `start_image:` (image-to-video), or remove `end_image`",
            );
        }
        if spec.motion.is_some() && (spec.start_image.is_some() || spec.end_image.is_some()) {
            self.problem(
                at,
                "motion",
                "a motion-control shot takes its image from `motion.image`: remove `start_image`/`end_image`",
            );
        }
        if spec.motion.is_some() {
            Kind::MotionControl
        } else if !spec.references.is_empty() {
            Kind::ReferenceToVideo
        } else if spec.start_image.is_some() {
            Kind::ImageToVideo
        } else {
            Kind::TextToVideo
        }
    }

    /// The endpoint: the shot's own `endpoint:` (in the catalog or not), else the model's
    /// endpoint of this kind.
    fn choose_endpoint(&mut self, at: ShotCtx<'_>, family: &str, kind: Kind) -> Option<EndpointChoice> {
        let spec = at.spec;
        let Some(id) = &spec.endpoint else {
            return self.catalog_endpoint(at, family, kind).map(EndpointChoice::Known);
        };
        if let Err(m) = check_endpoint_id(id, self.provider) {
            self.problem(at, "endpoint", m);
            return None;
        }
        match catalog::by_id(self.provider, id) {
            Some(e) if e.kind == kind => Some(EndpointChoice::Known(e)),
            Some(e) => {
                let msg = format!(
                    "`{id}` is a {} endpoint, but the shot's inputs make it {}",
                    e.kind.name(),
                    kind.name()
                );
                self.problem(at, "endpoint", msg);
                None
            }
            None => {
                if spec.price_usd.is_none() {
                    self.problem(
                        at,
                        "price_usd",
                        format!("endpoint `{id}` is not in the catalog, so its price is unknown: add `price_usd:` (the price of one render)"),
                    );
                }
                if spec.start_image.is_some() || spec.end_image.is_some() || spec.motion.is_some() {
                    self.problem(at, "endpoint", format!("endpoint `{id}` is not in the catalog, so storyboard does not know its image fields: pass them under `params:`"));
                }
                Some(EndpointChoice::Raw(id.clone()))
            }
        }
    }

    /// The model's endpoint for this kind of shot, or a problem naming the models that have one.
    fn catalog_endpoint(&mut self, at: ShotCtx<'_>, family: &str, kind: Kind) -> Option<&'static Endpoint> {
        let end_image = at.spec.end_image.is_some() || at.spec.end_frame.is_some();
        if let Some(e) = catalog::select_for(family, self.provider, kind, end_image) {
            return Some(e);
        }
        let field = match kind {
            Kind::MotionControl => "motion",
            // A shot with a frame (and no start image) is image-to-video because of its frame.
            Kind::ImageToVideo if at.spec.start_image.is_none() => "frame",
            Kind::ImageToVideo => "start_image",
            Kind::ReferenceToVideo => "references",
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
                "model `{family}` has no {} endpoint (models that do: {}; set `model:` on the shot)",
                kind.name(),
                fams.join(", ")
            )
        };
        self.problem(at, field, advice);
        None
    }

    /// An endpoint outside the catalog: only its duration is known (for the seconds column).
    fn raw(&self, spec: &ShotSpec, id: String) -> Resolved {
        let seconds = match pick(&spec.duration, &self.sb.defaults.duration) {
            Some((v, _)) => parse_seconds(v).unwrap_or(catalog::DEFAULT_DURATION) as f64,
            None => catalog::DEFAULT_DURATION as f64,
        };
        Resolved {
            endpoint: None,
            raw_id: Some(id),
            chain: Vec::new(),
            body: Map::new(),
            seconds,
            audio: false,
            images: 0,
            local: Vec::new(),
            beats: Vec::new(),
            frames: Vec::new(),
        }
    }

    /// Reference images (`references:`), sent as `image_urls`: each an https URL or a local
    /// file uploaded before the request (its place in the list kept for the key).
    fn references(&mut self, at: ShotCtx<'_>, ep: &Endpoint, r: &mut Resolved) {
        let spec = at.spec;
        if spec.references.is_empty() || !ep.references {
            return;
        }
        if spec.references.len() > MAX_REFERENCES {
            let msg = format!(
                "{} reference images; at most {MAX_REFERENCES} are sent in one request",
                spec.references.len()
            );
            self.problem(at, "references", msg);
            return;
        }
        r.body.insert("image_urls".into(), json!(spec.references));
        for (n, value) in spec.references.iter().enumerate() {
            let (field, pointer) = (format!("references[{n}]"), format!("/image_urls/{n}"));
            let slot = Slot {
                field: &field,
                body: &pointer,
            };
            self.media(at, slot, value, Media::Image, r);
            r.images += 1;
        }
    }

    /// Start and end images, and motion control's inputs. `framed`: the start image is a frame
    /// made first (`frame:`), so an `end_image` goes with it.
    fn images(&mut self, at: ShotCtx<'_>, ep: &Endpoint, framed: bool, r: &mut Resolved) {
        let spec = at.spec;
        if let (Some(img), Some(body)) = (&spec.start_image, ep.start_image_field) {
            r.images += 1;
            let slot = Slot {
                field: "start_image",
                body,
            };
            self.image(at, slot, img, r);
        }
        let started = spec.start_image.is_some() || framed;
        if spec.end_image.is_some() && started && ep.end_image_field.is_none() {
            let takers = families_with(|e| e.end_image_field.is_some() && e.provider == ep.provider);
            let msg = format!(
                "{} takes no end image (`{}`): remove `end_image`, or set `model:` to one that does ({takers})",
                ep.family, ep.id
            );
            self.problem(at, "end_image", msg);
        }
        if let (Some(img), Some(body)) = (&spec.end_image, ep.end_image_field)
            && started
        {
            r.images += 1;
            let slot = Slot {
                field: "end_image",
                body,
            };
            self.image(at, slot, img, r);
        }
        if let Some(m) = &spec.motion {
            r.seconds = self.motion(at, m, r);
            r.images += 1;
            r.audio = m.keep_original_sound.unwrap_or(true);
        }
    }
}

/// The families (deduplicated, in catalog order) with an endpoint that satisfies `f`.
pub(super) fn families_with(f: impl Fn(&Endpoint) -> bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    for e in catalog::CATALOG.iter().filter(|e| f(e)) {
        if !out.contains(&e.family) {
            out.push(e.family);
        }
    }
    out.join(", ")
}

/// The model parameters of one shot, each checked against its endpoint.
struct Params<'p, 'a> {
    planner: &'p mut Planner<'a>,
    at: ShotCtx<'p>,
    ep: &'static Endpoint,
    set: crate::storyboard::Params,
}

impl Params<'_, '_> {
    /// duration, aspect_ratio, negative_prompt, cfg_scale and generate_audio, each explicit.
    fn all(&mut self, r: &mut Resolved) {
        let sb = self.planner.sb;
        let d = &sb.defaults;
        let (ep, s) = (self.ep, std::mem::take(&mut self.set));
        let dur = pick(&s.duration, &d.duration);
        if self.takes(
            "duration",
            ep.takes_duration(),
            dur,
            "; the output follows the reference video",
        ) {
            let n = match dur.map(|(v, from)| (self.duration(v), from)) {
                Some((Ok(n), _)) => n,
                Some((Err(wrong), from)) => {
                    self.for_endpoint(from, "duration", wrong);
                    ep.default_seconds
                }
                None => ep.default_seconds,
            };
            r.seconds = n as f64;
            r.body.insert("duration".into(), ep.duration_format.value(n));
        }
        let ar = pick(&s.aspect_ratio, &d.aspect_ratio);
        if self.takes("aspect_ratio", ep.aspect_ratio, ar, "; the frame follows the image") {
            let v = ar.map_or(catalog::DEFAULT_ASPECT_RATIO, |x| x.0.as_str());
            if let (Err(m), Some((_, from))) = (check_aspect(v), ar) {
                self.strict(from, "aspect_ratio", m);
            }
            r.body.insert("aspect_ratio".into(), json!(v));
        }
        let neg = pick(&s.negative_prompt, &d.negative_prompt);
        // Kling's schema default is sent explicitly; other families' (none) is left to them.
        let kling = ep.family.starts_with("kling-");
        if self.takes("negative_prompt", ep.negative_prompt, neg, "") && (kling || neg.is_some()) {
            let v = neg.map_or(catalog::DEFAULT_NEGATIVE_PROMPT, |x| x.0.as_str());
            r.body.insert("negative_prompt".into(), json!(v));
        }
        let cfg = pick(&s.cfg_scale, &d.cfg_scale);
        if self.takes("cfg_scale", ep.cfg_scale, cfg, "") {
            let v = cfg.map_or(catalog::DEFAULT_CFG_SCALE, |x| *x.0);
            if let (Err(m), Some((_, from))) = (check_cfg(v), cfg) {
                self.strict(from, "cfg_scale", m);
            }
            r.body.insert("cfg_scale".into(), json!(v));
        }
        let audio = pick(&s.generate_audio, &d.generate_audio);
        if let Some(default) = ep.generate_audio {
            r.audio = audio.map_or(default, |x| *x.0);
            r.body.insert("generate_audio".into(), json!(r.audio));
        } else {
            self.takes("generate_audio", false, audio, " (it makes no audio)");
        }
    }

    /// Seconds for this endpoint.
    fn duration(&self, d: &Duration) -> Result<u64, Wrong> {
        let whole = match d {
            Duration::Seconds(n) => Some(*n),
            Duration::Text(s) => s.trim().parse::<u64>().ok(),
        };
        let Some(n) = whole else {
            return parse_seconds(d).map_err(|m| Wrong {
                m,
                for_every_model: true,
            });
        };
        let allowed = self.ep.durations;
        if allowed.allows(n) {
            return Ok(n);
        }
        let m = Invalid(format!(
            "{n} seconds is not allowed: {} renders {} seconds (write e.g. `duration: {}`)",
            self.ep.family,
            allowed.describe(),
            self.ep.default_seconds
        ));
        Err(Wrong {
            m,
            for_every_model: parse_seconds(d).is_err(),
        })
    }

    /// A value wrong for this endpoint is the shot's problem, wherever it was set (one from
    /// `defaults` that is wrong for every model was reported once, at `defaults`).
    fn for_endpoint(&mut self, from: SetIn, field: &str, wrong: Wrong) {
        match from {
            SetIn::Shot => self.planner.problem(self.at, field, wrong.m),
            SetIn::Defaults if !wrong.for_every_model => {
                let msg = format!("`defaults.{field}`: {}; set `{field}:` on this shot", wrong.m.0);
                self.planner.problem(self.at, field, msg);
            }
            SetIn::Defaults => {}
        }
    }

    /// Multi-shot beats: taken by the endpoint, not with `prompt`, 1–6 beats of 1–15 s adding
    /// up to the shot's duration (or making it), at most the endpoint's longest.
    fn beats(&mut self, spec: &ShotSpec, r: &mut Resolved) {
        let Some(beats) = &spec.beats else {
            if spec.shot_type.is_some() {
                self.problem("shot_type", "`shot_type` goes with `beats:`: remove it, or add beats");
            }
            return;
        };
        if !self.ep.multi_prompt {
            let msg = format!(
                "{} renders one prompt; multi-shot `beats` need Kling 3.0 or O3 (e.g. `model: kling-v3-pro`)",
                self.ep.family
            );
            return self.problem("beats", msg);
        }
        if spec.prompt.is_some() {
            return self.problem(
                "beats",
                "a shot has `prompt` or `beats`, not both: move the prompt into a beat",
            );
        }
        if beats.is_empty() || beats.len() > MAX_BEATS {
            let msg = format!("{} beats: a multi-shot has 1 to {MAX_BEATS}", beats.len());
            return self.problem("beats", msg);
        }
        let mut seconds = Vec::new();
        for (n, b) in beats.iter().enumerate() {
            match parse_seconds(&b.duration) {
                Ok(s) => seconds.push(s),
                Err(m) => self.problem(&format!("beats[{n}].duration"), m),
            }
        }
        if seconds.len() < beats.len() {
            return;
        }
        let total: u64 = seconds.iter().sum();
        self.beats_total(spec, total, r);
        r.beats = seconds;
        if !self.ep.shot_type {
            if spec.shot_type.is_some() {
                let msg = format!(
                    "{} takes no `shot_type` (its beats are always as written): remove it",
                    self.ep.family
                );
                self.problem("shot_type", msg);
            }
            return;
        }
        let shot_type = spec.shot_type.as_deref().unwrap_or("customize");
        if !["customize", "intelligent"].contains(&shot_type) {
            self.problem(
                "shot_type",
                format!("`{shot_type}` is not a shot type (allowed: customize, intelligent)"),
            );
        }
        r.body.insert("shot_type".into(), json!(shot_type));
    }

    /// The beats' total against the shot's duration and the endpoint's range.
    fn beats_total(&mut self, spec: &ShotSpec, total: u64, r: &mut Resolved) {
        let written = spec.duration.as_ref().and_then(|d| parse_seconds(d).ok());
        if let Some(d) = written.filter(|&d| d != total) {
            let msg = format!(
                "the beats add up to {total} s but `duration` is {d} s: make them equal, or leave `duration` out (it is then their sum)"
            );
            return self.problem("beats", msg);
        }
        if !self.ep.durations.allows(total) {
            let msg = format!(
                "the beats add up to {total} s; {} renders {} seconds in one request",
                self.ep.family,
                self.ep.durations.describe()
            );
            return self.problem("beats", msg);
        }
        r.seconds = total as f64;
        r.body.insert("duration".into(), json!(total.to_string()));
    }

    fn problem(&mut self, field: &str, m: impl Into<String>) {
        self.planner.problem(self.at, field, m.into());
    }

    /// Whether the endpoint takes `field`; a shot that sets one it does not take is a problem
    /// (a value from `defaults` is left out quietly).
    fn takes<T>(&mut self, field: &str, taken: bool, set: Option<(&T, SetIn)>, why: &str) -> bool {
        if !taken && matches!(set, Some((_, SetIn::Shot))) {
            let (kind, id) = (self.ep.kind.name(), self.ep.id);
            let msg = format!("{kind} ({id}) does not take `{field}`{why}: remove it from the shot");
            self.planner.problem(self.at, field, msg);
        }
        taken
    }

    /// A bad value is the shot's problem when the shot set it (`defaults` are checked once).
    fn strict(&mut self, from: SetIn, field: &str, m: Invalid) {
        if from == SetIn::Shot {
            self.planner.problem(self.at, field, m);
        }
    }
}

/// A value wrong for an endpoint, and whether it is wrong for every model (then `defaults`
/// reported it already).
struct Wrong {
    m: Invalid,
    for_every_model: bool,
}

pub(super) enum EndpointChoice {
    Known(&'static Endpoint),
    Raw(String),
}

pub(super) struct Resolved {
    /// Seconds of each beat (`beats:`), in order; empty for a single prompt.
    pub(super) beats: Vec<u64>,
    pub(super) endpoint: Option<&'static Endpoint>,
    pub(super) raw_id: Option<String>,
    pub(super) chain: Vec<Chain>,
    pub(super) body: Map<String, Value>,
    pub(super) seconds: f64,
    pub(super) audio: bool,
    pub(super) images: usize,
    pub(super) local: Vec<LocalFile>,
    /// The frames made by an image model first: the first (`frame:`), then the end frame
    /// (`end_frame:`).
    pub(super) frames: Vec<super::frames::ResolvedFrame>,
}

pub(super) fn pick<'v, T>(shot: &'v Option<T>, defaults: &'v Option<T>) -> Option<(&'v T, SetIn)> {
    match (shot, defaults) {
        (Some(v), _) => Some((v, SetIn::Shot)),
        (None, Some(v)) => Some((v, SetIn::Defaults)),
        _ => None,
    }
}

/// A fal endpoint id is `owner/app[/path…]` of plain segments, an Eachlabs model one plain
/// slug: it becomes part of the URL the key is sent to, so `..`, `?`, `#`, `%` and empty
/// segments are refused.
pub(super) fn check_endpoint_id(id: &str, provider: ProviderKind) -> Result<(), Invalid> {
    let segments: Vec<&str> = id.split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty() && *s != "." && *s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    let (shape_ok, example) = match provider {
        ProviderKind::Fal => (
            segments.len() >= 2,
            "`owner/app/path`, e.g. `fal-ai/kling-video/v2.6/pro/text-to-video`",
        ),
        ProviderKind::Eachlabs => (segments.len() == 1, "a model slug, e.g. `kling-v2-6-pro-text-to-video`"),
    };
    if shape_ok && segments.iter().all(plain) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "`{id}` is not an endpoint id: write {example}, of letters, digits, `.`, `_` and `-`"
        )))
    }
}

/// The most beats in one multi-shot (`../shared/reference/kling-v3-and-platform.md` §2).
pub(super) const MAX_BEATS: usize = 6;
/// The most reference images in one request (O3: 7 without a video element; §2).
pub(super) const MAX_REFERENCES: usize = 7;

/// A whole number of seconds that some model renders (1 to 15); each endpoint narrows it.
pub(super) fn parse_seconds(d: &Duration) -> Result<u64, Invalid> {
    let n = match d {
        Duration::Seconds(n) => Some(*n),
        Duration::Text(s) => s.trim().parse::<u64>().ok(),
    };
    match n {
        Some(n) if (1..=catalog::MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(Invalid(format!(
            "{d} seconds is not a whole number of seconds any model renders: Kling v2.x renders 5 or 10, Kling 3.0 and O3 3 to 15"
        ))),
    }
}

pub(super) fn check_aspect(ar: &str) -> Result<(), Invalid> {
    if catalog::ASPECT_RATIOS.contains(&ar) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "`{ar}` is not allowed (allowed: {}; quote it in YAML: \"16:9\")",
            catalog::ASPECT_RATIOS.join(", ")
        )))
    }
}

pub(super) fn check_cfg(c: f64) -> Result<(), Invalid> {
    if (0.0..=1.0).contains(&c) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{c} is outside 0..1 (cfg_scale is a number from 0 to 1)"
        )))
    }
}
