//! The incremental, bounded request parser: multibulk (`*N\r\n$len\r\n...\r\n`) and
//! inline (`PING\r\n`) commands.
//!
//! The parser is stateless: call it on the unconsumed bytes; it either returns a whole
//! command, asks for more bytes, or reports a fatal [`RespError`]. A partial multibulk
//! command is re-scanned from its start on each call, but scanning only reads the short
//! headers and jumps over bulk data. Nothing is copied: a multibulk command comes back as
//! the positions of its arguments in the buffer ([`Frame`]), read in place.

#![deny(clippy::arithmetic_side_effects)]

use smallvec::SmallVec;

use super::error::RespError;
use super::limits::RespLimits;

/// The longest `*N` / `$N` header line accepted, without its CRLF. A valid header has at
/// most 20 digits ("-9223372036854775808"); Redis allows up to 64 KiB before failing.
const HEADER_LINE_MAX: usize = 32;

/// One parsed command: where its arguments are (`[0]` is the name). A multibulk
/// command's arguments stay in the buffer it was parsed from, so the common command
/// costs no allocation (a SET has three arguments; more spill to the heap). An
/// inline command's words are unescaped, so they are copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Parts);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Parts {
    /// `(start, end)` of each argument in the parsed buffer. 32-bit: a command is
    /// far shorter than 4 GiB ([`RespLimits::command_bytes_max`]), and the frame
    /// stays small to move.
    Spans(SmallVec<[(u32, u32); 4]>),
    Words(Vec<Vec<u8>>),
}

/// A command's arguments as slices, as [`Frame::args`] hands them out.
pub type ArgSlices<'a> = SmallVec<[&'a [u8]; 4]>;

impl Frame {
    /// No arguments: only empty commands were found (see [`parse_command`]).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Parts::Spans(s) => s.is_empty(),
            Parts::Words(w) => w.is_empty(),
        }
    }

    /// The arguments. `buf` must be the buffer the frame was parsed from (the same
    /// slice, not yet drained); with any other, arguments out of its range are empty.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> ArgSlices<'a> {
        self.head(buf, usize::MAX)
    }

    /// The first `n` arguments (all if there are fewer), as [`args`](Self::args).
    pub fn head<'a>(&'a self, buf: &'a [u8], n: usize) -> ArgSlices<'a> {
        match &self.0 {
            Parts::Spans(s) => {
                s.iter().take(n).map(|&(a, b)| buf.get(a as usize..b as usize).unwrap_or_default()).collect()
            }
            Parts::Words(w) => w.iter().take(n).map(Vec::as_slice).collect(),
        }
    }
}

/// Parses the first command in `buf`.
///
/// - `Ok(Some((frame, consumed)))`: a command (`frame.args(buf)`, `[0]` the name) and the
///   bytes it took, including any empty inline lines or `*0`/`*-1` before it. Read the
///   arguments before dropping `consumed` bytes. **`frame` is empty** when only empty
///   commands were found (empty inline lines, `*0\r\n`, `*-1\r\n`): drop the bytes
///   and send no reply, as Redis does.
/// - `Ok(None)`: more bytes are needed; `buf` holds a strict prefix of a command (or nothing).
/// - `Err(e)`: a protocol error; always fatal: send `e.reply()` and close.
///
/// Every length is checked against `limits` before anything is allocated.
pub fn parse_command(buf: &[u8], limits: &RespLimits) -> Result<Option<(Frame, usize)>, RespError> {
    let mut pos = 0usize;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let step = match rest.first() {
            None => Step::Incomplete,
            Some(b'*') => multibulk(rest, limits)?,
            Some(_) => inline(rest, limits)?,
        };
        match step {
            Step::Incomplete if pos == 0 => return Ok(None),
            // Hand back the empty commands already seen so the caller drops them.
            Step::Incomplete => return Ok(Some((Frame(Parts::Words(Vec::new())), pos))),
            Step::Empty(n) => pos = pos.saturating_add(n),
            Step::Command(Parts::Spans(mut spans), n) if pos > 0 => {
                // Positions in `rest` become positions in `buf`.
                let shift =
                    u32::try_from(pos).map_err(|_| RespError::TooBigRequest { limit: limits.command_bytes_max })?;
                for s in &mut spans {
                    *s = (s.0.saturating_add(shift), s.1.saturating_add(shift));
                }
                return Ok(Some((Frame(Parts::Spans(spans)), pos.saturating_add(n))));
            }
            Step::Command(words, n) => return Ok(Some((Frame(words), pos.saturating_add(n)))),
        }
    }
}

enum Step {
    Incomplete,
    /// An empty command of this many bytes (always > 0).
    Empty(usize),
    Command(Parts, usize),
}

/// Redis's `string2ll`: an optional `-`, then digits without leading zeros ("0" alone is
/// fine, "-0" is not), no spaces, no `+`, within i64.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !neg => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b.wrapping_sub(b'0'));
        // Accumulate negatively so i64::MIN is representable.
        v = v.checked_mul(10)?.checked_sub(d)?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// The CRLF-terminated header line at `buf[start..]` (without the CRLF) and the offset
/// after it; `Ok(None)` if it has not fully arrived.
fn header_line(
    buf: &[u8],
    start: usize,
    too_big: RespError,
    invalid: RespError,
) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = buf.get(start..).unwrap_or_default();
    let window = rest.get(..HEADER_LINE_MAX.saturating_add(1)).unwrap_or(rest);
    match window.iter().position(|&b| b == b'\r') {
        Some(i) => match rest.get(i.saturating_add(1)) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((rest.get(..i).unwrap_or_default(), start.saturating_add(i).saturating_add(2)))),
            Some(_) => Err(invalid),
        },
        None if rest.len() > HEADER_LINE_MAX => Err(too_big),
        None => Ok(None),
    }
}

fn multibulk(buf: &[u8], limits: &RespLimits) -> Result<Step, RespError> {
    let Some((line, mut pos)) =
        header_line(buf, 0, RespError::TooBigMbulkCountString, RespError::InvalidMultibulkLength)?
    else {
        return Ok(Step::Incomplete);
    };
    let n = line.get(1..).and_then(parse_i64).ok_or(RespError::InvalidMultibulkLength)?;
    if n <= 0 {
        return Ok(Step::Empty(pos));
    }
    let n = usize::try_from(n).map_err(|_| RespError::InvalidMultibulkLength)?;
    if n > limits.args_max {
        return Err(RespError::InvalidMultibulkLength);
    }
    if pos > limits.command_bytes_max {
        return Err(RespError::TooBigRequest { limit: limits.command_bytes_max });
    }
    // Find every argument without copying. `spans` only grows for arguments that
    // have fully arrived, so its size is bounded by `buf.len()`, not by `n`.
    let mut spans = SmallVec::new();
    for _ in 0..n {
        match buf.get(pos) {
            None => return Ok(Step::Incomplete),
            Some(b'$') => {}
            Some(&other) => return Err(RespError::ExpectedDollar(other)),
        }
        let Some((line, data_start)) =
            header_line(buf, pos, RespError::TooBigBulkCountString, RespError::InvalidBulkLength)?
        else {
            return Ok(Step::Incomplete);
        };
        let len = line.get(1..).and_then(parse_i64).ok_or(RespError::InvalidBulkLength)?;
        let len = usize::try_from(len).map_err(|_| RespError::InvalidBulkLength)?;
        if len > limits.bulk_bytes_max {
            return Err(RespError::InvalidBulkLength);
        }
        let data_end = data_start.saturating_add(len);
        let end = data_end.saturating_add(2);
        if end > limits.command_bytes_max {
            return Err(RespError::TooBigRequest { limit: limits.command_bytes_max });
        }
        match buf.get(data_end..end) {
            None => return Ok(Step::Incomplete),
            Some(b"\r\n") => {}
            Some(_) => return Err(RespError::MissingBulkTerminator),
        }
        let too_big = || RespError::TooBigRequest { limit: limits.command_bytes_max };
        spans
            .push((u32::try_from(data_start).map_err(|_| too_big())?, u32::try_from(data_end).map_err(|_| too_big())?));
        pos = end;
    }
    Ok(Step::Command(Parts::Spans(spans), pos))
}

fn inline(buf: &[u8], limits: &RespLimits) -> Result<Step, RespError> {
    let window = buf.get(..limits.inline_bytes_max.saturating_add(1)).unwrap_or(buf);
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() > limits.inline_bytes_max {
            Err(RespError::TooBigInlineRequest)
        } else {
            Ok(Step::Incomplete)
        };
    };
    let mut line = buf.get(..nl).unwrap_or_default();
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let consumed = nl.saturating_add(1);
    let args = split_args(line).ok_or(RespError::UnbalancedQuotes)?;
    if args.is_empty() {
        Ok(Step::Empty(consumed))
    } else {
        Ok(Step::Command(Parts::Words(args), consumed))
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Redis's `sdssplitargs`: words separated by whitespace; `"..."` with `\n \r \t \b \a
/// \xHH \<any>` escapes and `'...'` with `\'`, either of which may start mid-word; a
/// closing quote must be followed by whitespace or the end. `None` = unbalanced quotes.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut it = line.iter().copied().peekable();
    loop {
        while it.next_if(|&b| is_space(b)).is_some() {}
        if it.peek().is_none() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            if in_dq {
                match it.next()? {
                    b'\\' => match it.next()? {
                        b'x' => {
                            let mut ahead = it.clone();
                            match (ahead.next().and_then(hex_val), ahead.next().and_then(hex_val)) {
                                (Some(hi), Some(lo)) => {
                                    cur.push(hi.wrapping_mul(16).wrapping_add(lo));
                                    it = ahead;
                                }
                                _ => cur.push(b'x'),
                            }
                        }
                        b'n' => cur.push(b'\n'),
                        b'r' => cur.push(b'\r'),
                        b't' => cur.push(b'\t'),
                        b'b' => cur.push(0x08),
                        b'a' => cur.push(0x07),
                        other => cur.push(other),
                    },
                    b'"' => {
                        if it.peek().is_some_and(|&b| !is_space(b)) {
                            return None;
                        }
                        break;
                    }
                    other => cur.push(other),
                }
            } else if in_sq {
                match it.next()? {
                    b'\\' if it.peek() == Some(&b'\'') => {
                        it.next();
                        cur.push(b'\'');
                    }
                    b'\'' => {
                        if it.peek().is_some_and(|&b| !is_space(b)) {
                            return None;
                        }
                        break;
                    }
                    other => cur.push(other),
                }
            } else {
                match it.peek() {
                    None => break,
                    Some(&b) if is_space(b) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&b) => cur.push(b),
                }
                it.next();
            }
        }
        args.push(cur);
    }
}
