#![no_main]
//! WAL/manifest log files and WAL batch payloads: never panic.
use libfuzzer_sys::fuzz_target;
use ringkv::storage::batch::decode_batches;
use ringkv::storage::log::scan;

fuzz_target!(|data: &[u8]| {
    let s = scan(data, None);
    for (_, _, payload) in s.records {
        let _ = decode_batches(payload, |_| {});
    }
    let _ = decode_batches(data, |_| {});
});
