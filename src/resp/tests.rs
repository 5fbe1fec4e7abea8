//! RESP tests across files: parser round trips, prefixes, pipelining, inline commands,
//! limits, never-panic properties, encoder golden bytes and the command layer.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;

const L: RespLimits = RespLimits::DEFAULT;

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

/// A command's arguments, copied out, and the bytes it took.
type Parsed = (Vec<Vec<u8>>, usize);

/// The first command's arguments and the bytes it took.
fn parse(buf: &[u8]) -> Result<Option<Parsed>, RespError> {
    parse_command(buf, &L).map(|r| r.map(|(frame, n)| (frame.args(buf).iter().map(|a| a.to_vec()).collect(), n)))
}

/// `Command::parse` on owned arguments.
fn parse_cmd(args: &[Vec<u8>]) -> Result<Command, CommandError> {
    let slices: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    Command::parse(&slices, &L)
}

fn args(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------- parser

#[test]
fn parses_multibulk() {
    let buf = multibulk(&[b"SET", b"key", b"va\r\nlue"]);
    let (a, n) = parse(&buf).unwrap().unwrap();
    assert_eq!(a, vec![b"SET".to_vec(), b"key".to_vec(), b"va\r\nlue".to_vec()]);
    assert_eq!(n, buf.len());
    // Empty bulk strings are arguments too.
    let buf = multibulk(&[b"SET", b"k", b""]);
    assert_eq!(parse(&buf).unwrap().unwrap().0[2], b"");
}

#[test]
fn every_strict_prefix_needs_more() {
    for buf in [
        multibulk(&[b"SET", b"key", b"value"]),
        multibulk(&[b"PING"]),
        multibulk(&[b"", b"x"]),
        b"PING\r\n".to_vec(),
        b"SET \"a b\" 'c d'\n".to_vec(),
    ] {
        for i in 0..buf.len() {
            assert_eq!(parse(&buf[..i]), Ok(None), "prefix {:?}", String::from_utf8_lossy(&buf[..i]));
        }
        assert_eq!(parse(&buf).unwrap().unwrap().1, buf.len());
    }
}

#[test]
fn arguments_after_empty_commands_are_found_in_place() {
    // Empty commands before a multibulk one shift where its arguments lie.
    let mut buf = b"\r\n*0\r\n*-1\r\n".to_vec();
    let skipped = buf.len();
    buf.extend_from_slice(&multibulk(&[b"GET", b"a"]));
    let (frame, n) = parse_command(&buf, &L).unwrap().unwrap();
    assert_eq!(n, buf.len());
    assert_eq!(frame.args(&buf).as_slice(), &[&b"GET"[..], b"a"]);
    // Read against a shorter buffer, arguments out of its range come back empty.
    assert_eq!(frame.args(&buf[..skipped]).as_slice(), &[&b""[..], b""]);
}

#[test]
fn the_head_of_a_frame_is_its_first_arguments() {
    for buf in [multibulk(&[b"SET", b"k", b"v"]), b"SET k v\r\n".to_vec()] {
        let (frame, _) = parse_command(&buf, &L).unwrap().unwrap();
        assert_eq!(frame.head(&buf, 2).as_slice(), &[&b"SET"[..], b"k"]);
        assert_eq!(frame.head(&buf, 0).as_slice(), &[] as &[&[u8]]);
        assert_eq!(frame.head(&buf, 9), frame.args(&buf));
    }
}

#[test]
fn pipelined_commands_parse_one_by_one() {
    let mut buf = multibulk(&[b"SET", b"a", b"1"]);
    buf.extend_from_slice(b"PING\r\n");
    buf.extend_from_slice(&multibulk(&[b"GET", b"a"]));
    buf.extend_from_slice(b"\r\n\r\nECHO hi\n");
    let mut got = Vec::new();
    let mut pos = 0;
    while let Some((a, n)) = parse(&buf[pos..]).unwrap() {
        pos += n;
        if !a.is_empty() {
            got.push(a);
        }
    }
    assert_eq!(pos, buf.len());
    assert_eq!(got, vec![args(&["SET", "a", "1"]), args(&["PING"]), args(&["GET", "a"]), args(&["ECHO", "hi"])]);
}

#[test]
fn long_commands_keep_every_argument_in_order() {
    for n in [1, 7, 8, 9, 20] {
        let owned: Vec<Vec<u8>> = (0..n).map(|i| format!("arg-{i}-{}", "x".repeat(i)).into_bytes()).collect();
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut buf = multibulk(&refs);
        let len = buf.len();
        buf.extend_from_slice(b"PING\r\n");
        assert_eq!(parse(&buf).unwrap(), Some((owned, len)), "{n} arguments");
    }
}

#[test]
fn empty_commands_are_consumed_without_args() {
    assert_eq!(parse(b"\r\n"), Ok(Some((vec![], 2))));
    assert_eq!(parse(b"\n"), Ok(Some((vec![], 1))));
    assert_eq!(parse(b"   \t \r\n"), Ok(Some((vec![], 7))));
    assert_eq!(parse(b"*0\r\n"), Ok(Some((vec![], 4))));
    assert_eq!(parse(b"*-1\r\n"), Ok(Some((vec![], 5))));
    // Empty lines before a command are consumed with it.
    assert_eq!(parse(b"\r\n*0\r\nPING\r\n"), Ok(Some((args(&["PING"]), 12))));
    // ...and handed back alone when the command after them is incomplete.
    assert_eq!(parse(b"\r\n\r\nPIN"), Ok(Some((vec![], 4))));
    assert_eq!(parse(b""), Ok(None));
}

#[test]
fn inline_commands() {
    let p = |s: &str| parse(s.as_bytes()).unwrap().unwrap().0;
    assert_eq!(p("PING\r\n"), args(&["PING"]));
    assert_eq!(p("PING\n"), args(&["PING"]));
    assert_eq!(p("  SET   k\tv  \r\n"), args(&["SET", "k", "v"]));
    assert_eq!(p("SET \"a b\" c\r\n"), args(&["SET", "a b", "c"]));
    assert_eq!(p("SET 'a \"b' c\r\n"), args(&["SET", "a \"b", "c"]));
    assert_eq!(p("SET \"\\x41\\n\\t\\\"\" ''\r\n"), args(&["SET", "A\n\t\"", ""]));
    assert_eq!(p("SET 'it\\'s' x\r\n"), args(&["SET", "it's", "x"]));
    assert_eq!(p("SET a\"b c\" d\r\n"), args(&["SET", "ab c", "d"]), "a quote may start mid-word");
    assert_eq!(p("ECHO \"\\xzz\"\r\n"), args(&["ECHO", "xzz"]));
    for bad in ["SET \"a\r\n", "SET 'a\r\n", "SET \"a\"b\r\n", "SET 'a'b\r\n", "ECHO \"\\\r\n"] {
        assert_eq!(parse(bad.as_bytes()), Err(RespError::UnbalancedQuotes), "{bad:?}");
    }
}

#[test]
fn inline_limit() {
    let mut line = vec![b'a'; L.inline_bytes_max];
    assert_eq!(parse(&line), Ok(None));
    line.push(b'\n');
    assert_eq!(parse(&line).unwrap().unwrap().1, L.inline_bytes_max + 1);
    let long = vec![b'a'; L.inline_bytes_max + 1];
    assert_eq!(parse(&long), Err(RespError::TooBigInlineRequest));
    let mut long_line = long.clone();
    long_line.push(b'\n');
    assert_eq!(parse(&long_line), Err(RespError::TooBigInlineRequest));
}

#[test]
fn over_limit_lengths_are_rejected_before_allocation() {
    assert_eq!(parse(b"*99999999999\r\n"), Err(RespError::InvalidMultibulkLength));
    assert_eq!(parse(b"*1048577\r\n"), Err(RespError::InvalidMultibulkLength));
    assert_eq!(parse(b"*1048576\r\n"), Ok(None), "at the limit: wait for the arguments");
    assert_eq!(parse(b"*99999999999999999999999\r\n"), Err(RespError::InvalidMultibulkLength));
    assert_eq!(parse(b"*1\r\n$5000000000\r\n"), Err(RespError::InvalidBulkLength));
    let max = L.bulk_bytes_max;
    assert_eq!(parse(format!("*1\r\n${}\r\n", max + 1).as_bytes()), Err(RespError::InvalidBulkLength));
    assert_eq!(parse(format!("*1\r\n${max}\r\n").as_bytes()), Ok(None));
    // Two bulks at the limit fit; the command limit stops the third.
    let buf = format!("*3\r\n${max}\r\n{}\r\n${max}\r\n{}\r\n${max}\r\n", "x".repeat(max), "y".repeat(max));
    assert_eq!(parse(buf.as_bytes()), Err(RespError::TooBigRequest { limit: L.command_bytes_max }));
    // Header lines are bounded too.
    assert_eq!(parse(format!("*{}", "1".repeat(40)).as_bytes()), Err(RespError::TooBigMbulkCountString));
    assert_eq!(parse(format!("*1\r\n${}", "1".repeat(40)).as_bytes()), Err(RespError::TooBigBulkCountString));
}

#[test]
fn invalid_lengths() {
    for bad in [&b"*abc\r\n"[..], b"*1x\r\n", b"*+1\r\n", b"*01\r\n", b"*-0\r\n", b"*\r\n", b"* 1\r\n", b"*1\rx"] {
        assert_eq!(parse(bad), Err(RespError::InvalidMultibulkLength), "{:?}", String::from_utf8_lossy(bad));
    }
    for bad in
        [&b"*1\r\n$-1\r\n"[..], b"*1\r\n$-5\r\n", b"*1\r\n$x\r\n", b"*1\r\n$\r\n", b"*1\r\n$03\r\n", b"*1\r\n$3\rx"]
    {
        assert_eq!(parse(bad), Err(RespError::InvalidBulkLength), "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(parse(b"*1\r\nx"), Err(RespError::ExpectedDollar(b'x')));
    assert_eq!(parse(b"*2\r\n$1\r\na\r\n:1\r\n"), Err(RespError::ExpectedDollar(b':')));
    assert_eq!(parse(b"*1\r\n$1\r\nab\r\n"), Err(RespError::MissingBulkTerminator));
}

#[test]
fn protocol_error_replies() {
    let e = parse(b"*1\r\nx").unwrap_err();
    assert!(e.is_fatal());
    let mut out = Vec::new();
    encode(&e.reply(), ProtoVersion::Resp2, &mut out);
    assert_eq!(out, b"-ERR Protocol error: expected '$', got 'x'\r\n");
    assert_eq!(RespError::InvalidMultibulkLength.to_string(), "Protocol error: invalid multibulk length");
    assert_eq!(RespError::InvalidBulkLength.to_string(), "Protocol error: invalid bulk length");
    assert_eq!(RespError::TooBigInlineRequest.to_string(), "Protocol error: too big inline request");
    assert_eq!(RespError::UnbalancedQuotes.to_string(), "Protocol error: unbalanced quotes in request");
}

#[test]
fn integers_are_redis_strict() {
    use super::parse::parse_i64;
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-1"), Some(-1));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [&b""[..], b"-", b"-0", b"00", b"01", b"+1", b" 1", b"1 ", b"9223372036854775808", b"1.5", b"1e3"] {
        assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

proptest! {
    #[test]
    fn multibulk_round_trip(a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)) {
        let refs: Vec<&[u8]> = a.iter().map(|v| v.as_slice()).collect();
        let buf = multibulk(&refs);
        prop_assert_eq!(parse(&buf).unwrap(), Some((a.clone(), buf.len())));
        for i in 0..buf.len() {
            prop_assert_eq!(parse(&buf[..i]).unwrap(), None);
        }
    }

    #[test]
    fn pipelined_round_trip(cmds in proptest::collection::vec(
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..4), 1..6),
        empties in proptest::collection::vec(0usize..4, 6)) {
        // Empty commands before some: they shift where the next one's arguments lie.
        let mut buf = Vec::new();
        for (c, &e) in cmds.iter().zip(&empties) {
            buf.extend_from_slice(&b"\r\n*0\r\n*-1\r\n"[..[0, 2, 6, 11][e]]);
            let refs: Vec<&[u8]> = c.iter().map(|v| v.as_slice()).collect();
            buf.extend_from_slice(&multibulk(&refs));
        }
        let mut pos = 0;
        let mut got = Vec::new();
        while let Some((a, n)) = parse(&buf[pos..]).unwrap() {
            if !a.is_empty() {
                got.push(a);
            }
            pos += n;
        }
        prop_assert_eq!(pos, buf.len());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn inline_round_trip(words in proptest::collection::vec("[a-zA-Z0-9:_-]{1,10}", 1..6)) {
        let line = format!("{}\r\n", words.join(" "));
        let expect: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(parse(line.as_bytes()).unwrap(), Some((expect, line.len())));
    }

    #[test]
    fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(Some((_, n))) = parse(&buf) {
            prop_assert!(n > 0 && n <= buf.len());
        }
    }

    #[test]
    fn resp_like_garbage_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b"\r\n".to_vec()), Just(b"-1".to_vec()),
        Just(b"3".to_vec()), Just(b"99999999999".to_vec()), Just(b"abc".to_vec()), Just(b"\"".to_vec()),
        Just(b"'".to_vec()), Just(b" ".to_vec()), Just(b"\\x4".to_vec())], 0..30)) {
        let buf = parts.concat();
        if let Ok(Some((_, n))) = parse(&buf) {
            prop_assert!(n > 0 && n <= buf.len());
        }
    }

    #[test]
    fn commands_never_panic(a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..6),
                            name in prop_oneof![Just("set"), Just("get"), Just("scan"), Just("hello"), Just("client"),
                                Just("config"), Just("command"), Just("mset"), Just("getex"), Just("expire"), Just("incrby")]) {
        let mut a = a;
        a[0] = name.as_bytes().to_vec();
        let _ = parse_cmd(&a);
    }
}

// ---------------------------------------------------------------- encoder

fn enc(r: &Reply, p: ProtoVersion) -> String {
    let mut out = Vec::new();
    encode(r, p, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn encoder_golden_bytes() {
    use ProtoVersion::{Resp2, Resp3};
    let both = |r: &Reply, two: &str, three: &str| {
        assert_eq!(enc(r, Resp2), two, "{r:?} resp2");
        assert_eq!(enc(r, Resp3), three, "{r:?} resp3");
    };
    both(&Reply::ok(), "+OK\r\n", "+OK\r\n");
    both(&Reply::error("ERR bad\r\nthing"), "-ERR bad  thing\r\n", "-ERR bad  thing\r\n");
    both(&Reply::Integer(-42), ":-42\r\n", ":-42\r\n");
    both(&Reply::bulk("hi"), "$2\r\nhi\r\n", "$2\r\nhi\r\n");
    both(&Reply::bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
    both(&Reply::Nil, "$-1\r\n", "_\r\n");
    both(&Reply::NilArray, "*-1\r\n", "_\r\n");
    both(&Reply::Array(vec![]), "*0\r\n", "*0\r\n");
    both(&Reply::Array(vec![Reply::bulk("a"), Reply::Nil]), "*2\r\n$1\r\na\r\n$-1\r\n", "*2\r\n$1\r\na\r\n_\r\n");
    both(
        &Reply::Map(vec![(Reply::bulk("k"), Reply::Integer(1))]),
        "*2\r\n$1\r\nk\r\n:1\r\n",
        "%1\r\n$1\r\nk\r\n:1\r\n",
    );
    both(&Reply::Map(vec![]), "*0\r\n", "%0\r\n");
    both(&Reply::Set(vec![Reply::bulk("x")]), "*1\r\n$1\r\nx\r\n", "~1\r\n$1\r\nx\r\n");
    both(&Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
    both(&Reply::Double(3.0), "$1\r\n3\r\n", ",3\r\n");
    both(&Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
    both(&Reply::Double(f64::NEG_INFINITY), "$4\r\n-inf\r\n", ",-inf\r\n");
    both(&Reply::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
    both(&Reply::Double(1e300), "$5\r\n1e300\r\n", ",1e300\r\n");
    both(&Reply::Bool(true), ":1\r\n", "#t\r\n");
    both(&Reply::Bool(false), ":0\r\n", "#f\r\n");
    both(&Reply::text("a:b"), "$3\r\na:b\r\n", "=7\r\ntxt:a:b\r\n");
    both(
        &Reply::Array(vec![Reply::Map(vec![(Reply::simple("a"), Reply::Bool(true))])]),
        "*1\r\n*2\r\n+a\r\n:1\r\n",
        "*1\r\n%1\r\n+a\r\n#t\r\n",
    );
}

#[test]
fn doubles_round_trip_through_text() {
    for d in [0.1, -2.5e-7, 1.0 / 3.0, 123456789.125, 1e17, 5e-324, f64::MAX] {
        assert_eq!(encode::format_double(d).parse::<f64>().unwrap(), d);
    }
}

// ---------------------------------------------------------------- commands

fn cmd(v: &[&str]) -> Result<Command, String> {
    parse_cmd(&args(v)).map_err(|e| e.message)
}

fn key(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn names_are_case_insensitive_and_unknown_commands_redis_style() {
    assert_eq!(cmd(&["gEt", "k"]), Ok(Command::Get { key: key("k") }));
    assert_eq!(
        cmd(&["sEt", "k", "v"]),
        Ok(Command::Set { key: key("k"), value: key("v"), condition: SetCondition::Always, get: false })
    );
    // GET and SET skip the command table: their arity and key checks still hold.
    assert_eq!(cmd(&["get", ""]), Err("ERR ringkv: empty keys are not supported".into()));
    assert_eq!(cmd(&["SET", ""]), Err("ERR wrong number of arguments for 'set' command".into()));
    assert_eq!(cmd(&["get", "a", "b"]), Err("ERR wrong number of arguments for 'get' command".into()));
    assert_eq!(cmd(&["set", "", "v"]), Err("ERR ringkv: empty keys are not supported".into()));
    assert_eq!(cmd(&["FOO", "a", "b"]), Err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ".into()));
    assert_eq!(cmd(&["foo"]), Err("ERR unknown command 'foo', with args beginning with: ".into()));
    let long = "x".repeat(300);
    let e = cmd(&["nope", &long, "y"]).unwrap_err();
    assert!(e.len() < 300 && !e.contains('y'), "{e}");
    let e = cmd(&["no\r\npe"]).unwrap_err();
    assert!(!e.contains('\n'));
    assert!(Command::parse(&[], &L).is_err());
}

#[test]
fn arity_errors() {
    for (v, name) in [
        (&["get"][..], "get"),
        (&["GET", "a", "b"], "get"),
        (&["set", "k"], "set"),
        (&["ping", "a", "b"], "ping"),
        (&["echo"], "echo"),
        (&["mset", "a"], "mset"),
        (&["mset", "a", "1", "b"], "mset"),
        (&["msetnx", "a", "1", "b"], "msetnx"),
        (&["del"], "del"),
        (&["incrby", "k"], "incrby"),
        (&["dbsize", "x"], "dbsize"),
        (&["client"], "client"),
        (&["client", "setname"], "client|setname"),
        (&["client", "id", "x"], "client|id"),
        (&["config", "get"], "config|get"),
        (&["config", "set", "a"], "config|set"),
        (&["config", "set", "a", "1", "b"], "config|set"),
        (&["command", "count", "x"], "command|count"),
        (&["scan"], "scan"),
        (&["select"], "select"),
        (&["setex", "k", "1"], "setex"),
        (&["expire", "k"], "expire"),
    ] {
        assert_eq!(cmd(v), Err(format!("ERR wrong number of arguments for '{name}' command")), "{v:?}");
    }
}

#[test]
fn connection_commands() {
    assert_eq!(cmd(&["PING"]), Ok(Command::Ping(None)));
    assert_eq!(cmd(&["ping", "hi"]), Ok(Command::Ping(Some(key("hi")))));
    assert_eq!(cmd(&["echo", "x"]), Ok(Command::Echo(key("x"))));
    assert_eq!(cmd(&["quit"]), Ok(Command::Quit));
    assert_eq!(cmd(&["reset"]), Ok(Command::Reset));
    assert_eq!(cmd(&["select", "0"]), Ok(Command::Select));
    assert_eq!(cmd(&["select", "1"]), Err("ERR DB index is out of range".into()));
    assert_eq!(cmd(&["select", "x"]), Err("ERR value is not an integer or out of range".into()));
    assert_eq!(cmd(&["auth", "pw"]), Ok(Command::Auth { username: None, password: key("pw") }));
    assert_eq!(cmd(&["auth", "u", "pw"]), Ok(Command::Auth { username: Some(key("u")), password: key("pw") }));
    assert_eq!(cmd(&["auth", "u", "pw", "x"]), Err("ERR syntax error".into()));
    assert_eq!(cmd(&["info"]), Ok(Command::Info(vec![])));
    assert_eq!(cmd(&["info", "Server", "KEYSPACE"]), Ok(Command::Info(vec!["server".into(), "keyspace".into()])));
    assert_eq!(cmd(&["dbsize"]), Ok(Command::DbSize));
    assert_eq!(cmd(&["flushdb"]), Ok(Command::FlushAll));
    assert_eq!(cmd(&["flushall", "ASYNC"]), Ok(Command::FlushAll));
    assert_eq!(cmd(&["flushdb", "sync"]), Ok(Command::FlushAll));
    assert_eq!(cmd(&["flushdb", "now"]), Err("ERR syntax error".into()));
    assert_eq!(cmd(&["flushdb", "sync", "async"]), Err("ERR syntax error".into()));
}

#[test]
fn hello() {
    assert_eq!(cmd(&["hello"]), Ok(Command::Hello { protover: None, auth: None, setname: None }));
    assert_eq!(
        cmd(&["hello", "3"]),
        Ok(Command::Hello { protover: Some(ProtoVersion::Resp3), auth: None, setname: None })
    );
    assert_eq!(
        cmd(&["HELLO", "2", "auth", "u", "p", "SETNAME", "me"]),
        Ok(Command::Hello {
            protover: Some(ProtoVersion::Resp2),
            auth: Some((key("u"), key("p"))),
            setname: Some(key("me"))
        })
    );
    assert_eq!(cmd(&["hello", "4"]), Err("NOPROTO unsupported protocol version".into()));
    assert_eq!(cmd(&["hello", "x"]), Err("ERR Protocol version is not an integer or out of range".into()));
    assert_eq!(cmd(&["hello", "3", "auth", "u"]), Err("ERR Syntax error in HELLO option 'auth'".into()));
    assert_eq!(cmd(&["hello", "3", "setname"]), Err("ERR Syntax error in HELLO option 'setname'".into()));
    assert_eq!(cmd(&["hello", "3", "bogus"]), Err("ERR Syntax error in HELLO option 'bogus'".into()));
    assert!(cmd(&["hello", "3", "setname", "a b"]).unwrap_err().contains("cannot contain spaces"));

    let r = hello_reply(ProtoVersion::Resp3, 7, "0.1.0");
    let three = enc(&r, ProtoVersion::Resp3);
    assert!(three.starts_with("%8\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"), "{three}");
    assert!(three.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n"));
    let two = enc(&hello_reply(ProtoVersion::Resp2, 7, "0.1.0"), ProtoVersion::Resp2);
    assert!(two.starts_with("*16\r\n") && two.contains("$5\r\nproto\r\n:2\r\n"), "{two}");
}

#[test]
fn command_client_config() {
    assert_eq!(cmd(&["command"]), Ok(Command::Command(CommandSub::List)));
    assert_eq!(cmd(&["COMMAND", "DOCS"]), Ok(Command::Command(CommandSub::Docs(vec![]))));
    assert_eq!(cmd(&["command", "count"]), Ok(Command::Command(CommandSub::Count)));
    assert_eq!(cmd(&["command", "info", "get"]), Ok(Command::Command(CommandSub::Info(vec![key("get")]))));
    assert_eq!(cmd(&["command", "bogus"]), Err("ERR unknown subcommand 'bogus'. Try COMMAND HELP.".into()));

    assert_eq!(cmd(&["client", "setname", "app-1"]), Ok(Command::Client(ClientCommand::SetName(key("app-1")))));
    assert_eq!(cmd(&["client", "setname", ""]), Ok(Command::Client(ClientCommand::SetName(vec![]))));
    assert_eq!(
        cmd(&["client", "setname", "a b"]),
        Err("ERR Client names cannot contain spaces, newlines or special characters.".into())
    );
    assert_eq!(cmd(&["CLIENT", "GETNAME"]), Ok(Command::Client(ClientCommand::GetName)));
    assert_eq!(cmd(&["client", "id"]), Ok(Command::Client(ClientCommand::Id)));
    assert_eq!(
        cmd(&["client", "SETINFO", "LIB-NAME", "redis-py"]),
        Ok(Command::Client(ClientCommand::SetInfo { attr: "lib-name".into(), value: key("redis-py") }))
    );
    assert_eq!(
        cmd(&["client", "setinfo", "lib-ver", "5.0.1"]),
        Ok(Command::Client(ClientCommand::SetInfo { attr: "lib-ver".into(), value: key("5.0.1") }))
    );
    assert_eq!(cmd(&["client", "setinfo", "x", "y"]), Err("ERR Unrecognized option 'x'".into()));
    assert_eq!(
        cmd(&["client", "setinfo", "lib-name", "a b"]),
        Err("ERR lib-name cannot contain spaces, newlines or special characters.".into())
    );
    assert_eq!(cmd(&["client", "kill"]), Err("ERR unknown subcommand 'kill'. Try CLIENT HELP.".into()));

    assert_eq!(cmd(&["config", "get", "save"]), Ok(Command::Config(ConfigCommand::Get(vec![key("save")]))));
    assert_eq!(
        cmd(&["config", "set", "save", ""]),
        Ok(Command::Config(ConfigCommand::Set(vec![(key("save"), vec![])])))
    );
    assert_eq!(cmd(&["config", "resetstat"]), Ok(Command::Config(ConfigCommand::ResetStat)));
    assert_eq!(cmd(&["config", "rewrite"]), Err("ERR unknown subcommand 'rewrite'. Try CONFIG HELP.".into()));
}

#[test]
fn stateless_replies() {
    let r = |v: &[&str], p| enc(&cmd(v).unwrap().stateless_reply(&L).unwrap(), p);
    use ProtoVersion::{Resp2, Resp3};
    assert_eq!(r(&["ping"], Resp2), "+PONG\r\n");
    assert_eq!(r(&["ping", "x"], Resp2), "$1\r\nx\r\n");
    assert_eq!(r(&["echo", "x"], Resp3), "$1\r\nx\r\n");
    assert_eq!(r(&["select", "0"], Resp2), "+OK\r\n");
    assert_eq!(r(&["command", "docs"], Resp2), "*0\r\n");
    assert_eq!(r(&["command", "docs"], Resp3), "%0\r\n");
    assert_eq!(r(&["command", "info", "get", "set"], Resp2), "*2\r\n$-1\r\n$-1\r\n");
    assert_eq!(r(&["command", "count"], Resp2), format!(":{}\r\n", SUPPORTED_COMMANDS.len()));
    assert_eq!(r(&["client", "setinfo", "lib-name", "x"], Resp2), "+OK\r\n");
    assert_eq!(r(&["config", "get", "save"], Resp2), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    assert_eq!(r(&["config", "get", "appendonly"], Resp3), "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    assert_eq!(r(&["config", "get", "nothing"], Resp2), "*0\r\n");
    assert_eq!(
        r(&["config", "get", "SAVE", "save", "a*"], Resp2),
        "*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n$0\r\n\r\n"
    );
    assert_eq!(r(&["config", "set", "save", ""], Resp2), "+OK\r\n");
    assert!(r(&["config", "set", "save", "900 1"], Resp2).starts_with("-ERR ringkv: CONFIG SET is not supported"));
    assert!(r(&["config", "set", "bogus", "1"], Resp2).starts_with("-ERR Unknown option"));
    assert_eq!(r(&["persist", "k"], Resp2), ":0\r\n");
    assert_eq!(cmd(&["get", "k"]).unwrap().stateless_reply(&L), None);
    assert_eq!(cmd(&["hello", "3"]).unwrap().stateless_reply(&L), None);
}

#[test]
fn set_options() {
    let set = |condition, get| Ok(Command::Set { key: key("k"), value: key("v"), condition, get });
    assert_eq!(cmd(&["set", "k", "v"]), set(SetCondition::Always, false));
    assert_eq!(cmd(&["SET", "k", "v", "nx"]), set(SetCondition::IfMissing, false));
    assert_eq!(cmd(&["set", "k", "v", "XX", "GET"]), set(SetCondition::IfExists, true));
    assert_eq!(cmd(&["set", "k", "v", "get", "nx"]), set(SetCondition::IfMissing, true));
    assert_eq!(cmd(&["set", "k", "v", "nx", "nx"]), set(SetCondition::IfMissing, false));
    assert_eq!(cmd(&["set", "k", "v", "keepttl"]), set(SetCondition::Always, false));
    let syntax = Err("ERR syntax error".to_owned());
    assert_eq!(cmd(&["set", "k", "v", "nx", "xx"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "bogus"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "ex"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "ex", "1", "px", "1"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "keepttl", "ex", "1"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "ex", "1", "keepttl"]), syntax);
    assert_eq!(cmd(&["set", "k", "v", "ex", "x"]), Err("ERR value is not an integer or out of range".into()));
    assert_eq!(cmd(&["set", "k", "v", "px", "0"]), Err("ERR invalid expire time in 'set' command".into()));
    assert_eq!(cmd(&["set", "k", "v", "ex", "-5"]), Err("ERR invalid expire time in 'set' command".into()));
    for opt in ["ex", "px", "exat", "pxat", "EX"] {
        assert_eq!(cmd(&["set", "k", "v", opt, "10"]), Err(ERR_EXPIRY_UNSUPPORTED.into()), "{opt}");
    }
    assert_eq!(cmd(&["set", "k", "v", "ex", "10", "ex", "20"]), Err(ERR_EXPIRY_UNSUPPORTED.into()));
}

#[test]
fn string_commands() {
    let k = key("k");
    assert_eq!(cmd(&["setnx", "k", "v"]), Ok(Command::SetNx { key: k.clone(), value: key("v") }));
    assert_eq!(cmd(&["getset", "k", "v"]), Ok(Command::GetSet { key: k.clone(), value: key("v") }));
    assert_eq!(cmd(&["getdel", "k"]), Ok(Command::GetDel { key: k.clone() }));
    assert_eq!(cmd(&["getex", "k"]), Ok(Command::Get { key: k.clone() }));
    assert_eq!(cmd(&["getex", "k", "persist"]), Ok(Command::Get { key: k.clone() }));
    assert_eq!(cmd(&["getex", "k", "ex", "5"]), Err(ERR_EXPIRY_UNSUPPORTED.into()));
    assert_eq!(cmd(&["getex", "k", "ex", "0"]), Err("ERR invalid expire time in 'getex' command".into()));
    assert_eq!(cmd(&["getex", "k", "persist", "ex", "5"]), Err("ERR syntax error".into()));
    assert_eq!(cmd(&["setex", "k", "10", "v"]), Err(ERR_EXPIRY_UNSUPPORTED.into()));
    assert_eq!(cmd(&["setex", "k", "0", "v"]), Err("ERR invalid expire time in 'setex' command".into()));
    assert_eq!(cmd(&["psetex", "k", "x", "v"]), Err("ERR value is not an integer or out of range".into()));
    assert_eq!(cmd(&["del", "a", "b"]), Ok(Command::Del { keys: vec![key("a"), key("b")] }));
    assert_eq!(cmd(&["unlink", "a"]), Ok(Command::Del { keys: vec![key("a")] }));
    assert_eq!(cmd(&["exists", "a", "a"]), Ok(Command::Exists { keys: vec![key("a"), key("a")] }));
    assert_eq!(cmd(&["mget", "a", "b"]), Ok(Command::MGet { keys: vec![key("a"), key("b")] }));
    assert_eq!(
        cmd(&["mset", "a", "1", "b", "2"]),
        Ok(Command::MSet { pairs: vec![(key("a"), key("1")), (key("b"), key("2"))] })
    );
    assert_eq!(cmd(&["msetnx", "a", "1"]), Ok(Command::MSetNx { pairs: vec![(key("a"), key("1"))] }));
    assert_eq!(cmd(&["incr", "k"]), Ok(Command::IncrBy { key: k.clone(), delta: 1 }));
    assert_eq!(cmd(&["decr", "k"]), Ok(Command::IncrBy { key: k.clone(), delta: -1 }));
    assert_eq!(cmd(&["incrby", "k", "-5"]), Ok(Command::IncrBy { key: k.clone(), delta: -5 }));
    assert_eq!(cmd(&["decrby", "k", "5"]), Ok(Command::IncrBy { key: k.clone(), delta: -5 }));
    assert_eq!(cmd(&["incrby", "k", "1.5"]), Err("ERR value is not an integer or out of range".into()));
    assert_eq!(cmd(&["decrby", "k", "-9223372036854775808"]), Err("ERR decrement would overflow".into()));
    assert_eq!(cmd(&["append", "k", "v"]), Ok(Command::Append { key: k.clone(), value: key("v") }));
    assert_eq!(cmd(&["strlen", "k"]), Ok(Command::StrLen { key: k.clone() }));
    assert_eq!(cmd(&["type", "k"]), Ok(Command::Type { key: k.clone() }));
    assert_eq!(cmd(&["ttl", "k"]), Ok(Command::Ttl { key: k.clone(), millis: false }));
    assert_eq!(cmd(&["pttl", "k"]), Ok(Command::Ttl { key: k.clone(), millis: true }));
    assert_eq!(cmd(&["persist", "k"]), Ok(Command::Persist { key: k.clone() }));
    for c in ["expire", "pexpire", "expireat", "pexpireat"] {
        assert_eq!(cmd(&[c, "k", "10"]), Err(ERR_EXPIRY_UNSUPPORTED.into()));
        assert_eq!(cmd(&[c, "k", "10", "nx"]), Err(ERR_EXPIRY_UNSUPPORTED.into()));
        assert_eq!(cmd(&[c, "k", "x"]), Err("ERR value is not an integer or out of range".into()));
    }
    assert_eq!(cmd(&["expire", "k", "10", "zz"]), Err("ERR Unsupported option zz".into()));
}

#[test]
fn key_and_value_limits() {
    assert_eq!(cmd(&["get", ""]), Err("ERR ringkv: empty keys are not supported".into()));
    let long = "k".repeat(L.key_bytes_max + 1);
    assert_eq!(cmd(&["get", &long]), Err("ERR ringkv: key exceeds 1024 bytes".into()));
    assert!(cmd(&["get", &"k".repeat(L.key_bytes_max)]).is_ok());
    assert!(cmd(&["mget", "a", &long]).is_err());
    let big = vec![b'v'; L.value_bytes_max + 1];
    let e = parse_cmd(&[key("SET"), key("k"), big]).unwrap_err();
    assert_eq!(e.message, "ERR ringkv: value exceeds 4194304 bytes");
    assert!(parse_cmd(&[key("SET"), key("k"), vec![0; L.value_bytes_max]]).is_ok());
}

#[test]
fn scan_and_keys() {
    let Command::Scan(s) = cmd(&["scan", "0"]).unwrap() else { panic!() };
    assert_eq!((s.cursor, s.count, s.type_filter, s.pattern.is_none()), (0, 10, TypeFilter::Any, true));
    let Command::Scan(s) = cmd(&["SCAN", "17", "MATCH", "user:*", "count", "100", "type", "STRING"]).unwrap() else {
        panic!()
    };
    assert_eq!((s.cursor, s.count, s.type_filter), (17, 100, TypeFilter::Strings));
    assert!(s.pattern.as_ref().unwrap().matches(b"user:1") && !s.pattern.unwrap().matches(b"x"));
    let Command::Scan(s) = cmd(&["scan", "0", "type", "hash"]).unwrap() else { panic!() };
    assert_eq!(s.type_filter, TypeFilter::Nothing);
    assert_eq!(cmd(&["scan", "x"]), Err("ERR invalid cursor".into()));
    assert_eq!(cmd(&["scan", "-1"]), Err("ERR invalid cursor".into()));
    assert_eq!(cmd(&["scan", "18446744073709551616"]), Err("ERR invalid cursor".into()));
    assert_eq!(cmd(&["scan", "0", "count", "0"]), Err("ERR syntax error".into()));
    assert_eq!(cmd(&["scan", "0", "count", "x"]), Err("ERR value is not an integer or out of range".into()));
    assert_eq!(cmd(&["scan", "0", "count"]), Err("ERR syntax error".into()));
    assert_eq!(cmd(&["scan", "0", "bogus", "1"]), Err("ERR syntax error".into()));
    let Command::Keys { pattern } = cmd(&["keys", "a?c"]).unwrap() else { panic!() };
    assert!(pattern.matches(b"abc"));
    let long = "*".repeat(L.pattern_bytes_max + 1);
    assert_eq!(cmd(&["keys", &long]), Err("ERR ringkv: pattern exceeds 2048 bytes".into()));
}

#[test]
fn incr_arithmetic() {
    assert_eq!(incr_value(None, 5), Ok(5));
    assert_eq!(incr_value(Some(b"10"), -3), Ok(7));
    assert_eq!(incr_value(Some(b"-9223372036854775808"), 0), Ok(i64::MIN));
    assert_eq!(incr_value(Some(b"abc"), 1).unwrap_err().message, "ERR value is not an integer or out of range");
    assert_eq!(incr_value(Some(b" 1"), 1).unwrap_err().message, "ERR value is not an integer or out of range");
    assert_eq!(incr_value(Some(b""), 1).unwrap_err().message, "ERR value is not an integer or out of range");
    assert_eq!(
        incr_value(Some(b"9223372036854775807"), 1).unwrap_err().message,
        "ERR increment or decrement would overflow"
    );
}

#[test]
fn every_supported_command_parses_somewhere() {
    // Each name in the table reaches its own arm (no "unknown command" for a known name).
    for &(name, _) in SUPPORTED_COMMANDS {
        let many = [name, "k", "1", "v", "w", "x"];
        let mut found = false;
        for n in 1..=many.len() {
            match cmd(&many[..n]) {
                Err(e) if e.starts_with("ERR unknown command") => panic!("{name}: {e}"),
                _ => found = true,
            }
        }
        assert!(found);
    }
}

#[test]
fn hot_key_names_the_key_of_single_key_commands_only() {
    let args = |a: &[&'static str]| a.iter().map(|s| s.as_bytes()).collect::<Vec<_>>();
    for name in [
        "GET", "set", "del", "INCR", "decr", "IncrBy", "DECRBY", "append", "GETSET", "getdel", "SETNX", "strlen",
        "TYPE", "ttl", "PTTL", "exists",
    ] {
        assert_eq!(hot_key(&args(&[name, "k", "1"])), Some(&b"k"[..]), "{name}");
    }
    for cmd in
        [&["MGET", "k"][..], &["MSET", "k", "v"], &["PING"], &["GETX", "k"], &["INCRBYFLOAT", "k", "1"], &["GET"]]
    {
        assert_eq!(hot_key(&args(cmd)), None, "{cmd:?}");
    }
}

#[test]
fn a_plain_set_alone_is_a_blind_write() {
    let args = |a: &[&'static str]| a.iter().map(|s| s.as_bytes()).collect::<Vec<_>>();
    for cmd in [&["SET", "k", "v"][..], &["set", "k", ""], &["SeT", "k", "v"]] {
        assert!(is_plain_set(&args(cmd)), "{cmd:?}");
        // The command parses to the blind overwrite the hint assumes.
        let Ok(Command::Set { condition, get, .. }) = Command::parse(&args(cmd), &RespLimits::DEFAULT) else {
            panic!("{cmd:?} is a SET")
        };
        assert_eq!((condition, get), (SetCondition::Always, false), "{cmd:?}");
    }
    for cmd in [
        &["SET", "k", "v", "NX"][..],
        &["SET", "k", "v", "GET"],
        &["SET", "k", "v", "XX"],
        &["SET", "k"],
        &["SETNX", "k", "v"],
        &["GETSET", "k", "v"],
        &["GET", "k", "v"],
        &["MSET", "k", "v"],
    ] {
        assert!(!is_plain_set(&args(cmd)), "{cmd:?}");
    }
}

#[test]
fn plain_set_takes_exactly_the_sets_that_parse_to_a_blind_write() {
    let limits = RespLimits { key_bytes_max: 4, value_bytes_max: 6, ..RespLimits::DEFAULT };
    let cases: &[&[&[u8]]] = &[
        &[b"SET", b"k", b"v"],
        &[b"set", b"kkkk", b""],
        &[b"sEt", b"k", b"vvvvvv"],
        &[b"SET", b"", b"v"],
        &[b"SET", b"kkkkk", b"v"],
        &[b"SET", b"k", b"vvvvvvv"],
        &[b"SET", b"k", b"v", b"NX"],
        &[b"SET", b"k", b"v", b"GET"],
        &[b"SET", b"k"],
        &[b"SETNX", b"k", b"v"],
        &[b"GET", b"k", b"v"],
    ];
    for &cmd in cases {
        let parsed = match Command::parse(cmd, &limits) {
            Ok(Command::Set { key, value, condition: SetCondition::Always, get: false }) => Some((key, value)),
            _ => None,
        };
        let plain = plain_set(cmd, &limits).map(|(k, v)| (k.to_vec(), v.to_vec()));
        assert_eq!(plain, parsed, "{cmd:?}");
    }
}

#[test]
fn plain_get_takes_exactly_the_gets_that_parse() {
    let limits = RespLimits { key_bytes_max: 4, ..RespLimits::DEFAULT };
    let cases: &[&[&[u8]]] = &[
        &[b"GET", b"k"],
        &[b"get", b"kkkk"],
        &[b"GET", b""],
        &[b"GET", b"kkkkk"],
        &[b"GET"],
        &[b"GET", b"k", b"v"],
        &[b"GETDEL", b"k"],
    ];
    for &cmd in cases {
        let parsed = match Command::parse(cmd, &limits) {
            Ok(Command::Get { key }) => Some(key),
            _ => None,
        };
        assert_eq!(plain_get(cmd, &limits).map(<[u8]>::to_vec), parsed, "{cmd:?}");
    }
}
