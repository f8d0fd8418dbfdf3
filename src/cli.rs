//! The command line (clap derive), and the commands printed for the user to copy (the
//! `render` that resumes, the `cancel` that reaches the same folder). No I/O.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Render a whole film's worth of AI video shots from one YAML storyboard.
#[derive(Debug, Parser)]
#[command(
    name = "storyboard",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  storyboard init my-film                              # a starter storyboard that plans as is\n  storyboard plan my-film/storyboard.yaml              # the exact estimate; no network, no money\n  storyboard render my-film/storyboard.yaml --sandbox  # the whole job offline: $0, real MP4s\n\nKeys: FAL_KEY (fal.ai) or EACHLABS_API_KEY, from the environment or a .env beside the storyboard.\nffmpeg is optional: needed for chained shots (frames) and the assembled cut."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Whether the command was asked for JSON (its errors are then JSON on stdout too).
    pub fn json(&self) -> bool {
        self.command.json()
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Expand, validate and price a storyboard: no network, no files written.
    #[command(
        after_help = "Example:\n  storyboard plan examples/reunion.yaml\n  storyboard plan examples/reunion.yaml --json"
    )]
    Plan(PlanArgs),
    /// Plan, show the estimate, confirm, and render every shot into clips plus manifest.json.
    #[command(
        after_help = "Examples:\n  storyboard render examples/reunion.yaml --sandbox      # offline, $0, real MP4s\n  FAL_KEY=… storyboard render shots.yaml --yes --concurrency 8 --only 'portrait-*'"
    )]
    Render(RenderArgs),
    /// List the model catalog with prices.
    #[command(after_help = "Example:\n  storyboard models --json")]
    Models(ModelsArgs),
    /// Print a JSON Schema (draft-07): the storyboard format or the manifest.
    #[command(after_help = "Example:\n  storyboard schema storyboard > storyboard.schema.json")]
    Schema(SchemaArgs),
    /// After render: the cut (ffmpeg), an OpenTimelineIO timeline and review.html.
    #[command(
        after_help = "Example:\n  storyboard assemble examples/reunion.yaml\n  storyboard render examples/reunion.yaml --sandbox --assemble"
    )]
    Assemble(AssembleArgs),
    /// Where each shot stands (from the manifest and journal; no network).
    #[command(
        after_help = "Examples:\n  storyboard status examples/reunion.yaml\n  storyboard status examples/renders/reunion --json"
    )]
    Status(StatusArgs),
    /// Select a take of a shot, ask for one new take on the next render, or keep a note.
    #[command(
        after_help = "Examples:\n  storyboard pick shots.yaml reunion 2\n  storyboard pick shots.yaml reunion --redo\n  storyboard pick shots.yaml reunion --note 'too slow; try a dolly'"
    )]
    Pick(PickArgs),
    /// Serve the review page on 127.0.0.1: every shot's takes side by side, pick, redo, notes.
    #[command(after_help = "Example:\n  storyboard review shots.yaml --open")]
    Review(ReviewArgs),
    /// Remove the takes no shot selects and no current request made (never during a render).
    #[command(after_help = "Example:\n  storyboard clean shots.yaml --dry-run")]
    Clean(CleanArgs),
    /// Cancel the folder's jobs in flight (queued ones are never billed; running ones may be).
    #[command(
        after_help = "Example:\n  storyboard cancel shots.yaml\n  storyboard cancel shots.yaml --only 'portrait-*'"
    )]
    Cancel(JobsArgs),
    /// Find uncertain submits in the provider's request history and follow them (fal).
    #[command(after_help = "Example:\n  storyboard reconcile shots.yaml")]
    Reconcile(JobsArgs),
    /// Follow a request found on the provider's dashboard for a shot (instead of submitting it).
    #[command(after_help = "Example:\n  storyboard adopt shots.yaml arrival 80e732af-2d24-4d4e-8b2e-0e1f2a3b4c5d")]
    Adopt(AdoptArgs),
    /// Start a project: a storyboard that plans as is (with comments that teach the format), its
    /// JSON Schema for editors, and a .gitignore.
    #[command(after_help = "Example:\n  storyboard init my-film && storyboard plan my-film/storyboard.yaml")]
    Init(InitArgs),
    /// Re-plan and re-price on every save, printing what changed; never sends a request.
    #[command(after_help = "Example:\n  storyboard watch shots.yaml")]
    Watch(WatchArgs),
    /// Run the emulator (fal queue, fal storage, Eachlabs, file host) on loopback until Ctrl-C.
    #[command(
        after_help = "Example:\n  storyboard sandbox --port 8765\n  STORYBOARD_FAL_URL=http://127.0.0.1:8765 FAL_KEY=test storyboard render shots.yaml --yes"
    )]
    Sandbox(SandboxArgs),
    /// The team's shared store (`--store`, STORYBOARD_STORE): what it holds, and clean-up.
    #[command(
        after_help = "Examples:\n  storyboard store status --store s3://films/team-a\n  storyboard store gc --store s3://films/team-a --dry-run"
    )]
    Store(StoreArgs),
    /// Is this machine ready for a paid render: keys present (never printed) and accepted,
    /// hosts reachable, ffmpeg, a browser for `review --open`.
    #[command(
        after_help = "Example:\n  storyboard doctor\n  storyboard doctor shots.yaml   # also the .env beside shots.yaml"
    )]
    Doctor(DoctorArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  storyboard completions bash > ~/.local/share/bash-completion/completions/storyboard"
    )]
    Completions(CompletionsArgs),
}

impl Command {
    /// Whether the command was asked for JSON (its errors are then JSON on stdout too).
    pub(crate) fn json(&self) -> bool {
        match self {
            Command::Plan(a) => a.json,
            Command::Render(a) => a.json,
            Command::Status(a) => a.json,
            Command::Models(a) => a.json,
            Command::Doctor(a) => a.json,
            _ => false,
        }
    }
}

/// `storyboard plan`.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The storyboard (`-` for standard input).
    pub file: Utf8PathBuf,
    /// Print the plan as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Provider for every shot (overrides the storyboard's `provider:`).
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// Exit with code 3 when the estimate is over the storyboard's budget (for scripts and CI).
    #[arg(long)]
    pub check: bool,
}

/// `storyboard render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The storyboard (`-` for standard input).
    pub file: Utf8PathBuf,
    /// Only plan (same as `storyboard plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Shots in flight at once (overrides the storyboard's `concurrency:`).
    #[arg(long, short = 'j')]
    pub concurrency: Option<u32>,
    /// Render only these shot ids (globs allowed, e.g. 'portrait-*').
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// `frames`: render the frames and animate only the picked ones (as `approve: frames`).
    #[arg(long, value_enum)]
    pub approve: Option<crate::storyboard::Approve>,
    /// A shoot-out of the `--only` shots: one take per model, each priced on its own line
    /// (comma-separated model families, e.g. `--compare kling-v3-pro,veo3.1`).
    #[arg(long, value_delimiter = ',', requires = "only")]
    pub compare: Vec<String>,
    /// Re-render shots even when their clip is cached.
    #[arg(long)]
    pub force: bool,
    /// Refuse to start when the estimate exceeds this many USD.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Render against the built-in emulator: offline, $0, no key needed.
    #[arg(long)]
    pub sandbox: bool,
    /// Output folder (overrides the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
    /// Machine-readable events on stdout, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Print only errors and the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Provider for every shot (overrides the storyboard's `provider:`).
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// Submit again the shots whose earlier submit had an unknown outcome (check your provider dashboard first: it may bill twice).
    #[arg(long)]
    pub retry_uncertain: bool,
    /// Submit again the shots whose journaled request the provider no longer knows (a second bill).
    #[arg(long)]
    pub resubmit_expired: bool,
    /// Let a budget check pass although some shots have no known price.
    #[arg(long)]
    pub allow_unpriced: bool,
    /// Skip the budget check (also under --sandbox, which rehearses it).
    #[arg(long)]
    pub ignore_budget: bool,
    /// Price from the catalog's table: do not fetch fal's live prices before a paid render.
    #[arg(long)]
    pub offline: bool,
    /// After rendering, assemble the cut, the timeline and the review page.
    #[arg(long)]
    pub assemble: bool,
    /// With --assemble: fail when a shot has no clip.
    #[arg(long, requires = "assemble")]
    pub strict: bool,
    /// A store shared by the team's machines (s3://bucket/prefix or file:///shared/folder):
    /// clips rendered anywhere are fetched for $0, and each request is submitted once across
    /// machines. Credentials from AWS_* variables.
    #[arg(long, env = "STORYBOARD_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The providers' keys (from the environment).
    #[command(flatten)]
    pub keys: Keys,
}

/// `storyboard assemble`.
#[derive(Debug, Args)]
pub(crate) struct AssembleArgs {
    /// The storyboard (`-` for standard input).
    pub file: Utf8PathBuf,
    /// Output folder (overrides the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
    /// Fail when a shot has no clip, instead of leaving it out with a warning.
    #[arg(long)]
    pub strict: bool,
}

/// `storyboard pick`.
#[derive(Debug, Args)]
#[command(
    override_usage = "storyboard pick <FILE> <SHOT> <TAKE | --redo | --frame <N> | --redo-frame | --end-frame <N> | --redo-end-frame | --note <NOTE>>"
)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["take", "redo", "note", "no_redo", "frame", "redo_frame", "end_frame", "redo_end_frame"])))]
pub(crate) struct PickArgs {
    /// The storyboard.
    pub file: Utf8PathBuf,
    /// The shot id.
    pub shot: String,
    /// The take to select (the number `storyboard status` and the review page show).
    #[arg(conflicts_with = "redo")]
    pub take: Option<u32>,
    /// Render one new take of the shot on the next render (shown in the estimate).
    #[arg(long)]
    pub redo: bool,
    /// Withdraw the redo that waits for the next render.
    #[arg(long, conflicts_with = "redo")]
    pub no_redo: bool,
    /// The frame take to animate (frames first: the number `storyboard status` shows).
    #[arg(long, conflicts_with_all = ["take", "redo", "no_redo"])]
    pub frame: Option<u32>,
    /// Render one new frame take of the shot on the next render.
    #[arg(long, conflicts_with_all = ["take", "redo", "no_redo", "frame"])]
    pub redo_frame: bool,
    /// The end frame take the video ends on (`end_frame:`).
    #[arg(long, conflicts_with_all = ["take", "redo", "no_redo"])]
    pub end_frame: Option<u32>,
    /// Render one new end frame take of the shot on the next render.
    #[arg(long, conflicts_with_all = ["take", "redo", "no_redo", "end_frame"])]
    pub redo_end_frame: bool,
    /// Keep a note about the take given, else the shot's selected take (empty: remove it).
    #[arg(long)]
    pub note: Option<String>,
    /// Output folder (overrides the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
}

/// `storyboard review`.
#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// The storyboard.
    pub file: Utf8PathBuf,
    /// Port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Open the page in the browser.
    #[arg(long)]
    pub open: bool,
    /// Output folder (overrides the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
}

/// `storyboard clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The storyboard.
    pub file: Utf8PathBuf,
    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output folder (overrides the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
}

/// `storyboard status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// A storyboard, or an output folder.
    pub target: Utf8PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `storyboard init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The folder (created when missing; default: the current one).
    #[arg(default_value = ".")]
    pub dir: Utf8PathBuf,
    /// Start from this model family (`storyboard models`), e.g. `--model veo3.1`.
    #[arg(long)]
    pub model: Option<String>,
}

/// `storyboard watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The storyboard.
    pub file: Utf8PathBuf,
    /// How often to look at the file, in milliseconds.
    #[arg(long, default_value_t = 300, hide = true)]
    pub interval_ms: u64,
}

/// `storyboard cancel` and `storyboard reconcile`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// The storyboard (`-` for standard input).
    pub file: Utf8PathBuf,
    /// Only these shots (ids or globs, comma-separated).
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// The output folder (default: the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
    /// The providers' keys (from the environment).
    #[command(flatten)]
    pub keys: Keys,
}

/// `storyboard adopt`.
#[derive(Debug, Args)]
pub(crate) struct AdoptArgs {
    /// The storyboard (`-` for standard input).
    pub file: Utf8PathBuf,
    /// The shot's id.
    pub shot: String,
    /// The provider's request id (from its dashboard).
    pub request_id: String,
    /// The output folder (default: the storyboard's `output:`).
    #[arg(long)]
    pub out: Option<Utf8PathBuf>,
    /// The providers' keys (from the environment).
    #[command(flatten)]
    pub keys: Keys,
}

/// The providers' keys, from the environment (or a `.env` beside the storyboard); hidden
/// from `--help` and never printed.
#[derive(Debug, Clone, Args)]
pub(crate) struct Keys {
    /// fal API key.
    #[arg(long, env = "FAL_KEY", hide_env_values = true, hide = true)]
    pub fal_key: Option<String>,
    /// Eachlabs API key.
    #[arg(long, env = "EACHLABS_API_KEY", hide_env_values = true, hide = true)]
    pub eachlabs_key: Option<String>,
}

/// `storyboard doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// A storyboard: the `.env` beside it counts for the keys (default: this folder's).
    #[arg(default_value = "-")]
    pub file: Utf8PathBuf,
    /// The checks as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// The providers' keys (from the environment).
    #[command(flatten)]
    pub keys: Keys,
}

/// `storyboard models`.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// Print the catalog as JSON.
    #[arg(long)]
    pub json: bool,
    /// Fetch fal's live prices now (cached for 24 hours; `plan` uses them).
    #[arg(long)]
    pub refresh: bool,
    /// The providers' keys (from the environment).
    #[command(flatten)]
    pub keys: Keys,
}

/// `storyboard schema`.
#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum, default_value = "storyboard")]
    pub which: SchemaKind,
}

/// `storyboard sandbox`.
#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Address to bind (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Seconds a job waits in the queue.
    #[arg(long, default_value_t = 1.0)]
    pub queue_seconds: f64,
    /// Seconds a job runs.
    #[arg(long, default_value_t = 3.0)]
    pub job_seconds: f64,
    /// Pad every clip to this many bytes (to test big downloads).
    #[arg(long)]
    pub clip_bytes: Option<u64>,
    /// Results disappear this many seconds after completion (fal keeps them only minutes).
    #[arg(long)]
    pub result_ttl_seconds: Option<f64>,
    /// Eachlabs: predictions in flight per key before 429 (a low balance allows 10).
    #[arg(long, default_value_t = 10)]
    pub eachlabs_max_in_flight: usize,
    /// Fault plan: `kind=N` (the first N requests of that kind) or `kind~P` (probability), comma-separated, with `seed=N`. Kinds: submit_429, submit_503, submit_drop, status_5xx, result_5xx, stream_drop, stream_off, truncate, fail_job, each_429, each_402, each_error, each_failed.
    #[arg(long, default_value = "")]
    pub faults: String,
}

/// `storyboard completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Providers on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ProviderArg {
    /// fal.ai queue API.
    Fal,
    /// Eachlabs prediction API.
    Eachlabs,
}

/// Schemas `storyboard schema` prints.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum SchemaKind {
    /// The storyboard YAML format.
    Storyboard,
    /// manifest.json.
    Manifest,
}

impl RenderArgs {
    /// The `render` command that resumes this one: the same storyboard, folder, selection,
    /// provider and gates, without the flags that pay again (`--force`, `--retry-uncertain`,
    /// `--resubmit-expired`) or only plan (`--dry-run`).
    pub(crate) fn resume_command(&self) -> String {
        let mut words = self.command_words("render");
        if let Some(p) = self.provider {
            words.extend(["--provider".to_owned(), p.name().to_owned()]);
        }
        if let Some(n) = self.concurrency {
            words.extend(["--concurrency".to_owned(), n.to_string()]);
        }
        if let Some(usd) = self.max_cost {
            words.extend(["--max-cost".to_owned(), usd.to_string()]);
        }
        let switches = [
            (self.sandbox, "--sandbox"),
            (self.yes, "--yes"),
            (self.json, "--json"),
            (self.quiet, "--quiet"),
            (self.allow_unpriced, "--allow-unpriced"),
            (self.ignore_budget, "--ignore-budget"),
            (self.offline, "--offline"),
            (self.assemble, "--assemble"),
            (self.strict, "--strict"),
        ];
        words.extend(
            switches
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, flag)| (*flag).to_owned()),
        );
        shell_words(&words)
    }

    /// The `cancel` command for the jobs this render left in flight (same folder, same
    /// selection).
    pub(crate) fn cancel_command(&self) -> String {
        shell_words(&self.command_words("cancel"))
    }

    /// `storyboard <command> FILE [--out OUT] [--only …]`.
    fn command_words(&self, command: &str) -> Vec<String> {
        let mut words = vec!["storyboard".to_owned(), command.to_owned(), self.file.to_string()];
        if let Some(out) = &self.out {
            words.extend(["--out".to_owned(), out.to_string()]);
        }
        if !self.only.is_empty() {
            words.push("--only".to_owned());
            words.extend(self.only.iter().cloned());
        }
        words
    }
}

impl ProviderArg {
    /// The name as typed on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProviderArg::Fal => "fal",
            ProviderArg::Eachlabs => "eachlabs",
        }
    }
}

/// Words joined for a POSIX shell, each quoted only when it needs it.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn render_args(line: &[&str]) -> RenderArgs {
        match Cli::try_parse_from(line).unwrap().command {
            Command::Render(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_resume_command_keeps_folder_and_selection_and_drops_what_pays_again() {
        let a = render_args(&[
            "storyboard",
            "render",
            "my ad.yaml",
            "--force",
            "--out",
            "renders/ad-emu",
            "--only",
            "grind",
            "pour-*",
            "--provider",
            "fal",
            "--retry-uncertain",
            "--yes",
            "-j",
            "3",
        ]);
        assert_eq!(
            a.resume_command(),
            "storyboard render 'my ad.yaml' --out renders/ad-emu --only grind 'pour-*' --provider fal --concurrency 3 --yes"
        );
        assert_eq!(
            a.cancel_command(),
            "storyboard cancel 'my ad.yaml' --out renders/ad-emu --only grind 'pour-*'"
        );
    }
}

/// `storyboard store`.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: StoreAction,
}

/// `storyboard store status|gc`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreAction {
    /// Objects, bytes, takes per storyboard, claims by state.
    Status(StoreTarget),
    /// Remove clips nothing names and claims of failed requests (older than an hour).
    Gc(StoreGc),
}

/// Which store.
#[derive(Debug, Args)]
pub(crate) struct StoreTarget {
    /// The store (s3://bucket/prefix or file:///shared/folder).
    #[arg(long, env = "STORYBOARD_STORE", value_name = "URL")]
    pub store: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `storyboard store gc`.
#[derive(Debug, Args)]
pub(crate) struct StoreGc {
    /// Which store.
    #[command(flatten)]
    pub target: StoreTarget,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}
