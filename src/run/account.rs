//! The provider side of a run: the client, downloads, the frames already uploaded, the first
//! submit that goes out alone, and the account's refusal.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::provider::Provider;

/// The provider, and what the run learns about the account.
pub(crate) struct Account {
    /// The provider client.
    provider: Provider,
    /// The HTTP client for downloads.
    http: reqwest::Client,
    /// Uploaded frames by content hash.
    uploads: Mutex<HashMap<String, String>>,
    /// Whether a submit of this run has been answered: until then one submit goes out alone,
    /// so a refused key or an empty balance costs one request and one message.
    probe: tokio::sync::Mutex<bool>,
    /// The provider refused the account (key or balance): the first message, once.
    refused: Mutex<Option<String>>,
}

impl Account {
    /// `provider`, with the uploads earlier runs journaled.
    pub(super) fn new(provider: Provider, uploads: HashMap<String, String>) -> Account {
        Account {
            provider,
            http: crate::provider::http::client(),
            uploads: Mutex::new(uploads),
            probe: tokio::sync::Mutex::new(false),
            refused: Mutex::default(),
        }
    }

    /// The provider client.
    pub(super) fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The HTTP client for downloads.
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The URL of a file already uploaded, by its sha256.
    pub(super) fn uploaded(&self, sha256: &str) -> Option<String> {
        self.uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .cloned()
    }

    /// Remembers an upload.
    pub(super) fn remember_upload(&self, sha256: String, url: String) {
        self.uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256, url);
    }

    /// Until a submit of this run is answered, the guard a submit holds (one at a time);
    /// `None` once one was. The holder sets it to whether its submit was answered.
    pub(super) async fn probe(&self) -> Option<tokio::sync::MutexGuard<'_, bool>> {
        let answered = self.probe.lock().await;
        (!*answered).then_some(answered)
    }

    /// The provider refused the account: the first message is kept.
    pub(super) fn refuse(&self, message: String) {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(message);
    }

    /// The account's refusal, taken out.
    pub(super) fn refusal(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
