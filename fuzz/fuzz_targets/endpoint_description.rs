//! The endpoint description parser, client and server: typed errors, never
//! a panic, and descriptions that print back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(description) = std::str::from_utf8(data) {
        torsion_fuzz::endpoint::check_description(description);
    }
});
