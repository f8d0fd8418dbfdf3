//! A storyboard's output folder opened for the jobs already paid for (`cancel`, `reconcile`,
//! `adopt`): plan, key, provider client, journal, under the folder's lock.

use camino::Utf8PathBuf;

use crate::error::Error;
use crate::plan::Plan;
use crate::provider::Provider;
use crate::record::journal::{History, Journal, KeyState, Record};

/// A storyboard's output folder opened for the provider, under its lock.
pub(crate) struct Folder {
    pub(crate) plan: Plan,
    pub(crate) out: Utf8PathBuf,
    pub(crate) namespace: String,
    pub(crate) provider: Provider,
    pub(crate) history: History,
    pub(crate) journal: Journal,
    _lock: std::fs::File,
}

impl Folder {
    pub(crate) fn open(
        file: &camino::Utf8Path,
        out: Option<Utf8PathBuf>,
        keys: &crate::cli::Keys,
    ) -> Result<Folder, Error> {
        let (_, plan, out) = super::folder_of(file, out.as_deref())?;
        let access = crate::settings::Access::resolve(super::keys(keys), file, plan.provider, false)?;
        access.require_key(file)?;
        crate::record::folder::prepare(&out)?;
        let lock = crate::record::folder::lock(&out)?;
        let path = Journal::path_in(&out);
        let journal = Journal::open(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let provider = access.client(None, false);
        Ok(Folder {
            history: Journal::read(&path),
            plan,
            out,
            namespace: access.namespace,
            provider,
            journal,
            _lock: lock,
        })
    }

    /// The selected shots with their request keys (a chained shot's from the last render).
    pub(crate) fn shots(&self, only: &[String]) -> Result<Vec<(String, String)>, Error> {
        let selected = crate::settings::select(&self.plan, only)?;
        let mut listing = crate::record::status::listing_from_plan(&self.plan, &self.out);
        Ok(selected
            .into_iter()
            .map(|i| {
                let (id, key, _) = std::mem::take(&mut listing[i]);
                (id, key)
            })
            .collect())
    }

    pub(crate) fn state(&self, key: &str) -> Option<&KeyState> {
        self.history.state(&self.namespace, key)
    }

    pub(crate) fn append(&self, record: Record) -> Result<(), Error> {
        self.journal.append(&record).map_err(|source| Error::Write {
            path: self.journal.path().to_owned(),
            source,
        })
    }
}
