//! Persistent-register throughput: `nacre-server`'s own start-up path
//! (`nacre::server::start`) three times in one run — memory only, `--data-dir` with group
//! commit, `--data-dir` with one fsync per write — each taking the same burst of v1
//! `POST /nacos/v1/ns/instance?ephemeral=false` from `CONCURRENCY` connections. Prints
//! writes/s, latency percentiles, and the commits (fsyncs) the server made.
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

async fn run(
    writes: usize,
    concurrency: usize,
    data: Option<(PathBuf, CommitPolicy)>,
) -> Result<Outcome, String> {
    let mut config = ServerConfig {
        port: 0,
        grpc_port: Some(0),
        ..ServerConfig::default()
    };
    if let Some((dir, policy)) = &data {
        let _ = std::fs::remove_dir_all(dir);
        config.data_dir = Some(dir.clone());
        config.commit = *policy;
    }
    let running = server::start(&config).await.map_err(|e| e.to_string())?;
    let url = format!("http://{}/nacos/v1/ns/instance", running.local_addr());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= writes {
                        return Ok::<_, String>(latencies);
                    }
                    let query = [
                        ("serviceName", format!("db-{}", i % SERVICES)),
                        (
                            "ip",
                            format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                        ),
                        ("port", "5432".to_owned()),
                        ("ephemeral", "false".to_owned()),
                    ];
                    let t = Instant::now();
                    let answer = http
                        .post(&url)
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
    let elapsed = started.elapsed();
    let commits = running.backend().registry().persist_stats().commits;
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
        "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "mode", "writes/s", "p50 ms", "p99 ms", "max ms", "commits", "writes/commit"
    );
    let modes: [(&str, Option<CommitPolicy>); 3] = [
        ("memory only", None),
        ("disk, group commit", Some(CommitPolicy::group())),
        ("disk, fsync per write", Some(CommitPolicy::per_write())),
    ];
    for (name, policy) in modes {
        let data = policy.map(|p| (dir.join(name.replace([' ', ','], "-")), p));
        match run(writes, concurrency, data).await {
            Ok(o) => {
                let per_commit = if o.commits == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}", writes as f64 / o.commits as f64)
                };
                println!(
                    "{:<22} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>12}",
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
