//! The command layer: arguments (already split by the parser) to a typed [`Command`],
//! with Redis-compatible validation and error messages. Pure: the server executes.
//!
//! Order of checks, as Redis: unknown command, then arity (`wrong number of arguments`),
//! then options (`syntax error`), then integer values, then ringkv's own limits (key and
//! value sizes, unsupported expiry).

use super::glob::Glob;
use super::limits::RespLimits;
use super::parse::parse_i64;
use super::value::{ProtoVersion, Reply};

/// Error text for any request that would set a key expiry.
pub const ERR_EXPIRY_UNSUPPORTED: &str = "ERR ringkv: key expiry (EX/PX/EXPIRE) is not supported yet";
/// Redis's error when APPEND (or any write) would make a value too long; the server uses
/// it when `APPEND` would exceed `value_bytes_max`.
pub const ERR_STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
/// The Redis version ringkv reports in HELLO and should report as `redis_version` in
/// INFO: clients gate features on it.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// Commands the RESP port knows, with Redis's arity (positive: exactly that many
/// arguments including the name; negative: at least that many). COMMAND COUNT is its length.
pub const SUPPORTED_COMMANDS: &[(&str, i32)] = &[
    ("append", 3),
    ("auth", -2),
    ("client", -2),
    ("command", -1),
    ("config", -2),
    ("dbsize", 1),
    ("decr", 2),
    ("decrby", 3),
    ("del", -2),
    ("echo", 2),
    ("exists", -2),
    ("expire", -3),
    ("expireat", -3),
    ("flushall", -1),
    ("flushdb", -1),
    ("get", 2),
    ("getdel", 2),
    ("getex", -2),
    ("getset", 3),
    ("hello", -1),
    ("incr", 2),
    ("incrby", 3),
    ("info", -1),
    ("keys", 2),
    ("mget", -2),
    ("mset", -3),
    ("msetnx", -3),
    ("persist", 2),
    ("pexpire", -3),
    ("pexpireat", -3),
    ("ping", -1),
    ("psetex", 4),
    ("pttl", 2),
    ("quit", -1),
    ("reset", 1),
    ("scan", -2),
    ("select", 2),
    ("set", -3),
    ("setex", 4),
    ("setnx", 3),
    ("strlen", 2),
    ("ttl", 2),
    ("type", 2),
    ("unlink", -2),
];

/// A command error: a complete error line such as `ERR syntax error` or
/// `NOPROTO unsupported protocol version`. Recoverable: reply and go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
}

impl CommandError {
    pub fn new(message: impl Into<String>) -> Self {
        CommandError { message: message.into() }
    }

    /// The `-ERR ...` reply.
    pub fn reply(&self) -> Reply {
        Reply::Error(self.message.clone())
    }

    fn syntax() -> Self {
        CommandError::new("ERR syntax error")
    }

    fn not_integer() -> Self {
        CommandError::new("ERR value is not an integer or out of range")
    }

    fn arity(name: &str) -> Self {
        CommandError::new(format!("ERR wrong number of arguments for '{name}' command"))
    }

    fn unknown_subcommand(sub: &[u8], cmd: &str) -> Self {
        CommandError::new(format!("ERR unknown subcommand '{}'. Try {cmd} HELP.", printable(sub, 128)))
    }

    fn expiry_unsupported() -> Self {
        CommandError::new(ERR_EXPIRY_UNSUPPORTED)
    }
}

/// SET's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    #[default]
    Always,
    /// NX: only if the key does not exist.
    IfMissing,
    /// XX: only if the key exists.
    IfExists,
}

/// SCAN's TYPE filter. ringkv only has strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypeFilter {
    #[default]
    Any,
    /// `TYPE string`: every key.
    Strings,
    /// Any other type name: no key matches (the scan may answer cursor 0 at once).
    Nothing,
}

/// SCAN's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanArgs {
    /// 0 starts a scan; otherwise a value this server returned (opaque to the client).
    pub cursor: u64,
    /// MATCH pattern (`None` = every key).
    pub pattern: Option<Glob>,
    /// COUNT hint (≥ 1), default 10; the server caps it.
    pub count: u64,
    pub type_filter: TypeFilter,
}

/// COMMAND subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSub {
    /// `COMMAND`: details of every command.
    List,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]`.
    Docs(Vec<Vec<u8>>),
    /// `COMMAND INFO [name ...]`.
    Info(Vec<Vec<u8>>),
}

/// CLIENT subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT SETNAME name` (validated: printable ASCII without spaces; empty clears it).
    SetName(Vec<u8>),
    GetName,
    Id,
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value` (validated); reply `+OK`.
    SetInfo {
        attr: String,
        value: Vec<u8>,
    },
}

/// CONFIG subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCommand {
    /// `CONFIG GET pattern [pattern ...]`: answer with [`config_get`].
    Get(Vec<Vec<u8>>),
    /// `CONFIG SET name value [name value ...]`: answer with [`config_set`].
    Set(Vec<(Vec<u8>, Vec<u8>)>),
    ResetStat,
}

/// A parsed command. Keys are ringkv partition keys (1..=`key_bytes_max` bytes, no sort
/// key); values are at most `value_bytes_max` bytes. Both are checked here.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `+PONG`, or the message as a bulk string.
    Ping(Option<Vec<u8>>),
    Echo(Vec<u8>),
    /// Switch protocol (if `protover` is given), authenticate, set the name; reply
    /// [`hello_reply`] in the *new* protocol.
    Hello {
        protover: Option<ProtoVersion>,
        auth: Option<(Vec<u8>, Vec<u8>)>,
        setname: Option<Vec<u8>>,
    },
    /// `AUTH password` (username `None`, i.e. "default") or `AUTH username password`.
    Auth {
        username: Option<Vec<u8>>,
        password: Vec<u8>,
    },
    /// `SELECT 0` (any other index is rejected here); `+OK`.
    Select,
    /// `+OK`, then close the connection.
    Quit,
    /// Back to RESP2, clear the name; reply `+RESET`.
    Reset,
    Command(CommandSub),
    Client(ClientCommand),
    /// `INFO [section ...]`, sections lower-cased; reply a [`Reply::text`] (bulk in RESP2).
    Info(Vec<String>),
    DbSize,
    Config(ConfigCommand),
    /// FLUSHDB / FLUSHALL [ASYNC|SYNC] (the mode does not matter): delete every key; `+OK`.
    FlushAll,
    /// GET, and GETEX without options or with PERSIST.
    Get {
        key: Vec<u8>,
    },
    /// SET. Reply: with `get`, the old value or nil; else `+OK`, or nil if the condition failed.
    /// (KEEPTTL is accepted: no key has a TTL to keep.)
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
        condition: SetCondition,
        get: bool,
    },
    /// SETNX: `:1` if set, `:0` if the key existed.
    SetNx {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// GETSET: set, reply the old value or nil.
    GetSet {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// GETDEL: delete, reply the old value or nil.
    GetDel {
        key: Vec<u8>,
    },
    /// DEL / UNLINK: `:count` of keys that existed and were deleted.
    Del {
        keys: Vec<Vec<u8>>,
    },
    /// EXISTS: `:count`, a key named twice counted twice.
    Exists {
        keys: Vec<Vec<u8>>,
    },
    /// MGET: array of bulk-or-nil, in order.
    MGet {
        keys: Vec<Vec<u8>>,
    },
    /// MSET: `+OK`.
    MSet {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// MSETNX: `:1` if no key existed and all were set, else `:0` and nothing set.
    MSetNx {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// INCR, DECR, INCRBY, DECRBY (as a signed delta): compute with [`incr_value`], reply `:new`.
    IncrBy {
        key: Vec<u8>,
        delta: i64,
    },
    /// APPEND: `:new length`; error [`ERR_STRING_TOO_LONG`] past `value_bytes_max`.
    Append {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// STRLEN: `:len`, 0 when missing.
    StrLen {
        key: Vec<u8>,
    },
    /// TYPE: `+string` or `+none`.
    Type {
        key: Vec<u8>,
    },
    /// TTL / PTTL: `:-1` if the key exists (no expiry exists yet), `:-2` if missing.
    Ttl {
        key: Vec<u8>,
        millis: bool,
    },
    /// PERSIST: always `:0` (no key has a TTL); no engine access needed.
    Persist {
        key: Vec<u8>,
    },
    /// SCAN: reply `*2` of the next cursor as a bulk string and an array of keys.
    Scan(ScanArgs),
    /// KEYS pattern: array of every matching key (the server should bound it).
    Keys {
        pattern: Glob,
    },
}

impl Command {
    /// Parses one command. `args[0]` is the name (any case); the arguments the command
    /// keeps (keys, values) are copied, the rest only read. `args` must not be empty (the
    /// parser's empty commands get no reply at all).
    pub fn parse(args: &[&[u8]], limits: &RespLimits) -> Result<Command, CommandError> {
        let mut it = args.iter();
        let Some(&raw_name) = it.next() else {
            return Err(CommandError::new("ERR empty command"));
        };
        // The commands clients pipeline in bulk skip the table and the match below.
        match (args.len(), raw_name) {
            (2, [b'g' | b'G', b'e' | b'E', b't' | b'T']) => {
                return Ok(Command::Get { key: Args { it, limits }.key()? });
            }
            (3, [b's' | b'S', b'e' | b'E', b't' | b'T']) => {
                let mut a = Args { it, limits };
                return Ok(Command::Set {
                    key: a.key()?,
                    value: a.value()?,
                    condition: SetCondition::Always,
                    get: false,
                });
            }
            _ => {}
        }
        let Some((name, arity)) = lookup(raw_name) else {
            return Err(unknown_command(raw_name, it.as_slice()));
        };
        let argc = it.len().saturating_add(1);
        let ok = match usize::try_from(arity) {
            Ok(exact) => argc == exact,
            Err(_) => argc >= usize::try_from(arity.unsigned_abs()).unwrap_or(usize::MAX),
        };
        if !ok {
            return Err(CommandError::arity(name));
        }
        let mut a = Args { it, limits };
        Ok(match name {
            "ping" => match a.len() {
                0 => Command::Ping(None),
                1 => Command::Ping(Some(a.next())),
                _ => return Err(CommandError::arity(name)),
            },
            "echo" => Command::Echo(a.next()),
            "hello" => parse_hello(a)?,
            "auth" => match a.len() {
                1 => Command::Auth { username: None, password: a.next() },
                2 => Command::Auth { username: Some(a.next()), password: a.next() },
                _ => return Err(CommandError::syntax()),
            },
            "select" => {
                let db = parse_int(&a.next())?;
                if i32::try_from(db).is_err() {
                    return Err(CommandError::not_integer());
                }
                if db != 0 {
                    return Err(CommandError::new("ERR DB index is out of range"));
                }
                Command::Select
            }
            "quit" => Command::Quit,
            "reset" => Command::Reset,
            "command" => Command::Command(parse_command_sub(a)?),
            "client" => Command::Client(parse_client(a)?),
            "info" => Command::Info(a.rest().iter().map(|s| String::from_utf8_lossy(s).to_lowercase()).collect()),
            "dbsize" => Command::DbSize,
            "config" => Command::Config(parse_config(a)?),
            "flushdb" | "flushall" => {
                if a.len() > 1 {
                    return Err(CommandError::syntax());
                }
                if a.len() == 1 {
                    let mode = a.next();
                    if !mode.eq_ignore_ascii_case(b"async") && !mode.eq_ignore_ascii_case(b"sync") {
                        return Err(CommandError::syntax());
                    }
                }
                Command::FlushAll
            }
            "get" => Command::Get { key: a.key()? },
            "getex" => parse_getex(a)?,
            "set" => parse_set(a)?,
            "setnx" => Command::SetNx { key: a.key()?, value: a.value()? },
            "setex" | "psetex" => {
                let _key = a.key()?;
                let ttl = parse_int(&a.next())?;
                if ttl <= 0 {
                    return Err(CommandError::new(format!("ERR invalid expire time in '{name}' command")));
                }
                return Err(CommandError::expiry_unsupported());
            }
            "getset" => Command::GetSet { key: a.key()?, value: a.value()? },
            "getdel" => Command::GetDel { key: a.key()? },
            "del" | "unlink" => Command::Del { keys: a.keys()? },
            "exists" => Command::Exists { keys: a.keys()? },
            "mget" => Command::MGet { keys: a.keys()? },
            "mset" | "msetnx" => {
                if !a.len().is_multiple_of(2) {
                    return Err(CommandError::arity(name));
                }
                let mut pairs = Vec::with_capacity(a.len() / 2);
                while a.len() > 0 {
                    pairs.push((a.key()?, a.value()?));
                }
                if name == "mset" {
                    Command::MSet { pairs }
                } else {
                    Command::MSetNx { pairs }
                }
            }
            "incr" => Command::IncrBy { key: a.key()?, delta: 1 },
            "decr" => Command::IncrBy { key: a.key()?, delta: -1 },
            "incrby" => Command::IncrBy { key: a.key()?, delta: parse_int(&a.next())? },
            "decrby" => {
                let key = a.key()?;
                let d = parse_int(&a.next())?;
                let delta = d.checked_neg().ok_or_else(|| CommandError::new("ERR decrement would overflow"))?;
                Command::IncrBy { key, delta }
            }
            "append" => Command::Append { key: a.key()?, value: a.value()? },
            "strlen" => Command::StrLen { key: a.key()? },
            "type" => Command::Type { key: a.key()? },
            "ttl" => Command::Ttl { key: a.key()?, millis: false },
            "pttl" => Command::Ttl { key: a.key()?, millis: true },
            "persist" => Command::Persist { key: a.key()? },
            "expire" | "pexpire" | "expireat" | "pexpireat" => {
                let _key = a.key()?;
                parse_int(&a.next())?;
                for opt in a.rest() {
                    let known = [&b"nx"[..], b"xx", b"gt", b"lt"].iter().any(|o| opt.eq_ignore_ascii_case(o));
                    if !known {
                        return Err(CommandError::new(format!(
                            "ERR Unsupported option {}",
                            String::from_utf8_lossy(&opt)
                        )));
                    }
                }
                return Err(CommandError::expiry_unsupported());
            }
            "scan" => Command::Scan(parse_scan(a)?),
            "keys" => Command::Keys { pattern: a.pattern()? },
            // Every name in SUPPORTED_COMMANDS has an arm above.
            _ => return Err(unknown_command(raw_name, &[])),
        })
    }

    /// The command's canonical (lower-case) name, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ping(_) => "ping",
            Command::Echo(_) => "echo",
            Command::Hello { .. } => "hello",
            Command::Auth { .. } => "auth",
            Command::Select => "select",
            Command::Quit => "quit",
            Command::Reset => "reset",
            Command::Command(_) => "command",
            Command::Client(_) => "client",
            Command::Info(_) => "info",
            Command::DbSize => "dbsize",
            Command::Config(_) => "config",
            Command::FlushAll => "flushall",
            Command::Get { .. } => "get",
            Command::Set { .. } => "set",
            Command::SetNx { .. } => "setnx",
            Command::GetSet { .. } => "getset",
            Command::GetDel { .. } => "getdel",
            Command::Del { .. } => "del",
            Command::Exists { .. } => "exists",
            Command::MGet { .. } => "mget",
            Command::MSet { .. } => "mset",
            Command::MSetNx { .. } => "msetnx",
            Command::IncrBy { .. } => "incrby",
            Command::Append { .. } => "append",
            Command::StrLen { .. } => "strlen",
            Command::Type { .. } => "type",
            Command::Ttl { .. } => "ttl",
            Command::Persist { .. } => "persist",
            Command::Scan(_) => "scan",
            Command::Keys { .. } => "keys",
        }
    }

    /// The reply for commands that need neither the engine nor connection state (PING,
    /// ECHO, SELECT, COMMAND ..., CLIENT SETINFO, CONFIG ..., PERSIST); `None` for the
    /// rest, which the server executes. QUIT's `+OK` is included: close after sending it.
    pub fn stateless_reply(&self, limits: &RespLimits) -> Option<Reply> {
        Some(match self {
            Command::Ping(None) => Reply::simple("PONG"),
            Command::Ping(Some(m)) | Command::Echo(m) => Reply::Bulk(m.clone()),
            Command::Select | Command::Quit => Reply::ok(),
            Command::Command(CommandSub::List) => Reply::Array(Vec::new()),
            Command::Command(CommandSub::Count) => {
                Reply::Integer(i64::try_from(SUPPORTED_COMMANDS.len()).unwrap_or(i64::MAX))
            }
            Command::Command(CommandSub::Docs(_)) => Reply::Map(Vec::new()),
            Command::Command(CommandSub::Info(names)) => Reply::Array(names.iter().map(|_| Reply::Nil).collect()),
            Command::Client(ClientCommand::SetInfo { .. }) => Reply::ok(),
            Command::Config(ConfigCommand::Get(patterns)) => config_get(patterns, limits),
            Command::Config(ConfigCommand::Set(pairs)) => config_set(pairs, limits),
            Command::Config(ConfigCommand::ResetStat) => Reply::ok(),
            Command::Persist { .. } => Reply::Integer(0),
            _ => return None,
        })
    }
}

/// The argument list of one command, read in order (arity already checked).
struct Args<'a, 'l> {
    it: std::slice::Iter<'a, &'a [u8]>,
    limits: &'l RespLimits,
}

impl Args<'_, '_> {
    fn len(&self) -> usize {
        self.it.len()
    }

    /// The next argument, copied (empty if none: callers check the arity first).
    fn next(&mut self) -> Vec<u8> {
        self.it.next().map(|a| a.to_vec()).unwrap_or_default()
    }

    fn rest(self) -> Vec<Vec<u8>> {
        self.it.map(|a| a.to_vec()).collect()
    }

    fn key(&mut self) -> Result<Vec<u8>, CommandError> {
        let k = self.next();
        if k.is_empty() {
            return Err(CommandError::new("ERR ringkv: empty keys are not supported"));
        }
        if k.len() > self.limits.key_bytes_max {
            return Err(CommandError::new(format!("ERR ringkv: key exceeds {} bytes", self.limits.key_bytes_max)));
        }
        Ok(k)
    }

    fn keys(&mut self) -> Result<Vec<Vec<u8>>, CommandError> {
        (0..self.len()).map(|_| self.key()).collect()
    }

    fn value(&mut self) -> Result<Vec<u8>, CommandError> {
        let v = self.next();
        if v.len() > self.limits.value_bytes_max {
            return Err(CommandError::new(format!("ERR ringkv: value exceeds {} bytes", self.limits.value_bytes_max)));
        }
        Ok(v)
    }

    fn pattern(&mut self) -> Result<Glob, CommandError> {
        let p = self.next();
        if p.len() > self.limits.pattern_bytes_max {
            return Err(CommandError::new(format!(
                "ERR ringkv: pattern exceeds {} bytes",
                self.limits.pattern_bytes_max
            )));
        }
        Ok(Glob::new(&p))
    }
}

/// The key of a GET or SET with these arguments (the commands clients
/// pipeline in bulk), of INCR and the other single-key writes (DEL's first
/// key), or of the single-key reads (STRLEN, TYPE, TTL, PTTL, EXISTS's first
/// key), before they are parsed and checked: for a prefetch hint
/// (`Cluster::prefetch_slot`).
/// None for any other command.
pub fn hot_key<'a>(args: &[&'a [u8]]) -> Option<&'a [u8]> {
    let name = args.first()?;
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    let hot = match name.len() {
        3 => is(b"get") || is(b"set") || is(b"del") || is(b"ttl"),
        4 => is(b"incr") || is(b"decr") || is(b"type") || is(b"pttl"),
        5 => is(b"setnx"),
        6 => {
            is(b"incrby")
                || is(b"decrby")
                || is(b"append")
                || is(b"getset")
                || is(b"getdel")
                || is(b"exists")
                || is(b"strlen")
        }
        _ => false,
    };
    args.get(1).filter(|_| hot).copied()
}

/// Whether `args` (at least its first four, if it has more) is a plain SET,
/// without options: a blind overwrite, which reads nothing
/// (`Cluster::start_blind`), for the prefetch hint's
/// [`Touch`](crate::storage::Touch).
pub fn is_plain_set(args: &[&[u8]]) -> bool {
    matches!(args, [name, _, _] if name.eq_ignore_ascii_case(b"set"))
}

/// The key and value of `args` if it is a plain SET that [`Command::parse`]
/// accepts (key and value within `limits`): `Command::Set` with no
/// condition, without its copies. None for anything else, errors included.
pub fn plain_set<'a>(args: &[&'a [u8]], limits: &RespLimits) -> Option<(&'a [u8], &'a [u8])> {
    match *args {
        [name, key, value]
            if name.eq_ignore_ascii_case(b"set")
                && !key.is_empty()
                && key.len() <= limits.key_bytes_max
                && value.len() <= limits.value_bytes_max =>
        {
            Some((key, value))
        }
        _ => None,
    }
}

/// The key of `args` if it is a GET that [`Command::parse`] accepts: its
/// `Command::Get`, without the copy. None for anything else, errors included.
pub fn plain_get<'a>(args: &[&'a [u8]], limits: &RespLimits) -> Option<&'a [u8]> {
    match *args {
        [name, key] if name.eq_ignore_ascii_case(b"get") && !key.is_empty() && key.len() <= limits.key_bytes_max => {
            Some(key)
        }
        _ => None,
    }
}

/// The entry of `SUPPORTED_COMMANDS` for a command name in any case, without
/// allocating. Only names of the same length are compared, byte by byte; a
/// binary search (a `memcmp` call per step) cost more in a GET profile.
fn lookup(raw_name: &[u8]) -> Option<(&'static str, i32)> {
    SUPPORTED_COMMANDS
        .iter()
        .find(|(n, _)| n.len() == raw_name.len() && n.as_bytes().eq_ignore_ascii_case(raw_name))
        .copied()
}

/// Redis 7's `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
fn unknown_command(name: &[u8], args: &[&[u8]]) -> CommandError {
    let mut list = String::new();
    for a in args {
        if list.len() >= 128 {
            break;
        }
        let room = 128usize.saturating_sub(list.len());
        list.push('\'');
        list.push_str(&printable(a, room));
        list.push_str("' ");
    }
    CommandError::new(format!("ERR unknown command '{}', with args beginning with: {list}", printable(name, 128)))
}

/// At most `max` bytes of `b` as text (lossy), CR/LF replaced by spaces.
fn printable(b: &[u8], max: usize) -> String {
    let cut = b.get(..max).unwrap_or(b);
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
}

/// An integer argument, Redis-strict (`string2ll`).
fn parse_int(b: &[u8]) -> Result<i64, CommandError> {
    parse_i64(b).ok_or_else(CommandError::not_integer)
}

fn parse_hello(mut a: Args<'_, '_>) -> Result<Command, CommandError> {
    if a.len() == 0 {
        return Ok(Command::Hello { protover: None, auth: None, setname: None });
    }
    let ver = parse_i64(&a.next())
        .ok_or_else(|| CommandError::new("ERR Protocol version is not an integer or out of range"))?;
    let protover = match ver {
        2 => ProtoVersion::Resp2,
        3 => ProtoVersion::Resp3,
        _ => return Err(CommandError::new("NOPROTO unsupported protocol version")),
    };
    let (mut auth, mut setname) = (None, None);
    while a.len() > 0 {
        let opt = a.next();
        let more = a.len();
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            auth = Some((a.next(), a.next()));
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            let name = a.next();
            validate_client_name(&name)?;
            setname = Some(name);
        } else {
            return Err(CommandError::new(format!("ERR Syntax error in HELLO option '{}'", printable(&opt, 128))));
        }
    }
    Ok(Command::Hello { protover: Some(protover), auth, setname })
}

fn parse_command_sub(mut a: Args<'_, '_>) -> Result<CommandSub, CommandError> {
    if a.len() == 0 {
        return Ok(CommandSub::List);
    }
    let sub = a.next();
    if sub.eq_ignore_ascii_case(b"count") {
        if a.len() != 0 {
            return Err(CommandError::arity("command|count"));
        }
        Ok(CommandSub::Count)
    } else if sub.eq_ignore_ascii_case(b"docs") {
        Ok(CommandSub::Docs(a.rest()))
    } else if sub.eq_ignore_ascii_case(b"info") {
        Ok(CommandSub::Info(a.rest()))
    } else {
        Err(CommandError::unknown_subcommand(&sub, "COMMAND"))
    }
}

/// Redis: client names (and lib-name/lib-ver) are printable ASCII without spaces.
fn is_clean(b: &[u8]) -> bool {
    b.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn validate_client_name(name: &[u8]) -> Result<(), CommandError> {
    if is_clean(name) {
        Ok(())
    } else {
        Err(CommandError::new("ERR Client names cannot contain spaces, newlines or special characters."))
    }
}

fn parse_client(mut a: Args<'_, '_>) -> Result<ClientCommand, CommandError> {
    let sub = a.next();
    let lower = sub.to_ascii_lowercase();
    let (want, full) = match lower.as_slice() {
        b"setname" => (1, "client|setname"),
        b"getname" => (0, "client|getname"),
        b"id" => (0, "client|id"),
        b"setinfo" => (2, "client|setinfo"),
        _ => return Err(CommandError::unknown_subcommand(&sub, "CLIENT")),
    };
    if a.len() != want {
        return Err(CommandError::arity(full));
    }
    match lower.as_slice() {
        b"setname" => {
            let name = a.next();
            validate_client_name(&name)?;
            Ok(ClientCommand::SetName(name))
        }
        b"getname" => Ok(ClientCommand::GetName),
        b"id" => Ok(ClientCommand::Id),
        _ => {
            let attr = a.next();
            let value = a.next();
            let attr = if attr.eq_ignore_ascii_case(b"lib-name") {
                "lib-name"
            } else if attr.eq_ignore_ascii_case(b"lib-ver") {
                "lib-ver"
            } else {
                return Err(CommandError::new(format!("ERR Unrecognized option '{}'", printable(&attr, 128))));
            };
            if !is_clean(&value) {
                return Err(CommandError::new(format!(
                    "ERR {attr} cannot contain spaces, newlines or special characters."
                )));
            }
            Ok(ClientCommand::SetInfo { attr: attr.to_owned(), value })
        }
    }
}

fn parse_config(mut a: Args<'_, '_>) -> Result<ConfigCommand, CommandError> {
    let sub = a.next();
    if sub.eq_ignore_ascii_case(b"get") {
        if a.len() == 0 {
            return Err(CommandError::arity("config|get"));
        }
        Ok(ConfigCommand::Get(a.rest()))
    } else if sub.eq_ignore_ascii_case(b"set") {
        if a.len() < 2 || !a.len().is_multiple_of(2) {
            return Err(CommandError::arity("config|set"));
        }
        let mut pairs = Vec::with_capacity(a.len() / 2);
        while a.len() > 0 {
            pairs.push((a.next(), a.next()));
        }
        Ok(ConfigCommand::Set(pairs))
    } else if sub.eq_ignore_ascii_case(b"resetstat") {
        if a.len() != 0 {
            return Err(CommandError::arity("config|resetstat"));
        }
        Ok(ConfigCommand::ResetStat)
    } else {
        Err(CommandError::unknown_subcommand(&sub, "CONFIG"))
    }
}

/// Which expiry option SET/GETEX saw (they exclude each other, not themselves).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

fn expiry_kind(opt: &[u8]) -> Option<ExpiryKind> {
    [(&b"ex"[..], ExpiryKind::Ex), (b"px", ExpiryKind::Px), (b"exat", ExpiryKind::ExAt), (b"pxat", ExpiryKind::PxAt)]
        .into_iter()
        .find(|(n, _)| opt.eq_ignore_ascii_case(n))
        .map(|(_, k)| k)
}

/// Validates an expiry value as Redis does, then rejects it: ringkv has no TTL yet.
fn reject_expiry(value: &[u8], cmd: &str) -> CommandError {
    match parse_i64(value) {
        None => CommandError::not_integer(),
        Some(v) if v <= 0 => CommandError::new(format!("ERR invalid expire time in '{cmd}' command")),
        Some(_) => CommandError::expiry_unsupported(),
    }
}

fn parse_set(mut a: Args<'_, '_>) -> Result<Command, CommandError> {
    let key = a.key()?;
    let value = a.value()?;
    let mut condition = SetCondition::Always;
    let mut get = false;
    let mut keepttl = false;
    let mut expiry: Option<(ExpiryKind, Vec<u8>)> = None;
    while a.len() > 0 {
        let opt = a.next();
        let exp = expiry_kind(&opt);
        if opt.eq_ignore_ascii_case(b"nx") && condition != SetCondition::IfExists {
            condition = SetCondition::IfMissing;
        } else if opt.eq_ignore_ascii_case(b"xx") && condition != SetCondition::IfMissing {
            condition = SetCondition::IfExists;
        } else if opt.eq_ignore_ascii_case(b"get") {
            get = true;
        } else if opt.eq_ignore_ascii_case(b"keepttl") && expiry.is_none() {
            keepttl = true;
        } else if let Some(kind) =
            exp.filter(|k| !keepttl && expiry.as_ref().is_none_or(|(e, _)| e == k) && a.len() > 0)
        {
            expiry = Some((kind, a.next()));
        } else {
            return Err(CommandError::syntax());
        }
    }
    if let Some((_, v)) = expiry {
        return Err(reject_expiry(&v, "set"));
    }
    Ok(Command::Set { key, value, condition, get })
}

fn parse_getex(mut a: Args<'_, '_>) -> Result<Command, CommandError> {
    let key = a.key()?;
    let mut persist = false;
    let mut expiry: Option<(ExpiryKind, Vec<u8>)> = None;
    while a.len() > 0 {
        let opt = a.next();
        let exp = expiry_kind(&opt);
        if opt.eq_ignore_ascii_case(b"persist") && expiry.is_none() {
            persist = true;
        } else if let Some(kind) =
            exp.filter(|k| !persist && expiry.as_ref().is_none_or(|(e, _)| e == k) && a.len() > 0)
        {
            expiry = Some((kind, a.next()));
        } else {
            return Err(CommandError::syntax());
        }
    }
    if let Some((_, v)) = expiry {
        return Err(reject_expiry(&v, "getex"));
    }
    Ok(Command::Get { key })
}

fn parse_scan(mut a: Args<'_, '_>) -> Result<ScanArgs, CommandError> {
    let cursor = a.next();
    let cursor = std::str::from_utf8(&cursor)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CommandError::new("ERR invalid cursor"))?;
    let mut args = ScanArgs { cursor, pattern: None, count: 10, type_filter: TypeFilter::Any };
    while a.len() > 0 {
        let opt = a.next();
        if a.len() == 0 {
            return Err(CommandError::syntax());
        }
        if opt.eq_ignore_ascii_case(b"count") {
            let n = parse_int(&a.next())?;
            if n < 1 {
                return Err(CommandError::syntax());
            }
            args.count = n.unsigned_abs();
        } else if opt.eq_ignore_ascii_case(b"match") {
            args.pattern = Some(a.pattern()?);
        } else if opt.eq_ignore_ascii_case(b"type") {
            let t = a.next();
            args.type_filter =
                if t.eq_ignore_ascii_case(b"string") { TypeFilter::Strings } else { TypeFilter::Nothing };
        } else {
            return Err(CommandError::syntax());
        }
    }
    Ok(args)
}

/// INCR/DECR arithmetic on a stored value: `current` is the value (`None` = missing,
/// counts as 0). Errors as Redis: a value that is not a strict decimal i64, or overflow.
/// The server stores `new.to_string()` and replies `:new`.
pub fn incr_value(current: Option<&[u8]>, delta: i64) -> Result<i64, CommandError> {
    let old = match current {
        None => 0,
        Some(v) => parse_i64(v).ok_or_else(CommandError::not_integer)?,
    };
    old.checked_add(delta).ok_or_else(|| CommandError::new("ERR increment or decrement would overflow"))
}

/// The static configuration ringkv reports (Redis names, ringkv values).
fn config_params(limits: &RespLimits) -> Vec<(&'static str, String)> {
    vec![
        ("appendonly", "no".to_owned()),
        ("databases", "1".to_owned()),
        ("maxmemory", "0".to_owned()),
        ("maxmemory-policy", "noeviction".to_owned()),
        ("proto-max-bulk-len", limits.bulk_bytes_max.to_string()),
        ("save", String::new()),
        ("timeout", "0".to_owned()),
    ]
}

/// `CONFIG GET pattern...`: a map of every parameter matching any pattern (glob,
/// case-insensitive as Redis), each once. A [`Reply::Map`]: `%n` in RESP3, a flat
/// name/value array in RESP2, as Redis.
pub fn config_get(patterns: &[Vec<u8>], limits: &RespLimits) -> Reply {
    let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(&p.to_ascii_lowercase())).collect();
    Reply::Map(
        config_params(limits)
            .into_iter()
            .filter(|(name, _)| globs.iter().any(|g| g.matches(name.as_bytes())))
            .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
            .collect(),
    )
}

/// `CONFIG SET`: ringkv's configuration is not changed at run time. Setting a known
/// parameter to the value it already has answers `+OK` (tools do `CONFIG SET save ""`);
/// anything else is an error naming the parameter.
pub fn config_set(pairs: &[(Vec<u8>, Vec<u8>)], limits: &RespLimits) -> Reply {
    let params = config_params(limits);
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        match params.iter().find(|(n, _)| n.as_bytes() == lower.as_slice()) {
            Some((_, current)) if current.as_bytes() == value.as_slice() => {}
            Some(_) => {
                return Reply::error(format!(
                    "ERR ringkv: CONFIG SET is not supported ('{}' is fixed)",
                    printable(name, 128)
                ))
            }
            None => {
                return Reply::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    printable(name, 128)
                ))
            }
        }
    }
    Reply::ok()
}

/// The HELLO reply, as a [`Reply::Map`] (a flat array in RESP2, as Redis). `proto` is the
/// connection's protocol *after* the HELLO; `ringkv_version` is reported as an extra field.
pub fn hello_reply(proto: ProtoVersion, client_id: i64, ringkv_version: &str) -> Reply {
    let s = |t: &str| Reply::bulk(t);
    Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_COMPAT_VERSION)),
        (s("proto"), Reply::Integer(proto.number())),
        (s("id"), Reply::Integer(client_id)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(Vec::new())),
        (s("ringkv_version"), s(ringkv_version)),
    ])
}
