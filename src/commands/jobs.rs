//! A storyboard's output folder opened for the jobs already paid for (`cancel`, `reconcile`,
//! `adopt`): plan, key, provider client and the folder held (lock, journal read under it).

use camino::Utf8PathBuf;

use crate::error::{Error, UsageError};
use crate::facts::catalog::ProviderKind;
use crate::plan::{self, Plan};
use crate::provider::Provider;
use crate::record::folder::Folder;
use crate::record::journal::{Journal, KeyState, Record};
use crate::storyboard::Source;

/// A storyboard's jobs: its plan, its provider, its output folder held under the lock.
pub(crate) struct Jobs {
    pub(crate) plan: Plan,
    pub(crate) folder: Folder,
    pub(crate) namespace: String,
    pub(crate) provider: Provider,
    pub(crate) journal: Journal,
}

impl Jobs {
    pub(crate) fn open(
        file: &camino::Utf8Path,
        out: Option<Utf8PathBuf>,
        keys: &crate::cli::Keys,
    ) -> Result<Jobs, Error> {
        let src = Source::load(file)?;
        let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
        let out = out.unwrap_or_else(|| plan.output.clone());
        let endpoints = crate::settings::endpoints_from_env()?;
        let crate::cli::Keys { fal_key, eachlabs_key } = crate::settings::keys_for(keys, file);
        let (key, var, namespace) = match plan.provider {
            ProviderKind::Fal => (fal_key, "FAL_KEY", endpoints.fal_queue.clone()),
            ProviderKind::Eachlabs => (eachlabs_key, "EACHLABS_API_KEY", endpoints.eachlabs.clone()),
        };
        let Some(key) = key.filter(|k| !k.trim().is_empty()) else {
            return Err(UsageError::MissingKey {
                var,
                provider: plan.provider.to_string(),
                file: file.to_owned(),
            }
            .into());
        };
        crate::secrets::register(&key);
        let mut folder = Folder::open(&out);
        folder.hold()?;
        let journal = folder.journal()?;
        let provider = Provider::new(plan.provider, &endpoints, key, crate::provider::http::client());
        Ok(Jobs {
            plan,
            folder,
            namespace,
            provider,
            journal,
        })
    }

    /// The selected shots with their request keys (a chained shot's from the last render).
    pub(crate) fn shots(&self, only: &[String]) -> Result<Vec<(String, String)>, Error> {
        let selected = crate::settings::select(&self.plan, only)?;
        let mut listing = crate::decide::listing_from_plan(&self.plan, self.folder.out());
        Ok(selected
            .into_iter()
            .map(|i| {
                let (id, key, _) = std::mem::take(&mut listing[i]);
                (id, key)
            })
            .collect())
    }

    pub(crate) fn state(&self, key: &str) -> Option<&KeyState> {
        self.folder.history().state(&self.namespace, key)
    }

    pub(crate) fn append(&self, record: Record) -> Result<(), Error> {
        self.journal.append(&record).map_err(|source| Error::Write {
            path: self.journal.path().to_owned(),
            source,
        })
    }
}
