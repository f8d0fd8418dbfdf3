//! The model catalog (DESIGN §2): which endpoint a shot goes to, what each endpoint's
//! request body looks like (field names differ between versions), and its list price.

use serde::Serialize;
use std::fmt;

use crate::cost::{KLING_V25_TURBO_PRO, KLING_V26_PRO, Pricing};

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
    /// A character image driven by a reference video.
    MotionControl,
}

impl Kind {
    /// The kebab-case name, as in endpoint ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::TextToVideo => "text-to-video",
            Kind::ImageToVideo => "image-to-video",
            Kind::MotionControl => "motion-control",
        }
    }
}

/// One endpoint of the catalog and the shape of its request body.
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
    /// The body field for the start image (`start_image_url` on v2.6, `image_url` on v2.5).
    pub start_image_field: Option<&'static str>,
    /// The body field for the end image (`end_image_url` on v2.6, `tail_image_url` on v2.5).
    pub end_image_field: Option<&'static str>,
    /// Takes `aspect_ratio`.
    pub aspect_ratio: bool,
    /// Takes `cfg_scale`.
    pub cfg_scale: bool,
    /// Takes `generate_audio`.
    pub generate_audio: bool,
    /// Takes `voice_ids`.
    pub voice_ids: bool,
    /// List price.
    pub pricing: Pricing,
    /// The price is assumed from another provider's, not published for this one.
    pub price_assumed: bool,
}

impl Endpoint {
    /// The id without the `fal-ai/kling-video/` prefix, for tables.
    pub fn short(&self) -> &'static str {
        self.id.strip_prefix("fal-ai/kling-video/").unwrap_or(self.id)
    }

    /// Takes `duration` / `negative_prompt` (everything but motion control).
    pub fn takes_duration(&self) -> bool {
        self.kind != Kind::MotionControl
    }
}

const fn fal(family: &'static str, kind: Kind, id: &'static str, pricing: Pricing) -> Endpoint {
    Endpoint {
        provider: ProviderKind::Fal,
        family,
        kind,
        id,
        version: None,
        start_image_field: None,
        end_image_field: None,
        aspect_ratio: false,
        cfg_scale: false,
        generate_audio: false,
        voice_ids: false,
        pricing,
        price_assumed: false,
    }
}

/// Every endpoint the catalog knows, fields per `reference/` (protocol.md §3 and §4).
pub const CATALOG: &[Endpoint] = &[
    Endpoint {
        aspect_ratio: true,
        cfg_scale: true,
        generate_audio: true,
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
        generate_audio: true,
        voice_ids: true,
        ..fal(
            "kling-v2.6-pro",
            Kind::ImageToVideo,
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            KLING_V26_PRO,
        )
    },
    fal(
        "kling-v2.6-pro",
        Kind::MotionControl,
        "fal-ai/kling-video/v2.6/pro/motion-control",
        Pricing::Unpriced,
    ),
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
    Endpoint {
        provider: ProviderKind::Eachlabs,
        version: Some("0.0.1"),
        aspect_ratio: true,
        cfg_scale: true,
        generate_audio: true,
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

/// Allowed durations (seconds) for every text/image-to-video endpoint.
pub const DURATIONS: &[u64] = &[5, 10];
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
        assert_eq!(families(), ["kling-v2.6-pro", "kling-v2.5-turbo-pro"]);
    }
}
