//! The iso20022 reader on any bytes: a document or a clear error, never a panic, a hang or
//! unbounded memory.
#![no_main]

use std::sync::Arc;

use clerk::extract::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    clerk_fuzz_support::quiet_panics();
    let input = Input {
        name: "fuzz",
        bytes: data,
        file_hash: Arc::from("fuzz"),
    };
    let _ = clerk::extract::iso20022::parse(&input, None, None);
});
