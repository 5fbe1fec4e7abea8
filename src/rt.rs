//! Running shard code outside the server: one glommio executor on this thread.

use std::future::Future;

/// io_uring memory per executor for embedded use and tests: small, so that
/// several executors fit in the default 8 MiB `ulimit -l`.
pub const EMBEDDED_IO_MEMORY_BYTES: usize = 512 << 10;

/// Run `fut` to completion on a fresh single-threaded glommio executor.
pub fn block_on<T: 'static>(fut: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(EMBEDDED_IO_MEMORY_BYTES)
        .ring_depth(128)
        .make()
        .expect("cannot start a glommio executor (io_uring unavailable or memlock limit too low; see tuning/README.md)")
        .run(fut)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    /// Spin without awaiting until glommio's preempt timer has fired (its
    /// slice is 100 ms); false if `limit` passed first.
    fn spin_until_preempted(limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if glommio::executor().need_preempt() {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// The vendored glommio keeps an armed preempt timer across executor
    /// loops instead of re-arming it on each (vendor/README.md, change 6).
    /// Whatever loops ran before, a task queue that runs on is still
    /// preempted within the timer's slice, every time.
    #[test]
    fn the_preempt_timer_fires_after_many_executor_loops() {
        super::block_on(async {
            for round in 0..4 {
                // Many executor loops, none of which sleeps: each zero-length
                // timer wakes its task on the next loop's poll.
                let loops = if round % 2 == 0 { 5_000 } else { 50 };
                for _ in 0..loops {
                    glommio::timer::sleep(Duration::ZERO).await;
                }
                let preempted = spin_until_preempted(Duration::from_secs(2));
                assert!(preempted, "round {round}: no preemption within 2 s of running");
                // Let the executor take the fired timer and arm the next one.
                glommio::yield_if_needed().await;
            }
        });
    }
}
