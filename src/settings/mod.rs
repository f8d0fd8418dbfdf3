//! Settings resolved once per command, in one place: flags > environment > the `.env` beside
//! the storyboard > storyboard > default. The command layer copies its clap arguments into
//! plain values ([`RenderFlags`], [`Keys`]); everything below reads the resolved values only.
//! Concurrency, the money rules (budget, confirmation, key) and the provider's access are
//! each decided here; the shot selection (`--only`) too.

mod access;
mod money;

use camino::Utf8PathBuf;
use std::num::NonZeroUsize;
use std::time::Duration;

pub(crate) use access::{Access, Keys, endpoints_from_env, platform_url};
pub(crate) use money::Money;

use crate::style::Style;

use crate::decide::Flags;
use crate::facts::cost::Micros;
use crate::plan::Plan;
use crate::provider::Provider;
use crate::provider::http::BaseUrlError;

/// Shots in flight when neither `--concurrency` nor the storyboard says.
pub(crate) const DEFAULT_CONCURRENCY: u32 = 4;

/// A setting that cannot be used (exit 2; nothing sent, nothing written).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    /// `--concurrency 0`, or `concurrency: 0` in the storyboard.
    #[error("{0} must be at least 1 (the number of shots in flight at once)")]
    ZeroConcurrency(String),
    /// A base URL from the environment.
    #[error(transparent)]
    BaseUrl(#[from] BaseUrlError),
    /// `--max-cost` is not money.
    #[error("--max-cost {0} is not an amount of dollars")]
    MaxCost(f64),
    /// `--only` is not a glob.
    #[error("--only `{pattern}` is not a valid glob: {reason}")]
    BadGlob {
        /// As given.
        pattern: String,
        /// The glob crate's words.
        reason: String,
    },
    /// `--only` selects nothing.
    #[error("--only `{pattern}` matches no shot{}", .closest.as_ref().map(|c| format!(" — did you mean `{c}`?")).unwrap_or_default())]
    NoMatch {
        /// As given.
        pattern: String,
        /// The nearest shot id.
        closest: Option<String>,
    },
    /// A paid render without its provider's key.
    #[error(
        "{var} is not set: export your {provider} API key as {var} to render for real, or try `storyboard render {file} --sandbox` (offline, $0) or `storyboard plan {file}` (the estimate)"
    )]
    MissingKey {
        /// `FAL_KEY` or `EACHLABS_API_KEY`.
        var: &'static str,
        /// The provider's name.
        provider: String,
        /// The storyboard as given.
        file: Utf8PathBuf,
    },
    /// A file a setting names cannot be used (the `.env`, the shared store).
    #[error("{0}")]
    State(String),
}

/// What `storyboard render`'s command line says, as plain values.
#[derive(Debug, Clone, Default)]
pub(crate) struct RenderFlags {
    /// The storyboard as given.
    pub file: Utf8PathBuf,
    /// `--out`.
    pub out: Option<Utf8PathBuf>,
    /// `--concurrency`.
    pub concurrency: Option<u32>,
    /// `--max-cost`.
    pub max_cost: Option<f64>,
    /// `--store` (or `STORYBOARD_STORE`).
    pub store: Option<String>,
    /// The keys.
    pub keys: Keys,
    /// `--sandbox`.
    pub sandbox: bool,
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// `--yes`.
    pub yes: bool,
    /// `--offline`.
    pub offline: bool,
    /// `--force`, `--retry-uncertain`, `--resubmit-expired`.
    pub flags: Flags,
    /// `--ignore-budget`.
    pub ignore_budget: bool,
    /// `--allow-unpriced`.
    pub allow_unpriced: bool,
}

/// Resolved render settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The storyboard as given (named in messages).
    pub file: Utf8PathBuf,
    /// Shots in flight at once.
    pub concurrency: NonZeroUsize,
    /// The output folder.
    pub out: Utf8PathBuf,
    /// The provider, its base URLs, its key and the journal namespace.
    pub access: Access,
    /// The budget, the confirmation and the key rules.
    pub money: Money,
    /// How progress is shown.
    pub style: Style,
    /// How the journal is read.
    pub flags: Flags,
    /// Rendered against the built-in sandbox.
    pub sandbox: bool,
    /// `--offline`: price from the table.
    pub offline: bool,
    /// Poll every 100 ms instead of 2 s (sandbox, tests: `STORYBOARD_FAST_POLL`).
    pub fast_poll: bool,
    /// The team's shared store (`--store`, `STORYBOARD_STORE`, the storyboard's `store:`).
    pub store: Option<Store>,
}

/// The team's shared store and how it is waited on.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    /// Its URL (checked when resolved).
    pub url: String,
    /// How long a claimer may take to write the request id (`STORYBOARD_STORE_LEASE`, seconds;
    /// default 300).
    pub lease: Duration,
    /// How often another machine's claim is looked at again (50 ms with fast polling, else 2 s).
    pub poll: Duration,
}

impl Store {
    /// The store named by `--store`, `STORYBOARD_STORE` or the storyboard's `store:` (none:
    /// `None`), its URL checked.
    fn resolve(
        flag: Option<String>,
        storyboard: Option<&String>,
        fast_poll: bool,
    ) -> Result<Option<Store>, SettingsError> {
        let Some(url) = flag.or_else(|| storyboard.cloned()).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        crate::record::store::open(&url).map_err(|e| {
            SettingsError::State(format!(
                "{e} (named by --store, STORYBOARD_STORE or the storyboard's `store:`)"
            ))
        })?;
        let lease = std::env::var("STORYBOARD_STORE_LEASE")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        Ok(Some(Store {
            url,
            lease: Duration::from_secs(lease.unwrap_or(300)),
            poll: Duration::from_millis(if fast_poll { 50 } else { 2000 }),
        }))
    }
}

impl Settings {
    /// Resolves the settings of `storyboard render`.
    pub(crate) fn resolve(f: RenderFlags, plan: &Plan) -> Result<Settings, SettingsError> {
        let concurrency = concurrency(f.concurrency, plan)?;
        access::check_dotenv(&f.file)?;
        let access = Access::resolve(f.keys, &f.file, plan.provider, f.sandbox)?;
        let fast_poll = f.sandbox || std::env::var_os("STORYBOARD_FAST_POLL").is_some();
        let store = Store::resolve(f.store, plan.store.as_ref(), fast_poll)?;
        let budget = match f.max_cost {
            Some(usd) => Some(Micros::from_usd(usd).ok_or(SettingsError::MaxCost(usd))?),
            None => plan.budget,
        };
        Ok(Settings {
            concurrency,
            out: f.out.unwrap_or_else(|| plan.output.clone()),
            access,
            money: Money {
                budget,
                enforce: !f.ignore_budget,
                allow_unpriced: f.allow_unpriced,
                paid: !f.sandbox,
                ask: !f.sandbox && !f.yes,
            },
            style: Style::resolve(f.json, f.quiet),
            flags: Flags {
                sandbox: f.sandbox,
                ..f.flags
            },
            sandbox: f.sandbox,
            offline: f.offline,
            fast_poll,
            store,
            file: f.file,
        })
    }

    /// Where takes and claims go for the storyboard `stem`: this folder only, or the team's
    /// store when one is named (`STORYBOARD_WORKER=i/n` says where this machine starts).
    pub(crate) fn storage(&self, stem: &str) -> Result<crate::run::Storage, crate::record::store::StoreError> {
        let Some(s) = &self.store else {
            return Ok(crate::run::Storage::default());
        };
        let team = crate::run::Team {
            storyboard: stem.to_owned(),
            lease: s.lease,
            poll: s.poll,
            worker: std::env::var("STORYBOARD_WORKER")
                .ok()
                .and_then(|w| crate::run::worker(&w)),
        };
        Ok(crate::run::Storage::shared(crate::record::store::open(&s.url)?, &team))
    }

    /// The provider client, pointed at the in-process sandbox when there is one.
    pub(crate) fn provider_client(&self, sandbox_url: Option<String>) -> Provider {
        self.access.client(sandbox_url, self.fast_poll)
    }

    /// The client for the paid provider, when this render is paid and has a key.
    pub(crate) fn paid_client(&self) -> Option<Provider> {
        (!self.sandbox && self.access.key.is_some()).then(|| self.provider_client(None))
    }
}

/// Shots in flight: `--concurrency`, else the storyboard's `concurrency:`, else
/// [`DEFAULT_CONCURRENCY`]; zero is refused here, and only here.
pub(crate) fn concurrency(flag: Option<u32>, plan: &Plan) -> Result<NonZeroUsize, SettingsError> {
    let n = flag.or(plan.concurrency).unwrap_or(DEFAULT_CONCURRENCY);
    NonZeroUsize::new(n as usize).ok_or_else(|| {
        SettingsError::ZeroConcurrency(match flag {
            Some(_) => "--concurrency".to_owned(),
            None => format!("`concurrency:` in {}", plan.source),
        })
    })
}

/// Which plan indices `--only` selects (all when empty); ids or globs, comma-separated.
pub(crate) fn select(plan: &Plan, only: &[String]) -> Result<Vec<usize>, SettingsError> {
    if only.is_empty() {
        return Ok((0..plan.shots.len()).collect());
    }
    let mut patterns = Vec::new();
    let given = only
        .iter()
        .flat_map(|o| o.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty());
    for o in given {
        let p = glob::Pattern::new(o).map_err(|e| SettingsError::BadGlob {
            pattern: o.to_owned(),
            reason: e.to_string(),
        })?;
        if !plan.shots.iter().any(|s| p.matches(&s.shot) || p.matches(&s.id)) {
            let closest = crate::problem::closest(o, plan.shots.iter().map(|s| s.shot.as_str())).map(str::to_owned);
            return Err(SettingsError::NoMatch {
                pattern: o.to_owned(),
                closest,
            });
        }
        patterns.push(p);
    }
    Ok(plan
        .shots
        .iter()
        .enumerate()
        .filter(|(_, s)| patterns.iter().any(|p| p.matches(&s.shot) || p.matches(&s.id)))
        .map(|(i, _)| i)
        .collect())
}
