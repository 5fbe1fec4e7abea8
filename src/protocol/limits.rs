//! Every size the protocol accepts, in one place. Decoders check these before they
//! allocate or slice; docs/PROTOCOL.md section 4 lists the same defaults.

/// Size and count limits, enforced by the decoders.
///
/// Both sides of a connection decode with [`Limits::DEFAULT`] unless configured otherwise.
/// Encoders do not check limits: whoever builds a message keeps it within them (a server
/// building a SCAN or MGET response must keep the frame under `frame_bytes_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header plus body.
    pub frame_bytes_max: usize,
    /// Partition keys are 1..=this.
    pub partition_key_bytes_max: usize,
    /// Sort keys (also scan bounds and scan item keys) are 0..=this.
    pub sort_key_bytes_max: usize,
    /// Each value.
    pub value_bytes_max: usize,
    /// Each opaque causal context.
    pub context_bytes_max: usize,
    /// A scan continuation token.
    pub continuation_bytes_max: usize,
    /// Items in one MGET or MPUT.
    pub batch_items_max: usize,
    /// Items in one SCAN response page; servers also cap a request's `limit` to this.
    pub scan_items_max: usize,
    /// Sibling values in one get result or scan item.
    pub values_per_key_max: usize,
    /// Client name, node id, each shard address.
    pub name_bytes_max: usize,
    /// The text of an ERROR.
    pub error_message_bytes_max: usize,
    /// Shard count in a handshake response.
    pub shards_max: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        frame_bytes_max: 8 << 20,
        partition_key_bytes_max: 1024,
        sort_key_bytes_max: 1024,
        value_bytes_max: 4 << 20,
        context_bytes_max: 4096,
        continuation_bytes_max: 4096,
        batch_items_max: 1024,
        scan_items_max: 10_000,
        values_per_key_max: 64,
        name_bytes_max: 256,
        error_message_bytes_max: 4096,
        shards_max: 1024,
    };

    /// The largest `body_len` a header may announce.
    pub fn body_bytes_max(&self) -> usize {
        self.frame_bytes_max.saturating_sub(super::frame::HEADER_LEN)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

// The defaults must leave room for the largest single value in a frame, and body_len
// (a u32) must be able to express every allowed frame.
const _: () = assert!(Limits::DEFAULT.value_bytes_max < Limits::DEFAULT.frame_bytes_max);
const _: () = assert!(Limits::DEFAULT.frame_bytes_max <= u32::MAX as usize);
const _: () = assert!(Limits::DEFAULT.partition_key_bytes_max >= 1);
