//! Frames first (issue #25): a frame's request to an image endpoint — its body, checked against
//! the endpoint's published input schema like a video body, and its exact price.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::inputs::Source;
use super::{LocalFile, Planner, Salt, ShotCtx, Subst, request_key};
use crate::facts::catalog::{self, Endpoint, ImageEndpoint, ImageShape, named_size};
use crate::facts::cost::rates::{Exactness, ImageAsk};
use crate::facts::cost::{Micros, rates::ImagePrice};
use crate::plan::wire;
use crate::provider::ProviderKind;
pub(crate) use crate::record::takes::Edge;
use crate::storyboard::{FrameSpec, ImageSpec};

/// The image family a frame uses when it names none.
pub(crate) const DEFAULT_FRAME_MODEL: &str = "nano-banana-2";

/// A shot's frame once its endpoint is known: what to ask the image model, and the video body
/// field the frame fills.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvedFrame {
    /// The first frame or the end frame.
    pub(super) edge: Edge,
    /// `frame:` over `defaults.frame` (`end_frame:` over `defaults.end_frame`).
    pub(super) spec: FrameSpec,
    /// The image family.
    pub(super) model: String,
    /// The frame's aspect ratio.
    pub(super) aspect: String,
    /// The video's image field it fills (`start_image_url`, `image_url`, `end_image_url`…).
    pub(super) field: &'static str,
}

/// A shot's frame request: planned like a video request (body, price, key), rendered first.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedFrame {
    /// The video's first frame, or its end frame (`"edge": "end"`).
    #[serde(skip_serializing_if = "Edge::is_start")]
    pub edge: Edge,
    /// The image family.
    pub model: String,
    /// The fal endpoint id.
    pub endpoint: String,
    /// The exact request body (local cast images shown by the path as written).
    pub input: Map<String, Value>,
    /// Local files to upload (cast images), with their content hashes.
    pub local_files: Vec<LocalFile>,
    /// The characters whose images it edits, in image order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cast: Vec<String>,
    /// The list price of the frame.
    pub estimate: Micros,
    /// Where the price came from.
    pub price_from: String,
    /// The frame request's cache key.
    pub request_key: String,
    /// The video body field the frame fills.
    pub field: String,
    /// A new frame take asked for (`storyboard pick --redo-frame`): the number of frame takes
    /// the shot had then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redo: Option<u32>,
    /// Its take of `frame: {takes: N}` (2…N; the first has none, so adding `takes` keeps the
    /// frame already made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub take: Option<u32>,
    /// The key's substitutions (local files by content).
    #[serde(skip)]
    pub substs: Vec<Subst>,
}

impl PlannedFrame {
    /// The same frame asked again: one new frame take, a new request key.
    pub(crate) fn redone(&self, after: u32) -> PlannedFrame {
        self.salted(Salt {
            take: None,
            redo: Some(after),
            end: self.edge == Edge::End,
        })
    }

    /// Take `n` of `frame: {takes: N}`: the same body, its own request key.
    pub(crate) fn taken(&self, n: u32) -> PlannedFrame {
        self.salted(Salt {
            take: Some(n),
            redo: None,
            end: self.edge == Edge::End,
        })
    }

    fn salted(&self, salt: Salt) -> PlannedFrame {
        PlannedFrame {
            request_key: request_key(ProviderKind::Fal, &self.endpoint, &self.input, &self.substs, salt),
            redo: salt.redo,
            take: salt.take,
            ..self.clone()
        }
    }
}

/// What a frame asks of its image endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameAsk<'a> {
    /// The rendered prompt.
    pub prompt: &'a str,
    /// The shot's aspect ratio (`16:9`).
    pub aspect: &'a str,
    /// `resolution:` as written (`None`: the endpoint's default).
    pub resolution: Option<&'a str>,
    /// Reference images (the cast's frontal and reference images), as sent; their pixel sizes
    /// for megapixel prices where known.
    pub images: &'a [(String, Option<(u64, u64)>)],
}

/// A frame's request: the body, its price and where that comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameRequest {
    /// The exact request body.
    pub input: Map<String, Value>,
    /// The list price of one frame.
    pub estimate: Micros,
    /// The price's source and what is unconfirmed about it.
    pub price_from: String,
}

/// The body and price of one frame on `e`; `Err` names the `frame:` field that cannot be sent
/// and what to write instead.
pub(crate) fn request(e: &ImageEndpoint, ask: &FrameAsk<'_>) -> Result<FrameRequest, (String, String)> {
    let mut input = Map::new();
    input.insert("prompt".into(), json!(ask.prompt));
    let pixels = shape(e, ask, &mut input)?;
    if e.num_images {
        input.insert("num_images".into(), json!(1));
    }
    if e.output_format {
        input.insert("output_format".into(), json!("png"));
    }
    if e.edit && ask.images.is_empty() {
        return Err((
            "image_urls".into(),
            format!("`{}` edits reference images: the frame has none", e.id),
        ));
    }
    if e.edit {
        let urls: Vec<&str> = ask.images.iter().map(|(u, _)| u.as_str()).collect();
        input.insert("image_urls".into(), json!(urls));
    }
    let body = Value::Object(input);
    if let Some(v) = wire::check(ProviderKind::Fal, e.id, &body).and_then(|v| v.into_iter().next()) {
        return Err((v.field, v.message));
    }
    let Value::Object(input) = body else {
        unreachable!("built as an object")
    };
    // A reference image's size is not read: priced at the most an input counts (4 MP).
    let unread = e.edit && ask.images.iter().any(|(_, px)| px.is_none());
    let inputs: Vec<(u64, u64)> = ask.images.iter().map(|(_, px)| px.unwrap_or((2048, 2048))).collect();
    let resolution = ask.resolution.or(e.resolutions.first().copied()).unwrap_or("");
    let quote = e.price.rule.quote(&ImageAsk {
        resolution,
        pixels,
        inputs: &inputs,
    });
    let quote = quote.map_err(|why| ("resolution".to_owned(), format!("`{}`: {why}", e.id)))?;
    debug_assert_eq!(quote.exactness, Exactness::Exact);
    let mut from = price_from(&e.price);
    if unread
        && matches!(
            e.price.rule,
            crate::facts::cost::rates::ImageRule::Megapixels { per_input: 1.., .. }
        )
    {
        from.push_str("; upper bound: each reference image priced at 4 MP");
    }
    Ok(FrameRequest {
        input,
        estimate: quote.amount,
        price_from: from,
    })
}

/// Sets the frame's shape fields; the output's nominal pixel size.
fn shape(
    e: &ImageEndpoint,
    ask: &FrameAsk<'_>,
    input: &mut Map<String, Value>,
) -> Result<(u64, u64), (String, String)> {
    match e.shape {
        ImageShape::AspectRatio => {
            let resolution = ask.resolution.or(e.resolutions.first().copied()).unwrap_or("1K");
            if !e.resolutions.contains(&resolution) {
                let msg = format!(
                    "`{}` takes resolution {}, not `{resolution}`",
                    e.id,
                    e.resolutions.join(", ")
                );
                return Err(("resolution".into(), msg));
            }
            input.insert("aspect_ratio".into(), json!(ask.aspect));
            input.insert("resolution".into(), json!(resolution));
            Ok((0, 0))
        }
        ImageShape::NamedSize => {
            if let Some(r) = ask.resolution {
                let msg = format!(
                    "`{}` takes no resolution (its size follows the aspect ratio): remove `resolution: {r}`",
                    e.id
                );
                return Err(("resolution".into(), msg));
            }
            let Some((name, px)) = named_size(ask.aspect) else {
                let msg = format!("`{}` has no named size for aspect ratio {}", e.id, ask.aspect);
                return Err(("aspect_ratio".into(), msg));
            };
            input.insert("image_size".into(), json!(name));
            Ok(px)
        }
    }
}

impl Planner<'_> {
    /// The shot's frame: its own `frame:` over `defaults.frame`, or `defaults.frame` for a shot
    /// that has no first frame of its own (`start_image`, `references`, `motion`, `endpoint`).
    pub(super) fn shot_frame(&mut self, at: ShotCtx<'_>) -> Option<FrameSpec> {
        let spec = at.spec;
        let own = spec.start_image.is_some()
            || spec.motion.is_some()
            || !spec.references.is_empty()
            || spec.endpoint.is_some();
        let defaults = self.sb.defaults.frame.as_ref();
        if let Some(Err(msg)) = spec.frame.as_ref().and_then(|f| f.takes).map(check_takes) {
            self.problem(at, "frame.takes", msg);
        }
        match (&spec.frame, defaults) {
            (Some(_), _) if own => {
                let msg = "the shot already gives its first frame (`start_image`, `references`, `motion` or `endpoint`): remove `frame:` or that field";
                self.problem(at, "frame", msg);
                None
            }
            (Some(f), d) => Some(f.over(d.unwrap_or(&FrameSpec::default()))),
            (None, Some(d)) if !own => Some(d.clone()),
            _ => None,
        }
    }

    /// The shot's end frame: its own `end_frame:` over `defaults.end_frame`, then over
    /// `defaults.frame`'s model, aspect ratio and resolution. `framed`: the shot has a first
    /// frame made by an image model.
    pub(super) fn shot_end_frame(&mut self, at: ShotCtx<'_>, framed: bool) -> Option<FrameSpec> {
        let spec = at.spec;
        let own = spec.end_frame.as_ref()?;
        if let Some(Err(msg)) = own.takes.map(check_takes) {
            self.problem(at, "end_frame.takes", msg);
        }
        let d = &self.sb.defaults;
        let looks = d.frame.as_ref().map(|f| FrameSpec {
            prompt: None,
            takes: None,
            ..f.clone()
        });
        let inherited = d.end_frame.clone().unwrap_or_default().over(&looks.unwrap_or_default());
        let merged = own.over(&inherited);
        let problem = if !framed && spec.start_image.is_none() {
            "an end frame needs a first frame: add `frame:` or `start_image:`, or remove `end_frame`"
        } else if matches!(spec.start_image, Some(ImageSpec::After(_) | ImageSpec::FrameOf(_))) {
            "an end frame with a start image taken from another shot (`after:`, `frame_of:`) is not supported: give the shot `frame:` or an image file as `start_image`, or remove `end_frame`"
        } else if spec.end_image.is_some() {
            "the shot already gives its end image (`end_image`): remove `end_frame:` or `end_image`"
        } else if merged.prompt.is_none() {
            "an end frame needs its own `prompt:` (how the shot ends)"
        } else {
            return Some(merged);
        };
        self.problem(at, "end_frame", problem);
        None
    }

    /// The frame's model and aspect checked, and its place in the video body taken.
    pub(super) fn frame_slot(
        &mut self,
        at: ShotCtx<'_>,
        ep: &Endpoint,
        (edge, spec): (Edge, FrameSpec),
        r: &mut super::resolve::Resolved,
    ) -> Option<ResolvedFrame> {
        let model = spec.model.clone().unwrap_or_else(|| DEFAULT_FRAME_MODEL.to_owned());
        let own = match edge {
            Edge::Start => &at.spec.frame,
            Edge::End => &at.spec.end_frame,
        };
        if let Err(msg) = check_image_model(&model) {
            // A model from `defaults` was reported once, at `defaults`.
            if own.as_ref().is_some_and(|f| f.model.is_some()) {
                self.problem(at, &format!("{}.model", edge.field()), msg);
            }
            return None;
        }
        let d = &self.sb.defaults;
        let aspect = [&spec.aspect_ratio, &at.spec.aspect_ratio, &d.aspect_ratio]
            .into_iter()
            .find_map(|a| a.clone())
            .unwrap_or_else(|| catalog::DEFAULT_ASPECT_RATIO.to_owned());
        if let Err(m) = super::resolve::check_aspect(&aspect) {
            self.problem(at, &format!("{}.aspect_ratio", edge.field()), m);
            return None;
        }
        let field = match edge {
            Edge::Start => ep.start_image_field?,
            Edge::End => self.end_field(at, ep)?,
        };
        r.body.insert(field.into(), json!(format!("<{}>", edge.words())));
        r.images += 1;
        Some(ResolvedFrame {
            edge,
            spec,
            model,
            aspect,
            field,
        })
    }

    /// The video endpoint's end image field, or a problem naming the models that have one.
    fn end_field(&mut self, at: ShotCtx<'_>, ep: &Endpoint) -> Option<&'static str> {
        if ep.end_image_field.is_none() {
            let takers = super::resolve::families_with(|e| e.end_image_field.is_some() && e.provider == ep.provider);
            let msg = format!(
                "{} takes no end image (`{}`): remove `end_frame`, or set `model:` to one that does ({takers})",
                ep.family, ep.id
            );
            self.problem(at, "end_frame", msg);
        }
        ep.end_image_field
    }

    /// The frame request of one take: its prompt (the frame's own, else the shot's; `cast()`
    /// names "the character in image N"), the cast's images for an edit, body, price and key.
    pub(super) fn frame(
        &mut self,
        at: ShotCtx<'_>,
        f: &ResolvedFrame,
        text: &str,
        cast: &[String],
    ) -> Option<PlannedFrame> {
        let (images, local) = self.cast_images(at, f.edge, cast)?;
        let prompt = name_images(text, cast, &images);
        let e = catalog::select_image(&f.model, !images.is_empty())?;
        let sent: Vec<(String, Option<(u64, u64)>)> = images.iter().map(|(u, _, _)| (u.clone(), None)).collect();
        let ask = FrameAsk {
            prompt: &prompt,
            aspect: &f.aspect,
            resolution: f.spec.resolution.as_deref(),
            images: &sent,
        };
        let req = match request(e, &ask) {
            Ok(r) => r,
            Err((field, msg)) => {
                let field = if field == "image_urls" {
                    f.edge.field().to_owned()
                } else {
                    format!("{}.{field}", f.edge.field())
                };
                self.problem(at, &field, msg);
                return None;
            }
        };
        let substs = self.substs(&local, &[]);
        let salt = Salt {
            end: f.edge == Edge::End,
            ..Salt::default()
        };
        let key = request_key(ProviderKind::Fal, e.id, &req.input, &substs, salt);
        Some(PlannedFrame {
            edge: f.edge,
            model: f.model.clone(),
            endpoint: e.id.to_owned(),
            input: req.input,
            local_files: local,
            cast: cast.to_vec(),
            estimate: req.estimate,
            price_from: req.price_from,
            request_key: key,
            field: f.field.to_owned(),
            redo: None,
            take: None,
            substs,
        })
    }

    /// The images of the characters a frame names, in order (frontal, then references):
    /// (as sent, character, first image number) and the local files among them.
    fn cast_images(
        &mut self,
        at: ShotCtx<'_>,
        edge: Edge,
        cast: &[String],
    ) -> Option<(Vec<CastImage>, Vec<LocalFile>)> {
        let (mut images, mut local) = (Vec::new(), Vec::new());
        for name in cast {
            let c = self.cast.get(name)?;
            if c.frontal.is_none() {
                let msg = format!(
                    "`{name}` is given by a video: a frame edits images, so give the character a `frontal:` image"
                );
                self.problem(at, &format!("{}.prompt", edge.field()), msg);
                return None;
            }
            for src in c.frontal.iter().chain(&c.references) {
                let n = images.len();
                let sent = match src {
                    Source::Url(u) => u.clone(),
                    Source::Local { written, path, sha256 } => {
                        local.push(LocalFile {
                            field: format!("/image_urls/{n}"),
                            written: written.clone(),
                            path: path.clone(),
                            sha256: sha256.clone(),
                        });
                        written.clone()
                    }
                };
                images.push((sent, name.clone(), n + 1));
            }
        }
        Some((images, local))
    }
}

/// One image of a character a frame edits: as sent, the character, its 1-based number.
type CastImage = (String, String, usize);

/// `@ElementK` (what `cast()` writes for video) → "the character in image N", N the first of
/// that character's images.
fn name_images(text: &str, cast: &[String], images: &[CastImage]) -> String {
    let mut out = text.to_owned();
    for (k, name) in cast.iter().enumerate().rev() {
        if let Some((_, _, n)) = images.iter().find(|(_, c, _)| c == name) {
            out = out.replace(&format!("@Element{}", k + 1), &format!("the character in image {n}"));
        }
    }
    out
}

/// An image family of the catalog, or what to write instead.
pub(super) fn check_image_model(model: &str) -> Result<(), String> {
    let families = catalog::image_families();
    if families.contains(&model) {
        return Ok(());
    }
    let hint = crate::problem::did_you_mean(model, families.iter().copied());
    Err(format!(
        "unknown image model `{model}`{hint} (allowed: {})",
        families.join(", ")
    ))
}

/// `frame: {takes: N}` within 1…[`super::MAX_FRAME_TAKES`], or what to write instead.
pub(super) fn check_takes(n: u32) -> Result<(), String> {
    match n {
        0 => Err("must be at least 1 (the frames to make and choose from)".into()),
        n if n > super::MAX_FRAME_TAKES => Err(format!(
            "{n} frame takes: at most {} frames of one shot per render; pick among them, then ask more with `storyboard pick FILE SHOT --redo-frame`",
            super::MAX_FRAME_TAKES
        )),
        _ => Ok(()),
    }
}

/// `table 2026-11-30 (source)`, with the dispute where the figure is not fal's own.
fn price_from(p: &ImagePrice) -> String {
    match p.dispute {
        Some(d) => format!("table {} ({d})", p.read),
        None => format!("table {}", p.read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::catalog::{IMAGE_CATALOG, select_image};

    fn ask<'a>(
        aspect: &'a str,
        resolution: Option<&'a str>,
        images: &'a [(String, Option<(u64, u64)>)],
    ) -> FrameAsk<'a> {
        FrameAsk {
            prompt: "a lighthouse at dusk",
            aspect,
            resolution,
            images,
        }
    }

    /// Every image row builds a body its published schema accepts, for every aspect a shot has.
    #[test]
    fn every_image_endpoint_gets_a_body_its_schema_takes() {
        let refs = [("https://example.com/a.png".to_owned(), Some((1024, 1024)))];
        for e in IMAGE_CATALOG {
            for aspect in ["16:9", "9:16", "1:1"] {
                let images = if e.edit { &refs[..] } else { &[] };
                let r = request(e, &ask(aspect, None, images)).unwrap_or_else(|x| panic!("{}: {x:?}", e.id));
                assert_eq!(r.input["prompt"], "a lighthouse at dusk");
                assert_eq!(r.input.contains_key("image_urls"), e.edit, "{}", e.id);
            }
        }
    }

    #[test]
    fn prices_and_refusals_follow_the_endpoint() {
        let nb = select_image("nano-banana-2", false).unwrap();
        let r = request(nb, &ask("16:9", Some("2K"), &[])).unwrap();
        assert_eq!(r.estimate, Micros(120_000));
        assert_eq!(r.input["resolution"], "2K");
        assert_eq!(r.input["output_format"], "png");
        let bad = request(nb, &ask("16:9", Some("3K"), &[])).unwrap_err();
        assert_eq!(bad.0, "resolution");
        assert!(bad.1.contains("0.5K"), "{}", bad.1);
        let flux = select_image("flux-2-pro", true).unwrap();
        let refs = [("https://example.com/a.png".to_owned(), Some((2048, 2048)))];
        let r = request(flux, &ask("16:9", None, &refs)).unwrap();
        assert_eq!(r.input["image_size"], "landscape_16_9");
        assert_eq!(r.estimate, Micros(30_000 + 4 * 15_000));
        assert!(r.price_from.contains("unconfirmed"), "{}", r.price_from);
        let sd = select_image("seedream-4.5", true).unwrap();
        let err = request(sd, &ask("16:9", None, &[])).unwrap_err();
        assert_eq!(err.0, "image_urls", "an edit without images: {err:?}");
        assert!(request(sd, &ask("16:9", Some("4K"), &refs)).is_err());
    }
}
