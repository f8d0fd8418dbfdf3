//! The model catalog (DESIGN §2): which endpoint a shot goes to, what each endpoint's
//! request body looks like (field names differ between versions), and its list price.

use serde::Serialize;
use std::fmt;

use crate::cost::{
    KLING_O3_STANDARD_I2V, KLING_V3_PRO, KLING_V3_STANDARD, KLING_V3_TURBO_PRO, KLING_V25_TURBO_PRO, KLING_V26_PRO,
    NO_LIST_PRICE, Price,
};

/// A hosted API that runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// fal.ai queue API.
    Fal,
    /// Eachlabs prediction API.
    Eachlabs,
}

impl ProviderKind {
    /// The provider named in a storyboard or on the command line.
    pub fn parse(name: &str) -> Option<ProviderKind> {
        match name {
            "fal" => Some(ProviderKind::Fal),
            "eachlabs" => Some(ProviderKind::Eachlabs),
            _ => None,
        }
    }

    /// The name users write.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Fal => "fal",
            ProviderKind::Eachlabs => "eachlabs",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an endpoint does; follows from a shot's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
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
    pub fn name(self) -> &'static str {
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
pub enum Durations {
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
    pub fn allows(self, n: u64) -> bool {
        match self {
            Durations::None => false,
            Durations::Only(list) => list.contains(&n),
            Durations::Range { min, max } => (min..=max).contains(&n),
        }
    }

    /// For messages: `5 or 10`, `3 to 15`.
    pub fn describe(self) -> String {
        match self {
            Durations::None => "none".into(),
            Durations::Only(list) => list.iter().map(u64::to_string).collect::<Vec<_>>().join(" or "),
            Durations::Range { min, max } => format!("{min} to {max}"),
        }
    }
}

/// How an endpoint takes voices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Voices {
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
pub struct Endpoint {
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
    pub fn short(&self) -> &'static str {
        self.id.strip_prefix("fal-ai/kling-video/").unwrap_or(self.id)
    }

    /// Takes `duration`.
    pub fn takes_duration(&self) -> bool {
        self.durations != Durations::None
    }
}

const V2: Durations = Durations::Only(&[5, 10]);
const V3: Durations = Durations::Range { min: 3, max: 15 };

const fn fal(family: &'static str, kind: Kind, id: &'static str, price: Price) -> Endpoint {
    Endpoint {
        provider: ProviderKind::Fal,
        family,
        kind,
        id,
        version: None,
        start_image_field: None,
        end_image_field: None,
        durations: V2,
        aspect_ratio: false,
        negative_prompt: true,
        cfg_scale: false,
        generate_audio: None,
        voices: Voices::None,
        multi_prompt: false,
        shot_type: false,
        references: false,
        elements: false,
        price,
        price_assumed: false,
    }
}

/// Kling 3.0 pro/standard (kling-v3-and-platform.md §1–2, fal-js `KlingVideoV34k*Input`): 3–15 s,
/// `multi_prompt` and `shot_type`, negative prompt and cfg, audio on by default. Elements
/// (and the voices bound through them) only on image-to-video: the text-to-video input has none.
const fn v3(family: &'static str, kind: Kind, id: &'static str, price: Price) -> Endpoint {
    let base = Endpoint {
        durations: V3,
        cfg_scale: true,
        generate_audio: Some(true),
        multi_prompt: true,
        shot_type: true,
        ..fal(family, kind, id, price)
    };
    match kind {
        Kind::ImageToVideo => Endpoint {
            start_image_field: Some("start_image_url"),
            end_image_field: Some("end_image_url"),
            voices: Voices::Elements,
            elements: true,
            ..base
        },
        _ => Endpoint {
            aspect_ratio: true,
            ..base
        },
    }
}

/// Kling O3 (§1–2, fal-js `O3Pro*Input`): 3–15 s, `multi_prompt` and `shot_type`, audio off by
/// default, no negative prompt or cfg. Image-to-video takes `image_url`; text- and
/// reference-to-video take an aspect ratio; only reference-to-video takes elements (and voices
/// through them), `image_urls` and start/end images.
const fn o3(family: &'static str, kind: Kind, id: &'static str, price: Price) -> Endpoint {
    let base = Endpoint {
        durations: V3,
        negative_prompt: false,
        generate_audio: Some(false),
        multi_prompt: true,
        shot_type: true,
        ..fal(family, kind, id, price)
    };
    match kind {
        Kind::ImageToVideo => Endpoint {
            start_image_field: Some("image_url"),
            end_image_field: Some("end_image_url"),
            ..base
        },
        Kind::ReferenceToVideo => Endpoint {
            start_image_field: Some("start_image_url"),
            end_image_field: Some("end_image_url"),
            aspect_ratio: true,
            voices: Voices::Elements,
            references: true,
            elements: true,
            ..base
        },
        _ => Endpoint {
            aspect_ratio: true,
            ..base
        },
    }
}

/// Every endpoint the catalog knows: fields per `reference/` (protocol.md §3 and §4 for v2.x,
/// kling-v3-and-platform.md for v3 and O3).
pub const CATALOG: &[Endpoint] = &[
    Endpoint {
        aspect_ratio: true,
        cfg_scale: true,
        generate_audio: Some(true),
        ..fal(
            "kling-v2.6-pro",
            Kind::TextToVideo,
            "fal-ai/kling-video/v2.6/pro/text-to-video",
            KLING_V26_PRO,
        )
    },
    Endpoint {
        start_image_field: Some("start_image_url"),
        end_image_field: Some("end_image_url"),
        generate_audio: Some(true),
        voices: Voices::Ids,
        ..fal(
            "kling-v2.6-pro",
            Kind::ImageToVideo,
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            KLING_V26_PRO,
        )
    },
    Endpoint {
        durations: Durations::None,
        negative_prompt: false,
        ..fal(
            "kling-v2.6-pro",
            Kind::MotionControl,
            "fal-ai/kling-video/v2.6/pro/motion-control",
            NO_LIST_PRICE,
        )
    },
    Endpoint {
        aspect_ratio: true,
        cfg_scale: true,
        ..fal(
            "kling-v2.5-turbo-pro",
            Kind::TextToVideo,
            "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
            KLING_V25_TURBO_PRO,
        )
    },
    Endpoint {
        start_image_field: Some("image_url"),
        end_image_field: Some("tail_image_url"),
        cfg_scale: true,
        ..fal(
            "kling-v2.5-turbo-pro",
            Kind::ImageToVideo,
            "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
            KLING_V25_TURBO_PRO,
        )
    },
    v3(
        "kling-v3-pro",
        Kind::TextToVideo,
        "fal-ai/kling-video/v3/pro/text-to-video",
        KLING_V3_PRO,
    ),
    v3(
        "kling-v3-pro",
        Kind::ImageToVideo,
        "fal-ai/kling-video/v3/pro/image-to-video",
        KLING_V3_PRO,
    ),
    v3(
        "kling-v3-standard",
        Kind::TextToVideo,
        "fal-ai/kling-video/v3/standard/text-to-video",
        KLING_V3_STANDARD,
    ),
    v3(
        "kling-v3-standard",
        Kind::ImageToVideo,
        "fal-ai/kling-video/v3/standard/image-to-video",
        KLING_V3_STANDARD,
    ),
    Endpoint {
        durations: V3,
        aspect_ratio: true,
        negative_prompt: false,
        multi_prompt: true,
        ..fal(
            "kling-v3-turbo-pro",
            Kind::TextToVideo,
            "fal-ai/kling-video/v3/turbo/pro/text-to-video",
            KLING_V3_TURBO_PRO,
        )
    },
    o3(
        "kling-o3-pro",
        Kind::TextToVideo,
        "fal-ai/kling-video/o3/pro/text-to-video",
        NO_LIST_PRICE,
    ),
    o3(
        "kling-o3-pro",
        Kind::ImageToVideo,
        "fal-ai/kling-video/o3/pro/image-to-video",
        NO_LIST_PRICE,
    ),
    o3(
        "kling-o3-pro",
        Kind::ReferenceToVideo,
        "fal-ai/kling-video/o3/pro/reference-to-video",
        NO_LIST_PRICE,
    ),
    o3(
        "kling-o3-standard",
        Kind::TextToVideo,
        "fal-ai/kling-video/o3/standard/text-to-video",
        NO_LIST_PRICE,
    ),
    o3(
        "kling-o3-standard",
        Kind::ImageToVideo,
        "fal-ai/kling-video/o3/standard/image-to-video",
        KLING_O3_STANDARD_I2V,
    ),
    o3(
        "kling-o3-standard",
        Kind::ReferenceToVideo,
        "fal-ai/kling-video/o3/standard/reference-to-video",
        NO_LIST_PRICE,
    ),
    Endpoint {
        provider: ProviderKind::Eachlabs,
        version: Some("0.0.1"),
        aspect_ratio: true,
        cfg_scale: true,
        generate_audio: Some(true),
        // DESIGN §2: "as fal (assumed; marked so in the estimate)" — Eachlabs publishes no price.
        price_assumed: true,
        ..fal(
            "kling-v2.6-pro",
            Kind::TextToVideo,
            "kling-v2-6-pro-text-to-video",
            KLING_V26_PRO,
        )
    },
    Endpoint {
        provider: ProviderKind::Eachlabs,
        version: Some("0.0.1"),
        aspect_ratio: true,
        cfg_scale: true,
        price_assumed: true,
        ..fal(
            "kling-v2.5-turbo-pro",
            Kind::TextToVideo,
            "kling-v2-5-turbo-pro-text-to-video",
            KLING_V25_TURBO_PRO,
        )
    },
];

/// The model families, in catalog order.
pub fn families() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in CATALOG {
        if !out.contains(&e.family) {
            out.push(e.family);
        }
    }
    out
}

/// The endpoint for a family, provider and kind, if the catalog has one.
pub fn select(family: &str, provider: ProviderKind, kind: Kind) -> Option<&'static Endpoint> {
    CATALOG
        .iter()
        .find(|e| e.family == family && e.provider == provider && e.kind == kind)
}

/// A catalog endpoint by id (for the `endpoint:` escape hatch).
pub fn by_id(provider: ProviderKind, id: &str) -> Option<&'static Endpoint> {
    CATALOG.iter().find(|e| e.provider == provider && e.id == id)
}

/// The longest duration any endpoint renders (a value beyond it is wrong for every model).
pub const MAX_SECONDS: u64 = 15;
/// Allowed aspect ratios.
pub const ASPECT_RATIOS: &[&str] = &["16:9", "9:16", "1:1"];
/// Motion-control character orientations.
pub const ORIENTATIONS: &[&str] = &["image", "video"];
/// Defaults the APIs would apply; we always send them explicitly.
pub const DEFAULT_DURATION: u64 = 5;
/// Default aspect ratio.
pub const DEFAULT_ASPECT_RATIO: &str = "16:9";
/// Default negative prompt (fal's schema default).
pub const DEFAULT_NEGATIVE_PROMPT: &str = "blur, distort, and low quality";
/// Default CFG scale.
pub const DEFAULT_CFG_SCALE: f64 = 0.5;
/// Longest motion-control output by orientation (protocol.md §2): video 30 s, image 10 s.
pub fn motion_max_seconds(orientation: &str) -> f64 {
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
                "kling-o3-standard"
            ]
        );
    }

    /// Every catalog row agrees with the endpoint's published input schema (schemas/): each
    /// field the row sends is in it, and each concept the schema has is one the row uses.
    #[test]
    fn every_row_matches_its_published_schema() {
        let mut checked = 0;
        for e in CATALOG {
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
                .filter_map(|v| v.as_str()?.parse().ok())
                .collect();
            let ours: Vec<u64> = (1..=MAX_SECONDS).filter(|n| e.durations.allows(*n)).collect();
            assert_eq!(published, ours, "{id}: durations");
            checked += 1;
        }
        assert_eq!(checked, CATALOG.len() - 1);
    }
}
