//! `LineReceiver`, any delimiter and maximum, in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torsion_fuzz::lines::{check_line_receiver, LineInput};

fuzz_target!(|input: LineInput| check_line_receiver(&input));
