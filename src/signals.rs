//! Interruptions: the stop level every part of a render watches, and the signal handler that
//! raises it. First Ctrl-C: no new submits, in-flight shots finish. Second Ctrl-C: stop at once.
//! SIGTERM (timeouts, `docker stop`, CI cancels): no new submits, the submits already on the
//! wire get their answer (at most [`TERM_GRACE`]) so their request ids are journaled, then stop.
//! The journal keeps the in-flight request ids for the next render.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Stop levels: 0 run; 1 submit nothing new (first Ctrl-C, or the provider refused the
/// account); 2 stop at once.
#[derive(Clone, Default)]
pub(crate) struct Stop {
    level: Arc<AtomicU8>,
    signalled: Arc<std::sync::atomic::AtomicBool>,
    notify: Arc<Notify>,
    reason: Arc<Mutex<Option<String>>>,
    on_wire: Arc<AtomicUsize>,
}

/// The longest SIGTERM waits for submits on the wire to be answered.
pub(crate) const TERM_GRACE: Duration = Duration::from_secs(5);

/// A submit on the wire; counted until dropped.
pub(crate) struct OnWire(Arc<AtomicUsize>);

impl Drop for OnWire {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stop {
    /// Raises the level (never lowers it).
    pub(crate) fn raise(&self, level: u8, reason: &str) {
        let prev = self.level.fetch_max(level, Ordering::SeqCst);
        if prev < level {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() || level > 1 {
                *r = Some(reason.to_owned());
            }
        }
        self.notify.notify_waiters();
    }

    /// Raises the level for a signal (Ctrl-C, SIGTERM): the run ends as interrupted.
    pub(crate) fn signal(&self, level: u8, reason: &str) {
        self.signalled.store(true, Ordering::SeqCst);
        self.raise(level, reason);
    }

    /// Whether a signal stopped the run.
    pub(crate) fn signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }

    /// The current level.
    pub(crate) fn level(&self) -> u8 {
        self.level.load(Ordering::SeqCst)
    }

    /// Why it stopped.
    pub(crate) fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "stopped".into())
    }

    /// Counts a submit on the wire until the guard is dropped.
    pub(crate) fn on_wire(&self) -> OnWire {
        self.on_wire.fetch_add(1, Ordering::SeqCst);
        OnWire(self.on_wire.clone())
    }

    /// Waits until no submit is on the wire, at most `limit`.
    pub(crate) async fn wire_quiet(&self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        while self.on_wire.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resolves once the level reaches `level`.
    pub(crate) async fn reached(&self, level: u8) {
        loop {
            let notified = self.notify.notified();
            if self.level() >= level {
                return;
            }
            notified.await;
        }
    }
}

/// The signal listeners, installed before anything is submitted: a signal that arrives before
/// the watcher first runs is still seen (not the default action, which would end the process
/// with a submit on the wire).
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the Ctrl-C and SIGTERM listeners now (inside the runtime).
    pub(crate) fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Watches Ctrl-C and SIGTERM for the whole run (see the module's words); `say` shows
    /// the user what happens. `cancel` is the command that cancels the jobs left in flight,
    /// said at the second Ctrl-C.
    pub(crate) async fn watch(self, stop: Stop, say: impl Fn(String), cancel: String) {
        #[cfg(unix)]
        let (mut interrupt, mut terminate) = (self.interrupt, self.terminate);
        loop {
            #[cfg(unix)]
            let (interrupted, terminated) = (next(&mut interrupt), next(&mut terminate));
            #[cfg(not(unix))]
            let (interrupted, terminated) = (
                async {
                    if tokio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                },
                std::future::pending::<()>(),
            );
            tokio::select! {
                _ = interrupted => {
                    if stop.level() == 0 {
                        say("Ctrl-C: submitting nothing new; in-flight shots finish and download (Ctrl-C again to stop at once)".into());
                        stop.signal(1, "stopped by Ctrl-C before it was submitted");
                    } else {
                        say(format!("stopping now; in-flight request ids are in the journal: run render again to resume, or `{cancel}` to cancel them"));
                        stop.signal(2, "interrupted");
                    }
                }
                _ = terminated => {
                    stop.signal(1, "terminated before it was submitted");
                    stop.wire_quiet(TERM_GRACE).await;
                    stop.signal(2, "terminated");
                }
            }
        }
    }
}

/// The next delivery of a signal (never, without a listener).
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
