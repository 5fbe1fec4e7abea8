//! Time slices for long background work (flush, compaction, cache warming).
//!
//! Such work runs in its own glommio task queue and calls [`Slice::tick`]
//! between small steps. Once the slice has run for [`SLICE`], the task queue
//! yields, so the shard's requests wait at most about that long. glommio's own
//! `yield_if_needed` only yields when its preempt timer fires (100 ms by
//! default), which let a 64 MiB flush hold a shard's requests for ~140 ms.

use std::time::{Duration, Instant};

/// How long background work runs before letting requests in.
pub const SLICE: Duration = Duration::from_micros(500);

pub struct Slice {
    started: Instant,
}

impl Default for Slice {
    fn default() -> Self {
        Slice { started: Instant::now() }
    }
}

impl Slice {
    /// Yield the task queue if this slice has used its time.
    pub async fn tick(&mut self) {
        if self.started.elapsed() >= SLICE {
            glommio::executor().yield_task_queue_now().await;
            self.started = Instant::now();
        }
    }
}
