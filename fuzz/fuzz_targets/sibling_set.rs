#![no_main]
//! Stored sibling sets and causal contexts (from clients!): never panic, and
//! what decodes re-encodes to the same bytes' meaning.
use libfuzzer_sys::fuzz_target;
use ringkv::replication::{SiblingSet, VersionVector};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SiblingSet::decode(data) {
        if let Ok(bytes) = s.encode() {
            assert_eq!(SiblingSet::decode(&bytes).expect("re-encoded set decodes"), s);
        }
    }
    let _ = VersionVector::decode(data);
});
