//! The model catalog (../shared/DESIGN.md §2): which endpoint a shot goes to, what each endpoint's
//! request body looks like (field names differ between versions), and its list price.

use serde::Serialize;

use crate::facts::cost::{Price, rates};

pub(crate) use crate::provider::ProviderKind;

/// What an endpoint does; follows from a shot's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Prompt only.
    TextToVideo,
    /// A start image (and optionally an end image).
    ImageToVideo,
    /// Reference images (`references:`, `@Image1`…) and optionally start/end images.
    ReferenceToVideo,
    /// A character image driven by a reference video.
    MotionControl,
}

impl Kind {
    /// The kebab-case name, as in endpoint ids.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::TextToVideo => "text-to-video",
            Kind::ImageToVideo => "image-to-video",
            Kind::ReferenceToVideo => "reference-to-video",
            Kind::MotionControl => "motion-control",
        }
    }
}

/// The durations an endpoint renders (whole seconds; the body gets a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durations {
    /// No `duration` field (motion control follows its reference video).
    None,
    /// One of these.
    Only(&'static [u64]),
    /// Any whole number of seconds in this range.
    Range {
        /// Shortest.
        min: u64,
        /// Longest.
        max: u64,
    },
}

impl Durations {
    /// Whether `n` seconds is allowed.
    pub(crate) fn allows(self, n: u64) -> bool {
        match self {
            Durations::None => false,
            Durations::Only(list) => list.contains(&n),
            Durations::Range { min, max } => (min..=max).contains(&n),
        }
    }

    /// For messages: `5 or 10`, `3 to 15`.
    pub(crate) fn describe(self) -> String {
        match self {
            Durations::None => "none".into(),
            Durations::Only(list) => list.iter().map(u64::to_string).collect::<Vec<_>>().join(" or "),
            Durations::Range { min, max } => format!("{min} to {max}"),
        }
    }
}

/// How an endpoint writes `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationFormat {
    /// `"5"` (Kling, Seedance, Hailuo).
    Text,
    /// `"8s"` (Veo).
    TextSeconds,
    /// `8` (LTX).
    Number,
}

impl DurationFormat {
    /// The body value for `n` seconds.
    pub(crate) fn value(self, n: u64) -> serde_json::Value {
        match self {
            DurationFormat::Text => serde_json::json!(n.to_string()),
            DurationFormat::TextSeconds => serde_json::json!(format!("{n}s")),
            DurationFormat::Number => serde_json::json!(n),
        }
    }
}

/// How an endpoint takes voices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Voices {
    /// It takes none.
    None,
    /// `voice_ids`, referenced in the prompt as `<<<voice_1>>>` (Kling v2.6).
    Ids,
    /// Bound to characters through `elements[].voice_id` (Kling 3.0 / O3).
    Elements,
}

/// One endpoint of the catalog: the shape of its request body, what each field takes, and its
/// list price with the source and date it was read. Validation, `storyboard models` and the
/// estimate all read this table; the sandbox keeps its own copy of the schemas.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    /// Who serves it.
    pub provider: ProviderKind,
    /// Model family (`kling-v2.6-pro`).
    pub family: &'static str,
    /// What it does.
    pub kind: Kind,
    /// fal endpoint id, or Eachlabs model slug.
    pub id: &'static str,
    /// Eachlabs model version (sent with every prediction).
    pub version: Option<&'static str>,
    /// The body field for the start image (`start_image_url` on v2.6 and v3, `image_url` on
    /// v2.5 and O3 image-to-video).
    pub start_image_field: Option<&'static str>,
    /// The body field for the end image (`end_image_url`, `tail_image_url` on v2.5).
    pub end_image_field: Option<&'static str>,
    /// The durations it renders.
    pub durations: Durations,
    /// How it writes `duration`.
    pub duration_format: DurationFormat,
    /// The seconds it renders when the shot names none (its published default; Hailuo pro,
    /// which takes no duration, renders this).
    pub default_seconds: u64,
    /// Used only for shots with an end image (Veo's first/last frame endpoints); the family's
    /// other image-to-video row takes the shots without one.
    pub end_image_only: bool,
    /// Takes `aspect_ratio` (`16:9`, `9:16`, `1:1`).
    pub aspect_ratio: bool,
    /// Takes `negative_prompt`.
    pub negative_prompt: bool,
    /// Takes `cfg_scale` (0..1).
    pub cfg_scale: bool,
    /// Takes `generate_audio`, and its default.
    pub generate_audio: Option<bool>,
    /// How it takes voices.
    pub voices: Voices,
    /// Takes `multi_prompt` (`beats:`).
    pub multi_prompt: bool,
    /// Takes `shot_type` with `multi_prompt` (not v3 turbo).
    pub shot_type: bool,
    /// Takes `image_urls` (`references:`).
    pub references: bool,
    /// Takes `elements` (characters).
    pub elements: bool,
    /// List price.
    pub price: Price,
    /// The price is assumed from another provider's, not published for this one.
    pub price_assumed: bool,
}

impl Endpoint {
    /// The id without the `fal-ai/kling-video/` prefix, for tables.
    pub(crate) fn short(&self) -> &'static str {
        self.id.strip_prefix("fal-ai/kling-video/").unwrap_or(self.id)
    }

    /// Takes `duration`.
    pub(crate) fn takes_duration(&self) -> bool {
        self.durations != Durations::None
    }
}

/// Every endpoint the catalog knows, in the order `select` prefers them: read once from
/// `catalog.json` (`facts::data`), each family's endpoints and each storyboard concept's body
/// field, checked against the published schemas by the tests below.
pub(crate) static CATALOG: std::sync::LazyLock<Vec<Endpoint>> = std::sync::LazyLock::new(super::data::load);

/// The model families, in catalog order.
pub(crate) fn families() -> Vec<&'static str> {
    distinct(CATALOG.iter().map(|e| e.family))
}

/// Each name once, in first-seen order.
fn distinct(names: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The endpoint for a family, provider and kind, if the catalog has one (for a shot with an end
/// image, the family's end-image endpoint when it has one).
pub(crate) fn select(family: &str, provider: ProviderKind, kind: Kind) -> Option<&'static Endpoint> {
    select_for(family, provider, kind, false)
}

/// [`select`], knowing whether the shot has an end image.
pub(crate) fn select_for(
    family: &str,
    provider: ProviderKind,
    kind: Kind,
    end_image: bool,
) -> Option<&'static Endpoint> {
    let rows = || {
        CATALOG
            .iter()
            .filter(move |e| e.family == family && e.provider == provider && e.kind == kind)
    };
    rows()
        .find(|e| e.end_image_only == end_image)
        .or_else(|| rows().find(|e| !e.end_image_only))
}

/// A catalog endpoint by id (for the `endpoint:` escape hatch).
pub(crate) fn by_id(provider: ProviderKind, id: &str) -> Option<&'static Endpoint> {
    CATALOG.iter().find(|e| e.provider == provider && e.id == id)
}

/// How an image endpoint takes the frame's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageShape {
    /// `aspect_ratio` (`16:9`…) and `resolution` (`0.5K`/`1K`/`2K`/`4K`) (Nano Banana 2).
    AspectRatio,
    /// `image_size`, one of fal's named sizes (`landscape_16_9`…) (Seedream 4.5, FLUX.2).
    NamedSize,
}

/// One image endpoint (issue #25; fields from fal-js's types, docs/frames-research.md):
/// a frame's request goes here, one image a request so that takes journal and bill one by one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImageEndpoint {
    /// Model family (`nano-banana-2`), as `frame: model:` names it.
    pub family: &'static str,
    /// fal endpoint id.
    pub id: &'static str,
    /// Takes reference images (`image_urls`, required): used for frames of shots with a cast.
    pub edit: bool,
    /// How it takes the frame's shape.
    pub shape: ImageShape,
    /// The `resolution` values it takes (empty: none); the first is its default.
    pub resolutions: &'static [&'static str],
    /// Takes `num_images` (always sent as 1).
    pub num_images: bool,
    /// Takes `output_format` (always sent as `png`: lossless for the video's start image).
    pub output_format: bool,
    /// List price.
    pub price: rates::ImagePrice,
}

const NB_RESOLUTIONS: &[&str] = &["1K", "0.5K", "2K", "4K"];

const fn image(family: &'static str, id: &'static str, edit: bool, price: rates::ImagePrice) -> ImageEndpoint {
    ImageEndpoint {
        family,
        id,
        edit,
        shape: ImageShape::NamedSize,
        resolutions: &[],
        num_images: false,
        output_format: false,
        price,
    }
}

const fn nano_banana(id: &'static str, edit: bool, price: rates::ImagePrice) -> ImageEndpoint {
    ImageEndpoint {
        shape: ImageShape::AspectRatio,
        resolutions: NB_RESOLUTIONS,
        num_images: true,
        output_format: true,
        ..image("nano-banana-2", id, edit, price)
    }
}

/// Every image endpoint frames use: text-to-image, and edit for frames with reference images.
pub(crate) const IMAGE_CATALOG: &[ImageEndpoint] = &[
    nano_banana("fal-ai/nano-banana-2", false, rates::NANO_BANANA_2_PRICE),
    nano_banana("fal-ai/nano-banana-2/edit", true, rates::NANO_BANANA_2_EDIT_PRICE),
    ImageEndpoint {
        num_images: true,
        ..image(
            "seedream-4.5",
            "fal-ai/bytedance/seedream/v4.5/text-to-image",
            false,
            rates::SEEDREAM_45_PRICE,
        )
    },
    ImageEndpoint {
        num_images: true,
        ..image(
            "seedream-4.5",
            "fal-ai/bytedance/seedream/v4.5/edit",
            true,
            rates::SEEDREAM_45_EDIT_PRICE,
        )
    },
    ImageEndpoint {
        output_format: true,
        ..image("flux-2-pro", "fal-ai/flux-2-pro", false, rates::FLUX2_PRO_PRICE)
    },
    ImageEndpoint {
        output_format: true,
        ..image(
            "flux-2-pro",
            "fal-ai/flux-2-pro/edit",
            true,
            rates::FLUX2_PRO_EDIT_PRICE,
        )
    },
];

/// The image model families, in catalog order.
pub(crate) fn image_families() -> Vec<&'static str> {
    distinct(IMAGE_CATALOG.iter().map(|e| e.family))
}

/// The image endpoint of a family: its edit endpoint when the frame has reference images.
pub(crate) fn select_image(family: &str, edit: bool) -> Option<&'static ImageEndpoint> {
    IMAGE_CATALOG.iter().find(|e| e.family == family && e.edit == edit)
}

/// fal's named image sizes for the aspect ratios a shot has, and their pixel sizes.
const NAMED_SIZES: &[(&str, &str, (u64, u64))] = &[
    ("16:9", "landscape_16_9", (1024, 576)),
    ("9:16", "portrait_16_9", (576, 1024)),
    ("1:1", "square_hd", (1024, 1024)),
    ("4:3", "landscape_4_3", (1024, 768)),
    ("3:4", "portrait_4_3", (768, 1024)),
];

/// The named `image_size` and its pixels for an aspect ratio (`None` for one fal names no size for).
pub(crate) fn named_size(aspect: &str) -> Option<(&'static str, (u64, u64))> {
    NAMED_SIZES
        .iter()
        .find(|(a, _, _)| *a == aspect)
        .map(|(_, n, px)| (*n, *px))
}

/// The longest duration any endpoint renders (a value beyond it is wrong for every model):
/// LTX-2.3 fast's 20 s.
pub(crate) const MAX_SECONDS: u64 = 20;
/// Allowed aspect ratios.
pub(crate) const ASPECT_RATIOS: &[&str] = &["16:9", "9:16", "1:1"];
/// Motion-control character orientations.
pub(crate) const ORIENTATIONS: &[&str] = &["image", "video"];
/// Defaults the APIs would apply; we always send them explicitly.
pub(crate) const DEFAULT_DURATION: u64 = 5;
/// Default aspect ratio.
pub(crate) const DEFAULT_ASPECT_RATIO: &str = "16:9";
/// Default negative prompt (fal's schema default).
pub(crate) const DEFAULT_NEGATIVE_PROMPT: &str = "blur, distort, and low quality";
/// Default CFG scale.
pub(crate) const DEFAULT_CFG_SCALE: f64 = 0.5;
/// Longest motion-control output by orientation (../shared/reference/protocol.md §2): video 30 s, image 10 s.
pub(crate) fn motion_max_seconds(orientation: &str) -> f64 {
    if orientation == "image" { 10.0 } else { 30.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_family_provider_and_kind() {
        let e = select("kling-v2.6-pro", ProviderKind::Fal, Kind::ImageToVideo).unwrap();
        assert_eq!(e.id, "fal-ai/kling-video/v2.6/pro/image-to-video");
        assert_eq!(e.start_image_field, Some("start_image_url"));
        let e = select("kling-v2.5-turbo-pro", ProviderKind::Fal, Kind::ImageToVideo).unwrap();
        assert_eq!(e.start_image_field, Some("image_url"));
        assert_eq!(e.end_image_field, Some("tail_image_url"));
        assert!(select("kling-v2.6-pro", ProviderKind::Eachlabs, Kind::ImageToVideo).is_none());
        assert!(select("kling-v2.5-turbo-pro", ProviderKind::Fal, Kind::MotionControl).is_none());
        let o3 = select("kling-o3-pro", ProviderKind::Fal, Kind::ImageToVideo).unwrap();
        assert_eq!(o3.start_image_field, Some("image_url"), "O3 image-to-video: image_url");
        let v3 = select("kling-v3-pro", ProviderKind::Fal, Kind::ImageToVideo).unwrap();
        assert_eq!(v3.start_image_field, Some("start_image_url"));
        assert!(select("kling-v3-pro", ProviderKind::Fal, Kind::ReferenceToVideo).is_none());
        assert!(select("kling-o3-standard", ProviderKind::Fal, Kind::ReferenceToVideo).is_some());
        assert_eq!(
            families(),
            [
                "kling-v2.6-pro",
                "kling-v2.5-turbo-pro",
                "kling-v3-pro",
                "kling-v3-standard",
                "kling-v3-turbo-pro",
                "kling-o3-pro",
                "kling-o3-standard",
                "veo3.1",
                "veo3.1-fast",
                "seedance-2",
                "seedance-2-fast",
                "hailuo-2.3-pro",
                "hailuo-2.3-standard",
                "hailuo-2.3-fast-pro",
                "hailuo-2.3-fast-standard",
                "ltx-2.3",
                "ltx-2.3-fast"
            ]
        );
        let veo = |end| select_for("veo3.1", ProviderKind::Fal, Kind::ImageToVideo, end).unwrap();
        assert_eq!(veo(false).id, "fal-ai/veo3.1/image-to-video");
        assert_eq!(
            veo(true).id,
            "fal-ai/veo3.1/first-last-frame-to-video",
            "an end image: first/last frame"
        );
        assert_eq!(veo(true).start_image_field, Some("first_frame_url"));
        let ltx = select_for("ltx-2.3", ProviderKind::Fal, Kind::ImageToVideo, true).unwrap();
        assert_eq!(
            ltx.id, "fal-ai/ltx-2.3/image-to-video",
            "no end-image row: the family's own"
        );
        assert_eq!(ltx.duration_format.value(8), serde_json::json!(8));
        assert_eq!(veo(false).duration_format.value(8), serde_json::json!("8s"));
    }

    /// Every catalog row agrees with the endpoint's published input schema (schemas/): each
    /// field the row sends is in it, and each concept the schema has is one the row uses.
    #[test]
    fn every_row_matches_its_published_schema() {
        let mut checked = 0;
        for e in CATALOG.iter() {
            let Some(text) = crate::published::schema(e.provider == ProviderKind::Fal, e.id) else {
                assert_eq!(e.id, "kling-v2-5-turbo-pro-text-to-video", "no snapshot for {}", e.id);
                continue;
            };
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let props = &doc["properties"];
            let has = |f: &str| props.get(f).is_some();
            let id = e.id;
            for f in [e.start_image_field, e.end_image_field].into_iter().flatten() {
                assert!(has(f), "{id}: no `{f}` in the published schema");
            }
            let flags = [
                ("aspect_ratio", e.aspect_ratio),
                ("negative_prompt", e.negative_prompt),
                ("cfg_scale", e.cfg_scale),
                ("generate_audio", e.generate_audio.is_some()),
                ("voice_ids", e.voices == Voices::Ids),
                ("multi_prompt", e.multi_prompt),
                ("shot_type", e.shot_type),
                ("image_urls", e.references),
                ("elements", e.elements),
                ("duration", e.takes_duration()),
            ];
            for (field, row) in flags {
                assert_eq!(has(field), row, "{id}: `{field}` in the schema vs the catalog row");
            }
            assert_eq!(
                e.voices == Voices::Elements,
                e.elements,
                "{id}: voices bound through elements"
            );
            if let (Some(d), Some(row)) = (props["generate_audio"]["default"].as_bool(), e.generate_audio) {
                assert_eq!(d, row, "{id}: generate_audio default");
            }
            let published: Vec<u64> = props["duration"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_u64().or_else(|| v.as_str()?.trim_end_matches('s').parse().ok()))
                .collect();
            let ours: Vec<u64> = (1..=MAX_SECONDS).filter(|n| e.durations.allows(*n)).collect();
            if props["duration"]["enum"].is_array() || !e.takes_duration() {
                assert_eq!(published, ours, "{id}: durations");
                let format = e.durations.describe().split(' ').next().and_then(|n| n.parse().ok());
                if let (Some(n), Some(first)) = (format, props["duration"]["enum"].get(0)) {
                    assert_eq!(
                        e.duration_format.value(n).is_number(),
                        first.is_number(),
                        "{id}: duration type"
                    );
                }
            }
            checked += 1;
        }
        assert_eq!(checked, CATALOG.len() - 1);
    }

    /// Every image row agrees with its published input schema: the fields it sends are there,
    /// an edit row's `image_urls` is, and a text-to-image row takes none.
    #[test]
    fn every_image_row_matches_its_published_schema() {
        for e in IMAGE_CATALOG {
            let text = crate::published::schema(true, e.id).unwrap_or_else(|| panic!("no snapshot for {}", e.id));
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let has = |f: &str| doc["properties"].get(f).is_some();
            let id = e.id;
            assert!(has("prompt") && has("seed"), "{id}");
            assert_eq!(has("image_urls"), e.edit, "{id}: image_urls");
            assert_eq!(has("aspect_ratio"), e.shape == ImageShape::AspectRatio, "{id}");
            assert_eq!(has("image_size"), e.shape == ImageShape::NamedSize, "{id}");
            assert_eq!(has("num_images"), e.num_images, "{id}: num_images");
            assert_eq!(has("output_format"), e.output_format, "{id}: output_format");
            let published: Vec<&str> = doc["properties"]["resolution"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            for r in e.resolutions {
                assert!(published.contains(r), "{id}: resolution {r}");
            }
            if e.shape == ImageShape::NamedSize {
                let text = doc["properties"]["image_size"].to_string();
                for (aspect, ..) in NAMED_SIZES {
                    assert!(text.contains(named_size(aspect).unwrap().0), "{id}: {aspect}");
                }
            }
        }
        assert_eq!(image_families(), ["nano-banana-2", "seedream-4.5", "flux-2-pro"]);
        assert_eq!(select_image("flux-2-pro", true).unwrap().id, "fal-ai/flux-2-pro/edit");
        assert!(select_image("kling-v3-pro", false).is_none());
    }
}
