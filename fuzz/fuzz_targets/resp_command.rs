#![no_main]
//! RESP: the parser and the command layer must never panic on any input.
use libfuzzer_sys::fuzz_target;
use ringkv::resp::{parse_command, Command, RespLimits};

fuzz_target!(|data: &[u8]| {
    let limits = RespLimits::DEFAULT;
    let mut buf = data;
    while let Ok(Some((frame, used))) = parse_command(buf, &limits) {
        if used == 0 {
            break;
        }
        if !frame.is_empty() {
            let _ = Command::parse(&frame.args(buf), &limits);
        }
        buf = &buf[used..];
    }
});
