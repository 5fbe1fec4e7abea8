//! Errors: the wire error codes ([`ErrorCode`]) and what the decoders report
//! ([`DecodeError`], split into fatal [`FrameError`] and recoverable [`BodyError`]).

use std::fmt;

use super::frame::VERSION_MAJOR;
use super::response::{ErrorReply, Response};

/// The `code` of an ERROR response. 1xx: the request is wrong; 2xx: the stream is wrong
/// (fatal, connection closed); 3xx: the server could not do it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
#[non_exhaustive]
pub enum ErrorCode {
    BadRequest = 100,
    UnknownOpcode = 101,
    KeyTooLarge = 102,
    ValueTooLarge = 103,
    BatchTooLarge = 104,
    UnsupportedFlags = 105,
    ResponseTooLarge = 106,
    FrameTooLarge = 200,
    UnsupportedVersion = 201,
    BadMagic = 202,
    Internal = 300,
    ReadOnly = 301,
    Overloaded = 302,
    Timeout = 303,
    QuorumNotReached = 304,
}

impl ErrorCode {
    /// Worth retrying the same request after a backoff.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Overloaded | ErrorCode::Timeout | ErrorCode::QuorumNotReached)
    }

    /// The connection is closed after an error with this code.
    pub fn is_fatal(self) -> bool {
        matches!(self, ErrorCode::FrameTooLarge | ErrorCode::UnsupportedVersion | ErrorCode::BadMagic)
    }

    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "BAD_REQUEST",
            UnknownOpcode => "UNKNOWN_OPCODE",
            KeyTooLarge => "KEY_TOO_LARGE",
            ValueTooLarge => "VALUE_TOO_LARGE",
            BatchTooLarge => "BATCH_TOO_LARGE",
            UnsupportedFlags => "UNSUPPORTED_FLAGS",
            ResponseTooLarge => "RESPONSE_TOO_LARGE",
            FrameTooLarge => "FRAME_TOO_LARGE",
            UnsupportedVersion => "UNSUPPORTED_VERSION",
            BadMagic => "BAD_MAGIC",
            Internal => "INTERNAL",
            ReadOnly => "READ_ONLY",
            Overloaded => "OVERLOADED",
            Timeout => "TIMEOUT",
            QuorumNotReached => "QUORUM_NOT_REACHED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u16> for ErrorCode {
    /// The unknown code.
    type Error = u16;
    fn try_from(v: u16) -> Result<Self, u16> {
        use ErrorCode::*;
        Ok(match v {
            100 => BadRequest,
            101 => UnknownOpcode,
            102 => KeyTooLarge,
            103 => ValueTooLarge,
            104 => BatchTooLarge,
            105 => UnsupportedFlags,
            106 => ResponseTooLarge,
            200 => FrameTooLarge,
            201 => UnsupportedVersion,
            202 => BadMagic,
            300 => Internal,
            301 => ReadOnly,
            302 => Overloaded,
            303 => Timeout,
            304 => QuorumNotReached,
            other => return Err(other),
        })
    }
}

/// Which field of a body broke a limit (it picks the error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    PartitionKey,
    SortKey,
    Value,
    Context,
    Continuation,
    Name,
    Message,
    BatchItems,
    ScanItems,
    Values,
    Shards,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Field::*;
        f.write_str(match self {
            PartitionKey => "partition key",
            SortKey => "sort key",
            Value => "value",
            Context => "context",
            Continuation => "continuation token",
            Name => "name",
            Message => "error message",
            BatchItems => "batch item count",
            ScanItems => "scan item count",
            Values => "value count",
            Shards => "shard count",
        })
    }
}

/// Fatal: the stream cannot be trusted any more. Answer with an ERROR frame with
/// request id 0, then close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes seen of the magic (zero-padded when fewer than 4 arrived).
    #[error("bad magic {0:02x?}, expected \"RKVP\"")]
    BadMagic([u8; 4]),
    #[error("unsupported protocol version {0}; supported: {VERSION_MAJOR}")]
    UnsupportedVersion(u8),
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge { len: u64, limit: usize },
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::BadMagic(_) => ErrorCode::BadMagic,
            FrameError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            FrameError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
        }
    }
}

/// Recoverable: the frame is complete and its length known, but its content is not
/// acceptable. Answer ERROR for its request id and skip it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("unsupported required flags {0:#06x}")]
    UnsupportedFlags(u16),
    #[error("body ends inside a field")]
    Truncated,
    #[error("{0} bytes left after the last field")]
    TrailingBytes(usize),
    #[error("{field} of {len} exceeds the limit of {limit}")]
    TooLarge { field: Field, len: u64, limit: usize },
    #[error("empty partition key")]
    EmptyPartitionKey,
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(Field),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

impl BodyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BodyError::UnknownOpcode(_) => ErrorCode::UnknownOpcode,
            BodyError::UnsupportedFlags(_) => ErrorCode::UnsupportedFlags,
            BodyError::TooLarge { field: Field::PartitionKey | Field::SortKey, .. } => ErrorCode::KeyTooLarge,
            BodyError::TooLarge { field: Field::Value, .. } => ErrorCode::ValueTooLarge,
            BodyError::TooLarge { field: Field::BatchItems, .. } => ErrorCode::BatchTooLarge,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// What `decode_request` / `decode_response` found wrong. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Send `ERROR` with request id 0 (see [`DecodeError::reply`]) and close.
    #[error(transparent)]
    Fatal(#[from] FrameError),
    /// Send `ERROR` for `request_id`, drop `consumed` bytes, keep going.
    #[error("request {request_id} (opcode {opcode:#04x}): {error}")]
    Recoverable { request_id: u64, opcode: u8, consumed: usize, error: BodyError },
}

impl DecodeError {
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::Fatal(_))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Fatal(e) => e.code(),
            DecodeError::Recoverable { error, .. } => error.code(),
        }
    }

    /// Bytes to skip to reach the next frame; `None` when fatal (the stream is lost).
    pub fn consumed(&self) -> Option<usize> {
        match self {
            DecodeError::Fatal(_) => None,
            DecodeError::Recoverable { consumed, .. } => Some(*consumed),
        }
    }

    /// The request id to answer: the frame's own when recoverable, 0 when fatal.
    pub fn request_id(&self) -> u64 {
        match self {
            DecodeError::Fatal(_) => 0,
            DecodeError::Recoverable { request_id, .. } => *request_id,
        }
    }

    /// The ERROR a server sends for this: `(request_id, response)`, ready for
    /// `encode_response`.
    pub fn reply(&self) -> (u64, Response) {
        let message = match self {
            DecodeError::Fatal(e) => e.to_string(),
            DecodeError::Recoverable { error, .. } => error.to_string(),
        };
        (self.request_id(), Response::Error(ErrorReply::new(self.code(), message)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip() {
        let mut n = 0;
        for v in 0..=u16::MAX {
            if let Ok(c) = ErrorCode::try_from(v) {
                assert_eq!(c as u16, v);
                assert_eq!(c.is_fatal(), (200..300).contains(&v));
                n += 1;
            }
        }
        assert_eq!(n, 15);
        assert_eq!(ErrorCode::try_from(999), Err(999));
    }

    #[test]
    fn body_errors_pick_codes() {
        let too = |field| BodyError::TooLarge { field, len: 9, limit: 1 }.code();
        assert_eq!(too(Field::PartitionKey), ErrorCode::KeyTooLarge);
        assert_eq!(too(Field::SortKey), ErrorCode::KeyTooLarge);
        assert_eq!(too(Field::Value), ErrorCode::ValueTooLarge);
        assert_eq!(too(Field::BatchItems), ErrorCode::BatchTooLarge);
        assert_eq!(too(Field::Context), ErrorCode::BadRequest);
        assert_eq!(BodyError::UnknownOpcode(3).code(), ErrorCode::UnknownOpcode);
    }
}
