//! Jobs already paid for, outside a render: `cancel` the folder's jobs in flight, `reconcile`
//! uncertain submits with fal's request history, `adopt` a request found on a dashboard. Each
//! takes the folder's lock and journals what it learns, so the next render acts on it.

use camino::Utf8PathBuf;

use crate::catalog::ProviderKind;
use crate::cli::{AdoptArgs, JobsArgs};
use crate::error::{Error, UsageError, exit};
use crate::journal::{self, History, Journal, KeyState, Record};
use crate::plan::{self, Plan};
use crate::provider::{Cancelled, Provider};
use crate::report;
use crate::storyboard::Source;

/// A storyboard's output folder opened for the provider, under its lock.
struct Folder {
    plan: Plan,
    out: Utf8PathBuf,
    namespace: String,
    provider: Provider,
    history: History,
    journal: Journal,
    _lock: std::fs::File,
}

impl Folder {
    fn open(file: &camino::Utf8Path, out: Option<Utf8PathBuf>, keys: &crate::cli::Keys) -> Result<Folder, Error> {
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
        crate::folder::prepare(&out)?;
        let lock = crate::folder::lock(&out)?;
        let path = Journal::path_in(&out);
        let journal = Journal::open(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let provider = Provider::new(plan.provider, &endpoints, key, crate::provider::http::client());
        Ok(Folder {
            history: Journal::read(&path),
            plan,
            out,
            namespace,
            provider,
            journal,
            _lock: lock,
        })
    }

    /// The selected shots with their request keys (a chained shot's from the last render).
    fn shots(&self, only: &[String]) -> Result<Vec<(String, String)>, Error> {
        let selected = crate::settings::select(&self.plan, only)?;
        let mut listing = crate::status::listing_from_plan(&self.plan, &self.out);
        Ok(selected
            .into_iter()
            .map(|i| {
                let (id, key, _) = std::mem::take(&mut listing[i]);
                (id, key)
            })
            .collect())
    }

    fn state(&self, key: &str) -> Option<&KeyState> {
        self.history.state(&self.namespace, key)
    }

    fn append(&self, record: Record) -> Result<(), Error> {
        self.journal.append(&record).map_err(|source| Error::Write {
            path: self.journal.path().to_owned(),
            source,
        })
    }
}

/// `storyboard cancel`: every selected job in flight is cancelled; queued ones are journaled as
/// cancelled (never billed; the next render submits them again).
pub async fn cancel(args: JobsArgs) -> Result<i32, Error> {
    let folder = Folder::open(&args.file, args.out.clone(), &args.keys)?;
    let mut any = false;
    for (id, key) in folder.shots(&args.only)? {
        let job = match folder.state(&key) {
            Some(KeyState::Accepted(job) | KeyState::Finished { job, .. }) => job.clone(),
            _ => continue,
        };
        any = true;
        let line = match folder.provider.cancel(&job).await {
            Ok(Cancelled::Queued) => {
                folder.append(Record::Cancelled {
                    shot: id.clone(),
                    request_key: key,
                    api: folder.namespace.clone(),
                    request_id: job.request_id.clone(),
                    at: journal::now(),
                })?;
                "cancelled while queued: not billed; the next render submits it again".to_owned()
            }
            Ok(Cancelled::Running) => {
                "cancellation requested while running: it may still bill; the next render follows it".to_owned()
            }
            Ok(Cancelled::AlreadyDone) => "already finished: the next render downloads it".to_owned(),
            Ok(Cancelled::Unknown) => "the provider does not know this request".to_owned(),
            Err(e) => format!("could not cancel: {e}"),
        };
        report::stderr_line(&format!("{id} (request {}): {line}", job.request_id));
    }
    if !any {
        report::stderr_line("no job in flight in this folder: nothing to cancel");
    }
    Ok(exit::OK)
}

/// `storyboard reconcile`: each uncertain submit is looked up in fal's request history by its
/// exact input; a match is adopted (followed by the next render, never resubmitted).
pub async fn reconcile(args: JobsArgs) -> Result<i32, Error> {
    let folder = Folder::open(&args.file, args.out.clone(), &args.keys)?;
    let shots = folder.shots(&args.only)?;
    let found = find_uncertain(
        &folder.provider,
        &folder.journal,
        &folder.history,
        &folder.namespace,
        &shots,
    )
    .await?;
    for line in &found.lines {
        report::stderr_line(line);
    }
    Ok(if found.unresolved > 0 {
        exit::SHOTS_FAILED
    } else {
        exit::OK
    })
}

/// What reconciling found: one line per uncertain shot, and how many are still unresolved.
pub struct Reconciled {
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
pub async fn find_uncertain(
    provider: &Provider,
    journal: &Journal,
    history: &History,
    namespace: &str,
    shots: &[(String, String)],
) -> Result<Reconciled, Error> {
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
                journal.append(&record).map_err(|source| Error::Write {
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
/// looked for in the request history (no network when there are none). Whether any was adopted.
pub async fn reconcile_before_render(
    settings: &crate::settings::Settings,
    plan: &Plan,
    selected: &[usize],
    history: &History,
) -> Result<bool, Error> {
    let shots: Vec<(String, String)> = selected
        .iter()
        .map(|&i| (plan.shots[i].id.clone(), plan.shots[i].request_key.clone()))
        .filter(|(_, key)| {
            matches!(
                history.state(&settings.namespace, key),
                Some(KeyState::Intent | KeyState::Uncertain(_))
            ) && !settings.flags.retry_uncertain
        })
        .collect();
    if shots.is_empty() || settings.flags.sandbox || settings.key.is_none() {
        return Ok(false);
    }
    let provider = settings.provider_client(None);
    let path = Journal::path_in(&settings.out);
    let journal = Journal::open(&path).map_err(|source| Error::Write { path, source })?;
    let found = find_uncertain(&provider, &journal, history, &settings.namespace, &shots).await?;
    for line in &found.lines {
        report::stderr_line(line);
    }
    Ok(found.adopted > 0)
}

/// `storyboard adopt FILE SHOT REQUEST_ID`: the shot follows that request (found on the
/// provider's dashboard) instead of being submitted.
pub fn adopt(args: AdoptArgs) -> Result<i32, Error> {
    check_adopted_id(&args)?;
    let folder = Folder::open(&args.file, args.out.clone(), &args.keys)?;
    let only = [args.shot.clone()];
    let (id, key) = folder
        .shots(&only)?
        .into_iter()
        .next()
        .ok_or_else(|| UsageError::NoMatch {
            pattern: args.shot.clone(),
            closest: None,
        })?;
    let plan_shot = folder.plan.shots.iter().find(|s| s.id == id).expect("selected");
    let job = folder.provider.job(&plan_shot.endpoint, &args.request_id);
    folder.append(Record::Accepted {
        shot: id.clone(),
        request_key: key,
        api: folder.namespace.clone(),
        job,
        at: journal::now(),
    })?;
    report::stderr_line(&format!(
        "{id}: follows request {} from now on; the next render downloads its clip",
        args.request_id
    ));
    Ok(exit::OK)
}

/// The id given to `adopt` has the storyboard provider's request id form (a fal UUID): anything
/// else would be put into URLs sent with the key (`../../x?y` reached other paths). Checked
/// before the folder is opened: nothing sent, nothing written.
fn check_adopted_id(args: &AdoptArgs) -> Result<(), Error> {
    let src = Source::load(&args.file)?;
    let plan = plan::plan(&src, &plan::Overrides::default()).map_err(Error::BadInput)?;
    crate::provider::check_request_id(plan.provider, &args.request_id).map_err(|e| {
        let mut problem = crate::problem::Problem::in_file(
            args.file.as_str(),
            None,
            format!("{e}: copy the request id from the provider's dashboard"),
        );
        problem.shot = Some(args.shot.clone());
        problem.field = Some("REQUEST_ID".into());
        Error::BadInput(vec![problem])
    })
}

/// An RFC 3339 time `seconds` before `at` (the history's clock may differ a little from ours).
fn earlier(at: &str, seconds: u64) -> String {
    humantime::parse_rfc3339(at)
        .map(|t| t - std::time::Duration::from_secs(seconds))
        .map_or_else(|_| at.to_owned(), |t| humantime::format_rfc3339_seconds(t).to_string())
}
