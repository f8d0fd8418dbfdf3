//! Resolution: the endpoint a shot's inputs select and the parameters it sends, each checked
//! against what the endpoint takes (a value the shot sets is strict; one from `defaults` is
//! left out where it does not apply).

use serde_json::{Map, Value, json};

use super::{Chain, Invalid, LocalFile, Planner};
use crate::catalog::{self, Endpoint, Kind, ProviderKind};
use crate::storyboard::{Duration, Params, ShotSpec};

/// Where a parameter's value came from: the shot itself is strict, `defaults` is skipped
/// for endpoints that do not take the parameter.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum SetIn {
    Shot,
    Defaults,
}

impl Planner<'_> {
    pub(super) fn check_defaults(&mut self, d: &Params) {
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

    /// Everything about a shot that does not depend on its matrix values: the endpoint and
    /// the parameters. Reports problems; `None` when the shot cannot be resolved.
    pub(super) fn resolve(&mut self, i: usize, name: &str, spec: &ShotSpec) -> Option<Resolved> {
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
        let check = |this: &mut Self, field: &str, taken: bool, set: Option<SetIn>, why: &str| -> bool {
            match (taken, set) {
                (true, _) => true,
                (false, Some(SetIn::Shot)) => {
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
                        if from == SetIn::Shot {
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
                && ar.is_some_and(|x| x.1 == SetIn::Shot)
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
                && cfg.is_some_and(|x| x.1 == SetIn::Shot)
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
}

pub(super) enum EndpointChoice {
    Known(&'static Endpoint),
    Raw(String),
}

pub(super) struct Resolved {
    pub(super) endpoint: Option<&'static Endpoint>,
    pub(super) raw_id: Option<String>,
    pub(super) chain: Vec<Chain>,
    pub(super) body: Map<String, Value>,
    pub(super) seconds: f64,
    pub(super) audio: bool,
    pub(super) images: usize,
    pub(super) local: Vec<LocalFile>,
}

pub(super) fn pick<'v, T>(shot: &'v Option<T>, defaults: &'v Option<T>) -> Option<(&'v T, SetIn)> {
    match (shot, defaults) {
        (Some(v), _) => Some((v, SetIn::Shot)),
        (None, Some(v)) => Some((v, SetIn::Defaults)),
        _ => None,
    }
}

pub(super) fn parse_duration(d: &Duration) -> Result<u64, Invalid> {
    let n = match d {
        Duration::Seconds(n) => Some(*n),
        Duration::Text(s) => s.trim().parse::<u64>().ok(),
    };
    match n {
        Some(n) if catalog::DURATIONS.contains(&n) => Ok(n),
        _ => Err(Invalid(format!(
            "{d} seconds is not allowed: Kling renders 5 or 10 seconds (write `duration: 5` or `duration: 10`)"
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
