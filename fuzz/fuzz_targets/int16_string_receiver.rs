//! `Int16StringReceiver`, any maximum, in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_fuzz::strings::{check_int_n, StringInput};
use torsion_protocols::Prefix16;

fuzz_target!(|input: StringInput| check_int_n::<Prefix16>(&input));
