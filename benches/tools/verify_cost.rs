//! The cost of one verify round, bucketed (`DistroConfig::verify_buckets`, default 1024)
//! beside the full list of checksums (`verify_buckets = 0`), in the same run.
//!
//! Two `DistroCore`s on a `ManualClock`, driven by hand: every message really goes through
//! the binary peer codec (`encode_request` / `decode_message`) on its way, as over HTTP (no
//! sockets). `SERVICES` services of one instance each are registered on node 1 and replicated
//! to node 2. Then, for each protocol:
//!
//! - **converged**: the next verify round, both nodes sending their owned services' checksums
//!   to each other (each owns about half);
//! - **differing**: `DIFFERING` services of node 1 get one more instance each, and the sync
//!   carrying them is lost (acknowledged, never delivered: a dropped sync queue); the next
//!   verify round finds and repairs them (the fetch and its answer are part of the round).
//!
//! Reported per round: verify and repair messages (pings left out), their bytes on the wire
//! (request envelopes and answers), and the wall time of the whole round (building the sums or
//! lists, encoding, decoding, comparing, fetching, merging, and whatever else is due at that
//! instant). A control run with verify off, at the same instants, shows what that else costs
//! (the health sweep over the owned services, pings).
//!
//! ```text
//! cargo bench --bench verify_cost                   # 100 000 services, 5 differing
//! cargo bench --bench verify_cost -- 10000 20       # services, differing
//! ```

#[path = "../support/cli.rs"]
mod cli;

use nacre::cluster::{
    decode_message, encode_message, encode_request, DistroConfig, DistroCore, Envelope, NodeId,
    PeerRequest, PeerResponse,
};
use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::time::{Duration, Instant};

/// What one round cost.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    messages: u64,
    bytes: u64,
    /// Time in `poll` (the sender's sums or lists, the health sweep, sync batches).
    poll: Duration,
    /// Time in `handle` and `on_response` (comparing, answering fetches, merging).
    handle: Duration,
    /// Time encoding and decoding.
    codec: Duration,
}

struct Pair {
    clock: ManualClock,
    ids: [NodeId; 2],
    cores: [DistroCore; 2],
    registries: [Registry; 2],
}

impl Pair {
    fn new(config: DistroConfig) -> Self {
        let clock = ManualClock::new();
        let ids = [
            NodeId::new("10.0.0.1:8848").unwrap(),
            NodeId::new("10.0.0.2:8848").unwrap(),
        ];
        let registry = |me: &NodeId| {
            Registry::builder()
                .clock(clock.clone())
                .origin(me.origin())
                .delivery_threads(1)
                .build()
        };
        // The host keeps its registries: it writes the test data straight into node 1's, as
        // if node 1 had been responsible for every service.
        let registries = [registry(&ids[0]), registry(&ids[1])];
        let core = |i: usize| {
            DistroCore::new(
                ids[i].clone(),
                &ids,
                registries[i].clone(),
                config,
                clock.now(),
            )
            .unwrap()
        };
        let cores = [core(0), core(1)];
        Self {
            clock,
            ids,
            cores,
            registries,
        }
    }

    /// Delivers everything due now, and what that makes due, until both nodes are quiet.
    /// With `lose_syncs`, sync batches are acknowledged to their sender but never delivered.
    /// Returns the verify and repair traffic (everything but pings).
    fn pump(&mut self, lose_syncs: bool) -> Tally {
        let mut tally = Tally::default();
        loop {
            let now = self.clock.now();
            let mut quiet = true;
            for i in 0..2 {
                let t = Instant::now();
                let out = self.cores[i].poll(now);
                tally.poll += t.elapsed();
                for o in out {
                    quiet = false;
                    let is_ping = matches!(o.request, PeerRequest::Ping { .. });
                    if lose_syncs && matches!(o.request, PeerRequest::Sync { .. }) {
                        self.cores[i].on_response(o.id, Ok(PeerResponse::Ack), now);
                        continue;
                    }
                    let t = Instant::now();
                    let bytes = encode_request(&self.ids[i], &o.request).unwrap();
                    let envelope: Envelope = decode_message(&bytes).unwrap();
                    let t1 = Instant::now();
                    let answer = self.cores[1 - i].handle(&envelope.from, envelope.request, now);
                    let t2 = Instant::now();
                    let answer_bytes = encode_message(&answer).unwrap();
                    let answer: PeerResponse = decode_message(&answer_bytes).unwrap();
                    let t3 = Instant::now();
                    self.cores[i].on_response(o.id, Ok(answer), now);
                    tally.handle += (t2 - t1) + t3.elapsed();
                    tally.codec += (t1 - t) + (t3 - t2);
                    if !is_ping {
                        tally.messages += 1;
                        tally.bytes += (bytes.len() + answer_bytes.len()) as u64;
                    }
                }
            }
            if quiet {
                return tally;
            }
        }
    }

    /// Runs until `until`, waking at each node's next wake-up.
    fn run_until(&mut self, until: nacre::Timestamp, lose_syncs: bool) {
        loop {
            self.pump(lose_syncs);
            let next = self.cores[0]
                .next_wakeup()
                .min(self.cores[1].next_wakeup())
                .max(self.clock.now() + Duration::from_millis(1));
            if next >= until {
                self.clock.set(until);
                return;
            }
            self.clock.set(next);
        }
    }

    fn registry(&self, i: usize) -> &Registry {
        &self.registries[i]
    }

    fn instances(&self, i: usize) -> usize {
        let mut n = 0;
        self.registry(i)
            .store()
            .for_each(|s| n += s.instance_count());
        n
    }

    /// The next verify round: advance to it and run it, timed.
    fn verify_round(&mut self, at: nacre::Timestamp) -> (Tally, Duration) {
        self.run_until(at, false);
        let started = Instant::now();
        let tally = self.pump(false);
        (tally, started.elapsed())
    }
}

fn key(i: usize) -> ServiceKey {
    ServiceKey::named(&format!("svc-{i}")).unwrap()
}

fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// Converged and differing rounds of one protocol: `Some(buckets)`, or `None` for the
/// control (no verify at all: what the same instants cost without it).
fn measure(services: usize, differing: usize, buckets: Option<usize>) -> [(Tally, Duration); 2] {
    let verify = DistroConfig::default().verify_interval;
    let config = DistroConfig {
        verify_buckets: buckets.unwrap_or(0),
        verify_interval: if buckets.is_some() {
            verify
        } else {
            Duration::from_secs(3600)
        },
        ..DistroConfig::default()
    };
    let mut pair = Pair::new(config);
    let t0 = pair.clock.now();
    pair.run_until(t0 + Duration::from_millis(100), false);
    assert!(pair.cores.iter().all(DistroCore::is_ready));
    for i in 0..services {
        pair.registry(0)
            .register_instance(&key(i), Instance::new(&ip(i), 8080).unwrap())
            .unwrap();
    }
    // Replicated within a couple of sync delays; well before the first verify (5 s).
    pair.run_until(t0 + Duration::from_secs(3), false);
    assert_eq!(pair.instances(1), services, "replicated before verify");

    let converged = pair.verify_round(t0 + verify);
    assert_eq!(pair.cores[1].stats().services_fetched, 0);

    // Some services of node 1 change, and their sync is lost.
    let mapper = pair.cores[0].routing().mapper();
    let owned: Vec<ServiceKey> = (0..services)
        .map(key)
        .filter(|k| mapper.is_owner(&pair.ids[0], k))
        .take(differing)
        .collect();
    for (n, k) in owned.iter().enumerate() {
        pair.registry(0)
            .register_instance(k, Instance::new(&ip(services + n), 9090).unwrap())
            .unwrap();
    }
    pair.run_until(t0 + verify + Duration::from_secs(3), true);
    assert_eq!(pair.instances(1), services, "the sync was lost");
    let repaired = pair.verify_round(t0 + verify * 2);
    if buckets.is_some() {
        assert_eq!(
            pair.instances(1),
            services + owned.len(),
            "one verify round repairs the lost sync"
        );
    }
    [converged, repaired]
}

fn main() {
    let args: Vec<usize> = cli::args().iter().filter_map(|a| a.parse().ok()).collect();
    let services = args.first().copied().unwrap_or(100_000);
    let differing = args.get(1).copied().unwrap_or(5);
    let buckets = DistroConfig::default().verify_buckets;
    println!(
        "One verify round between 2 nodes, {services} services of 1 instance (each node owns about half), binary wire format"
    );
    println!(
        "{:<28} | {:>5} {:>11} {:>10} | {:>5} {:>11} {:>10}",
        "protocol", "msgs", "bytes", "time", "msgs", "bytes", "time"
    );
    let mut splits = Vec::new();
    println!(
        "{:<28} | {:^29} | {:^29}",
        "",
        "converged",
        format!("{differing} services differing")
    );
    for (name, b) in [
        (format!("bucketed ({buckets} buckets)"), Some(buckets)),
        ("full list (baseline)".to_owned(), Some(0)),
        ("no verify (control)".to_owned(), None),
    ] {
        let [(c, ct), (d, dt)] = measure(services, differing, b);
        let split = |t: &Tally| {
            format!(
                "poll {:.1} ms, handle {:.1} ms, codec {:.1} ms",
                t.poll.as_secs_f64() * 1e3,
                t.handle.as_secs_f64() * 1e3,
                t.codec.as_secs_f64() * 1e3
            )
        };
        splits.push(format!(
            "{name}: converged: {}; differing: {}",
            split(&c),
            split(&d)
        ));
        println!(
            "{:<28} | {:>5} {:>11} {:>7.1} ms | {:>5} {:>11} {:>7.1} ms",
            name,
            c.messages,
            c.bytes,
            ct.as_secs_f64() * 1e3,
            d.messages,
            d.bytes,
            dt.as_secs_f64() * 1e3,
        );
    }
    println!("Where the time went (poll: the senders' sums or lists, and what else is due then, such as the health sweep; handle: the receivers' comparison, fetches and merges):");
    for s in splits {
        println!("  {s}");
    }
}
