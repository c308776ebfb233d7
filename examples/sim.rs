// cargo run --example sim -- --seed 7
//! A simulated network, from a seed: host `app` runs a `ClientService`
//! that connects with `tcp:host=db:port=5432` to an echo server on host
//! `db` and says `ping N` every second. The links have latency and
//! jitter; `app` and `db` are partitioned for 4 s (the stream stalls, and
//! nothing is lost), then `db` crashes and restarts (the connection is
//! reset; `ClientService` reconnects within its backoff policy). Prints the
//! trace, stamped with simulated time: run it twice with one seed and the
//! traces are the same; another seed changes the jitter and the retries.
//!
//! Options: `--seed N` (default 1), `--for SECONDS` (default 30).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion::application::{backoff_policy, ClientService, Service};
use torsion::endpoints::client_from_string;
use torsion::{DelayedCall, Factory, Failure, Protocol, ReactorTcp, ReactorTimeExt, TransportRef};
use torsion_testing::sim::{Link, SimHost, Simulation};

/// Echoes whatever it gets.
#[derive(Default)]
struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.0 {
            transport.write(data);
        }
    }
}

/// Says `ping N` every second; prints what comes back.
struct Pinger {
    host: SimHost,
    count: Rc<RefCell<u32>>,
    timer: Rc<RefCell<Option<DelayedCall>>>,
}

impl Pinger {
    fn tick(
        host: SimHost,
        transport: TransportRef,
        count: Rc<RefCell<u32>>,
        timer: Rc<RefCell<Option<DelayedCall>>>,
    ) {
        *count.borrow_mut() += 1;
        transport.write(format!("ping {}\n", count.borrow()).as_bytes());
        let (again, slot) = (host.clone(), timer.clone());
        let call = host.call_later(Duration::from_secs(1), move || {
            Pinger::tick(again, transport, count, slot)
        });
        *timer.borrow_mut() = Some(call);
    }
}

impl Protocol for Pinger {
    fn connection_made(&mut self, transport: TransportRef) {
        self.host.note(format!("connected to {}", transport.peer()));
        Pinger::tick(
            self.host.clone(),
            transport,
            self.count.clone(),
            self.timer.clone(),
        );
    }
    fn data_received(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        for line in text.lines() {
            self.host.note(format!("got {line:?} back"));
        }
    }
    fn connection_lost(&mut self, reason: Failure) {
        if let Some(call) = self.timer.borrow_mut().take() {
            let _ = call.cancel();
        }
        self.host
            .note(format!("connection lost: {}", reason.error_message()));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: u64| -> Result<u64, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(default),
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} wants a number")),
        }
    };
    let seed = option("--seed", 1)?;
    let seconds = option("--for", 30)?;
    println!("simulation, seed {seed}, {seconds} simulated seconds");

    let sim = Simulation::new(seed);
    sim.set_echo(true);
    sim.set_default_link(Link::new(Duration::from_millis(20)).jitter(Duration::from_millis(10)));
    let app = sim.add_host("app")?;
    let db = sim.add_host("db")?;
    let serve =
        |db: &SimHost| db.listen_tcp(5432, Rc::new(Factory::for_protocol(Echo::default)), 50, "");
    serve(&db)?;

    let (host, count, timer) = (app.clone(), Rc::new(RefCell::new(0)), Rc::default());
    let factory = Factory::for_protocol(move || Pinger {
        host: host.clone(),
        count: count.clone(),
        timer: Rc::clone(&timer),
    });
    let endpoint = client_from_string(app.clone(), "tcp:host=db:port=5432")?;
    let jitter = sim.rng().jitter(Duration::from_secs(1));
    let service = ClientService::builder(endpoint, factory)
        .clock(Rc::new(app.clone()))
        .retry_policy(backoff_policy(
            Duration::from_secs(1),
            Duration::from_secs(60),
            1.5,
            jitter,
        ))
        .build();
    service.start_service();

    sim.run_until(Duration::from_millis(3_500));
    sim.partition("app", "db")?;
    sim.run_for(Duration::from_secs(4));
    sim.repair("app", "db")?;
    sim.run_until(Duration::from_secs(12));
    sim.crash("db")?;
    sim.run_for(Duration::from_secs(3));
    let mut listening = Ok(());
    sim.restart("db", |db| listening = serve(db).map(drop))?;
    listening?;
    sim.run_until(Duration::from_secs(seconds.max(16)));
    drop(service.stop_service());
    sim.run_for(Duration::from_secs(1));
    println!(
        "{} trace lines; the same seed gives the same trace",
        sim.trace().len()
    );
    Ok(())
}
