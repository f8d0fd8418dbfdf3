//! A storyboard's output folder opened for the jobs already paid for (`cancel`, `reconcile`,
//! `adopt`): plan, key, provider client and the folder held (lock, journal read under it).

use camino::Utf8PathBuf;

use crate::error::Error;
use crate::plan::Plan;
use crate::provider::Provider;
use crate::record::folder::Folder;
use crate::record::journal::{Journal, KeyState, Record};

/// A storyboard's jobs: its plan, its provider, its output folder held under the lock.
pub(crate) struct Jobs {
    pub(crate) plan: Plan,
    pub(crate) folder: Folder,
    pub(crate) namespace: String,
    pub(crate) provider: Provider,
    pub(crate) journal: Journal,
    /// Why no provider call can be made (no key), if so: asked by [`Jobs::need_key`] only once
    /// a job needs the provider, so a folder with nothing in flight needs no key.
    missing_key: Option<crate::settings::SettingsError>,
}

impl Jobs {
    pub(crate) fn open(
        file: &camino::Utf8Path,
        out: Option<Utf8PathBuf>,
        keys: &crate::cli::Keys,
    ) -> Result<Jobs, Error> {
        let (_, plan, out) = super::folder_of(file, out.as_deref())?;
        Jobs::open_at(file, plan, out, keys)
    }

    /// [`Jobs::open`] for a storyboard already planned, its output folder `out`.
    pub(crate) fn open_at(
        file: &camino::Utf8Path,
        plan: Plan,
        out: Utf8PathBuf,
        keys: &crate::cli::Keys,
    ) -> Result<Jobs, Error> {
        let access = crate::settings::Access::resolve(super::keys(keys), file, plan.provider, false)?;
        let missing_key = access.require_key(file).err();
        let mut folder = Folder::open(&out);
        folder.hold()?;
        let journal = folder.journal()?;
        let provider = access.client(None, false);
        Ok(Jobs {
            plan,
            folder,
            namespace: access.namespace,
            provider,
            journal,
            missing_key,
        })
    }

    /// The provider's key is set (else the error that says how to set it).
    pub(crate) fn need_key(&mut self) -> Result<(), Error> {
        self.missing_key.take().map_or(Ok(()), |e| Err(e.into()))
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
