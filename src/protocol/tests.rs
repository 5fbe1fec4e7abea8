//! Codec tests across files: round trips, truncation, limits, fatal vs recoverable,
//! pipelining, the worked example of docs/PROTOCOL.md, and never-panic properties.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::ops::Bound;

use proptest::prelude::*;

use super::*;

fn key(p: &str, s: &str) -> Key {
    Key::new(p.as_bytes(), s.as_bytes())
}

fn sample_requests() -> Vec<Request> {
    vec![
        Request::Handshake(HandshakeRequest { version: Version::CURRENT, client_name: "ringkv-cli/0.1 ✓".into() }),
        Request::Handshake(HandshakeRequest { version: Version { major: 1, minor: 7 }, client_name: String::new() }),
        Request::Ping,
        Request::Get(GetRequest { consistency: Consistency::Default, key: key("user:1", "") }),
        Request::Get(GetRequest { consistency: Consistency::All, key: key("user:1", "name") }),
        Request::Put(PutRequest {
            consistency: Consistency::Quorum,
            key: key("p", "s"),
            value: vec![0xab; 300],
            context: vec![1, 2, 3],
        }),
        Request::Put(PutRequest {
            consistency: Consistency::One,
            key: Key::partition(vec![0u8; 1024]),
            value: Vec::new(),
            context: Vec::new(),
        }),
        Request::Delete(DeleteRequest { consistency: Consistency::One, key: key("p", "s"), context: vec![9; 4096] }),
        Request::Scan(ScanRequest {
            consistency: Consistency::Default,
            partition: b"orders".to_vec(),
            from: Bound::Included(b"2024".to_vec()),
            to: Bound::Excluded(b"2025".to_vec()),
            limit: 100,
            continuation: Vec::new(),
        }),
        Request::Scan(ScanRequest {
            consistency: Consistency::Quorum,
            partition: b"orders".to_vec(),
            from: Bound::Unbounded,
            to: Bound::Unbounded,
            limit: u32::MAX,
            continuation: b"opaque-token".to_vec(),
        }),
        Request::Scan(ScanRequest {
            consistency: Consistency::Default,
            partition: b"x".to_vec(),
            from: Bound::Excluded(Vec::new()),
            to: Bound::Included(vec![0xff; 1024]),
            limit: 0,
            continuation: Vec::new(),
        }),
        Request::MGet(MGetRequest { consistency: Consistency::Default, keys: Vec::new() }),
        Request::MGet(MGetRequest {
            consistency: Consistency::One,
            keys: vec![key("a", ""), key("b", "1"), key("c", "2")],
        }),
        Request::MPut(MPutRequest {
            consistency: Consistency::All,
            items: vec![
                PutItem { key: key("a", ""), value: b"1".to_vec(), context: Vec::new() },
                PutItem { key: key("b", "x"), value: vec![7; 200], context: vec![5; 10] },
            ],
        }),
    ]
}

fn sample_responses() -> Vec<Response> {
    let err = ErrorReply::new(ErrorCode::ReadOnly, "shard 3 is read-only after a failed fsync");
    vec![
        Response::Handshake(HandshakeReply {
            version: Version::CURRENT,
            node_id: "node1".into(),
            shard: 1,
            shard_addrs: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into(), "[::1]:7003".into()],
        }),
        Response::Pong,
        Response::Get(GetReply::found(b"ada".to_vec())),
        Response::Get(GetReply::not_found()),
        Response::Get(GetReply { values: Vec::new(), context: b"tombstone-clock".to_vec() }),
        Response::Get(GetReply { values: vec![b"v1".to_vec(), Vec::new(), vec![3; 1000]], context: vec![1; 40] }),
        Response::Put(PutReply::default()),
        Response::Put(PutReply { context: vec![4; 17] }),
        Response::Delete(DeleteReply { status: Status::Ok }),
        Response::Delete(DeleteReply { status: Status::NotFound }),
        Response::Scan(ScanReply::default()),
        Response::Scan(ScanReply {
            items: vec![
                ScanItem { sort_key: Vec::new(), values: vec![b"a".to_vec()], context: Vec::new() },
                ScanItem { sort_key: b"k2".to_vec(), values: vec![b"b".to_vec(), b"c".to_vec()], context: vec![1] },
            ],
            continuation: b"next".to_vec(),
        }),
        Response::MGet(Vec::new()),
        Response::MGet(vec![Ok(GetReply::found(b"1".to_vec())), Ok(GetReply::not_found()), Err(err.clone())]),
        Response::MPut(vec![Ok(PutReply::default()), Err(err.clone()), Ok(PutReply { context: vec![2] })]),
        Response::Error(err),
        Response::Error(ErrorReply { code: 999, message: "a code from the future".into() }),
    ]
}

fn request_frame(req: &Request, id: u64) -> Vec<u8> {
    let mut b = Vec::new();
    encode_request(req, id, &mut b);
    b
}

fn response_frame(resp: &Response, id: u64) -> Vec<u8> {
    let mut b = Vec::new();
    encode_response(resp, id, &mut b);
    b
}

const L: Limits = Limits::DEFAULT;

#[test]
fn every_request_roundtrips() {
    for (i, req) in sample_requests().into_iter().enumerate() {
        let id = 1000 + i as u64;
        let b = request_frame(&req, id);
        let (frame, n) = decode_request(&b, &L).unwrap().unwrap();
        assert_eq!(n, b.len());
        assert_eq!(frame, Frame { request_id: id, flags: 0, body: req });
    }
}

/// The clients encode GETs and PUTs from borrowed parts: those bodies decode
/// as the requests they stand for.
#[test]
fn bodies_from_borrowed_parts_decode_as_their_requests() {
    let decode = |opcode: Opcode, body: &dyn Fn(&mut Vec<u8>)| {
        let mut b = Vec::new();
        frame::encode_frame(opcode as u8, FLAG_OVERWRITE, 7, &mut b, body);
        let (frame, n) = decode_request(&b, &L).unwrap().unwrap();
        assert_eq!((n, frame.request_id, frame.flags), (b.len(), 7, FLAG_OVERWRITE));
        frame.body
    };
    for c in [Consistency::Default, Consistency::Quorum] {
        let got = decode(Opcode::Get, &|out| request::encode_get_body(out, c, b"user:1", b"sort"));
        assert_eq!(got, Request::Get(GetRequest { consistency: c, key: key("user:1", "sort") }));
        let got = decode(Opcode::Put, &|out| request::encode_put_body(out, c, b"p", b"", b"value", b"ctx"));
        let want = PutRequest { consistency: c, key: key("p", ""), value: b"value".to_vec(), context: b"ctx".to_vec() };
        assert_eq!(got, Request::Put(want));
    }
}

#[test]
fn every_response_roundtrips() {
    for (i, resp) in sample_responses().into_iter().enumerate() {
        let id = u64::MAX - i as u64;
        let b = response_frame(&resp, id);
        let (frame, n) = decode_response(&b, &L).unwrap().unwrap();
        assert_eq!(n, b.len());
        assert_eq!(frame, Frame { request_id: id, flags: 0, body: resp });
    }
}

#[test]
fn every_strict_prefix_needs_more_bytes() {
    for req in sample_requests() {
        let b = request_frame(&req, 42);
        for cut in 0..b.len() {
            assert_eq!(decode_request(&b[..cut], &L), Ok(None), "{req:?} cut at {cut}");
        }
    }
    for resp in sample_responses() {
        let b = response_frame(&resp, 42);
        for cut in 0..b.len() {
            assert_eq!(decode_response(&b[..cut], &L), Ok(None), "{resp:?} cut at {cut}");
        }
    }
}

#[test]
fn pipelined_frames_decode_one_after_the_other() {
    let reqs = sample_requests();
    let mut buf = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        encode_request(r, i as u64 + 1, &mut buf);
    }
    let mut at = 0;
    for (i, r) in reqs.iter().enumerate() {
        let (frame, n) = decode_request(&buf[at..], &L).unwrap().unwrap();
        assert_eq!(frame.request_id, i as u64 + 1);
        assert_eq!(&frame.body, r);
        at += n;
    }
    assert_eq!(at, buf.len());
    assert_eq!(decode_request(&buf[at..], &L), Ok(None));
}

#[test]
fn oversized_body_len_is_fatal_from_the_header_alone() {
    let mut h =
        FrameHeader::new(Opcode::Put as u8, 0, 5, (L.frame_bytes_max - HEADER_LEN + 1) as u32).to_bytes().to_vec();
    let err = decode_request(&h, &L).unwrap_err();
    assert!(err.is_fatal());
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);
    assert_eq!(err.consumed(), None);
    let (id, reply) = err.reply();
    assert_eq!(id, 0);
    assert!(matches!(reply, Response::Error(ErrorReply { code: 200, .. })));
    // Exactly at the limit the header is fine: the decoder just waits for the body.
    h[16..20].copy_from_slice(&((L.frame_bytes_max - HEADER_LEN) as u32).to_le_bytes());
    assert_eq!(decode_request(&h, &L), Ok(None));
    // A smaller configured limit is honoured.
    let small = Limits { frame_bytes_max: 64, ..L };
    let b = request_frame(&Request::Put(put(b"k", vec![0; 100])), 1);
    assert!(decode_request(&b, &small).unwrap_err().is_fatal());
}

#[test]
fn bad_magic_and_version_are_fatal() {
    let mut b = request_frame(&Request::Ping, 1);
    b[0] = b'X';
    let e = decode_request(&b, &L).unwrap_err();
    assert_eq!((e.is_fatal(), e.code()), (true, ErrorCode::BadMagic));
    let e = decode_request(b"GET / HTTP/1.1\r\n", &L).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadMagic);
    let e = decode_request(b"*1\r\n$4\r\nPING\r\n", &L).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadMagic);

    let mut b = request_frame(&Request::Ping, 1);
    b[4] = 2;
    let e = decode_request(&b, &L).unwrap_err();
    assert_eq!((e.is_fatal(), e.code()), (true, ErrorCode::UnsupportedVersion));
    assert!(e.to_string().contains("supported: 1"), "{e}");
}

fn assert_recoverable(b: &[u8], code: ErrorCode, id: u64) {
    let e = decode_request(b, &L).unwrap_err();
    assert!(!e.is_fatal(), "{e}");
    assert_eq!(e.code(), code, "{e}");
    assert_eq!(e.consumed(), Some(b.len()));
    assert_eq!(e.request_id(), id);
    let (rid, reply) = e.reply();
    assert_eq!(rid, id);
    assert!(matches!(reply, Response::Error(ErrorReply { code: c, .. }) if c == code as u16));
}

#[test]
fn unknown_opcode_is_recoverable_and_skips_the_frame() {
    for op in [0x00u8, 0x03, 0x7f, Opcode::GetReply as u8, Opcode::Error as u8] {
        let mut b = request_frame(&Request::Get(GetRequest { consistency: Consistency::One, key: key("k", "") }), 9);
        b[5] = op;
        assert_recoverable(&b, ErrorCode::UnknownOpcode, 9);
        // The connection stays usable: the next frame decodes.
        let mut two = b.clone();
        encode_request(&Request::Ping, 10, &mut two);
        let n = decode_request(&two, &L).unwrap_err().consumed().unwrap();
        assert_eq!(decode_request(&two[n..], &L).unwrap().unwrap().0.request_id, 10);
    }
    let mut b = response_frame(&Response::Pong, 3);
    b[5] = Opcode::Ping as u8;
    assert_eq!(decode_response(&b, &L).unwrap_err().code(), ErrorCode::UnknownOpcode);
}

fn put(k: &[u8], value: Vec<u8>) -> PutRequest {
    PutRequest { consistency: Consistency::Default, key: Key::partition(k), value, context: Vec::new() }
}

#[test]
fn fields_over_limits_are_recoverable() {
    let big_value = Request::Put(put(b"k", vec![0; L.value_bytes_max + 1]));
    assert_recoverable(&request_frame(&big_value, 1), ErrorCode::ValueTooLarge, 1);
    let max_value = Request::Put(put(b"k", vec![0; L.value_bytes_max]));
    assert!(decode_request(&request_frame(&max_value, 1), &L).unwrap().is_some());

    let big_pk = Request::Get(GetRequest { consistency: Consistency::Default, key: Key::partition(vec![1; 1025]) });
    assert_recoverable(&request_frame(&big_pk, 2), ErrorCode::KeyTooLarge, 2);
    let big_sk = Request::Delete(DeleteRequest {
        consistency: Consistency::Default,
        key: Key::new(*b"p", vec![1; 1025]),
        context: Vec::new(),
    });
    assert_recoverable(&request_frame(&big_sk, 3), ErrorCode::KeyTooLarge, 3);
    let empty_pk = Request::Get(GetRequest { consistency: Consistency::Default, key: Key::default() });
    assert_recoverable(&request_frame(&empty_pk, 4), ErrorCode::BadRequest, 4);
    let big_ctx = Request::Put(PutRequest { context: vec![0; 4097], ..put(b"k", Vec::new()) });
    assert_recoverable(&request_frame(&big_ctx, 5), ErrorCode::BadRequest, 5);
    let big_batch = Request::MGet(MGetRequest { consistency: Consistency::Default, keys: vec![key("k", ""); 1025] });
    assert_recoverable(&request_frame(&big_batch, 6), ErrorCode::BatchTooLarge, 6);
    let max_batch = Request::MGet(MGetRequest { consistency: Consistency::Default, keys: vec![key("k", ""); 1024] });
    assert!(decode_request(&request_frame(&max_batch, 6), &L).unwrap().is_some());
    let big_token = Request::Scan(ScanRequest {
        consistency: Consistency::Default,
        partition: b"p".to_vec(),
        from: Bound::Unbounded,
        to: Bound::Unbounded,
        limit: 0,
        continuation: vec![0; 4097],
    });
    assert_recoverable(&request_frame(&big_token, 7), ErrorCode::BadRequest, 7);
}

#[test]
fn a_huge_count_does_not_allocate() {
    // MGET claiming u64::MAX keys in a tiny body: refused by the count limit, and a lenient
    // limit still cannot make the decoder reserve more than the body could hold.
    let mut body = vec![0u8];
    wire::put_varint(&mut body, u64::MAX);
    let mut b = FrameHeader::new(Opcode::MGet as u8, 0, 1, body.len() as u32).to_bytes().to_vec();
    b.extend_from_slice(&body);
    assert_recoverable(&b, ErrorCode::BatchTooLarge, 1);
    let lenient = Limits { batch_items_max: usize::MAX, ..L };
    assert!(!decode_request(&b, &lenient).unwrap_err().is_fatal());
}

#[test]
fn malformed_bodies_are_recoverable() {
    let good = request_frame(&Request::Get(GetRequest { consistency: Consistency::One, key: key("k", "s") }), 11);
    // Trailing bytes: grow the body by one byte.
    let mut b = good.clone();
    b.push(0);
    b[16] += 1;
    assert_recoverable(&b, ErrorCode::BadRequest, 11);
    // Body cut short but the header says so: a truncated field, not "need more bytes".
    let mut b = good.clone();
    b.pop();
    b[16] -= 1;
    assert_recoverable(&b, ErrorCode::BadRequest, 11);
    // Unknown consistency level.
    let mut b = good.clone();
    b[HEADER_LEN] = 4;
    assert_recoverable(&b, ErrorCode::BadRequest, 11);
    // Invalid UTF-8 in the client name.
    let mut b = request_frame(
        &Request::Handshake(HandshakeRequest { version: Version::CURRENT, client_name: "ab".into() }),
        12,
    );
    let last = b.len() - 1;
    b[last] = 0xff;
    assert_recoverable(&b, ErrorCode::BadRequest, 12);
    // Bad bound kind.
    let mut b = request_frame(
        &Request::Scan(ScanRequest {
            consistency: Consistency::Default,
            partition: b"p".to_vec(),
            from: Bound::Unbounded,
            to: Bound::Unbounded,
            limit: 1,
            continuation: Vec::new(),
        }),
        13,
    );
    b[HEADER_LEN + 3] = 3;
    assert_recoverable(&b, ErrorCode::BadRequest, 13);
}

#[test]
fn inconsistent_responses_are_rejected() {
    // GET result with status OK and no value.
    let mut b = response_frame(&Response::Get(GetReply::not_found()), 1);
    b[HEADER_LEN] = Status::Ok as u8;
    assert_eq!(decode_response(&b, &L).unwrap_err().code(), ErrorCode::BadRequest);
    // Handshake whose shard is not below the shard count.
    let hs =
        HandshakeReply { version: Version::CURRENT, node_id: "n".into(), shard: 1, shard_addrs: vec!["a:1".into()] };
    let e = decode_response(&response_frame(&Response::Handshake(hs), 1), &L).unwrap_err();
    assert!(!e.is_fatal());
}

#[test]
fn flags_optional_ignored_required_refused() {
    let mut b = Vec::new();
    encode_request_with_flags(&Request::Ping, 5, 0x0001, &mut b);
    let (f, _) = decode_request(&b, &L).unwrap().unwrap();
    assert_eq!((f.flags, f.body), (0x0001, Request::Ping));
    let mut b = Vec::new();
    encode_request_with_flags(&Request::Ping, 5, 0x0200, &mut b);
    assert_recoverable(&b, ErrorCode::UnsupportedFlags, 5);
}

#[test]
fn reserved_header_field_is_ignored() {
    let mut b = request_frame(&Request::Ping, 8);
    b[20..24].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(decode_request(&b, &L).unwrap().unwrap().0.body, Request::Ping);
}

#[test]
fn error_reply_message_is_cut_to_the_limit_at_a_char_boundary() {
    let e = ErrorReply::new(ErrorCode::Internal, "é".repeat(3000));
    assert!(e.message.len() <= L.error_message_bytes_max);
    assert_eq!(e.kind(), Some(ErrorCode::Internal));
    let b = response_frame(&Response::Error(e.clone()), 1);
    assert_eq!(decode_response(&b, &L).unwrap().unwrap().0.body, Response::Error(e));
    assert_eq!(ErrorReply { code: 999, message: String::new() }.kind(), None);
}

/// The worked example of docs/PROTOCOL.md section 10, byte for byte.
#[test]
fn doc_hex_example() {
    let req = Request::Put(PutRequest {
        consistency: Consistency::Default,
        key: key("user:1", "name"),
        value: b"ada".to_vec(),
        context: Vec::new(),
    });
    let expected_req: &[u8] = &[
        0x52, 0x4b, 0x56, 0x50, 0x01, 0x11, 0x00, 0x00, // magic, version, opcode, flags
        0x07, 0, 0, 0, 0, 0, 0, 0, // request id
        0x12, 0, 0, 0, 0, 0, 0, 0,    // body_len 18, reserved
        0x00, // consistency
        0x06, b'u', b's', b'e', b'r', b':', b'1', // partition key
        0x04, b'n', b'a', b'm', b'e', // sort key
        0x03, b'a', b'd', b'a', // value
        0x00, // context
    ];
    assert_eq!(request_frame(&req, 7), expected_req);
    let expected_resp: &[u8] = &[
        0x52, 0x4b, 0x56, 0x50, 0x01, 0x91, 0x00, 0x00, //
        0x07, 0, 0, 0, 0, 0, 0, 0, //
        0x01, 0, 0, 0, 0, 0, 0, 0, //
        0x00,
    ];
    assert_eq!(response_frame(&Response::Put(PutReply::default()), 7), expected_resp);
    assert_eq!(ErrorCode::ValueTooLarge as u16, 0x67);
    assert_eq!(ErrorCode::FrameTooLarge as u16, 0xc8);
}

/// What any decoder result must satisfy, whatever the input.
fn check_contract<T>(buf: &[u8], r: &Result<Option<(Frame<T>, usize)>, DecodeError>) {
    match r {
        Ok(Some((_, n))) => assert!(*n >= HEADER_LEN && *n <= buf.len()),
        Ok(None) => {}
        Err(e) => {
            if let Some(n) = e.consumed() {
                assert!(n >= HEADER_LEN && n <= buf.len());
            }
            let _ = e.to_string();
            let _ = e.reply();
        }
    }
}

fn bytes_strategy(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn key_strategy() -> impl Strategy<Value = Key> {
    (proptest::collection::vec(any::<u8>(), 1..40), bytes_strategy(40)).prop_map(|(p, s)| Key::new(p, s))
}

fn consistency_strategy() -> impl Strategy<Value = Consistency> {
    (0u8..4).prop_map(|b| Consistency::try_from(b).unwrap())
}

fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        bytes_strategy(20).prop_map(Bound::Included),
        bytes_strategy(20).prop_map(Bound::Excluded),
    ]
}

fn request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        (any::<u16>(), any::<u16>(), ".{0,20}").prop_map(|(major, minor, client_name)| {
            Request::Handshake(HandshakeRequest { version: Version { major, minor }, client_name })
        }),
        (consistency_strategy(), key_strategy())
            .prop_map(|(consistency, key)| Request::Get(GetRequest { consistency, key })),
        (consistency_strategy(), key_strategy(), bytes_strategy(300), bytes_strategy(20)).prop_map(
            |(consistency, key, value, context)| Request::Put(PutRequest { consistency, key, value, context })
        ),
        (consistency_strategy(), key_strategy(), bytes_strategy(20))
            .prop_map(|(consistency, key, context)| Request::Delete(DeleteRequest { consistency, key, context })),
        (consistency_strategy(), key_strategy(), bound_strategy(), bound_strategy(), any::<u32>(), bytes_strategy(20))
            .prop_map(|(consistency, k, from, to, limit, continuation)| Request::Scan(ScanRequest {
                consistency,
                partition: k.partition,
                from,
                to,
                limit,
                continuation
            })),
        (consistency_strategy(), proptest::collection::vec(key_strategy(), 0..8))
            .prop_map(|(consistency, keys)| Request::MGet(MGetRequest { consistency, keys })),
        (
            consistency_strategy(),
            proptest::collection::vec((key_strategy(), bytes_strategy(50), bytes_strategy(10)), 0..8)
        )
            .prop_map(|(consistency, items)| Request::MPut(MPutRequest {
                consistency,
                items: items.into_iter().map(|(key, value, context)| PutItem { key, value, context }).collect(),
            })),
    ]
}

/// The server's borrowing decoder says what `decode_request` says about
/// `buf`: the same frame (GETs and PUTs borrowed, the rest as they are), the
/// same length, the same error.
fn incoming_agrees(buf: &[u8]) {
    let owned = decode_request(buf, &L);
    let incoming = decode_incoming(buf, &L);
    if let Ok(Some((f, _))) = &incoming {
        let borrowed = matches!(f.body, Incoming::Get(_) | Incoming::Put(_));
        let op = buf[5];
        assert_eq!(borrowed, op == Opcode::Get as u8 || op == Opcode::Put as u8, "opcode {op}");
    }
    let incoming = incoming
        .map(|o| o.map(|(f, n)| (Frame { request_id: f.request_id, flags: f.flags, body: f.body.into_request() }, n)));
    assert_eq!(incoming, owned);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in bytes_strategy(256)) {
        check_contract(&buf, &decode_request(&buf, &L));
        incoming_agrees(&buf);
        check_contract(&buf, &decode_response(&buf, &L));
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(op in any::<u8>(), flags in any::<u16>(), body in bytes_strategy(200)) {
        let mut buf = FrameHeader::new(op, flags, 1, body.len() as u32).to_bytes().to_vec();
        buf.extend_from_slice(&body);
        let r = decode_request(&buf, &L);
        check_contract(&buf, &r);
        incoming_agrees(&buf);
        // A complete frame with a valid header is never Ok(None) and never fatal.
        prop_assert!(matches!(r, Ok(Some(_)) | Err(DecodeError::Recoverable { .. })), "{:?}", r);
        let r = decode_response(&buf, &L);
        check_contract(&buf, &r);
        prop_assert!(matches!(r, Ok(Some(_)) | Err(DecodeError::Recoverable { .. })), "{:?}", r);
    }

    #[test]
    fn random_get_and_put_bodies_decode_alike_borrowed_or_owned(put in any::<bool>(), flags in any::<u16>(), body in bytes_strategy(60)) {
        let op = if put { Opcode::Put } else { Opcode::Get };
        let mut buf = FrameHeader::new(op as u8, flags, 1, body.len() as u32).to_bytes().to_vec();
        buf.extend_from_slice(&body);
        incoming_agrees(&buf);
    }

    #[test]
    fn a_get_reply_encoded_from_borrowed_parts_is_the_owned_one(
        id in any::<u64>(),
        context in bytes_strategy(40),
        values in proptest::collection::vec(bytes_strategy(300), 0..4),
    ) {
        let mut owned = vec![0xAB];
        encode_response(&Response::Get(GetReply { values: values.clone(), context: context.clone() }), id, &mut owned);
        let mut borrowed = vec![0xAB];
        encode_get_response(id, &context, values.iter().map(Vec::as_slice), &mut borrowed);
        prop_assert_eq!(owned, borrowed);
    }

    #[test]
    fn bit_flipped_requests_never_panic(which in 0usize..14, flips in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4)) {
        let reqs = sample_requests();
        let mut buf = request_frame(&reqs[which % reqs.len()], 77);
        for f in &flips {
            let bit = f.index(buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
        }
        check_contract(&buf, &decode_request(&buf, &L));
        incoming_agrees(&buf);
    }

    #[test]
    fn bit_flipped_responses_never_panic(which in 0usize..17, flips in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4)) {
        let resps = sample_responses();
        let mut buf = response_frame(&resps[which % resps.len()], 77);
        for f in &flips {
            let bit = f.index(buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
        }
        check_contract(&buf, &decode_response(&buf, &L));
    }

    #[test]
    fn arbitrary_requests_roundtrip_and_pipeline(reqs in proptest::collection::vec(request_strategy(), 1..5)) {
        let mut buf = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            encode_request(r, i as u64 + 1, &mut buf);
        }
        let mut at = 0;
        for (i, r) in reqs.iter().enumerate() {
            let (frame, n) = decode_request(&buf[at..], &L).unwrap().unwrap();
            prop_assert_eq!(frame.request_id, i as u64 + 1);
            prop_assert_eq!(&frame.body, r);
            incoming_agrees(&buf[at..]);
            at += n;
        }
        prop_assert_eq!(at, buf.len());
    }
}

/// A rough speed check, not a benchmark: `cargo test --release -- --ignored --nocapture micro`.
#[test]
#[ignore]
fn micro_encode_decode_small_gets() {
    let req = Request::Get(GetRequest { consistency: Consistency::Default, key: key("user:123456", "profile") });
    let n = 200_000u64;
    let mut buf = Vec::with_capacity(64 * n as usize);
    let t = std::time::Instant::now();
    for id in 1..=n {
        encode_request(&req, id, &mut buf);
    }
    let enc = t.elapsed();
    let t = std::time::Instant::now();
    let mut at = 0;
    let mut count = 0;
    while let Some((f, used)) = decode_request(&buf[at..], &L).unwrap() {
        assert_eq!(f.request_id, count + 1);
        at += used;
        count += 1;
    }
    let dec = t.elapsed();
    assert_eq!(count, n);
    println!(
        "{n} GET frames, {} bytes each: encode {:.0} ns/frame, decode {:.0} ns/frame",
        buf.len() as u64 / n,
        enc.as_nanos() as f64 / n as f64,
        dec.as_nanos() as f64 / n as f64
    );
}
