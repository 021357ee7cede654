//! The load generator of `benches/scale/run.sh`: registers and beats
//! `SERVICES` x `PER_SERVICE` instances on a cluster of `nacre-server`s over the Nacos v1 HTTP
//! API, on loopback, with pipelined keep-alive connections (one per server, `DEPTH` requests in
//! flight on each).
//!
//! Every request goes to the server responsible for its service, computed as the servers do
//! (`DistroMapper` over the member list, all members up), so nothing is forwarded. Instances
//! are named `svc-NNNNNN` / `10.x.y.z:8080`.
//!
//! - `register`: registers every instance once (with `metadata`, a JSON object or `-` for
//!   none) and exits, printing the rate;
//! - `beat`: sends light beats, every instance once per `BEAT_SECS`, spread evenly, for
//!   `RUN_SECS` (0: until killed), printing a line of counts every 10 s. A beat answered
//!   20404 (not found) re-registers the instance; a failed connection is opened again and
//!   its beats of that round counted as failed.
//!
//! ```text
//! # cargo bench --bench scale_load -- MODE ...
//! scale_load register 127.0.0.1:8848,127.0.0.1:8849 200 1000 '{"k":"v"}'
//! scale_load beat     127.0.0.1:8848,127.0.0.1:8849 200 1000 '{"k":"v"}' 30 0
//! ```

#[path = "../support/cli.rs"]
mod cli;

use nacre::cluster::{DistroMapper, NodeId};
use nacre::ServiceKey;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEPTH: usize = 64;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    not_found: AtomicU64,
    failed: AtomicU64,
}

fn ip(g: usize) -> String {
    format!("10.{}.{}.{}", (g >> 16) & 255, (g >> 8) & 255, g & 255)
}

/// Percent-encodes a query value.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn request(method: &str, host: &str, query: &str) -> String {
    format!("{method} {query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n")
}

fn register_query(service: &str, g: usize, metadata: &str) -> String {
    let meta = if metadata.is_empty() {
        String::new()
    } else {
        format!("&metadata={}", escape(metadata))
    };
    format!(
        "/nacos/v1/ns/instance?serviceName={service}&ip={}&port=8080{meta}",
        ip(g)
    )
}

/// One pipelined connection: writes requests, reads answers in order.
struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(addr: &str) -> Self {
        Conn {
            addr: addr.to_owned(),
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends `requests` and returns each answer's status and body.
    async fn round(&mut self, requests: &[String]) -> Res<Vec<(u16, String)>> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let result = self.round_on(requests).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn round_on(&mut self, requests: &[String]) -> Res<Vec<(u16, String)>> {
        let stream = self.stream.as_mut().ok_or("no connection")?;
        let all: String = requests.concat();
        stream.write_all(all.as_bytes()).await?;
        let mut answers = Vec::with_capacity(requests.len());
        while answers.len() < requests.len() {
            if let Some((answer, used)) = parse(&self.buf)? {
                answers.push(answer);
                self.buf.drain(..used);
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n =
                tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await??;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(answers)
    }
}

/// One whole answer at the start of `buf`, and its length; `None` if more is needed.
fn parse(buf: &[u8]) -> Res<Option<((u16, String), usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end])?;
    let status: u16 = head.get(9..12).ok_or("short status line")?.parse()?;
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or("an answer without content-length")?;
    let total = end + 4 + len;
    if buf.len() < total {
        return Ok(None);
    }
    let body = String::from_utf8_lossy(&buf[end + 4..total]).into_owned();
    Ok(Some(((status, body), total)))
}

/// The instances each server is responsible for: (server index, global instance indices).
fn owned(addrs: &[String], services: usize, per: usize) -> Res<Vec<Vec<usize>>> {
    let ids: Vec<NodeId> = addrs
        .iter()
        .map(|a| NodeId::new(a))
        .collect::<Result<_, _>>()?;
    let mapper = DistroMapper::new(ids.clone());
    let mut out = vec![Vec::new(); addrs.len()];
    for s in 0..services {
        let key = ServiceKey::named(&format!("svc-{s:06}"))?;
        let owner = mapper.owner(&key).ok_or("no member")?;
        let i = ids.iter().position(|x| x == owner).ok_or("unknown owner")?;
        out[i].extend((0..per).map(|k| s * per + k));
    }
    Ok(out)
}

async fn register(
    addr: String,
    mine: Vec<usize>,
    per: usize,
    metadata: String,
    c: Arc<Counts>,
) -> Res<()> {
    let mut conn = Conn::new(&addr);
    for chunk in mine.chunks(DEPTH) {
        let reqs: Vec<String> = chunk
            .iter()
            .map(|g| {
                request(
                    "POST",
                    &addr,
                    &register_query(&format!("svc-{:06}", g / per), *g, &metadata),
                )
            })
            .collect();
        let answers = conn.round(&reqs).await?;
        for (status, body) in answers {
            if status != 200 {
                return Err(format!("register answered {status}: {body}").into());
            }
            c.ok.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

async fn beat(
    addr: String,
    mine: Vec<usize>,
    per: usize,
    metadata: String,
    every: Duration,
    until: Option<Instant>,
    c: Arc<Counts>,
) -> Res<()> {
    let mut conn = Conn::new(&addr);
    let rounds = mine.len().div_ceil(DEPTH).max(1);
    let gap = every / rounds as u32;
    let mut next = Instant::now();
    loop {
        for chunk in mine.chunks(DEPTH) {
            if until.is_some_and(|u| Instant::now() >= u) {
                return Ok(());
            }
            tokio::time::sleep_until(next.into()).await;
            next += gap;
            let reqs: Vec<String> = chunk
                .iter()
                .map(|g| {
                    let q = format!(
                        "/nacos/v1/ns/instance/beat?serviceName=svc-{:06}&ip={}&port=8080",
                        g / per,
                        ip(*g)
                    );
                    request("PUT", &addr, &q)
                })
                .collect();
            let answers = match conn.round(&reqs).await {
                Ok(a) => a,
                Err(_) => {
                    c.failed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    continue;
                }
            };
            let mut again = Vec::new();
            for ((status, body), g) in answers.into_iter().zip(chunk) {
                if status != 200 {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                } else if body.contains("20404") {
                    c.not_found.fetch_add(1, Ordering::Relaxed);
                    again.push(request(
                        "POST",
                        &addr,
                        &register_query(&format!("svc-{:06}", g / per), *g, &metadata),
                    ));
                } else {
                    c.ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !again.is_empty() && conn.round(&again).await.is_err() {
                c.failed.fetch_add(again.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args = cli::args();
    let usage = "usage: scale_load register|beat ADDR,ADDR,... SERVICES PER_SERVICE METADATA|- [BEAT_SECS RUN_SECS]";
    let [mode, addrs, services, per, metadata, rest @ ..] = args.as_slice() else {
        return Err(usage.into());
    };
    let addrs: Vec<String> = addrs.split(',').map(str::to_owned).collect();
    let (services, per): (usize, usize) = (services.parse()?, per.parse()?);
    let metadata = if metadata == "-" {
        String::new()
    } else {
        metadata.clone()
    };
    let owned = owned(&addrs, services, per)?;
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    match mode.as_str() {
        "register" => {
            for (addr, mine) in addrs.iter().zip(owned) {
                tasks.push(tokio::spawn(register(
                    addr.clone(),
                    mine,
                    per,
                    metadata.clone(),
                    counts.clone(),
                )));
            }
        }
        "beat" => {
            let every =
                Duration::from_secs(rest.first().map(|s| s.parse()).transpose()?.unwrap_or(5));
            let run: u64 = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
            let until = (run > 0).then(|| started + Duration::from_secs(run));
            for (addr, mine) in addrs.iter().zip(owned) {
                tasks.push(tokio::spawn(beat(
                    addr.clone(),
                    mine,
                    per,
                    metadata.clone(),
                    every,
                    until,
                    counts.clone(),
                )));
            }
            let c = counts.clone();
            tokio::spawn(async move {
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    let ok = c.ok.load(Ordering::Relaxed);
                    println!(
                        "beats at {:.0} s: {:.0}/s over the last 10 s; {ok} ok, {} not found (re-registered), {} failed",
                        started.elapsed().as_secs_f64(),
                        (ok - last) as f64 / 10.0,
                        c.not_found.load(Ordering::Relaxed),
                        c.failed.load(Ordering::Relaxed)
                    );
                    last = ok;
                }
            });
        }
        _ => return Err(usage.into()),
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = counts.ok.load(Ordering::Relaxed);
    println!(
        "{mode}: {ok} requests answered ok in {secs:.1} s ({:.0}/s)",
        ok as f64 / secs
    );
    Ok(())
}
