//! Every size the RESP port accepts, in one place. The parser checks these before it
//! allocates; docs/PROTOCOL.md ("RESP", limits) lists the same defaults.

/// Size and count limits for the RESP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespLimits {
    /// Arguments in one multibulk command (Redis: 1024 * 1024).
    pub args_max: usize,
    /// One bulk string in a request (Redis: 512 MiB). Larger announced lengths are a fatal
    /// protocol error; a bulk within this limit but above `value_bytes_max` is rejected per
    /// command (recoverable).
    pub bulk_bytes_max: usize,
    /// One inline command line, without its line ending (Redis: 64 KiB).
    pub inline_bytes_max: usize,
    /// One whole multibulk command, headers included.
    pub command_bytes_max: usize,
    /// Keys (ringkv partition keys) are 1..=this bytes.
    pub key_bytes_max: usize,
    /// Values are 0..=this bytes.
    pub value_bytes_max: usize,
    /// A SCAN/KEYS MATCH pattern (matching costs O(pattern * key) per key).
    pub pattern_bytes_max: usize,
}

impl RespLimits {
    pub const DEFAULT: RespLimits = RespLimits {
        args_max: 1024 * 1024,
        bulk_bytes_max: (4 << 20) + 1024,
        inline_bytes_max: 64 << 10,
        command_bytes_max: 8 << 20,
        key_bytes_max: 1024,
        value_bytes_max: 4 << 20,
        pattern_bytes_max: 2048,
    };
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits::DEFAULT
    }
}

const _: () = assert!(RespLimits::DEFAULT.value_bytes_max < RespLimits::DEFAULT.bulk_bytes_max);
const _: () = assert!(RespLimits::DEFAULT.bulk_bytes_max < RespLimits::DEFAULT.command_bytes_max);
const _: () = assert!(RespLimits::DEFAULT.key_bytes_max <= RespLimits::DEFAULT.bulk_bytes_max);
