//! A TLS server connection fed arbitrary bytes in arbitrary chunks over
//! the in-memory pump.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_fuzz::tls::check_tls_server;

fuzz_target!(|input: &[u8]| check_tls_server(input));
