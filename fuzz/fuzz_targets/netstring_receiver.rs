//! `NetstringReceiver`, any maximum, in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_fuzz::strings::{check_netstring, StringInput};

fuzz_target!(|input: StringInput| check_netstring(&input));
