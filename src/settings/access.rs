//! Where requests go and with which key: the base URLs (`STORYBOARD_*_URL`, checked), the
//! keys (environment, else the `.env` beside the storyboard), the provider client. The only
//! place keys and endpoints are resolved.

use camino::{Utf8Path, Utf8PathBuf};

use super::SettingsError;
use crate::facts::catalog::ProviderKind;
use crate::provider::http::check_base_url;
use crate::provider::{Endpoints, Provider};

/// The providers' keys as the command line and environment gave them (never printed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    /// `FAL_KEY`.
    pub fal: Option<String>,
    /// `EACHLABS_API_KEY`.
    pub eachlabs: Option<String>,
}

impl Keys {
    /// The keys from the environment, else from the `.env` beside the storyboard `file`.
    pub(crate) fn resolve(self, file: &Utf8Path) -> Keys {
        let dir = storyboard_dir(file);
        let or_dotenv = |k: Option<String>, var| k.or_else(|| dotenv_key(&dir, var));
        Keys {
            fal: or_dotenv(self.fal, "FAL_KEY"),
            eachlabs: or_dotenv(self.eachlabs, "EACHLABS_API_KEY"),
        }
    }
}

/// One provider's access: its base URLs, its key (registered as a secret) and the journal
/// namespace its requests are recorded under.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// Where every shot goes.
    pub provider: ProviderKind,
    /// Base URLs (checked: https, or http on loopback).
    pub endpoints: Endpoints,
    /// The provider's key, when set (never printed).
    pub key: Option<String>,
    /// The journal namespace: `sandbox`, or the provider's base URL.
    pub namespace: String,
    /// The names in the `.env` beside the storyboard other than the two keys: ignored (their
    /// values are never read into anything nor printed).
    pub dotenv_ignored: Vec<String>,
}

impl Access {
    /// The access to `provider` for the storyboard `file` (`sandbox`: the namespace is
    /// `sandbox`).
    pub(crate) fn resolve(
        keys: Keys,
        file: &Utf8Path,
        provider: ProviderKind,
        sandbox: bool,
    ) -> Result<Access, SettingsError> {
        let keys = keys.resolve(file);
        for key in [&keys.fal, &keys.eachlabs].into_iter().flatten() {
            crate::secrets::register(key);
        }
        let endpoints = endpoints_from_env()?;
        let (key, host) = match provider {
            ProviderKind::Fal => (keys.fal, &endpoints.fal_queue),
            ProviderKind::Eachlabs => (keys.eachlabs, &endpoints.eachlabs),
        };
        let namespace = if sandbox { "sandbox".to_owned() } else { host.clone() };
        Ok(Access {
            provider,
            endpoints,
            key: key.filter(|k| !k.trim().is_empty()),
            namespace,
            dotenv_ignored: dotenv_ignored(file),
        })
    }

    /// The key, or the error that names its variable and the free ways to go on.
    pub(crate) fn require_key(&self, file: &Utf8Path) -> Result<&str, SettingsError> {
        self.key.as_deref().ok_or_else(|| SettingsError::MissingKey {
            var: self.key_var(),
            provider: self.provider.to_string(),
            file: file.to_owned(),
        })
    }

    /// The environment variable that holds the provider's key.
    pub(crate) fn key_var(&self) -> &'static str {
        match self.provider {
            ProviderKind::Fal => "FAL_KEY",
            ProviderKind::Eachlabs => "EACHLABS_API_KEY",
        }
    }

    /// Where paid requests go (the provider's base URL).
    pub(crate) fn host(&self) -> &str {
        match self.provider {
            ProviderKind::Fal => &self.endpoints.fal_queue,
            ProviderKind::Eachlabs => &self.endpoints.eachlabs,
        }
    }

    /// The provider client, pointed at the in-process sandbox when there is one; `fast_poll`
    /// polls Eachlabs every 100 ms instead of 2 s.
    pub(crate) fn client(&self, sandbox_url: Option<String>, fast_poll: bool) -> Provider {
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
            && fast_poll
        {
            e.poll = std::time::Duration::from_millis(100);
        }
        provider
    }
}

/// The folder of a storyboard file (`.` for standard input).
pub(crate) fn storyboard_dir(file: &Utf8Path) -> Utf8PathBuf {
    match file.parent() {
        Some(p) if file.as_str() != "-" && !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    }
}

/// A key from the `.env` file beside the storyboard, when the environment has none (the
/// environment wins; the value is never printed).
fn dotenv_key(dir: &Utf8Path, var: &str) -> Option<String> {
    let bytes = dotenv(dir).ok()??;
    dotenvy::from_read_iter(std::io::Cursor::new(bytes))
        .flatten()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty())
}

/// The two names read from a `.env`.
const DOTENV_KEYS: [&str; 2] = ["FAL_KEY", "EACHLABS_API_KEY"];

/// The names in the `.env` beside the storyboard `file` other than the two keys, sorted: a
/// `.env` that travels with someone else's storyboard redirects nothing (no base URL, no
/// setting), and the user is told what was left alone.
pub(crate) fn dotenv_ignored(file: &Utf8Path) -> Vec<String> {
    let Ok(Some(bytes)) = dotenv(&storyboard_dir(file)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dotenvy::from_read_iter(std::io::Cursor::new(bytes))
        .flatten()
        .map(|(name, _)| name)
        .filter(|name| !DOTENV_KEYS.contains(&name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The longest `.env` read: a few keys never come near it.
pub(crate) const MAX_DOTENV_BYTES: u64 = 1 << 20;

/// A `.env` beside the storyboard `file` that cannot be read (a device, too large) is an error
/// before a render (elsewhere it only provides no key).
pub(crate) fn check_dotenv(file: &Utf8Path) -> Result<(), SettingsError> {
    dotenv(&storyboard_dir(file)).map_err(|e| SettingsError::State(format!("{e} (the .env beside the storyboard)")))?;
    Ok(())
}

/// The `.env` beside the storyboard (none: `None`): a regular file of at most
/// [`MAX_DOTENV_BYTES`] (a link is followed, to a regular file only: a device or a FIFO is
/// refused, never read without end or waited on).
fn dotenv(dir: &Utf8Path) -> Result<Option<Vec<u8>>, crate::files::ReadError> {
    crate::files::read_limited(&dir.join(".env"), MAX_DOTENV_BYTES, true)
}

/// The base URLs from `STORYBOARD_*_URL`, each checked.
pub(crate) fn endpoints_from_env() -> Result<Endpoints, SettingsError> {
    let env = |name: &str, default: &str| -> Result<String, SettingsError> {
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
    endpoints_from_env().map_or_else(|_| Endpoints::default().fal_api, |e| e.fal_api)
}
