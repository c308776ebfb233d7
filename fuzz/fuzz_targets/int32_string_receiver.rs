//! `Int32StringReceiver`, any maximum, in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_fuzz::strings::{check_int_n, StringInput};
use torsion_protocols::Prefix32;

fuzz_target!(|input: StringInput| check_int_n::<Prefix32>(&input));
