//! Torsion's benchmark suite (being written): `cargo run --release -p torsion-bench -- all`.

fn main() {
    eprintln!("torsion-bench: scenarios are being written; see the performance issue");
}
