//! The pricing rules of the model families beyond Kling (issue #24), as pure functions over
//! integer micro-dollars, and each new fal endpoint's list price with its source and the day it
//! was read (`docs/models-research.md` has the quotes). Part of `cost` (`cost::rates`): Kling's
//! rules are `cost::Pricing`'s own variants, these are `Pricing::Rule`.
//!
//! Four rules cover what fal publishes for them:
//! - per second of output by resolution, with and without audio (Veo 3.1; LTX-2.3, whose price
//!   does not depend on audio);
//! - per video by duration bucket (MiniMax Hailuo 2.3: "$0.28 per 6 second … $0.56 per 10
//!   second"; pro: one price per video);
//! - per 1000 tokens, tokens = width × height × seconds × 24 / 1024 (ByteDance Seedance 2.0).
//!
//! A quote says how exact it is: exact where fal's page states the figure, an estimate where it
//! depends on something fal does not publish (Seedance's frame size outside 720p), an upper bound
//! where the duration is left to the model (`auto`).

use super::{Micros, Price, Pricing};

/// How exact a quote is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exactness {
    /// fal's page states this figure (or a rule that gives it with no assumption).
    Exact,
    /// Computed with an assumption the plan names.
    Estimate(&'static str),
    /// At most this; the plan names why.
    UpperBound(&'static str),
}

/// A price for one clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    /// What it costs.
    pub amount: Micros,
    /// How exact that is.
    pub exactness: Exactness,
}

/// Why a request has no price under a rule (the plan says so and asks for `price_usd:`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoPrice {
    /// The rule has no figure for this resolution.
    #[error("no published price at resolution {0}")]
    Resolution(String),
    /// The rule has no figure for this duration.
    #[error("no published price for a {0} s clip")]
    Duration(u64),
    /// A per-video rule with several buckets and no duration asked.
    #[error("the price depends on the duration, and none was given")]
    NoDuration,
    /// The product does not fit in 64-bit micro-dollars.
    #[error("the price overflows 64-bit micro-dollars")]
    Overflow,
}

/// One resolution's prices per second (micro-dollars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tier {
    /// The `resolution` value (`720p`, `4k`, `2160p`).
    pub resolution: &'static str,
    /// Per second, audio off.
    pub silent: u64,
    /// Per second, audio on.
    pub audio: u64,
}

/// How an endpoint beyond Kling is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Per second of output by resolution, audio off or on.
    PerSecondByResolution(&'static [Tier]),
    /// Per video by duration bucket: (seconds, price).
    PerVideo(&'static [(u64, u64)]),
    /// Per 1000 output tokens, in nano-dollars (tokens = w × h × seconds × 24 / 1024).
    Tokens {
        /// Nano-dollars per 1000 tokens ($0.0112 = 11_200_000).
        nano_per_1000: u64,
    },
}

/// What a shot asks of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ask<'a> {
    /// The seconds asked for; `None`: no duration field, or `auto`.
    pub seconds: Option<u64>,
    /// The longest the endpoint renders (the upper bound when `seconds` is `None`).
    pub max_seconds: u64,
    /// The `resolution` sent (or the endpoint's default).
    pub resolution: &'a str,
    /// Audio generated.
    pub audio: bool,
    /// The `aspect_ratio` sent, if any.
    pub aspect: Option<&'a str>,
}

impl Rule {
    /// The price of one clip.
    pub(crate) fn quote(self, ask: &Ask<'_>) -> Result<Quote, NoPrice> {
        match self {
            Rule::PerSecondByResolution(tiers) => per_second(tiers, ask),
            Rule::PerVideo(buckets) => per_video(buckets, ask.seconds),
            Rule::Tokens { nano_per_1000 } => tokens(nano_per_1000, ask),
        }
    }
}

fn per_second(tiers: &[Tier], ask: &Ask<'_>) -> Result<Quote, NoPrice> {
    let tier = tiers
        .iter()
        .find(|t| t.resolution == ask.resolution)
        .ok_or_else(|| NoPrice::Resolution(ask.resolution.to_owned()))?;
    let rate = if ask.audio { tier.audio } else { tier.silent };
    let (seconds, exactness) = seconds_or_bound(ask);
    Ok(Quote {
        amount: Micros(rate.checked_mul(seconds).ok_or(NoPrice::Overflow)?),
        exactness,
    })
}

/// The asked seconds, or the longest the endpoint renders as an upper bound.
fn seconds_or_bound(ask: &Ask<'_>) -> (u64, Exactness) {
    match ask.seconds {
        Some(s) => (s, Exactness::Exact),
        None => (
            ask.max_seconds,
            Exactness::UpperBound("the model picks the duration (auto): priced at its longest"),
        ),
    }
}

fn per_video(buckets: &[(u64, u64)], seconds: Option<u64>) -> Result<Quote, NoPrice> {
    let price = match (seconds, buckets) {
        (None, [(_, only)]) => *only,
        (None, _) => return Err(NoPrice::NoDuration),
        (Some(s), _) => buckets
            .iter()
            .find(|(b, _)| *b == s)
            .map(|(_, p)| *p)
            .ok_or(NoPrice::Duration(s))?,
    };
    Ok(Quote {
        amount: Micros(price),
        exactness: Exactness::Exact,
    })
}

/// Seedance frame sizes. fal states the per-second price at 720p ($0.2419/s fast = 1280 × 720 ×
/// 24 / 1024 tokens a second at $0.0112 per 1000); other sizes are not published, so they are
/// the common 16:9 frames and the quote is an estimate.
const FRAMES: [(&str, u64, u64); 4] = [
    ("480p", 864, 480),
    ("720p", 1280, 720),
    ("1080p", 1920, 1080),
    ("4k", 3840, 2160),
];

fn tokens(nano_per_1000: u64, ask: &Ask<'_>) -> Result<Quote, NoPrice> {
    let &(_, w, h) = FRAMES
        .iter()
        .find(|(r, _, _)| *r == ask.resolution)
        .ok_or_else(|| NoPrice::Resolution(ask.resolution.to_owned()))?;
    let (seconds, mut exactness) = seconds_or_bound(ask);
    let wide = matches!(ask.aspect, None | Some("16:9") | Some("9:16"));
    if exactness == Exactness::Exact && ask.resolution != "720p" {
        exactness = Exactness::Estimate("fal states Seedance's price at 720p only: frame size assumed");
    } else if exactness == Exactness::Exact && !wide {
        exactness = Exactness::Estimate("frame size of this aspect ratio not published: 16:9's pixel count used");
    }
    // nano = w·h·s·24/1024 tokens × nano_per_1000 / 1000; micro-dollars rounded up.
    let nano = [h, seconds, 24, nano_per_1000]
        .into_iter()
        .try_fold(u128::from(w), |acc, x| acc.checked_mul(u128::from(x)))
        .ok_or(NoPrice::Overflow)?;
    let micros = nano.div_ceil(1024 * 1000 * 1000);
    Ok(Quote {
        amount: Micros(u64::try_from(micros).map_err(|_| NoPrice::Overflow)?),
        exactness,
    })
}

/// The day these prices were read.
pub(crate) const READ: &str = "2026-11-30";

const VEO: &[Tier] = &[
    Tier {
        resolution: "720p",
        silent: 200_000,
        audio: 400_000,
    },
    Tier {
        resolution: "1080p",
        silent: 200_000,
        audio: 400_000,
    },
    Tier {
        resolution: "4k",
        silent: 400_000,
        audio: 600_000,
    },
];
const VEO_FAST: &[Tier] = &[
    Tier {
        resolution: "720p",
        silent: 100_000,
        audio: 150_000,
    },
    Tier {
        resolution: "1080p",
        silent: 100_000,
        audio: 150_000,
    },
    Tier {
        resolution: "4k",
        silent: 300_000,
        audio: 350_000,
    },
];
const LTX_T2V: &[Tier] = &[
    Tier {
        resolution: "1080p",
        silent: 80_000,
        audio: 80_000,
    },
    Tier {
        resolution: "1440p",
        silent: 160_000,
        audio: 160_000,
    },
    Tier {
        resolution: "2160p",
        silent: 320_000,
        audio: 320_000,
    },
];
const LTX_I2V: &[Tier] = &[
    Tier {
        resolution: "1080p",
        silent: 60_000,
        audio: 60_000,
    },
    Tier {
        resolution: "1440p",
        silent: 120_000,
        audio: 120_000,
    },
    Tier {
        resolution: "2160p",
        silent: 240_000,
        audio: 240_000,
    },
];
const LTX_FAST: &[Tier] = &[
    Tier {
        resolution: "1080p",
        silent: 40_000,
        audio: 40_000,
    },
    Tier {
        resolution: "1440p",
        silent: 80_000,
        audio: 80_000,
    },
    Tier {
        resolution: "2160p",
        silent: 160_000,
        audio: 160_000,
    },
];

const fn price(rule: Rule, source: &'static str) -> Price {
    Price {
        pricing: Pricing::Rule(rule),
        source,
        read: READ,
        dispute: None,
    }
}

/// Veo 3.1 text-to-video: "$0.20 without audio or $0.40 with audio for 720p or 1080p. At 4k …
/// $0.40 … or $0.60 with".
pub(crate) const VEO31: Price = price(
    Rule::PerSecondByResolution(VEO),
    "https://fal.ai/models/fal-ai/veo3.1/llms.txt",
);
/// Veo 3.1 reference-to-video: the same figures on its own page.
pub(crate) const VEO31_REFERENCE: Price = price(
    Rule::PerSecondByResolution(VEO),
    "https://fal.ai/models/fal-ai/veo3.1/reference-to-video/llms.txt",
);
/// Veo 3.1 image-to-video and first/last frame: their own pages were not in the sources.
pub(crate) const VEO31_SIBLING: Price = price(
    Rule::PerSecondByResolution(VEO),
    "https://fal.ai/models/fal-ai/veo3.1/llms.txt (the text-to-video page; this endpoint's own page was not in the sources)",
);
/// Veo 3.1 fast first/last frame: "$0.10 without audio or $0.15 with audio for 720p or 1080p.
/// At 4k … $0.30 … or $0.35 with".
pub(crate) const VEO31_FAST_FLF: Price = price(
    Rule::PerSecondByResolution(VEO_FAST),
    "https://fal.ai/models/fal-ai/veo3.1/fast/first-last-frame-to-video/llms.txt",
);
/// Veo 3.1 fast text- and image-to-video: the fast tier's page.
pub(crate) const VEO31_FAST: Price = price(
    Rule::PerSecondByResolution(VEO_FAST),
    "https://fal.ai/models/fal-ai/veo3.1/fast/first-last-frame-to-video/llms.txt (the fast tier's page; this endpoint's own page was not in the sources)",
);
/// Seedance 2.0 fast: "$0.0112 per 1000 tokens … (height * width * duration * 24) / 1024".
pub(crate) const SEEDANCE2_FAST: Price = price(
    Rule::Tokens {
        nano_per_1000: 11_200_000,
    },
    "https://fal.ai/models/bytedance/seedance-2.0/fast/text-to-video/llms.txt ($0.0112 per 1000 tokens; $0.2419/s at 720p)",
);
/// Seedance 2.0 standard: $0.014 per 1000 tokens, as a third party quotes fal's page.
pub(crate) const SEEDANCE2: Price = price(
    Rule::Tokens {
        nano_per_1000: 14_000_000,
    },
    "$0.014 per 1000 tokens ($0.3024/s at 720p), as seedance2mini.com quotes fal's page; fal's own page was not in the sources",
);
/// Hailuo 2.3 pro: "$0.49 per video generation" (6 s clips).
pub(crate) const HAILUO23_PRO: Price = price(
    Rule::PerVideo(&[(6, 490_000)]),
    "https://fal.ai/models/fal-ai/minimax/hailuo-2.3/pro/text-to-video/llms.txt",
);
/// Hailuo 2.3 standard: "$0.28 per 6 second … $0.56 per 10 second video generation".
pub(crate) const HAILUO23_STANDARD: Price = price(
    Rule::PerVideo(&[(6, 280_000), (10, 560_000)]),
    "https://fal.ai/models/fal-ai/minimax/hailuo-2.3/standard/text-to-video/llms.txt",
);
/// Hailuo 2.3 fast pro: "$0.33 per videos".
pub(crate) const HAILUO23_FAST_PRO: Price = price(
    Rule::PerVideo(&[(6, 330_000)]),
    "https://fal.ai/models/fal-ai/minimax/hailuo-2.3-fast/pro/image-to-video/llms.txt",
);
/// Hailuo 2.3 fast standard: "$0.19 per 6 second … $0.32 per 10 second".
pub(crate) const HAILUO23_FAST_STANDARD: Price = price(
    Rule::PerVideo(&[(6, 190_000), (10, 320_000)]),
    "https://fal.ai/models/fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video/llms.txt",
);
/// LTX-2.3 text-to-video: "$0.08 per second for 1080p, $0.16 … 1440p or $0.32 … 2160p".
pub(crate) const LTX23_T2V: Price = price(
    Rule::PerSecondByResolution(LTX_T2V),
    "https://fal.ai/models/fal-ai/ltx-2.3/text-to-video/llms.txt",
);
/// LTX-2.3 image-to-video: "$0.06 … $0.12 … $0.24".
pub(crate) const LTX23_I2V: Price = price(
    Rule::PerSecondByResolution(LTX_I2V),
    "https://fal.ai/models/fal-ai/ltx-2.3/image-to-video/llms.txt",
);
/// LTX-2.3 text-to-video fast: "$0.04 … $0.08 … $0.16".
pub(crate) const LTX23_FAST_T2V: Price = price(
    Rule::PerSecondByResolution(LTX_FAST),
    "https://fal.ai/models/fal-ai/ltx-2.3/text-to-video/fast/llms.txt",
);

impl Rule {
    /// The unit, for `storyboard models`.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Rule::PerSecondByResolution(_) => "per second",
            Rule::PerVideo(_) => "per video",
            Rule::Tokens { .. } => "per 1000 tokens",
        }
    }

    /// The resolution priced when none is sent: the endpoint's default (the first tier; 720p
    /// for Seedance; none for per-video rules).
    pub(crate) fn default_resolution(self) -> &'static str {
        match self {
            Rule::PerSecondByResolution(tiers) => tiers.first().map_or("", |t| t.resolution),
            Rule::Tokens { .. } => "720p",
            Rule::PerVideo(_) => "",
        }
    }

    /// For `storyboard models`: `720p $0.20/s, $0.40/s with audio; 4k …`.
    pub(crate) fn describe(self) -> String {
        let usd = |m: u64| Micros(m).to_string();
        match self {
            Rule::PerSecondByResolution(tiers) => tiers
                .iter()
                .map(|t| match t.silent == t.audio {
                    true => format!("{} {}/s", t.resolution, usd(t.silent)),
                    false => format!("{} {}/s, {}/s with audio", t.resolution, usd(t.silent), usd(t.audio)),
                })
                .collect::<Vec<_>>()
                .join("; "),
            Rule::PerVideo(buckets) => buckets
                .iter()
                .map(|(s, p)| format!("{} per {s} s video", usd(*p)))
                .collect::<Vec<_>>()
                .join(", "),
            Rule::Tokens { nano_per_1000 } => format!(
                "${} per 1000 tokens (w×h×s×24/1024); {}/s at 720p",
                nano_per_1000 as f64 / 1e9,
                usd((21_600 * u128::from(nano_per_1000)).div_ceil(1_000_000) as u64)
            ),
        }
    }
}

/// How an image endpoint is priced (issue #25; docs/frames-research.md has the quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageRule {
    /// Per image by `resolution` (Nano Banana 2: $0.08 at 1K, × 0.75 / 1.5 / 2 at 0.5K / 2K /
    /// 4K); one entry: a flat price whatever the size (Seedream 4.5).
    PerImage(&'static [(&'static str, u64)]),
    /// Per output megapixel, rounded up (1 MP = 1024 × 1024): the first, then each further one;
    /// an edit adds `per_input` for each megapixel of each reference image (each rounded up
    /// separately, at least 1, at most 4: larger inputs are resized to 4 MP) (FLUX.2 [pro]).
    Megapixels {
        /// The first output megapixel.
        first: u64,
        /// Each further output megapixel.
        extra: u64,
        /// Each megapixel of each reference image (0 for text-to-image).
        per_input: u64,
    },
}

/// What a frame asks of an image rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageAsk<'a> {
    /// The `resolution` sent (per-image rules with several entries).
    pub resolution: &'a str,
    /// The output's pixel size (megapixel rules).
    pub pixels: (u64, u64),
    /// The reference images' pixel sizes (megapixel edit rules).
    pub inputs: &'a [(u64, u64)],
}

/// An image endpoint's list price with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImagePrice {
    /// The rule.
    pub rule: ImageRule,
    /// Where the figures come from.
    pub source: &'static str,
    /// When they were read (YYYY-MM-DD).
    pub read: &'static str,
    /// Where the figure is not fal's own: what the plan says beside the price.
    pub dispute: Option<&'static str>,
}

/// Whole megapixels of a `w × h` image, rounded up, at least 1.
fn megapixels(w: u64, h: u64) -> u64 {
    w.saturating_mul(h).div_ceil(1024 * 1024).max(1)
}

impl ImageRule {
    /// The price of one image.
    pub(crate) fn quote(self, ask: &ImageAsk<'_>) -> Result<Quote, NoPrice> {
        let amount = match self {
            ImageRule::PerImage([(_, flat)]) => *flat,
            ImageRule::PerImage(tiers) => tiers
                .iter()
                .find(|(r, _)| *r == ask.resolution)
                .map(|(_, p)| *p)
                .ok_or_else(|| NoPrice::Resolution(ask.resolution.to_owned()))?,
            ImageRule::Megapixels {
                first,
                extra,
                per_input,
            } => {
                let out = megapixels(ask.pixels.0, ask.pixels.1);
                let inputs: u64 = ask.inputs.iter().map(|(w, h)| megapixels(*w, *h).min(4)).sum();
                [extra.checked_mul(out - 1), per_input.checked_mul(inputs)]
                    .into_iter()
                    .try_fold(first, |sum, part| sum.checked_add(part?))
                    .ok_or(NoPrice::Overflow)?
            }
        };
        Ok(Quote {
            amount: Micros(amount),
            exactness: Exactness::Exact,
        })
    }
}

const NANO_BANANA_2: ImageRule =
    ImageRule::PerImage(&[("0.5K", 60_000), ("1K", 80_000), ("2K", 120_000), ("4K", 160_000)]);
const SEEDREAM_45: ImageRule = ImageRule::PerImage(&[("", 40_000)]);
const FLUX2_DISPUTE: &str = "unconfirmed on fal: BFL's own page and third parties (fal's flux-2-pro page was not found); a live price settles it";

const fn image(rule: ImageRule, source: &'static str, dispute: Option<&'static str>) -> ImagePrice {
    ImagePrice {
        rule,
        source,
        read: READ,
        dispute,
    }
}

/// Nano Banana 2 edit: "$0.08 per image … 2K and 4K … 1.5 times and 2 times … 0.5K … 0.75 times".
pub(crate) const NANO_BANANA_2_EDIT_PRICE: ImagePrice = image(
    NANO_BANANA_2,
    "https://fal.ai/models/fal-ai/nano-banana-2/edit/llms.txt",
    None,
);
/// Nano Banana 2 text-to-image: its own page was not in the sources; the edit page's figures.
pub(crate) const NANO_BANANA_2_PRICE: ImagePrice = image(
    NANO_BANANA_2,
    "https://fal.ai/models/fal-ai/nano-banana-2/edit/llms.txt (the edit endpoint's page; this endpoint's own page was not in the sources)",
    None,
);
/// Seedream 4.5 text-to-image: "Your request will cost $0.04 per image".
pub(crate) const SEEDREAM_45_PRICE: ImagePrice = image(
    SEEDREAM_45,
    "https://fal.ai/models/fal-ai/bytedance/seedream/v4.5/text-to-image/playground",
    None,
);
/// Seedream 4.5 edit: fal's page had no price in the sources; a price index lists $0.04/image.
pub(crate) const SEEDREAM_45_EDIT_PRICE: ImagePrice = image(
    SEEDREAM_45,
    "https://fal.ai/models/fal-ai/bytedance/seedream/v4.5/text-to-image/playground (the text-to-image page; infr.sh lists the edit endpoint at $0.04/image)",
    None,
);
/// FLUX.2 [pro]: "$0.03 first MP + $0.015/extra MP" (BFL's pricing page, a fal-model table).
pub(crate) const FLUX2_PRO_PRICE: ImagePrice = image(
    ImageRule::Megapixels {
        first: 30_000,
        extra: 15_000,
        per_input: 0,
    },
    "https://docs.bfl.ai/quick_start/pricing.md (FLUX.2 [pro] from $0.03, megapixel-based); $0.03 first MP + $0.015 each further as skillspool lists fal's",
    Some(FLUX2_DISPUTE),
);
/// FLUX.2 [pro] edit: the output as text-to-image, + $0.015 per reference-image megapixel.
pub(crate) const FLUX2_PRO_EDIT_PRICE: ImagePrice = image(
    ImageRule::Megapixels {
        first: 30_000,
        extra: 15_000,
        per_input: 15_000,
    },
    "https://docs.bfl.ai/quick_start/pricing.md (FLUX.2 [pro] editing from $0.045); + $0.015 per input MP as lumenfall lists fal-ai/flux-2-pro/edit",
    Some(FLUX2_DISPUTE),
);

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/frames-research.md's worked examples: Nano Banana 2 at 2K = $0.12 (1.5 × $0.08);
    /// Seedream flat $0.04; FLUX.2 [pro] 1920×1080 = 2 MP = $0.045 (the research doc's "2.07 MP
    /// → 3 MP = $0.06" counts 10⁶ pixels a megapixel; fal's flux-2-flex page counts 1024² and
    /// calls 1920×1080 "2 megapixels": fal wins); an edit with a 1024×1024 and
    /// a 4096×8192 reference adds 1 + 4 (capped) MP × $0.015.
    #[test]
    fn image_rules_match_the_research_examples() {
        let ask = |resolution, pixels, inputs| ImageAsk {
            resolution,
            pixels,
            inputs,
        };
        let nb = NANO_BANANA_2_EDIT_PRICE.rule;
        assert_eq!(nb.quote(&ask("2K", (0, 0), &[])).unwrap().amount, Micros(120_000));
        assert_eq!(nb.quote(&ask("0.5K", (0, 0), &[])).unwrap().amount, Micros(60_000));
        assert_eq!(nb.quote(&ask("8K", (0, 0), &[])), Err(NoPrice::Resolution("8K".into())));
        let sd = SEEDREAM_45_PRICE.rule;
        assert_eq!(sd.quote(&ask("4K", (4096, 4096), &[])).unwrap().amount, Micros(40_000));
        let flux = FLUX2_PRO_PRICE.rule;
        assert_eq!(flux.quote(&ask("", (1920, 1080), &[])).unwrap().amount, Micros(45_000));
        assert_eq!(flux.quote(&ask("", (1024, 576), &[])).unwrap().amount, Micros(30_000));
        let edit = FLUX2_PRO_EDIT_PRICE.rule;
        let refs = [(1024, 1024), (4096, 4096 * 2)];
        assert_eq!(
            edit.quote(&ask("", (1024, 576), &refs)).unwrap().amount,
            Micros(105_000)
        );
        assert!(FLUX2_PRO_PRICE.dispute.is_some() && NANO_BANANA_2_PRICE.dispute.is_none());
    }

    fn ask(seconds: Option<u64>, resolution: &str, audio: bool) -> Ask<'_> {
        Ask {
            seconds,
            max_seconds: 15,
            resolution,
            audio,
            aspect: Some("16:9"),
        }
    }

    fn rule(endpoint: &str) -> Rule {
        let price = match endpoint {
            "fal-ai/veo3.1" => VEO31,
            "fal-ai/veo3.1/reference-to-video" => VEO31_REFERENCE,
            "fal-ai/veo3.1/fast/first-last-frame-to-video" => VEO31_FAST_FLF,
            "bytedance/seedance-2.0/fast/text-to-video" => SEEDANCE2_FAST,
            "bytedance/seedance-2.0/image-to-video" | "bytedance/seedance-2.0/text-to-video" => SEEDANCE2,
            "fal-ai/minimax/hailuo-2.3/pro/text-to-video" => HAILUO23_PRO,
            "fal-ai/minimax/hailuo-2.3/standard/image-to-video" => HAILUO23_STANDARD,
            "fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video" => HAILUO23_FAST_STANDARD,
            "fal-ai/ltx-2.3/image-to-video" => LTX23_I2V,
            "fal-ai/ltx-2.3/text-to-video" => LTX23_T2V,
            "fal-ai/ltx-2.3/text-to-video/fast" => LTX23_FAST_T2V,
            other => panic!("{other}"),
        };
        let Pricing::Rule(r) = price.pricing else {
            panic!("{endpoint}: not a rule")
        };
        r
    }

    fn quote(endpoint: &str, a: &Ask<'_>) -> Quote {
        rule(endpoint).quote(a).unwrap()
    }

    /// Veo 3.1: "a 5 second video at 1080p with audio on will cost $2.00"; reference: "8 second
    /// video at 1080p with audio on will cost $3.20"; fast: "5 second … 1080p … audio on … $0.75".
    #[test]
    fn per_second_with_and_without_audio_matches_fals_examples() {
        assert_eq!(
            quote("fal-ai/veo3.1", &ask(Some(5), "1080p", true)).amount,
            Micros(2_000_000)
        );
        let r = quote("fal-ai/veo3.1/reference-to-video", &ask(Some(8), "1080p", true));
        assert_eq!(
            r,
            Quote {
                amount: Micros(3_200_000),
                exactness: Exactness::Exact
            }
        );
        assert_eq!(
            quote("fal-ai/veo3.1", &ask(Some(8), "720p", false)).amount,
            Micros(1_600_000)
        );
        assert_eq!(
            quote("fal-ai/veo3.1", &ask(Some(4), "4k", true)).amount,
            Micros(2_400_000)
        );
        let fast = "fal-ai/veo3.1/fast/first-last-frame-to-video";
        assert_eq!(quote(fast, &ask(Some(5), "1080p", true)).amount, Micros(750_000));
        assert_eq!(quote(fast, &ask(Some(6), "4k", false)).amount, Micros(1_800_000));
        let no = rule("fal-ai/veo3.1").quote(&ask(Some(8), "480p", true));
        assert_eq!(no, Err(NoPrice::Resolution("480p".into())));
    }

    /// LTX-2.3: "$0.06 per second for 1080p, $0.12 … 1440p or $0.24 … 2160p" (image-to-video),
    /// audio does not change it.
    #[test]
    fn per_second_by_resolution() {
        let i2v = "fal-ai/ltx-2.3/image-to-video";
        assert_eq!(quote(i2v, &ask(Some(6), "1080p", true)).amount, Micros(360_000));
        assert_eq!(quote(i2v, &ask(Some(6), "1080p", false)).amount, Micros(360_000));
        assert_eq!(quote(i2v, &ask(Some(10), "2160p", true)).amount, Micros(2_400_000));
        assert_eq!(
            quote("fal-ai/ltx-2.3/text-to-video", &ask(Some(8), "1440p", true)).amount,
            Micros(1_280_000)
        );
        assert_eq!(
            quote("fal-ai/ltx-2.3/text-to-video/fast", &ask(Some(20), "1080p", true)).amount,
            Micros(800_000)
        );
    }

    /// Hailuo 2.3 standard: "$0.28 per 6 second … $0.56 per 10 second"; pro: "$0.49 per video".
    #[test]
    fn per_video_by_duration_bucket() {
        let std = "fal-ai/minimax/hailuo-2.3/standard/image-to-video";
        assert_eq!(quote(std, &ask(Some(6), "768p", true)).amount, Micros(280_000));
        assert_eq!(quote(std, &ask(Some(10), "768p", true)).amount, Micros(560_000));
        let rule = rule(std);
        assert_eq!(rule.quote(&ask(Some(8), "768p", true)), Err(NoPrice::Duration(8)));
        assert_eq!(rule.quote(&ask(None, "768p", true)), Err(NoPrice::NoDuration));
        assert_eq!(Pricing::Rule(rule).price(10, true, false), Ok(Some(Micros(560_000))));
        assert_eq!(Pricing::Rule(rule).unit(), None, "no live unit replaces a rule");
        let pro = quote(
            "fal-ai/minimax/hailuo-2.3/pro/text-to-video",
            &ask(None, "1080p", false),
        );
        assert_eq!(
            pro,
            Quote {
                amount: Micros(490_000),
                exactness: Exactness::Exact
            }
        );
        let fast = "fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video";
        assert_eq!(quote(fast, &ask(Some(10), "768p", true)).amount, Micros(320_000));
    }

    /// Seedance 2.0 fast: $0.0112 per 1000 tokens, (h × w × s × 24) / 1024 tokens — at 720p
    /// exactly fal's "$0.2419/second" (0.24192); `auto` is priced at 15 s, an upper bound.
    #[test]
    fn tokens_at_720p_are_exact_and_auto_is_an_upper_bound() {
        let fast = "bytedance/seedance-2.0/fast/text-to-video";
        let five = quote(fast, &ask(Some(5), "720p", true));
        assert_eq!(
            five,
            Quote {
                amount: Micros(1_209_600),
                exactness: Exactness::Exact
            }
        );
        assert_eq!(quote(fast, &ask(Some(1), "720p", false)).amount, Micros(241_920));
        let auto = quote(fast, &ask(None, "720p", true));
        assert_eq!(auto.amount, Micros(3_628_800));
        assert!(matches!(auto.exactness, Exactness::UpperBound(_)));
        let std = quote("bytedance/seedance-2.0/image-to-video", &ask(Some(10), "720p", true));
        assert_eq!(std.amount, Micros(3_024_000));
        let big = quote("bytedance/seedance-2.0/text-to-video", &ask(Some(4), "1080p", true));
        assert_eq!(big.amount, Micros(2_721_600));
        assert!(matches!(big.exactness, Exactness::Estimate(_)));
        let square = Ask {
            aspect: Some("1:1"),
            ..ask(Some(4), "720p", true)
        };
        assert!(matches!(quote(fast, &square).exactness, Exactness::Estimate(_)));
    }

    #[test]
    fn token_prices_round_up_and_overflow_is_an_error() {
        let rule = Rule::Tokens { nano_per_1000: 1 };
        assert_eq!(
            rule.quote(&ask(Some(1), "480p", false)).unwrap().amount,
            Micros(1),
            "9720 nano-tokens round up"
        );
        let absurd = Rule::Tokens {
            nano_per_1000: u64::MAX,
        };
        assert_eq!(
            absurd.quote(&ask(Some(u64::MAX), "4k", false)).unwrap_err(),
            NoPrice::Overflow,
            "an error, never a wrap or a saturated amount"
        );
        let tiers = Rule::PerSecondByResolution(VEO);
        assert_eq!(
            tiers.quote(&ask(Some(u64::MAX), "4k", true)).unwrap_err(),
            NoPrice::Overflow
        );
    }
}
