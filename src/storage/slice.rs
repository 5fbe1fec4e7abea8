//! Time slices for long background work (flush, compaction, cache warming).
//!
//! Such work runs in its own glommio task queue and calls [`Slice::tick`]
//! between small steps. Once the slice has run for its length ([`SLICE`],
//! unless [`Slice::set_len`] says less), the task sleeps for a microsecond,
//! so the shard's requests wait at most about that long.
//! glommio's own `yield_if_needed` only yields when its preempt timer fires
//! (100 ms by default), which let a 64 MiB flush hold a shard's requests for
//! ~140 ms.

use std::time::{Duration, Instant};

/// How long background work runs before letting requests in.
pub const SLICE: Duration = Duration::from_micros(500);

pub struct Slice {
    started: Instant,
    len: Duration,
}

impl Default for Slice {
    fn default() -> Self {
        Slice { started: Instant::now(), len: SLICE }
    }
}

impl Slice {
    /// Run `len` per slice from the next one on ([`SLICE`] by default).
    pub fn set_len(&mut self, len: Duration) {
        self.len = len;
    }

    /// Step aside if this slice has used its time.
    ///
    /// A short sleep, not `yield_task_queue_now`: glommio polls for I/O only
    /// when no task queue can run (or its preempt timer fires), so a yielded
    /// queue that is still runnable gets the core straight back and requests
    /// waiting on socket completions wait on. A sleeping task is not runnable,
    /// so the executor polls I/O, runs what that woke, then resumes us.
    pub async fn tick(&mut self) {
        if self.started.elapsed() >= self.len {
            glommio::timer::sleep(Duration::from_micros(1)).await;
            self.started = Instant::now();
        }
    }
}
