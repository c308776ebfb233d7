//! A short run of the bench command against every server: the servers
//! start, echo, stream byte-for-byte and hold connections, and the table
//! comes out. The real scenarios are far longer and never run in CI.

use std::process::Command;

#[test]
fn every_server_echoes_in_a_short_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_torsion-bench"))
        .args([
            "all",
            "--seconds",
            "0.2",
            "--warmup",
            "0.05",
            "--rounds",
            "1",
            "--scenarios",
            "pingpong1,stream,idle",
            "--idle-conns",
            "50",
            "--markdown",
        ])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stderr}\n{stdout}");
    for server in ["torsion", "mio", "tokio"] {
        for scenario in ["pingpong1", "stream", "idle"] {
            assert!(
                stdout.contains(&format!("| {scenario} | {server} |")),
                "no {scenario} row for {server}:\n{stdout}"
            );
        }
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
