//! Render settings, resolved once from the command line, the environment and the plan
//! (CLI > environment > storyboard > default): concurrency, output folder, provider and its
//! base URLs and key, the journal namespace, the budget and how progress is shown. The shot
//! selection (`--only`) is resolved here too.

use camino::Utf8PathBuf;
use std::io::IsTerminal;

use crate::cli::{Keys, RenderArgs};
use crate::decide::Flags;
use crate::error::UsageError;
use crate::facts::catalog::ProviderKind;
use crate::facts::cost::Micros;
use crate::plan::Plan;
use crate::provider::http::check_base_url;
use crate::provider::{Endpoints, Provider};
use crate::report::progress::Style;

/// Resolved render settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Shots in flight at once.
    pub concurrency: usize,
    /// The output folder.
    pub out: Utf8PathBuf,
    /// Where every shot goes.
    pub provider: ProviderKind,
    /// Base URLs (checked: https, or http on loopback).
    pub endpoints: Endpoints,
    /// The provider's key, when set (never printed).
    pub key: Option<String>,
    /// The journal namespace: `sandbox`, or the provider's base URL.
    pub namespace: String,
    /// `--max-cost`, else the storyboard's budget.
    pub budget: Option<Micros>,
    /// How progress is shown.
    pub style: Style,
    /// How the journal is read.
    pub flags: Flags,
    /// Poll Eachlabs every 100 ms instead of 2 s (sandbox, tests).
    pub fast_poll: bool,
    /// The team's shared store (`--store`, `STORYBOARD_STORE`).
    pub store: Option<String>,
}

impl Settings {
    /// Resolves the settings of `storyboard render`.
    pub(crate) fn resolve(args: &RenderArgs, plan: &Plan) -> Result<Settings, UsageError> {
        let concurrency = match args.concurrency {
            Some(0) => return Err(UsageError::ZeroConcurrency),
            Some(n) => n as usize,
            None => plan.concurrency.max(1) as usize,
        };
        dotenv(&storyboard_dir(&args.file))
            .map_err(|e| UsageError::State(format!("{e} (the .env beside the storyboard)")))?;
        let Keys { fal_key, eachlabs_key } = keys_for(&args.keys, &args.file);
        for key in [&fal_key, &eachlabs_key].into_iter().flatten() {
            crate::secrets::register(key);
        }
        let endpoints = endpoints_from_env()?;
        let store = args
            .store
            .clone()
            .or_else(|| plan.store.clone())
            .filter(|s| !s.is_empty());
        if let Some(url) = store.as_deref() {
            crate::record::store::open(url).map_err(|e| {
                UsageError::State(format!(
                    "{e} (named by --store, STORYBOARD_STORE or the storyboard's `store:`)"
                ))
            })?;
        }
        let provider = plan.provider;
        let key = match provider {
            ProviderKind::Fal => fal_key,
            ProviderKind::Eachlabs => eachlabs_key,
        }
        .filter(|k| !k.trim().is_empty());
        let namespace = match (args.sandbox, provider) {
            (true, _) => "sandbox".to_owned(),
            (false, ProviderKind::Fal) => endpoints.fal_queue.clone(),
            (false, ProviderKind::Eachlabs) => endpoints.eachlabs.clone(),
        };
        let budget = match args.max_cost {
            Some(usd) => Some(Micros::from_usd(usd).ok_or(UsageError::MaxCost(usd))?),
            None => plan.budget,
        };
        Ok(Settings {
            concurrency,
            out: args.out.clone().unwrap_or_else(|| plan.output.clone()),
            provider,
            endpoints,
            key,
            namespace,
            budget,
            style: style(args),
            flags: Flags {
                force: args.force,
                sandbox: args.sandbox,
                retry_uncertain: args.retry_uncertain,
                resubmit_expired: args.resubmit_expired,
            },
            fast_poll: args.sandbox || std::env::var_os("STORYBOARD_FAST_POLL").is_some(),
            store,
        })
    }

    /// The provider client, pointed at the in-process sandbox when there is one.
    pub(crate) fn provider_client(&self, sandbox_url: Option<String>) -> Provider {
        let (endpoints, key) = match sandbox_url {
            Some(url) => (
                Endpoints {
                    fal_queue: url.clone(),
                    fal_storage: url.clone(),
                    fal_api: url.clone(),
                    eachlabs: url,
                },
                "sandbox".to_owned(),
            ),
            None => (self.endpoints.clone(), self.key.clone().unwrap_or_default()),
        };
        let mut provider = Provider::new(self.provider, &endpoints, key, crate::provider::http::client());
        if let Provider::Eachlabs(e) = &mut provider
            && self.fast_poll
        {
            e.poll = std::time::Duration::from_millis(100);
        }
        provider
    }

    /// The environment variable that holds the provider's key.
    pub(crate) fn key_var(&self) -> &'static str {
        match self.provider {
            ProviderKind::Fal => "FAL_KEY",
            ProviderKind::Eachlabs => "EACHLABS_API_KEY",
        }
    }
}

/// The folder of a storyboard file (`.` for standard input).
pub(crate) fn storyboard_dir(file: &camino::Utf8Path) -> Utf8PathBuf {
    match file.parent() {
        Some(p) if file.as_str() != "-" && !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    }
}

/// The keys from the environment, else from the `.env` beside the storyboard `file`.
pub(crate) fn keys_for(keys: &Keys, file: &camino::Utf8Path) -> Keys {
    let dir = storyboard_dir(file);
    Keys {
        fal_key: keys.fal_key.clone().or_else(|| dotenv_key(&dir, "FAL_KEY")),
        eachlabs_key: keys
            .eachlabs_key
            .clone()
            .or_else(|| dotenv_key(&dir, "EACHLABS_API_KEY")),
    }
}

/// A key from the `.env` file beside the storyboard, when the environment has none (the
/// environment wins; the value is never printed).
fn dotenv_key(dir: &camino::Utf8Path, var: &str) -> Option<String> {
    let bytes = dotenv(dir).ok()??;
    dotenvy::from_read_iter(std::io::Cursor::new(bytes))
        .flatten()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty())
}

/// The longest `.env` read: a few keys never come near it.
pub(crate) const MAX_DOTENV_BYTES: u64 = 1 << 20;

/// The `.env` beside the storyboard (none: `None`): a regular file of at most
/// [`MAX_DOTENV_BYTES`] (a link is followed, to a regular file only: a device or a FIFO is
/// refused, never read without end or waited on).
fn dotenv(dir: &camino::Utf8Path) -> Result<Option<Vec<u8>>, crate::files::ReadError> {
    crate::files::read_limited(&dir.join(".env"), MAX_DOTENV_BYTES, true)
}

/// The base URLs from `STORYBOARD_*_URL`, each checked.
pub(crate) fn endpoints_from_env() -> Result<Endpoints, UsageError> {
    let env = |name: &str, default: &str| -> Result<String, UsageError> {
        let v = std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned());
        Ok(check_base_url(name, &v)?)
    };
    let d = Endpoints::default();
    Ok(Endpoints {
        fal_queue: env("STORYBOARD_FAL_URL", &d.fal_queue)?,
        fal_storage: env("STORYBOARD_FAL_STORAGE_URL", &d.fal_storage)?,
        fal_api: env("STORYBOARD_FAL_API_URL", &d.fal_api)?,
        eachlabs: env("STORYBOARD_EACHLABS_URL", &d.eachlabs)?,
    })
}

/// fal's platform API base URL, as the environment sets it (for prices; a bad value is
/// reported where it is used to send something, by [`endpoints_from_env`]).
pub(crate) fn platform_url() -> String {
    endpoints_from_env().map_or_else(|_| crate::provider::Endpoints::default().fal_api, |e| e.fal_api)
}

/// `--json`, `--quiet`, bars on a terminal (unless `STORYBOARD_PLAIN`), else plain lines.
fn style(args: &RenderArgs) -> Style {
    if args.json {
        Style::Json
    } else if args.quiet {
        Style::Quiet
    } else if std::io::stderr().is_terminal() && std::env::var_os("STORYBOARD_PLAIN").is_none() {
        Style::Bars
    } else {
        Style::Plain
    }
}

/// Which plan indices `--only` selects (all when empty); ids or globs, comma-separated.
pub(crate) fn select(plan: &Plan, only: &[String]) -> Result<Vec<usize>, UsageError> {
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
        let p = glob::Pattern::new(o).map_err(|e| UsageError::BadGlob {
            pattern: o.to_owned(),
            reason: e.to_string(),
        })?;
        if !plan.shots.iter().any(|s| p.matches(&s.shot) || p.matches(&s.id)) {
            let closest = crate::problem::closest(o, plan.shots.iter().map(|s| s.shot.as_str())).map(str::to_owned);
            return Err(UsageError::NoMatch {
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
