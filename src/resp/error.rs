//! What the request parser reports: always a fatal protocol error.

use super::value::Reply;

/// A protocol error in the request stream. Always **fatal**: Redis answers
/// `-ERR Protocol error: ...` and closes the connection, because after a malformed or
/// over-limit header the stream cannot be resynchronised. The server does the same:
/// encode [`RespError::reply`], flush, close.
///
/// The `Display` text is Redis's wording (without the `ERR ` prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RespError {
    /// `*N` with N not an integer or above `args_max`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$N` with N not an integer, negative or above `bulk_bytes_max`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An argument of a multibulk command did not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// The `*N` line did not end within a sane length.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCountString,
    /// A `$N` line did not end within a sane length.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCountString,
    /// An inline command line longer than `inline_bytes_max`.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline command with an unterminated quote (or a closing quote not followed by a space).
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A bulk string's data was not followed by CRLF (Redis does not check; we do).
    #[error("Protocol error: expected CRLF after bulk data")]
    MissingBulkTerminator,
    /// The multibulk command would exceed `command_bytes_max`.
    #[error("Protocol error: too big request (more than {limit} bytes)")]
    TooBigRequest { limit: usize },
}

impl RespError {
    /// Always true: close the connection after sending [`RespError::reply`].
    pub fn is_fatal(&self) -> bool {
        true
    }

    /// The error reply to send before closing: `-ERR Protocol error: ...`.
    pub fn reply(&self) -> Reply {
        Reply::Error(format!("ERR {self}"))
    }
}
