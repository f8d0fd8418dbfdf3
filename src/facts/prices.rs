//! Where a price comes from: the catalog's table (each figure with its source and the date it
//! was read), or fal's live prices — `GET {platform}/v1/models/pricing?endpoint_id=…`, fetched
//! by `storyboard models --refresh` and before a paid render, cached for 24 hours in the user's
//! cache folder (`$XDG_CACHE_HOME/storyboard/prices.json`, else `~/.cache/storyboard/`).
//!
//! A live price is used only when its `unit` is the catalog's (seconds of output: `second`,
//! `video_second`) and its currency USD; any other is ignored with one message naming the
//! endpoint (the table prices it). A live price above [`MAX_PER_SECOND`] is no price at all
//! but a broken answer: a plan that would use it is refused ([`Absurd`], exit 2) naming the
//! endpoint, the figure and where it came from — never priced by the table in silence, never
//! multiplied into a wrapped or saturated estimate. The live `unit_price` sets the
//! audio-off tier; no source says which tier it is, so the dearer tiers are never scaled by a
//! ratio: each is the table's figure or the live one, whichever is higher
//! ([`Pricing::with_live_unit`]). A live price higher or lower than the table is used, and the
//! difference shown.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::facts::catalog::{Endpoint, ProviderKind};
use crate::facts::cost::{MAX_PER_SECOND, Pricing};

/// How long fetched prices are used.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(24 * 3600);

/// One live price as fal's pricing API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LiveUnit {
    /// USD per unit.
    pub unit_price: f64,
    /// `second`, `video_second`, `image`…
    pub unit: String,
    /// `USD`.
    pub currency: String,
}

/// The cache file: the live prices of one platform API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cache {
    /// The platform base URL they came from (prices of a sandbox never price a real plan).
    pub api: String,
    /// When they were fetched (RFC 3339, UTC).
    pub fetched_at: String,
    /// The same, in seconds since 1970 (for freshness).
    pub fetched_unix: u64,
    /// By endpoint id.
    pub prices: BTreeMap<String, LiveUnit>,
}

/// Where one price came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum From {
    /// The catalog's table, read on this date, with what sources dispute about it.
    Table(&'static str, Option<&'static str>),
    /// fal's pricing API, fetched at this time.
    Live(String),
}

impl fmt::Display for From {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            From::Table(read, None) => write!(f, "table {read}"),
            From::Table(read, Some(dispute)) => write!(f, "table {read} ({dispute})"),
            From::Live(at) => write!(f, "live {at}"),
        }
    }
}

/// The prices a plan uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Prices {
    /// Live prices, when fresh ones exist for the platform in use.
    pub live: Option<Cache>,
    /// Why the table is used (said once), when it is.
    pub why_table: Option<String>,
    /// Live prices not used, one message each naming the endpoint (another unit or currency).
    pub ignored: Vec<String>,
    /// Live prices above [`MAX_PER_SECOND`], by endpoint: a plan using one is refused.
    pub absurd: BTreeMap<String, f64>,
}

/// A live price above [`MAX_PER_SECOND`] for an endpoint a plan uses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "fal's live price for {endpoint} is ${usd} per second (fal's pricing API at {api}, fetched {fetched_at}): above {cap}/s, more than any video model costs, so no estimate is made with it and nothing is sent. Run `storyboard models --refresh` to ask fal again, or delete {cache} to plan with the catalog's table"
)]
pub(crate) struct Absurd {
    /// The endpoint id.
    pub endpoint: String,
    /// The live figure (USD per second).
    pub usd: f64,
    /// The platform API that answered it.
    pub api: String,
    /// When.
    pub fetched_at: String,
    /// The ceiling.
    pub cap: crate::facts::cost::Micros,
    /// The cache file holding it.
    pub cache: String,
}

/// Fetching live prices failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PriceError {
    /// No key: the pricing API needs one.
    #[error("no FAL_KEY to ask fal's pricing API with")]
    NoKey,
    /// The request failed or the answer was not the pricing API's.
    #[error("fal's pricing API did not answer ({0})")]
    Unreachable(String),
}

impl Prices {
    /// The table, for this reason.
    pub(crate) fn table(why: impl Into<String>) -> Prices {
        Prices {
            live: None,
            why_table: Some(why.into()),
            ignored: Vec::new(),
            absurd: BTreeMap::new(),
        }
    }

    /// Live prices from `cache`, each checked first: one not priced per second of output in
    /// USD is dropped with one message naming its endpoint; one above [`MAX_PER_SECOND`] is
    /// kept aside, refusing any plan that uses it.
    pub(crate) fn live(mut cache: Cache) -> Prices {
        let mut ignored = Vec::new();
        let mut absurd = BTreeMap::new();
        cache.prices.retain(|id, u| match refusal(u) {
            None => true,
            Some(Refusal::Absurd) => {
                absurd.insert(id.clone(), u.unit_price);
                false
            }
            Some(Refusal::Other(why)) => {
                ignored.push(format!(
                    "fal's live price for {id} is ignored ({why}); the table prices it"
                ));
                false
            }
        });
        Prices {
            live: Some(cache),
            why_table: None,
            ignored,
            absurd,
        }
    }

    /// The refusal of `endpoint`'s live price, when fal answered one above the ceiling.
    pub(crate) fn absurd(&self, endpoint: &str) -> Option<Absurd> {
        let usd = *self.absurd.get(endpoint)?;
        let cache = self.live.as_ref()?;
        Some(Absurd {
            endpoint: endpoint.to_owned(),
            usd,
            api: cache.api.clone(),
            fetched_at: cache.fetched_at.clone(),
            cap: MAX_PER_SECOND,
            cache: cache_path().map_or_else(|| "the price cache".to_owned(), |p| p.to_string()),
        })
    }

    /// An endpoint's pricing and where it came from: live when a usable live price exists
    /// (USD, per second, below the ceiling), else the table; [`Absurd`] when fal's live price
    /// is above the ceiling.
    pub(crate) fn for_endpoint(&self, e: &Endpoint) -> Result<(Pricing, From), Absurd> {
        if let Some(absurd) = self.absurd(e.id).filter(|_| e.provider == ProviderKind::Fal) {
            return Err(absurd);
        }
        Ok(self.usable(e))
    }

    /// What `models` lists for an endpoint: as [`Prices::for_endpoint`], but the table where
    /// fal's live price is above the ceiling (the note says so).
    pub(crate) fn usable(&self, e: &Endpoint) -> (Pricing, From) {
        let table = (e.price.pricing, From::Table(e.price.read, e.price.dispute));
        // A rule by resolution, video or token: fal's one unit price cannot replace it.
        if matches!(e.price.pricing, crate::facts::cost::Pricing::Rule(_)) {
            return table;
        }
        let Some(cache) = self.live.as_ref().filter(|_| e.provider == ProviderKind::Fal) else {
            return table;
        };
        let Some(unit) = cache.prices.get(e.id) else {
            return table;
        };
        let micros = (unit.unit_price * 1e6).round() as u64;
        (
            e.price.pricing.with_live_unit(micros),
            From::Live(cache.fetched_at.clone()),
        )
    }

    /// Where this plan's prices come from, and each live price ignored (one line each).
    pub(crate) fn note(&self) -> String {
        let mut lines = vec![self.source_line()];
        lines.extend(self.ignored.iter().cloned());
        lines.extend(self.absurd.iter().map(|(id, usd)| {
            format!(
                "fal's live price for {id} is ${usd} per second, above {MAX_PER_SECOND}/s: a plan using it is refused"
            )
        }));
        lines.join("\n")
    }

    fn source_line(&self) -> String {
        match (&self.live, &self.why_table) {
            (Some(c), _) => format!(
                "prices: live from fal's pricing API ({} endpoints, fetched {}; the table where it has none)",
                c.prices.len(),
                c.fetched_at
            ),
            (None, Some(why)) => format!(
                "prices: the catalog's table (read {}): {why}",
                crate::facts::cost::PRICES_READ
            ),
            (None, None) => format!("prices: the catalog's table (read {})", crate::facts::cost::PRICES_READ),
        }
    }
}

/// Why a live unit price is not used.
enum Refusal {
    /// Above [`MAX_PER_SECOND`]: a broken answer, refusing the plan.
    Absurd,
    /// Another unit or currency, or not a number: the table prices it.
    Other(String),
}

/// Why a live unit price cannot be used, if it cannot. Every catalog endpoint is priced per
/// second of output (the table's unit), so only that unit, in USD, below the ceiling.
fn refusal(u: &LiveUnit) -> Option<Refusal> {
    if !u.currency.eq_ignore_ascii_case("USD") {
        return Some(Refusal::Other(format!("in {}, not USD", u.currency)));
    }
    if !matches!(u.unit.as_str(), "second" | "seconds" | "video_second" | "video_seconds") {
        return Some(Refusal::Other(format!(
            "per {}, where the catalog prices per second of output",
            u.unit
        )));
    }
    if !u.unit_price.is_finite() || u.unit_price < 0.0 {
        return Some(Refusal::Other(format!("{} is not a price", u.unit_price)));
    }
    (u.unit_price * 1e6 > MAX_PER_SECOND.0 as f64).then_some(Refusal::Absurd)
}

/// The cache file's path.
pub(crate) fn cache_path() -> Option<Utf8PathBuf> {
    let base = match std::env::var("XDG_CACHE_HOME") {
        Ok(x) if !x.is_empty() => Utf8PathBuf::from(x),
        _ => Utf8PathBuf::from(std::env::var("HOME").ok()?).join(".cache"),
    };
    Some(base.join("storyboard").join("prices.json"))
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Fresh cached prices for this platform, or the table and why. (The live schemas cached for
/// it are loaded too: `facts::schemas`.)
pub(crate) fn cached(api: &str) -> Prices {
    crate::facts::schemas::load(api);
    let cache = cache_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Cache>(&b).ok())
        .filter(|c| c.api == api);
    match cache {
        Some(c) if now_unix().saturating_sub(c.fetched_unix) < FRESH_FOR.as_secs() => Prices::live(c),
        Some(_) => Prices::table("the live prices are over 24 hours old (`storyboard models --refresh` fetches them)"),
        None => Prices::table("no live prices fetched (`storyboard models --refresh` fetches them)"),
    }
}

/// Before a paid fal render: fal's live prices for the `endpoints` (`offline`, no key, or no
/// answer: the table, said in the note).
pub(crate) async fn before_render<'a>(
    endpoints: impl Iterator<Item = &'a str>,
    api: &str,
    key: Option<&str>,
    offline: bool,
) -> Prices {
    if offline {
        return Prices::table("--offline");
    }
    let mut ids: Vec<&str> = endpoints.collect();
    ids.sort_unstable();
    ids.dedup();
    let fetched = refresh(&crate::provider::http::client(), api, key, &ids).await;
    fetched.unwrap_or_else(|e| Prices::table(format!("{e}")))
}

/// Fetches the live prices of `ids` in one request and caches them (a cache that cannot be
/// written is no reason to fail: the prices are still used).
pub(crate) async fn refresh(
    http: &reqwest::Client,
    api: &str,
    key: Option<&str>,
    ids: &[&str],
) -> Result<Prices, PriceError> {
    let key = key.ok_or(PriceError::NoKey)?;
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("endpoint_id", &ids.join(","))
        .finish();
    let url = format!("{}/v1/models/pricing?{query}", api.trim_end_matches('/'));
    let answer = http
        .get(&url)
        .header("Authorization", format!("Key {key}"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| PriceError::Unreachable(crate::secrets::redact(&e.without_url().to_string()).into_owned()))?;
    if !answer.status().is_success() {
        return Err(PriceError::Unreachable(format!("HTTP {}", answer.status().as_u16())));
    }
    #[derive(Deserialize)]
    struct Listed {
        endpoint_id: String,
        #[serde(flatten)]
        unit: LiveUnit,
    }
    #[derive(Deserialize)]
    struct Page {
        prices: Vec<Listed>,
    }
    let page: Page = crate::provider::http::bounded_json(answer)
        .await
        .map_err(|e| PriceError::Unreachable(format!("unexpected answer: {e}")))?;
    let cache = Cache {
        api: api.to_owned(),
        fetched_at: crate::clock::now(),
        fetched_unix: now_unix(),
        prices: page.prices.into_iter().map(|p| (p.endpoint_id, p.unit)).collect(),
    };
    if let Some(path) = cache_path() {
        let _ = path.parent().map(std::fs::create_dir_all);
        let _ = serde_json::to_vec_pretty(&cache).map(|b| crate::files::write_atomic(&path, &b));
    }
    Ok(Prices::live(cache))
}

/// The fal endpoints of the catalog (what `models --refresh` asks about).
pub(crate) fn catalog_ids() -> Vec<&'static str> {
    crate::facts::catalog::CATALOG
        .iter()
        .filter(|e| e.provider == ProviderKind::Fal)
        .map(|e| e.id)
        .collect()
}
