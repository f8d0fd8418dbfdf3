//! What the run stage tells whoever shows its progress: one [`Event`] per change of a shot's
//! state (or a notice), sent to a [`Reporter`]. The stage that emits them owns them; the
//! report layer implements [`Reporter`] (bars, lines, JSON). The runner never prints.

/// What the runner tells the report layer. The runner never prints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// A line for people (resume notes, warnings).
    Notice(String),
    /// The clip is already on disk and unchanged: nothing sent.
    Cached { id: String },
    /// About to submit.
    Submitting { id: String },
    /// Accepted.
    Submitted { id: String, request_id: String },
    /// Following a job a previous run submitted.
    Resumed { id: String, request_id: String },
    /// Waiting in the provider's queue.
    Queued { id: String, position: Option<u64> },
    /// Running.
    Running { id: String },
    /// Downloading.
    Downloading { id: String, bytes: u64, total: Option<u64> },
    /// Retrying after a failure that created nothing.
    Retrying { id: String, reason: String, delay_ms: u64 },
    /// Rendered and verified: the clip is take `take` of its shot (numbered as `status`,
    /// `pick` and the review page number them), with its content's sha256.
    Done {
        id: String,
        path: String,
        bytes: u64,
        estimated_usd: Option<f64>,
        take: Option<u32>,
        sha256: String,
    },
    /// Failed.
    Failed { id: String, error: String },
    /// The submit's outcome is unknown.
    Uncertain { id: String, reason: String },
    /// Not rendered (stopped).
    Pending { id: String, reason: String },
    /// Not rendered: a shot it starts from has no clip.
    Skipped { id: String, reason: String },
}

impl Event {
    /// The shot this is about.
    pub(crate) fn shot(&self) -> Option<&str> {
        match self {
            Event::Notice(_) => None,
            Event::Cached { id }
            | Event::Submitting { id }
            | Event::Submitted { id, .. }
            | Event::Resumed { id, .. }
            | Event::Queued { id, .. }
            | Event::Running { id }
            | Event::Downloading { id, .. }
            | Event::Retrying { id, .. }
            | Event::Done { id, .. }
            | Event::Failed { id, .. }
            | Event::Uncertain { id, .. }
            | Event::Pending { id, .. }
            | Event::Skipped { id, .. } => Some(id),
        }
    }

    /// The state name used in `--json` events.
    pub(crate) fn state(&self) -> &'static str {
        match self {
            Event::Notice(_) => "notice",
            Event::Cached { .. } => "cached",
            Event::Submitting { .. } => "submitting",
            Event::Submitted { .. } => "submitted",
            Event::Resumed { .. } => "resumed",
            Event::Queued { .. } => "queued",
            Event::Running { .. } => "running",
            Event::Downloading { .. } => "downloading",
            Event::Retrying { .. } => "retrying",
            Event::Done { .. } => "done",
            Event::Failed { .. } => "failed",
            Event::Uncertain { .. } => "uncertain",
            Event::Pending { .. } => "pending",
            Event::Skipped { .. } => "skipped",
        }
    }

    /// Whether the shot is finished with this event.
    pub(crate) fn is_final(&self) -> bool {
        matches!(
            self,
            Event::Cached { .. }
                | Event::Done { .. }
                | Event::Failed { .. }
                | Event::Uncertain { .. }
                | Event::Pending { .. }
                | Event::Skipped { .. }
        )
    }
}

/// Receives the runner's events; implementations draw bars, print lines or JSON.
pub(crate) trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
    /// The run is over: tidy the terminal.
    fn finish(&self) {}
}
