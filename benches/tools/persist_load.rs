//! Persistent-write throughput: `nacre-server`'s own start-up path (`nacre::server::start`)
//! five times in one run, each taking the same burst of v1
//! `POST /nacos/v1/ns/instance?ephemeral=false` from `CONCURRENCY` connections: memory only;
//! the per-member store (`--data-dir --ap-persistent-instances`, as before the control plane)
//! with group commit and with one fsync per write; the control plane's Raft log (`--data-dir`,
//! a group of one: its leader, group commit). Then `--data-dir` taking the same burst of
//! operator edits (`PUT /nacos/v1/ns/instance?weight=2` of instances registered before the
//! clock starts), each an override through the log and then the instance's own change. Prints
//! writes/s, latency percentiles, and the registry store's commits (fsyncs; the Raft log's are
//! its own).
//!
//! `cargo bench --features http --bench persist_load -- [WRITES] [CONCURRENCY] [DIR]`
//! (defaults 4000, 64, a directory under the system temp dir; DIR should be on the disk to
//! measure). `benches/persist/run.sh` runs it; see BENCHMARKS.md.

#[path = "../support/cli.rs"]
mod cli;

use nacre::persist::CommitPolicy;
use nacre::server::{self, ServerConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: usize = 16;

struct Outcome {
    elapsed: Duration,
    latencies: Vec<Duration>,
    commits: u64,
}

/// What a burst sends.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    /// `POST ...&ephemeral=false`: a persistent registration.
    Register,
    /// `POST ...` (ephemeral): the edits' instances, before the clock starts.
    Prepare,
    /// `PUT ...&weight=2`: an operator's edit, kept in the control plane.
    Edit,
}

/// `writes` requests of kind `what` from `concurrency` connections; their latencies.
async fn burst(
    http: &reqwest::Client,
    url: &str,
    writes: usize,
    concurrency: usize,
    what: Write,
) -> Result<Vec<Duration>, String> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= writes {
                        return Ok::<_, String>(latencies);
                    }
                    let mut query = vec![
                        ("serviceName", format!("db-{}", i % SERVICES)),
                        (
                            "ip",
                            format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                        ),
                        ("port", "5432".to_owned()),
                    ];
                    let request = match what {
                        Write::Register => {
                            query.push(("ephemeral", "false".to_owned()));
                            http.post(&url)
                        }
                        Write::Prepare => http.post(&url),
                        Write::Edit => {
                            query.push(("weight", "2".to_owned()));
                            http.put(&url)
                        }
                    };
                    let t = Instant::now();
                    let answer = request
                        .query(&query)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = answer.status();
                    let body = answer.text().await.map_err(|e| e.to_string())?;
                    if !status.is_success() || body != "ok" {
                        return Err(format!("write {i} answered {status}: {body}"));
                    }
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(writes);
    for w in workers {
        latencies.extend(w.await.map_err(|e| e.to_string())??);
    }
    Ok(latencies)
}

async fn run(
    writes: usize,
    concurrency: usize,
    data: Option<(PathBuf, CommitPolicy)>,
    what: Write,
    ap: bool,
) -> Result<Outcome, String> {
    let mut config = ServerConfig {
        port: 0,
        grpc_port: Some(0),
        // The instances' addresses are made up: no active health check of them.
        probe_deny: nacre::front::cidr::Cidr::parse("0.0.0.0/0")
            .into_iter()
            .collect(),
        ..ServerConfig::default()
    };
    if let Some((dir, policy)) = &data {
        let _ = std::fs::remove_dir_all(dir);
        config.data_dir = Some(dir.clone());
        config.commit = *policy;
        config.ap_persistent_instances = ap;
    }
    let running = server::start(&config).await.map_err(|e| e.to_string())?;
    let url = format!("http://{}/nacos/v1/ns/instance", running.local_addr());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    if what == Write::Edit {
        burst(&http, &url, writes, concurrency, Write::Prepare).await?;
    }
    let commits_before = running.backend().registry().persist_stats().commits;
    let started = Instant::now();
    let mut latencies = burst(&http, &url, writes, concurrency, what).await?;
    let elapsed = started.elapsed();
    let commits = running.backend().registry().persist_stats().commits - commits_before;
    running.shutdown(Duration::from_secs(5)).await;
    if let Some((dir, _)) = &data {
        let _ = std::fs::remove_dir_all(dir);
    }
    latencies.sort_unstable();
    Ok(Outcome {
        elapsed,
        latencies,
        commits,
    })
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = cli::args().into_iter();
    let writes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("nacre-persist-load-{}", std::process::id()))
    });
    println!(
        "{writes} persistent registrations (v1 HTTP, ephemeral=false) into {SERVICES} services, \
         {concurrency} connections, data dir {}",
        dir.display()
    );
    println!(
        "{:<24} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "mode", "writes/s", "p50 ms", "p99 ms", "max ms", "commits", "writes/commit"
    );
    let modes: [(&str, Option<CommitPolicy>, Write, bool); 5] = [
        ("memory only", None, Write::Register, true),
        (
            "member store, group",
            Some(CommitPolicy::group()),
            Write::Register,
            true,
        ),
        (
            "member store, fsync",
            Some(CommitPolicy::per_write()),
            Write::Register,
            true,
        ),
        (
            "Raft leader: register",
            Some(CommitPolicy::group()),
            Write::Register,
            false,
        ),
        (
            "Raft leader: PUT edit",
            Some(CommitPolicy::group()),
            Write::Edit,
            false,
        ),
    ];
    for (name, policy, what, ap) in modes {
        let data = policy.map(|p| (dir.join(name.replace([' ', ',', ':'], "-")), p));
        match run(writes, concurrency, data, what, ap).await {
            Ok(o) => {
                let per_commit = if o.commits == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}", writes as f64 / o.commits as f64)
                };
                println!(
                    "{:<24} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>12}",
                    name,
                    writes as f64 / o.elapsed.as_secs_f64(),
                    pct(&o.latencies, 0.5),
                    pct(&o.latencies, 0.99),
                    pct(&o.latencies, 1.0),
                    o.commits,
                    per_commit
                );
            }
            Err(e) => {
                eprintln!("persist_load: {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
