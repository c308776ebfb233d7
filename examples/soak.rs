// cargo run --release --example soak -- --for 120 --clients 200
//! The soak: a line server in its own process, killed with SIGKILL and
//! restarted on the same port again and again, and 200 `ClientService`
//! clients on one reactor sending numbered messages that the server records
//! before acknowledging them. At the end it prints messages sent,
//! acknowledged, re-sent, duplicated and lost (acknowledged but never
//! recorded: must be 0), the reconnections, and for each outage the
//! clients' reconnection delays against what Twisted's backoff policy
//! promises. Exit status 0 only if nothing was lost and every delay kept
//! the promise. RELIABILITY.md has a recorded run.
//!
//! Options (all optional):
//!   --for SECONDS       how long the clients send (default 60)
//!   --clients N         how many ClientService clients (default 200)
//!   --down MIN-MAX      each outage lasts MIN to MAX seconds (default 1-3)
//!   --up MIN-MAX        the server stays up MIN to MAX seconds (default 4-8;
//!                       never less than every client needs to be back)
//!   --seed N            the outage schedule (default: the clock)
//!   --rate N            messages per second per client (default 50)
//!   --port P            the server's port (default: a free one below the
//!                       ephemeral range)
//!   --slack-ms MS       lateness allowed to timers and connects (default 250)
//!   --keep-logs         keep the server logs
//!   --simulate          run in a simulated network instead (no processes,
//!                       a fake clock; defaults --for 600 --rate 1, 20 ms
//!                       of slack): `--simulate --seed N` replays a run
//!
//! `--server --port P --log FILE --max-life SECONDS` is the server process
//! the soak starts (with `std::env::current_exe`) and kills.

use std::process::{Command, ExitCode};
use std::time::Duration;

use torsion_examples::soak::{
    run_simulated, run_soak, serve, ServerArgs, ServerLauncher, SoakConfig,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .init();
    if args.first().is_some_and(|a| a == "--server") {
        return match ServerArgs::parse(&args[1..])
            .map_err(Into::into)
            .and_then(|a| serve(&a))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("soak server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `--simulate`: the same clients, server protocol and checks in a
    // simulated network (torsion_testing::sim) on a fake clock, the server
    // host crashing instead of being killed; defaults 10 simulated minutes,
    // one message per second per client, 20 ms of slack.
    let simulate = args.iter().any(|a| a == "--simulate");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--simulate").collect();
    let config = match parse(&args, simulate) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("soak: {e}\nusage: soak [--for S] [--clients N] [--down MIN-MAX] [--up MIN-MAX] [--seed N] [--rate N] [--port P] [--slack-ms MS] [--keep-logs] [--simulate]");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "soak: {} clients for {:?}, server down {}-{} s every {}-{} s, seed {}",
        config.clients,
        config.duration,
        config.down.0,
        config.down.1,
        config.up.0,
        config.up.1,
        config.seed
    );
    let started = std::time::Instant::now();
    let outcome = if simulate {
        run_simulated(&config, None)
    } else {
        run_soak(&config)
    };
    if simulate {
        eprintln!("soak: simulated in {:?} of real time", started.elapsed());
    }
    match outcome {
        Ok(report) => {
            println!("{report}");
            if config.keep_logs {
                println!("server logs: {}", report.logs.display());
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String], simulate: bool) -> Result<SoakConfig, String> {
    let launcher = ServerLauncher::new(|server: &ServerArgs| {
        let exe = std::env::current_exe().expect("the soak knows its own path");
        let mut command = Command::new(exe);
        command.arg("--server").args(server.to_args());
        command
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut config = if simulate {
        SoakConfig::simulated(seed)
    } else {
        SoakConfig::new(launcher)
    };
    config.seed = seed;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--keep-logs" {
            config.keep_logs = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        let range = || -> Result<(f64, f64), String> {
            let (low, high) = value.split_once('-').unwrap_or((value, value));
            let parse = |s: &str| s.parse::<f64>().map_err(|e| format!("{flag} {value}: {e}"));
            Ok((parse(low)?, parse(high)?))
        };
        match flag.as_str() {
            "--for" => config.duration = Duration::from_secs(number()?),
            "--clients" => config.clients = u32::try_from(number()?).map_err(|e| e.to_string())?,
            "--down" => config.down = range()?,
            "--up" => config.up = range()?,
            "--seed" => config.seed = number()?,
            "--rate" => config.rate = u32::try_from(number()?).map_err(|e| e.to_string())?,
            "--port" => config.port = u16::try_from(number()?).map_err(|e| e.to_string())?,
            "--slack-ms" => config.slack = Duration::from_millis(number()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(config)
}
