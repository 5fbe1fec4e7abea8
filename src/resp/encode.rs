//! The reply encoder for RESP2 and RESP3, and the request encoder clients use.

use super::value::{ProtoVersion, Reply};

/// Appends `reply` to `out` in the given protocol version. Never fails; simple strings
/// and errors have any CR/LF replaced by spaces (as Redis does) so they stay one line.
pub fn encode(reply: &Reply, proto: ProtoVersion, out: &mut Vec<u8>) {
    let resp3 = proto == ProtoVersion::Resp3;
    match reply {
        Reply::Simple(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(s) => line(out, b'-', s.as_bytes()),
        Reply::Integer(n) => header(out, b':', *n),
        Reply::Bulk(b) => bulk(out, b'$', b),
        Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            header(out, b'*', len_i64(items.len()));
            items.iter().for_each(|r| encode(r, proto, out));
        }
        Reply::Set(items) => {
            header(out, if resp3 { b'~' } else { b'*' }, len_i64(items.len()));
            items.iter().for_each(|r| encode(r, proto, out));
        }
        Reply::Map(pairs) => {
            if resp3 {
                header(out, b'%', len_i64(pairs.len()));
            } else {
                header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) if resp3 => line(out, b',', format_double(*d).as_bytes()),
        Reply::Double(d) => bulk(out, b'$', format_double(*d).as_bytes()),
        Reply::Bool(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => header(out, b':', i64::from(*b)),
        Reply::Verbatim { format, text } if resp3 => {
            header(out, b'=', len_i64(text.len()).saturating_add(4));
            out.extend_from_slice(format);
            out.push(b':');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Verbatim { text, .. } => bulk(out, b'$', text),
    }
}

/// How doubles are written: `inf`, `-inf`, `nan`; integral values without a fraction
/// (`3`), otherwise the shortest text that reads back to the same `f64`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".to_owned()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else if d == 0.0 || (1e-5..1e17).contains(&d.abs()) {
        format!("{d}")
    } else {
        format!("{d:e}")
    }
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends a request, as a client sends it: an array of bulk strings
/// (`*N\r\n$len\r\narg\r\n...`), `args[0]` the command's name.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    header(out, b'*', len_i64(args.len()));
    args.iter().for_each(|a| bulk(out, b'$', a));
}

fn header(out: &mut Vec<u8>, tag: u8, n: i64) {
    out.push(tag);
    // Not `write!`: its formatting machinery took 47 ns of a RESP GET's
    // ~1,350 (itoa: 13; docs/benchmarks.md, thirty-first pass).
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `encode(&Reply::Bulk(data.to_vec()), _, out)`, from borrowed bytes (a
/// bulk string is the same in RESP2 and RESP3).
pub fn encode_bulk(data: &[u8], out: &mut Vec<u8>) {
    bulk(out, b'$', data);
}

fn bulk(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    header(out, tag, len_i64(data.len()));
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, tag: u8, s: &[u8]) {
    out.push(tag);
    out.extend(s.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}
