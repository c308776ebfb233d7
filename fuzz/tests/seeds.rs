//! Replays the committed seeds (`seeds/<target>/*`) through the same checks
//! the fuzz targets run, on any toolchain and without libFuzzer:
//! `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use torsion_fuzz::{endpoint, lines, strings};
use torsion_protocols::{Prefix16, Prefix32, Prefix8};

/// Calls `check` with every seed of `target`, decoded as libfuzzer-sys does.
fn replay<T: for<'a> Arbitrary<'a>>(target: &str, check: impl Fn(&T)) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(&bytes)) {
            check(&input);
        }
    }
}

#[test]
fn endpoint_description() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/endpoint_description");
    for entry in fs::read_dir(dir).into_iter().flatten() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        if let Ok(description) = std::str::from_utf8(&bytes) {
            endpoint::check_description(description);
        }
    }
}

#[test]
fn line_receiver() {
    replay("line_receiver", lines::check_line_receiver);
}

#[test]
fn line_only_receiver() {
    replay("line_only_receiver", lines::check_line_only_receiver);
}

#[test]
fn int8_string_receiver() {
    replay("int8_string_receiver", strings::check_int_n::<Prefix8>);
}

#[test]
fn int16_string_receiver() {
    replay("int16_string_receiver", strings::check_int_n::<Prefix16>);
}

#[test]
fn int32_string_receiver() {
    replay("int32_string_receiver", strings::check_int_n::<Prefix32>);
}

#[test]
fn netstring_receiver() {
    replay("netstring_receiver", strings::check_netstring);
}

#[test]
fn tls_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/tls_server");
    for entry in fs::read_dir(dir).into_iter().flatten() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        torsion_fuzz::tls::check_tls_server(&bytes);
    }
}
