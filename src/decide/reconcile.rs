//! Uncertain submits (the process died between sending and journaling the request id) looked
//! up in the provider's request history by their exact journaled input; a match is adopted,
//! nothing is ever resubmitted here.

use crate::plan::Plan;
use crate::provider::Provider;
use crate::record::folder::FolderError;
use crate::record::journal::{self, History, Journal, KeyState, Record};

/// What reconciling found: one line per uncertain shot, and how many are still unresolved.
pub(crate) struct Reconciled {
    /// For the user.
    pub lines: Vec<String>,
    /// Uncertain shots not found (or not searchable).
    pub unresolved: usize,
    /// Shots adopted.
    pub adopted: usize,
}

/// Looks up each uncertain shot of `shots` (id, request key) in the provider's history by its
/// journaled input; a match is journaled as accepted (the oldest; the others are reported as
/// billed duplicates). Nothing is ever resubmitted here.
pub(crate) async fn find_uncertain(
    provider: &Provider,
    journal: &Journal,
    history: &History,
    namespace: &str,
    shots: &[(String, String)],
) -> Result<Reconciled, FolderError> {
    let mut out = Reconciled {
        lines: Vec::new(),
        unresolved: 0,
        adopted: 0,
    };
    for (id, key) in shots {
        if !matches!(
            history.state(namespace, key),
            Some(KeyState::Intent | KeyState::Uncertain(_))
        ) {
            continue;
        }
        let Some(sent) = history.sent.get(&(namespace.to_owned(), key.clone())) else {
            out.unresolved += 1;
            out.lines.push(format!("{id}: uncertain, and its journal has no request body to match (written by an older version): check the dashboard, then `storyboard adopt`"));
            continue;
        };
        let line = match provider
            .find_sent(&sent.endpoint, &earlier(&sent.at, 300), &sent.input)
            .await
        {
            Ok(found) if !found.is_empty() => {
                let job = provider.job(&sent.endpoint, &found[0]);
                let record = Record::Accepted {
                    shot: id.clone(),
                    request_key: key.clone(),
                    api: namespace.to_owned(),
                    job: job.clone(),
                    at: journal::now(),
                };
                journal.append(&record).map_err(|source| FolderError::Write {
                    path: journal.path().to_owned(),
                    source,
                })?;
                out.adopted += 1;
                let extra = match found.len() {
                    1 => String::new(),
                    n => format!(
                        "; {} more with the same input were billed too: {}",
                        n - 1,
                        found[1..].join(", ")
                    ),
                };
                format!(
                    "{id}: found request {} in fal's history: adopted, the download follows{extra}",
                    job.request_id
                )
            }
            Ok(_) => {
                out.unresolved += 1;
                format!(
                    "{id}: no request with this input in fal's history yet (it lists finished requests): try `storyboard reconcile` later; nothing is resubmitted by itself"
                )
            }
            Err(e) => {
                out.unresolved += 1;
                format!("{id}: {e}: check the dashboard, then `storyboard adopt`")
            }
        };
        out.lines.push(line);
    }
    Ok(out)
}

/// At the start of a paid render: the selected shots left uncertain by an earlier run are
/// looked for in the request history (no network when there are none; no `provider`: a
/// sandbox render, or no key). What was found, when anything was looked for.
pub(crate) async fn reconcile_before_render(
    provider: Option<&Provider>,
    resume: &super::Resume,
    plan: &Plan,
    selected: &[usize],
) -> Result<Option<Reconciled>, FolderError> {
    let history = &resume.history;
    let shots: Vec<(String, String)> = selected
        .iter()
        .map(|&i| (plan.shots[i].id.clone(), plan.shots[i].request_key.clone()))
        .filter(|(_, key)| {
            matches!(
                history.state(&resume.namespace, key),
                Some(KeyState::Intent | KeyState::Uncertain(_))
            ) && !resume.flags.retry_uncertain
        })
        .collect();
    let Some(provider) = provider.filter(|_| !shots.is_empty() && !resume.flags.sandbox) else {
        return Ok(None);
    };
    let journal = crate::record::folder::open_journal(&resume.out)?;
    find_uncertain(provider, &journal, history, &resume.namespace, &shots)
        .await
        .map(Some)
}

/// An RFC 3339 time `seconds` before `at` (the history's clock may differ a little from ours).
fn earlier(at: &str, seconds: u64) -> String {
    humantime::parse_rfc3339(at)
        .map(|t| t - std::time::Duration::from_secs(seconds))
        .map_or_else(|_| at.to_owned(), |t| humantime::format_rfc3339_seconds(t).to_string())
}
