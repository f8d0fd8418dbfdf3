//! The sandbox: a strict emulator of the fal queue, fal storage and Eachlabs APIs, with a file
//! host serving real MP4 clips and PNG frames (the image models: `images`), knobs for timing
//! and faults, and request counters (`jobs_by_kind` tells image jobs from video jobs;
//! `GET /__sandbox/received/{id}` shows the input files an edit request fetched).
//!
//! Written from `../shared/reference/` (../shared/reference/protocol.md); it imports nothing of the client side (no
//! `plan`, `catalog` or provider types), so the client's wire-format mistakes are not copied.

mod eachlabs;
mod fal;
pub mod faults;
mod files;
mod images;
mod kept;
mod platform;
pub mod schemas;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use camino::Utf8Path;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub use faults::{Fault, FaultPlan, Rule};

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// How long a job waits in the queue.
    pub queue_time: Duration,
    /// How long a job runs once started.
    pub job_time: Duration,
    /// Pad every clip to at least this many bytes (a trailing MP4 `free` box), streamed.
    pub clip_bytes: Option<u64>,
    /// Results disappear this long after completion (fal keeps them only minutes).
    pub result_ttl: Option<Duration>,
    /// Keep-alive comment interval of the status stream (fal: 15 s).
    pub keep_alive: Duration,
    /// Eachlabs: predictions in flight per key before 429 (low balance: 10).
    pub eachlabs_max_in_flight: usize,
    /// When set, only this key is accepted (401 otherwise); else any non-empty key.
    pub api_key: Option<String>,
    /// How long the answer to a fal submit takes (the job exists from the start): a slow
    /// network or server, during which a client may be interrupted.
    pub submit_delay: Duration,
    /// How long fal's CDN keeps an upload that asks for no lifetime (the account's setting;
    /// `None`: forever).
    pub upload_lifetime: Option<Duration>,
    /// Injected faults.
    pub faults: FaultPlan,
    /// fal: the account's running-job limit (2 to 40 by tier): a job beyond it stays
    /// `IN_QUEUE` until a running one ends (first come, first served). `None`: no limit.
    pub fal_max_running: Option<usize>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            queue_time: Duration::from_millis(500),
            job_time: Duration::from_secs(2),
            clip_bytes: None,
            result_ttl: None,
            keep_alive: Duration::from_secs(15),
            eachlabs_max_in_flight: 10,
            api_key: None,
            submit_delay: Duration::ZERO,
            upload_lifetime: None,
            faults: FaultPlan::default(),
            fal_max_running: None,
        }
    }
}

impl SandboxConfig {
    /// `render --sandbox`: realistic but fast (seconds, not minutes).
    pub fn rehearsal() -> SandboxConfig {
        SandboxConfig {
            queue_time: Duration::from_millis(300),
            job_time: Duration::from_millis(1500),
            ..SandboxConfig::default()
        }
    }

    /// Millisecond jobs, for tests.
    pub fn fast() -> SandboxConfig {
        SandboxConfig {
            queue_time: Duration::from_millis(20),
            job_time: Duration::from_millis(60),
            keep_alive: Duration::from_millis(200),
            ..SandboxConfig::default()
        }
    }
}

/// A running sandbox; stops when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sandbox {
    /// The in-process sandbox of `render --sandbox` (none when `kept_in` is `None`), keeping
    /// its jobs and uploads in the folder `kept_in`: an earlier render's jobs there are taken
    /// back (still running in sandbox time) on the loopback port they were served from, else
    /// on a free port.
    pub async fn rehearsal(kept_in: Option<&Utf8Path>) -> std::io::Result<Option<Sandbox>> {
        let Some(dir) = kept_in else { return Ok(None) };
        let keeper = kept::Keeper::new(dir);
        let snapshot = keeper.load()?;
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", snapshot.port)).await {
            Ok(l) => l,
            Err(e) if snapshot.jobs.is_empty() && snapshot.uploads.is_empty() => {
                tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|_| e)?
            }
            Err(e) => return Err(std::io::Error::new(e.kind(), port_taken(dir, snapshot.port, &e))),
        };
        let sandbox = Sandbox::serve(listener, SandboxConfig::rehearsal(), Some(keeper.clone()))?;
        {
            let mut inner = sandbox.state.lock();
            keeper.restore(snapshot, &mut inner)?;
            // A folder that cannot take it (a full disk) only costs the next render's resume.
            sandbox.state.keep(&mut inner);
        }
        Ok(Some(sandbox))
    }

    /// Whether an earlier `render --sandbox` kept its sandbox's jobs in the folder `dir`.
    pub fn kept_in(dir: &Utf8Path) -> bool {
        kept::Keeper::exists(dir)
    }

    /// Starts the sandbox on `addr` (use port 0 for any free port); it keeps nothing.
    pub async fn start(addr: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Sandbox::serve(listener, config, None)
    }

    fn serve(
        listener: tokio::net::TcpListener,
        config: SandboxConfig,
        keeper: Option<kept::Keeper>,
    ) -> std::io::Result<Sandbox> {
        let addr = listener.local_addr()?;
        let seed = config.faults.seed;
        let state = Arc::new(Shared {
            base: format!("http://{addr}"),
            config,
            inner: Mutex::new(Inner {
                rng: fastrand::Rng::with_seed(seed),
                billing_scope: true,
                start: 1,
                ..Inner::default()
            }),
            clips: files::ClipCache::default(),
            keeper,
            voices_held: std::sync::atomic::AtomicBool::new(false),
            port: addr.port(),
        });
        let app = Router::new()
            .fallback(dispatch)
            .layer(DefaultBodyLimit::max(200 * 1024 * 1024))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sandbox {
            addr,
            state,
            stop: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL of every API it serves.
    pub fn base_url(&self) -> String {
        self.state.base.clone()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes the pricing API answer `usd` per second for `endpoint` (a price change at fal).
    pub fn set_price(&self, endpoint: &str, usd: f64) {
        self.set_price_per(endpoint, usd, "second");
    }

    /// Makes the pricing API answer `usd` per `unit` (`second`, `image`, …) for `endpoint`.
    pub fn set_price_per(&self, endpoint: &str, usd: f64, unit: &str) {
        self.state
            .lock()
            .prices
            .insert(endpoint.to_owned(), (usd, unit.to_owned()));
    }

    /// Holds every voice creation (`create-voice`) in progress until released: a slow voice,
    /// for tests of what runs meanwhile.
    pub fn hold_voices(&self, held: bool) {
        self.state.voices_held.store(held, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the model API (`GET /v1/models?…&expand=openapi-3.0`) answer `openapi` as the
    /// document of `endpoint` (a schema change, or a broken document, at fal).
    pub fn set_model_document(&self, endpoint: &str, openapi: Value) {
        self.state.lock().documents.insert(endpoint.to_owned(), openapi);
    }

    /// Makes Eachlabs' `GET /v1/model?slug=` answer `answer` (the whole body, `request_schema`
    /// and all) for `slug`: a schema change, or a broken document, at Eachlabs.
    pub fn set_eachlabs_model(&self, slug: &str, answer: Value) {
        self.state.lock().documents.insert(slug.to_owned(), answer);
    }

    /// Whether keys have billing scope: without it, `GET /v1/models/billing-events` answers 403
    /// (an inference-only key at fal).
    pub fn billing_scope(&self, allowed: bool) {
        self.state.lock().billing_scope = allowed;
    }

    /// Moves the sandbox's wall clock on by `by`: every request made so far is that much older
    /// (the request history's default window is the last 24 h of this clock).
    pub fn advance_clock(&self, by: Duration) {
        self.state.lock().clock += by;
    }

    /// Adds `n` finished requests of `endpoint` (inputs `{"prompt": "earlier request i"}`) to
    /// fal's request history, sent evenly over the last `over` (an account busy before a test).
    pub fn seed_fal_history(&self, endpoint: &str, n: usize, over: Duration) {
        platform::seed(&self.state, endpoint, n, over);
    }

    /// Adds `n` finished predictions of `model` for `key` to Eachlabs' executions list, created
    /// evenly over the last `over`.
    pub fn seed_eachlabs_history(&self, key: &str, model: &str, n: usize, over: Duration) {
        eachlabs::seed(&self.state, key, model, n, over);
    }

    /// What a fal request fetched (`GET /__sandbox/received/{id}`): `{request_id, endpoint,
    /// received: [{url, status, content_type, bytes, sha256}]}`; `None` for an unknown id.
    pub fn received(&self, request_id: &str) -> Option<Value> {
        self.state.lock().received_json(request_id)
    }

    /// The counters, as `GET /__sandbox/stats` returns them.
    pub fn stats(&self) -> Value {
        self.state.lock().stats_json()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Why the port an earlier render's sandbox served from cannot be reused.
fn port_taken(dir: &Utf8Path, port: u16, e: &std::io::Error) -> String {
    format!(
        "the sandbox of the interrupted render served its jobs on 127.0.0.1:{port}, which is taken now ({e}): \
         free that port and run the same command again to follow them, or delete {dir} to start the sandbox afresh \
         (its jobs are then submitted again, for $0)"
    )
}

/// State shared by the handlers.
struct Shared {
    base: String,
    config: SandboxConfig,
    inner: Mutex<Inner>,
    /// The clips made most recently, by job id (a clip is made once, not on every request).
    clips: files::ClipCache,
    /// Where `render --sandbox` keeps the jobs and uploads (`None`: in memory only).
    keeper: Option<kept::Keeper>,
    /// Voice creations stay in progress while set (`Sandbox::hold_voices`).
    voices_held: std::sync::atomic::AtomicBool,
    /// The port it listens on.
    port: u16,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the jobs and uploads down when they are kept (called, lock held, after each
    /// change); a failure to write is counted in the stats (`keep_failures`).
    fn keep(&self, inner: &mut Inner) {
        if let Some(keeper) = &self.keeper
            && keeper.save(inner, self.port).is_err()
        {
            inner.count("keep_failures");
        }
    }
}

/// What a job will produce.
#[derive(Debug, Clone)]
enum Outcome {
    /// A clip (by aspect, duration and audio).
    Clip(files::ClipSpec),
    /// A voice id.
    Voice(String),
    /// Images (an image model's frames).
    Image(images::ImageSpec),
    /// The job fails (COMPLETED with `error`).
    Fail { error: String, error_type: String },
    /// The model refuses the input at run time: 422 at the result.
    Reject(Value),
}

#[derive(Debug)]
struct Job {
    app: String,
    /// The full endpoint id it was submitted to, and the input (for the request history).
    endpoint: String,
    input: Value,
    created: Instant,
    created_wall: std::time::SystemTime,
    /// From `created` to the start of its run: the queue time, and with an account limit
    /// (`fal_max_running`) the wait for a running job to end.
    starts: Duration,
    outcome: Outcome,
    cancelled: bool,
    finished: bool,
    /// The input files the job fetched (`image_urls` of an edit request), as they arrived.
    received: Vec<Value>,
}

#[derive(Debug)]
struct Prediction {
    key: String,
    model: String,
    input: Value,
    created: Instant,
    created_wall: std::time::SystemTime,
    outcome: Outcome,
    failure_word: &'static str,
    cost: f64,
    cancelled: bool,
    finished: bool,
}

#[derive(Debug, Clone, Default)]
struct Upload {
    content_type: String,
    bytes: Option<Bytes>,
    /// When the CDN deletes it (the account's lifetime, or the upload's
    /// `X-Fal-Object-Lifecycle`); `None`: kept.
    expires: Option<std::time::SystemTime>,
    /// A multipart upload: its parts by number, until `complete`.
    parts: Option<BTreeMap<u32, Bytes>>,
}

#[derive(Default)]
struct Inner {
    jobs: HashMap<String, Job>,
    predictions: HashMap<String, Prediction>,
    /// Upload token → file; `bytes` is `None` until the PUT arrives.
    uploads: HashMap<String, Upload>,
    requests: BTreeMap<&'static str, u64>,
    jobs_created: BTreeMap<String, u64>,
    /// Jobs by what they make: `image`, `video`, `voice`.
    jobs_by_kind: BTreeMap<&'static str, u64>,
    faults_injected: BTreeMap<&'static str, u64>,
    fault_seen: HashMap<Fault, u32>,
    in_flight: usize,
    max_in_flight: usize,
    /// Milliseconds from a job's completion to the first fetch of its result.
    result_latency_ms: Vec<f64>,
    /// Drives the fault rates (seeded: the same plan injects the same faults).
    rng: fastrand::Rng,
    /// Request ids: random, so ids of different sandbox runs never collide.
    ids: fastrand::Rng,
    next_id: u64,
    /// Prices told by a test (`Sandbox::set_price`): USD per unit, over the sandbox's own list.
    prices: HashMap<String, (f64, String)>,
    /// OpenAPI documents told by a test (`Sandbox::set_model_document`), over the ones the
    /// model API builds from the snapshots.
    documents: HashMap<String, Value>,
    /// How far the sandbox's wall clock is ahead of the machine's (`Sandbox::advance_clock`):
    /// every request already made is that much older.
    clock: Duration,
    /// When each of the account's running slots frees (`fal_max_running`).
    slots_free_at: Vec<Instant>,
    /// Whether keys may read billing events (`Sandbox::billing_scope`; a key without the scope
    /// gets 403 there).
    billing_scope: bool,
    /// Which start of a kept sandbox this is (1 for the first; see `kept`).
    start: u32,
    /// Jobs this sandbox took (and keeps): submit time (ms since the epoch) and start.
    kept: HashMap<String, (u64, u32)>,
}

impl Inner {
    /// When a job created now starts running: after the queue time and, with an account
    /// limit, once the earliest running slot frees (the slot is then taken until it ends).
    fn schedule(&mut self, cfg: &SandboxConfig, created: Instant) -> Duration {
        let ready = created + cfg.queue_time;
        let Some(limit) = cfg.fal_max_running.filter(|&n| n > 0) else {
            return cfg.queue_time;
        };
        if self.slots_free_at.len() < limit {
            self.slots_free_at.push(ready + cfg.job_time);
            return cfg.queue_time;
        }
        let (slot, free) = self
            .slots_free_at
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap_or((0, ready));
        let start = free.max(ready);
        self.slots_free_at[slot] = start + cfg.job_time;
        start - created
    }

    /// The sandbox's wall clock (the machine's, moved on by `Sandbox::advance_clock`).
    fn wall_now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() + self.clock
    }

    fn count(&mut self, kind: &'static str) {
        *self.requests.entry(kind).or_default() += 1;
    }

    /// Whether this request gets `fault` (and counts it when it does).
    fn fault(&mut self, plan: &FaultPlan, fault: Fault) -> bool {
        let Some(rule) = plan.rules.get(&fault) else {
            return false;
        };
        let seen = self.fault_seen.entry(fault).or_default();
        *seen += 1;
        let hit = *seen <= rule.first || (rule.rate > 0.0 && self.rng.f64() < rule.rate);
        if hit {
            *self.faults_injected.entry(fault.name()).or_default() += 1;
        }
        hit
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        let r = self.ids.u64(..);
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            (r >> 32) as u32,
            (r >> 16) as u16,
            self.next_id & 0xfff,
            (r >> 4) & 0xfff,
            (self.next_id << 24) ^ (r & 0xff_ffff)
        )
    }

    /// Counts an upload request of `kind` and opens a slot for its bytes; returns the token.
    fn expect_upload(&mut self, kind: &'static str, content_type: &str) -> String {
        self.count(kind);
        let token = self.new_id();
        self.uploads.insert(
            token.clone(),
            Upload {
                content_type: content_type.to_owned(),
                ..Upload::default()
            },
        );
        token
    }

    fn job_started(&mut self, endpoint: &str, kind: &'static str) {
        *self.jobs_created.entry(endpoint.to_owned()).or_default() += 1;
        *self.jobs_by_kind.entry(kind).or_default() += 1;
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
    }

    fn job_finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// `GET /__sandbox/received/{request_id}`: the job's endpoint and the input files it fetched.
    fn received_json(&self, id: &str) -> Option<Value> {
        let job = self.jobs.get(id)?;
        Some(json!({"request_id": id, "endpoint": job.endpoint, "received": job.received}))
    }

    fn stats_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "jobs_created": self.jobs_created,
            "jobs_created_total": self.jobs_created.values().sum::<u64>(),
            "jobs_by_kind": self.jobs_by_kind,
            "faults_injected": self.faults_injected,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "result_latency_ms": percentiles(&self.result_latency_ms),
        })
    }
}

/// `{count, p50, p90, max}` of a list of samples.
fn percentiles(samples: &[f64]) -> Value {
    if samples.is_empty() {
        return json!({"count": 0});
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    json!({"count": v.len(), "p50": at(0.5), "p90": at(0.9), "max": at(1.0)})
}

/// One JSON response.
fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// Routes by path: the real services live on different hosts, so their paths never clash
/// there; here `/v1/models/…` is fal's platform API, other `/v1/…` Eachlabs, `/storage/…` fal
/// storage, `/files/…` and `/__upload/…` the file host, and everything else the fal queue.
async fn dispatch(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path().trim_end_matches('/').to_owned();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let query = uri.query().unwrap_or("");
    match (segs.first().copied(), &method) {
        (Some("__sandbox"), &Method::GET) if segs.get(1) == Some(&"stats") => {
            json_response(StatusCode::OK, state.lock().stats_json())
        }
        (Some("__sandbox"), &Method::GET) if segs.get(1) == Some(&"received") => {
            match segs.get(2).and_then(|id| state.lock().received_json(id)) {
                Some(v) => json_response(StatusCode::OK, v),
                None => json_response(StatusCode::NOT_FOUND, json!({"detail": "Request not found"})),
            }
        }
        (Some("files"), &Method::GET | &Method::HEAD) => {
            files::serve(&state, &segs[1..], &headers, method == Method::HEAD)
        }
        (Some("__upload"), &Method::PUT) if segs.len() == 3 => files::receive_part(&state, segs[1], segs[2], body),
        (Some("__upload"), &Method::POST) if segs.get(2) == Some(&"complete") => {
            files::complete(&state, segs[1], &body)
        }
        (Some("__upload"), &Method::PUT) => files::receive_upload(&state, segs.get(1).copied(), &headers, body),
        (Some("storage"), &Method::POST) => fal::storage_initiate(&state, &segs, &headers, &body),
        (Some("v1"), &Method::GET) if segs.get(1) == Some(&"models") => {
            platform::handle(&state, &segs[2..], query, &headers)
        }
        (Some("v1"), _) => eachlabs::handle(&state, &method, &segs[1..], query, &headers, &body),
        _ => fal::handle(&state, &method, &segs, query, &headers, body).await,
    }
}

/// Runs `storyboard sandbox`: serves until the future `until` completes.
pub async fn serve_until(
    addr: SocketAddr,
    config: SandboxConfig,
    ready: impl FnOnce(&Sandbox),
    until: impl std::future::Future<Output = ()>,
) -> std::io::Result<Value> {
    let sandbox = Sandbox::start(addr, config).await?;
    ready(&sandbox);
    until.await;
    Ok(sandbox.stats())
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn beyond_the_account_limit_a_job_waits_for_the_earliest_running_one_to_end() {
        let cfg = SandboxConfig {
            queue_time: Duration::from_millis(100),
            job_time: Duration::from_secs(1),
            fal_max_running: Some(2),
            ..SandboxConfig::default()
        };
        let mut inner = Inner::default();
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..5).map(|_| inner.schedule(&cfg, t0)).collect();
        let q = cfg.queue_time;
        let j = cfg.job_time;
        assert_eq!(starts, [q, q, q + j, q + j, q + j + j]);
        // A job created after the slots freed starts after its own queue time.
        assert_eq!(inner.schedule(&cfg, t0 + Duration::from_secs(10)), q);
        // Without a limit every job starts after the queue time.
        let free = SandboxConfig {
            fal_max_running: None,
            ..cfg
        };
        assert!((0..50).all(|_| inner.schedule(&free, t0) == q));
    }
}
