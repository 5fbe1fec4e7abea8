#![no_main]
//! Manifest version edits: decoding never panics; applying a decoded edit to
//! an empty state either works or is refused, never panics.
use libfuzzer_sys::fuzz_target;
use ringkv::storage::manifest::ManifestState;
use ringkv::storage::version::VersionEdit;

fuzz_target!(|data: &[u8]| {
    if let Ok(edit) = VersionEdit::decode(data) {
        let mut st = ManifestState::new(7);
        let _ = st.apply(&edit);
    }
});
