//! The reply type, shared by RESP2 and RESP3 (the encoder downgrades RESP3-only types).

use std::borrow::Cow;

/// The protocol a connection speaks; every connection starts in RESP2 and switches with
/// `HELLO 3` (back with `HELLO 2` or `RESET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtoVersion {
    #[default]
    Resp2,
    Resp3,
}

impl ProtoVersion {
    /// 2 or 3, as HELLO reports it in `proto`.
    pub fn number(self) -> i64 {
        match self {
            ProtoVersion::Resp2 => 2,
            ProtoVersion::Resp3 => 3,
        }
    }
}

/// One reply. Build replies with the RESP3 shape in mind (e.g. [`Reply::Map`] for
/// HELLO and CONFIG GET, [`Reply::Verbatim`] for INFO); [`super::encode`] turns them into
/// what Redis sends to a RESP2 client.
///
/// | variant | RESP3 | RESP2 |
/// |---|---|---|
/// | `Simple` | `+s` | same |
/// | `Error` | `-s` | same |
/// | `Integer` | `:n` | same |
/// | `Bulk` | `$len` | same |
/// | `Nil` (missing value) | `_` | `$-1` |
/// | `NilArray` | `_` | `*-1` |
/// | `Array` | `*n` | same |
/// | `Map` | `%n` | flat `*2n` array k1 v1 k2 v2 ... |
/// | `Set` | `~n` | `*n` |
/// | `Double` | `,d` | bulk string |
/// | `Bool` | `#t` / `#f` | `:1` / `:0` |
/// | `Verbatim` | `=len fmt:text` | bulk string of `text` |
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A status line (`OK`, `PONG`); must not contain CR or LF (the encoder
    /// replaces them). Borrowed: the server's are all fixed words, and a SET's
    /// `+OK` allocates nothing.
    Simple(Cow<'static, str>),
    /// An error line including its code, e.g. `ERR syntax error`, `NOPROTO ...` (no `-`).
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// A missing value (GET of a missing key).
    Nil,
    Array(Vec<Reply>),
    /// A missing array (Redis's `*-1`).
    NilArray,
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Bool(bool),
    /// Text with a 3-byte format, `txt` or `mkd` (INFO replies with `txt`).
    Verbatim {
        format: [u8; 3],
        text: Vec<u8>,
    },
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// A simple string.
    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(s))
    }

    /// An error reply; `msg` includes the code, e.g. `"ERR syntax error"`.
    pub fn error(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// A bulk string, or `Nil` for `None` (GET, MGET items, GETSET ...).
    pub fn bulk_or_nil(b: Option<Vec<u8>>) -> Reply {
        b.map_or(Reply::Nil, Reply::Bulk)
    }

    /// Verbatim text (`txt`), e.g. the INFO reply.
    pub fn text(text: impl Into<Vec<u8>>) -> Reply {
        Reply::Verbatim { format: *b"txt", text: text.into() }
    }
}
