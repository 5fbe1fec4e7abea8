#![no_main]
//! Native protocol frames: decoding must never panic, and whatever decodes
//! must re-encode to a frame that decodes to the same request.
use libfuzzer_sys::fuzz_target;
use ringkv::protocol::{decode_request, decode_response, encode_request, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::DEFAULT;
    let mut buf = data;
    while let Ok(Some((frame, used))) = decode_request(buf, &limits) {
        let mut again = Vec::new();
        encode_request(&frame.body, frame.request_id, &mut again);
        let (f2, _) = decode_request(&again, &limits).expect("re-encoded frame decodes").expect("complete");
        assert_eq!(f2.body, frame.body);
        buf = &buf[used..];
    }
    let _ = decode_response(data, &limits);
});
