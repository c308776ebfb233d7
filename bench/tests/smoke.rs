//! Short runs of the bench command against every server: the servers
//! start, echo, stream byte-for-byte and hold connections, and the table
//! comes out. The real scenarios are far longer and never run in CI.

use std::process::Command;

/// Runs `all` for one short round with `args` added; returns the Markdown
/// report after checking that every run succeeded.
fn short_run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_torsion-bench"))
        .args([
            "all",
            "--seconds",
            "0.2",
            "--warmup",
            "0.05",
            "--rounds",
            "1",
            "--slices",
            "2",
        ])
        .args(args)
        .arg("--markdown")
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stderr}\n{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
    stdout
}

#[test]
fn every_server_echoes_in_a_short_run() {
    let stdout = short_run(&["--scenarios", "pingpong1,stream,idle", "--idle-conns", "50"]);
    for server in ["torsion", "mio", "tokio"] {
        for scenario in ["pingpong1", "stream", "idle"] {
            assert!(
                stdout.contains(&format!("| {scenario} | {server} |")),
                "no {scenario} row for {server}:\n{stdout}"
            );
        }
    }
}

#[test]
fn the_per_core_scenarios_run_their_four_servers() {
    let scenarios = [
        "pingpong50-per-core",
        "pingpong50-per-core-one-cpu",
        "stream-per-core",
    ];
    let stdout = short_run(&["--scenarios", &scenarios.join(","), "--servers", "tokio"]);
    assert!(stdout.contains("## Beyond one core"), "{stdout}");
    assert!(!stdout.contains("| tokio |"), "{stdout}");
    for scenario in scenarios {
        // Their own servers, whatever --servers says.
        for server in ["torsion", "torsion-per-core", "mio", "mio-per-core"] {
            assert!(
                stdout.contains(&format!("| {scenario} | {server} |")),
                "no {scenario} row for {server}:\n{stdout}"
            );
        }
        // The per-core table's row, and the bar judged on it.
        assert!(
            stdout.contains(&format!("| {scenario} | torsion-per-core | 2 |")),
            "no per-core ratio row for {scenario}:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "| {scenario} | ops/CPU-s on 2 reactors vs 1 at least"
            )),
            "no bar for {scenario}:\n{stdout}"
        );
    }
}

#[test]
fn the_tls_stream_scenario_runs_both_tls_servers() {
    let stdout = short_run(&["--scenarios", "tls-stream"]);
    for server in ["torsion-tls", "tokio-rustls"] {
        assert!(
            stdout.contains(&format!("| tls-stream | {server} |")),
            "no tls-stream row for {server}:\n{stdout}"
        );
    }
}

/// The process-pipe binary runs each of its three kinds through `cat`
/// (every byte checked back) and prints its table.
#[test]
fn process_pipe_runs_its_three_kinds() {
    let output = Command::new(env!("CARGO_BIN_EXE_process-pipe"))
        .args(["--mib", "4", "--rounds", "1"])
        .output()
        .expect("the process-pipe binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{stdout}");
    for kind in ["torsion", "mio", "tokio"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(kind)),
            "no {kind} row:\n{stdout}"
        );
    }
    assert!(stdout.contains("x "), "no ratios:\n{stdout}");
}
