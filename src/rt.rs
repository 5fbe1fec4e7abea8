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
