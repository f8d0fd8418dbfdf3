//! The limits of a run: the one concurrency limit ([`Slots`]), the stop level (Ctrl-C,
//! SIGTERM, a refused account, a full disk) and the submits on the wire when it is reached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::signals::Stop;

/// How far the run may go: slots, the stop level, and what is on the wire.
pub(crate) struct Limits {
    /// The one concurrency limit.
    slots: Slots,
    /// Ctrl-C and fatal provider errors.
    stop: Stop,
    /// Tasks whose submit is on the wire (plan index → request key): uncertain if the run
    /// stops before the answer arrives.
    on_wire: Mutex<HashMap<usize, String>>,
}

impl Limits {
    /// `concurrency` shots in flight at once, nothing stopped, nothing on the wire.
    pub(super) fn new(concurrency: std::num::NonZeroUsize) -> Limits {
        Limits {
            slots: Slots::new(concurrency),
            stop: Stop::default(),
            on_wire: Mutex::default(),
        }
    }

    /// The one concurrency limit.
    pub(super) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// The stop level.
    pub(super) fn stop(&self) -> &Stop {
        &self.stop
    }

    /// Marks the submit of plan index `index` (request `key`) as on the wire, or answered.
    pub(super) fn on_wire(&self, index: usize, key: &str, on: bool) {
        let mut wire = self.on_wire.lock().unwrap_or_else(|e| e.into_inner());
        match on {
            true => wire.insert(index, key.to_owned()),
            false => wire.remove(&index),
        };
    }

    /// The submits still on the wire, taken out.
    pub(super) fn cut_off(&self) -> Vec<(usize, String)> {
        self.on_wire.lock().unwrap_or_else(|e| e.into_inner()).drain().collect()
    }
}

/// The one concurrency limit: `concurrency` permits, lowered for the rest of the run when the
/// provider rate-limits (never below 1). Uploads before the run take their permits here too.
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    now: AtomicUsize,
    owed: AtomicUsize,
}

impl Slots {
    /// `n` shots in flight at once (never zero: the settings refuse it).
    pub(crate) fn new(n: std::num::NonZeroUsize) -> Slots {
        Slots {
            semaphore: Arc::new(Semaphore::new(n.get())),
            now: AtomicUsize::new(n.get()),
            owed: AtomicUsize::new(0),
        }
    }

    /// Waits for a free slot.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().acquire_owned().await.ok()
    }

    /// Gives back the slot `held` holds, if it still holds one (a shot frees its slot as soon
    /// as the provider's job has ended, before its clip downloads: the provider's concurrency
    /// never waits on this machine's disk or network).
    pub(crate) fn free(&self, held: &Held) {
        let permit = held.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(permit) = permit {
            self.release(permit);
        }
    }

    /// Gives a slot back; a lowered limit is paid back with the permits of finishing shots.
    pub(crate) fn release(&self, permit: OwnedSemaphorePermit) {
        if self
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            permit.forget();
        } else {
            drop(permit);
        }
    }

    /// Lowers the limit by one (a 429); the new limit, or `None` when it is already 1.
    pub(super) fn lower(&self) -> Option<usize> {
        let now = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 1).then(|| n - 1))
            .ok()?;
        if self.semaphore.forget_permits(1) == 0 {
            // Every permit is held: the next shot to finish gives its permit up instead.
            self.owed.fetch_add(1, Ordering::SeqCst);
        }
        Some(now - 1)
    }
}

/// A shot's slot, given back once ([`Slots::free`]): when its provider job ends, or when the shot
/// ends without one.
pub(crate) struct Held(Mutex<Option<OwnedSemaphorePermit>>);

impl Held {
    /// Holds `permit` until it is freed.
    pub(crate) fn new(permit: OwnedSemaphorePermit) -> Held {
        Held(Mutex::new(Some(permit)))
    }
}
