//! Money as integer micro-dollars, and the list prices of the catalog's endpoints.

#[path = "rates.rs"]
pub(crate) mod rates;

use serde::{Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::Add;

/// An amount of US dollars in millionths (micro-dollars): never a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Micros(pub u64);

impl Micros {
    /// Dollars from a user-written number (rounded to the nearest micro-dollar).
    pub(crate) fn from_usd(usd: f64) -> Option<Micros> {
        (usd.is_finite() && (0.0..1e12).contains(&usd)).then(|| Micros((usd * 1e6).round() as u64))
    }

    /// The sum, or `None` when it would not fit (never a wrap).
    pub(crate) fn checked_add(self, rhs: Micros) -> Option<Micros> {
        self.0.checked_add(rhs.0).map(Micros)
    }

    /// The sum of `amounts`, or `None` when it would not fit in [`MAX_TOTAL`].
    pub(crate) fn checked_sum(amounts: impl IntoIterator<Item = Micros>) -> Option<Micros> {
        amounts
            .into_iter()
            .try_fold(Micros(0), Micros::checked_add)
            .filter(|t| *t <= MAX_TOTAL)
    }

    /// As a JSON number of dollars (for the plan and manifest documents).
    pub(crate) fn usd(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add for Micros {
    type Output = Micros;
    /// Saturating, as a last guard only: every amount a plan sums was checked when it was
    /// planned (each price by [`Pricing::price`], the plan's total within [`MAX_TOTAL`], which
    /// leaves room for every redo and sub-total), so no sum of a plan reaches the limit.
    fn add(self, rhs: Micros) -> Micros {
        Micros(self.0.saturating_add(rhs.0))
    }
}

/// The most a price may be per second of output: $100. No model storyboard knows comes near
/// it (the dearest tier in the catalog is Kling 3.0 pro with voices, $0.392/s); a live price
/// above it is a broken answer, ignored with a message, never used.
pub(crate) const MAX_PER_SECOND: Micros = Micros(100_000_000);

/// The largest total a plan may estimate: a quarter of what 64-bit micro-dollars hold
/// (about $4.6 trillion), so a plan's sums (with every shot redone, and its frames) never
/// reach the limit. A plan over it is an error naming its dearest shots, never a wrap.
pub(crate) const MAX_TOTAL: Micros = Micros(u64::MAX / 4);

/// A price too large to compute in 64-bit micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the price overflows 64-bit micro-dollars")]
pub(crate) struct Overflow;

impl Sum for Micros {
    fn sum<I: Iterator<Item = Micros>>(iter: I) -> Micros {
        iter.fold(Micros(0), Add::add)
    }
}

impl fmt::Display for Micros {
    /// `$1.68`; sub-cent amounts keep their digits (`$0.0035`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = self.0 / 1_000_000;
        let frac = self.0 % 1_000_000;
        let mut digits = format!("{frac:06}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        write!(f, "${dollars}.{digits}")
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.usd())
    }
}

/// What a render will spend: the shots it submits, their priced sum, and how many have no price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// Shots that will be submitted (new bills).
    pub shots: usize,
    /// Frames (frames first) that will be submitted besides them (new bills).
    pub frames: usize,
    /// The sum of their known prices.
    pub spend: Micros,
    /// How many of them have no known price.
    pub unpriced: usize,
}

/// Why a render does not start: over budget, or not confirmed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Some shots have no price, so a budget cannot be checked.
    #[error(
        "{unpriced} shot(s) have no known price, so the budget of {limit} cannot be checked: give them `price_usd:` or pass --allow-unpriced"
    )]
    Unpriced {
        /// Shots without a price.
        unpriced: usize,
        /// The budget.
        limit: Micros,
    },
    /// The estimate is over the budget.
    #[error("the estimate {spend} exceeds the budget of {limit} (budget_usd / --max-cost): nothing was sent")]
    OverBudget {
        /// The estimate.
        spend: Micros,
        /// The budget.
        limit: Micros,
    },
    /// The user answered no at the prompt.
    #[error("not confirmed: nothing was sent")]
    Declined,
    /// `render --sandbox` over budget: what a paid render would refuse.
    #[error("a paid render would refuse: {0} (the sandbox rehearses the budget; --ignore-budget skips it)")]
    Rehearsed(Box<Refusal>),
    /// A paid render with no terminal to ask on and no budget that covers it.
    #[error(
        "no terminal to confirm on: a paid render ({spend}) needs --yes, or a budget (budget_usd / --max-cost) that covers the estimate"
    )]
    NoTerminal {
        /// The estimate.
        spend: Micros,
    },
}

impl Estimate {
    /// Whether anything is submitted (and paid for): a shot or a frame.
    pub(crate) fn submits(&self) -> bool {
        self.shots + self.frames > 0
    }

    /// What is sent: `3 shots`, `3 shots + 6 frames`, `6 frames`.
    pub(crate) fn requests(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match (self.shots, self.frames) {
            (s, 0) => plural(s, "shot"),
            (0, f) => plural(f, "frame"),
            (s, f) => format!("{} + {}", plural(s, "shot"), plural(f, "frame")),
        }
    }

    /// The budget gate: every priced shot within `limit`, and no unpriced one unless allowed.
    pub(crate) fn check_budget(&self, limit: Option<Micros>, allow_unpriced: bool) -> Result<(), Refusal> {
        let Some(limit) = limit else { return Ok(()) };
        if self.unpriced > 0 && !allow_unpriced {
            return Err(Refusal::Unpriced {
                unpriced: self.unpriced,
                limit,
            });
        }
        if self.spend > limit {
            return Err(Refusal::OverBudget {
                spend: self.spend,
                limit,
            });
        }
        Ok(())
    }

    /// Whether a budget covers the whole estimate (no unpriced shot), so no prompt is needed.
    pub(crate) fn covered_by(&self, limit: Option<Micros>) -> bool {
        limit.is_some_and(|b| self.unpriced == 0 && self.spend <= b)
    }
}

/// How an endpoint is priced. Figures are list prices in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pricing {
    /// Per second of output, by audio tier; a tier no source gives is `None` (unpriced).
    PerSecond {
        /// Audio off (the base tier: what fal's pricing API calls the unit price).
        silent: u64,
        /// Audio on.
        audio: Option<u64>,
        /// Audio on with voice control (voices bound to the shot).
        voices: Option<u64>,
    },
    /// A base price for the first seconds, then per extra second (Kling v2.5 turbo).
    BasePlusExtra {
        /// Seconds the base price covers.
        base_seconds: u64,
        /// Price of those seconds.
        base: u64,
        /// Price per second beyond them (the unit price).
        per_extra_second: u64,
    },
    /// A rule of the families beyond Kling (by resolution, per video, per token): `rates`.
    Rule(rates::Rule),
    /// No confirmed list price: the shot needs `price_usd`.
    Unpriced,
}

/// A list price with where it was read and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Price {
    /// The rule.
    pub pricing: Pricing,
    /// Where the figures come from.
    pub source: &'static str,
    /// When they were read (YYYY-MM-DD).
    pub read: &'static str,
    /// Where sources disagree: what the plan says beside the price.
    pub dispute: Option<&'static str>,
}

/// The day the catalog's prices were last read from their sources.
pub(crate) const PRICES_READ: &str = "2026-11-22";

/// Kling v2.6 pro: $0.07/s audio off, $0.14/s audio on, $0.168/s audio on with voice control.
/// Text-to-video is assumed to share the tiers (../shared/reference/protocol.md §3).
pub(crate) const KLING_V26_PRO: Price = Price {
    pricing: Pricing::PerSecond {
        silent: 70_000,
        audio: Some(140_000),
        voices: Some(168_000),
    },
    source: "https://fal.ai/models/fal-ai/kling-video/v2.6/pro/image-to-video/llms.txt (\"5 s with audio = $0.70; 10 s with audio+voice = $1.68\")",
    read: PRICES_READ,
    dispute: None,
};

/// Kling v2.5 turbo pro: $0.35 for 5 s + $0.07 per extra second.
pub(crate) const KLING_V25_TURBO_PRO: Price = Price {
    pricing: Pricing::BasePlusExtra {
        base_seconds: 5,
        base: 350_000,
        per_extra_second: 70_000,
    },
    source: "https://fal.ai/models/fal-ai/kling-video/v2.5-turbo/pro/image-to-video/llms.txt",
    read: PRICES_READ,
    dispute: None,
};

/// Kling 3.0 pro: $0.224/s audio off, $0.336/s audio on, $0.392/s with voice control — the
/// higher of fal's two published figures. fal's playground page and a learn page say
/// $0.112/0.168/0.196 ("5s … $0.98"); the model's `llms.txt`, generated from the platform's own
/// metadata, says $0.224/0.336/0.392 ("5s … will cost $1.96") (../shared/reference/kling-v3-and-platform.md §3).
/// Until a live price settles it, an estimate must not assume the lower.
pub(crate) const KLING_V3_PRO: Price = Price {
    pricing: Pricing::PerSecond {
        silent: 224_000,
        audio: Some(336_000),
        voices: Some(392_000),
    },
    source: "https://fal.ai/models/fal-ai/kling-video/v3/pro/image-to-video/llms.txt (\"5s … will cost $1.96\"); the playground page says half",
    read: PRICES_READ,
    dispute: Some("v3 pro: fal's pages say $0.112 or $0.224/s; the live price settles it"),
};

/// Kling 3.0 standard: $0.084/s audio off, $0.126/s audio on, $0.154/s with voice control.
pub(crate) const KLING_V3_STANDARD: Price = Price {
    pricing: Pricing::PerSecond {
        silent: 84_000,
        audio: Some(126_000),
        voices: Some(154_000),
    },
    source: "https://fal.ai/models/fal-ai/kling-video/v3/standard/text-to-video/llms.txt",
    read: PRICES_READ,
    dispute: None,
};

/// Kling 3.0 turbo pro text-to-video: $0.14/s flat.
pub(crate) const KLING_V3_TURBO_PRO: Price = Price {
    pricing: Pricing::PerSecond {
        silent: 140_000,
        audio: None,
        voices: None,
    },
    source: "https://fal.ai/models/fal-ai/kling-video/v3/turbo/pro/text-to-video/llms.txt",
    read: PRICES_READ,
    dispute: None,
};

/// Kling O3 standard image-to-video: $0.084/s audio off, $0.112/s audio on (no voice tier given).
pub(crate) const KLING_O3_STANDARD_I2V: Price = Price {
    pricing: Pricing::PerSecond {
        silent: 84_000,
        audio: Some(112_000),
        voices: None,
    },
    source: "https://fal.ai/models/fal-ai/kling-video/o3/standard/image-to-video",
    read: PRICES_READ,
    dispute: None,
};

/// No source gives a figure (../shared/reference/kling-v3-and-platform.md §3): unpriced, never $0.
pub(crate) const NO_LIST_PRICE: Price = Price {
    pricing: Pricing::Unpriced,
    source: "no published figure found",
    read: PRICES_READ,
    dispute: None,
};

impl Pricing {
    /// The price of one clip of `seconds` (whole seconds), `None` when unpriced; checked: a
    /// product or sum that does not fit is [`Overflow`], never a wrap or a saturated amount.
    pub(crate) fn price(self, seconds: u64, audio: bool, voices: bool) -> Result<Option<Micros>, Overflow> {
        let amount = match self {
            Pricing::PerSecond {
                silent,
                audio: with_audio,
                voices: with_voices,
            } => {
                let rate = match (audio, voices) {
                    (true, true) => with_voices,
                    (true, false) => with_audio,
                    (false, _) => Some(silent),
                };
                let Some(rate) = rate else { return Ok(None) };
                rate.checked_mul(seconds)
            }
            Pricing::BasePlusExtra {
                base_seconds,
                base,
                per_extra_second,
            } => per_extra_second
                .checked_mul(seconds.saturating_sub(base_seconds))
                .and_then(|extra| extra.checked_add(base)),
            Pricing::Rule(rule) => {
                let ask = rates::Ask {
                    seconds: Some(seconds),
                    max_seconds: seconds,
                    resolution: rule.default_resolution(),
                    audio,
                    aspect: None,
                };
                return match rule.quote(&ask) {
                    Ok(q) => Ok(Some(q.amount)),
                    Err(rates::NoPrice::Overflow) => Err(Overflow),
                    Err(_) => Ok(None),
                };
            }
            Pricing::Unpriced => return Ok(None),
        };
        amount.map(|m| Some(Micros(m))).ok_or(Overflow)
    }

    /// The base tier's price per second (what a live unit price replaces), if priced.
    #[cfg(test)]
    pub(crate) fn unit(self) -> Option<u64> {
        match self {
            Pricing::PerSecond { silent, .. } => Some(silent),
            Pricing::BasePlusExtra { per_extra_second, .. } => Some(per_extra_second),
            Pricing::Rule(_) | Pricing::Unpriced => None,
        }
    }

    /// The rule with a live unit price of `unit` micro-dollars a second. fal's pricing API
    /// gives one `unit_price` per endpoint and no source says which audio tier it is
    /// (../shared/reference/kling-v3-and-platform.md §4 marks its reading as an inference), so the tiers are not
    /// scaled by a ratio: the base tier (audio off; per extra second for a base-plus-extra
    /// rule) is `unit`, and every dearer tier is the table's figure or `unit`, whichever is
    /// higher — an estimate never below what either source says.
    pub(crate) fn with_live_unit(self, unit: u64) -> Pricing {
        match self {
            Pricing::PerSecond { audio, voices, .. } => Pricing::PerSecond {
                silent: unit,
                audio: audio.map(|a| a.max(unit)),
                voices: voices.map(|v| v.max(unit)),
            },
            Pricing::BasePlusExtra { base_seconds, base, .. } => Pricing::BasePlusExtra {
                base_seconds,
                // `unit` is below MAX_PER_SECOND (prices::refusal), so this cannot reach the limit.
                base: base.max(unit.saturating_mul(base_seconds)),
                per_extra_second: unit,
            },
            // A rule by resolution, video or token: fal's one unit price cannot say which tier
            // it is, so the table's rule stands.
            Pricing::Rule(rule) => Pricing::Rule(rule),
            // A live price for an endpoint the table cannot price: the base tier only.
            Pricing::Unpriced => Pricing::PerSecond {
                silent: unit,
                audio: None,
                voices: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_prices_match_the_published_examples() {
        let p = |price: Price| price.pricing;
        assert_eq!(p(KLING_V26_PRO).price(5, true, false).unwrap(), Some(Micros(700_000)));
        assert_eq!(p(KLING_V26_PRO).price(10, true, true).unwrap(), Some(Micros(1_680_000)));
        assert_eq!(p(KLING_V26_PRO).price(5, false, false).unwrap(), Some(Micros(350_000)));
        assert_eq!(
            p(KLING_V25_TURBO_PRO).price(5, false, false).unwrap(),
            Some(Micros(350_000))
        );
        assert_eq!(
            p(KLING_V25_TURBO_PRO).price(10, false, false).unwrap(),
            Some(Micros(700_000))
        );
        assert_eq!(Pricing::Unpriced.price(10, true, true).unwrap(), None);
        // The figures: v3 pro 12 s with audio; v3 standard 15 s silent; v3 pro 5 s
        // with voice control (llms.txt's $1.96, the higher of fal's two figures).
        assert_eq!(p(KLING_V3_PRO).price(12, true, false).unwrap(), Some(Micros(4_032_000)));
        assert_eq!(
            p(KLING_V3_STANDARD).price(15, false, false).unwrap(),
            Some(Micros(1_260_000))
        );
        assert_eq!(p(KLING_V3_PRO).price(5, true, true).unwrap(), Some(Micros(1_960_000)));
        assert_eq!(
            p(KLING_O3_STANDARD_I2V).price(5, true, true).unwrap(),
            None,
            "no voice tier: unpriced"
        );
    }

    #[test]
    fn a_live_unit_price_sets_the_base_tier_and_never_lowers_a_dearer_one() {
        let live = KLING_V26_PRO.pricing.with_live_unit(84_000);
        assert_eq!(live.price(5, false, false).unwrap(), Some(Micros(420_000)));
        assert_eq!(
            live.price(5, true, false).unwrap(),
            Some(Micros(700_000)),
            "the table's audio tier"
        );
        let high = KLING_V26_PRO.pricing.with_live_unit(150_000);
        assert_eq!(
            high.price(5, true, false).unwrap(),
            Some(Micros(750_000)),
            "never below the base"
        );
        assert_eq!(high.price(10, true, true).unwrap(), Some(Micros(1_680_000)));
        let turbo = KLING_V25_TURBO_PRO.pricing.with_live_unit(35_000);
        assert_eq!(turbo.price(10, false, false).unwrap(), Some(Micros(525_000)));
        assert_eq!(
            Pricing::Unpriced.with_live_unit(1).price(2, false, false).unwrap(),
            Some(Micros(2))
        );
    }

    #[test]
    fn sums_and_products_never_wrap() {
        assert_eq!(Micros(u64::MAX) + Micros(1), Micros(u64::MAX));
        assert_eq!(Micros(u64::MAX).checked_add(Micros(1)), None);
        let absurd = Pricing::PerSecond {
            silent: 3_700_000_000_000_000_000,
            audio: None,
            voices: None,
        };
        assert_eq!(
            absurd.price(5, false, false),
            Err(Overflow),
            "an error, not a saturated amount"
        );
        let turbo = Pricing::BasePlusExtra {
            base_seconds: 5,
            base: u64::MAX - 1,
            per_extra_second: 1,
        };
        assert_eq!(turbo.price(6, false, false), Ok(Some(Micros(u64::MAX))));
        assert_eq!(turbo.price(7, false, false), Err(Overflow));
        assert_eq!(Micros::checked_sum([MAX_TOTAL, Micros(0)]), Some(MAX_TOTAL));
        assert_eq!(
            Micros::checked_sum([MAX_TOTAL, Micros(1)]),
            None,
            "over the plan's ceiling"
        );
        assert_eq!(Micros::checked_sum([Micros(u64::MAX), Micros(1)]), None);
    }

    #[test]
    fn money_prints_as_dollars() {
        assert_eq!(Micros(1_680_000).to_string(), "$1.68");
        assert_eq!(Micros(0).to_string(), "$0.00");
        assert_eq!(Micros(3_500).to_string(), "$0.0035");
        assert_eq!(Micros::from_usd(4.62), Some(Micros(4_620_000)));
        assert_eq!(Micros::from_usd(-1.0), None);
    }
}
