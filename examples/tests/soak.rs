//! The soak example's logic, short: 20 `ClientService` clients, one real
//! outage (the server process is killed with SIGKILL and restarted), every
//! acknowledged message found in the server logs, every reconnection within
//! the backoff policy's promise. The server process is this test binary
//! again, running only `soak_server_process` with the server's arguments in
//! an environment variable.

use std::process::Command;
use std::time::Duration;

use torsion_examples::soak::{run_soak, serve, ServerArgs, ServerLauncher, SoakConfig};

/// Carries the server's arguments to the re-executed test binary.
const SERVER_ARGS: &str = "TORSION_SOAK_TEST_SERVER_ARGS";

/// The server process when `SERVER_ARGS` is set; otherwise does nothing.
#[test]
#[ignore = "the server process of the soak test below, run by it as a child"]
fn soak_server_process() {
    if let Ok(args) = std::env::var(SERVER_ARGS) {
        let args: Vec<String> = args.split('\u{1f}').map(String::from).collect();
        serve(&ServerArgs::parse(&args).unwrap()).unwrap();
    }
}

#[test]
fn twenty_clients_through_a_server_kill_lose_nothing_and_keep_the_backoff_promise() {
    let launcher = ServerLauncher::new(|server: &ServerArgs| {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "soak_server_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVER_ARGS, server.to_args().join("\u{1f}"));
        command
    });
    let mut config = SoakConfig::new(launcher);
    config.duration = Duration::from_secs(6);
    config.clients = 20;
    config.up = (1.0, 1.0);
    config.down = (0.5, 0.5);
    config.rate = 100;
    config.seed = 9;
    // A loaded 2-core machine running a debug build: generous lateness.
    config.slack = Duration::from_secs(1);
    config.progress = false;

    let report = run_soak(&config).unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.outages.len(), 1, "{report}");
    assert_eq!(report.outages[0].clients_hit, 20, "{report}");
    assert_eq!(report.reconnects, 20, "{report}");
    assert!(report.acknowledged > 1000, "{report}");
    assert_eq!(report.acknowledged, report.sent);
}
