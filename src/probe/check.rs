//! One probe of one instance, over the network: resolve, refuse denied addresses, then a TCP
//! connect or an HTTP `GET`, all within one timeout. What it found is an [`Outcome`] for the
//! policy, or [`Probed::Denied`] when the address is on the [`DenyList`].
//!
//! The timeout bounds the whole probe (resolution included) in real time: it guards a socket,
//! not a rule of the registry, so it does not follow the injected [`crate::Clock`].

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::deny::DenyList;
use super::policy::Outcome;
use super::settings::{Checker, HttpProbe};
use crate::model::Host;

/// What one probe came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probed {
    /// It ran, and found this.
    Done(Outcome),
    /// The address (or one the host name resolves to) is denied: nothing was sent.
    Denied(IpAddr),
}

/// Probes `host:port` with `checker` within `timeout`; `http` is the client HTTP checks use.
pub(crate) async fn probe(
    host: &Host,
    port: u16,
    checker: &Checker,
    deny: &DenyList,
    timeout: Duration,
    http: &reqwest::Client,
) -> Probed {
    let started = Instant::now();
    let run = async {
        let addr = match resolve(host, port, deny).await {
            Ok(addr) => addr,
            Err(probed) => return probed,
        };
        let outcome = match checker {
            Checker::Tcp => tcp(addr, started).await,
            Checker::Http(check) => get(addr, check, http, timeout, started).await,
            // The driver never probes a cluster without a check.
            Checker::None => Outcome::Passed { rt: Duration::ZERO },
        };
        Probed::Done(outcome)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(probed) => probed,
        Err(_) => Probed::Done(Outcome::TimedOut),
    }
}

/// The address to connect to: the host's own, or the first its name resolves to; denied when
/// any of them is.
async fn resolve(host: &Host, port: u16, deny: &DenyList) -> Result<SocketAddr, Probed> {
    let addrs: Vec<SocketAddr> = match host.as_str().parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(found) => found.collect(),
            Err(e) => {
                tracing::debug!(%host, error = %e, "probe: the host name does not resolve");
                return Err(Probed::Done(Outcome::Failed));
            }
        },
    };
    if let Some(denied) = addrs.iter().find(|a| deny.denies(a.ip())) {
        return Err(Probed::Denied(denied.ip()));
    }
    addrs.first().copied().ok_or(Probed::Done(Outcome::Failed))
}

async fn tcp(addr: SocketAddr, started: Instant) -> Outcome {
    match TcpStream::connect(addr).await {
        // Connected: closed again at once (Nacos keeps no connection either).
        Ok(_stream) => Outcome::Passed {
            rt: started.elapsed(),
        },
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(_) => Outcome::Failed,
    }
}

async fn get(
    addr: SocketAddr,
    check: &HttpProbe,
    http: &reqwest::Client,
    timeout: Duration,
    started: Instant,
) -> Outcome {
    let path = if check.path.is_empty() {
        "/"
    } else {
        check.path.as_str()
    };
    let mut request = http.get(format!("http://{addr}{path}")).timeout(timeout);
    for (name, value) in &check.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            if status == check.expected_code {
                Outcome::Passed {
                    rt: started.elapsed(),
                }
            } else if status == 503 || status == 302 {
                Outcome::Busy(status)
            } else {
                Outcome::UnexpectedStatus(status)
            }
        }
        Err(e) if e.is_timeout() => Outcome::TimedOut,
        Err(e) if refused(&e) => Outcome::Refused,
        Err(_) => Outcome::Failed,
    }
}

/// Whether an HTTP client error was a refused connection.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == ErrorKind::ConnectionRefused {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// The HTTP client of HTTP checks: no redirects followed (a 302 is an answer), no connection
/// kept between probes.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}
