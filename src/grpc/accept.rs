//! The gRPC port's accept loop, the first bound a client meets: every TCP connection passes
//! the front's [`ConnectionGate`] (a total and a share per source address) before tonic reads
//! a byte of it, and is closed when it holds no live bi-stream for
//! [`GrpcConfig::setup_timeout`] (see [`Guarded`]). tonic's own server counts neither: before,
//! 5 000 idle sockets were all held, and under `ulimit -n 1024` idle gRPC sockets took every
//! descriptor the v1 API needed.
//!
//! The loop hands tonic the admitted connections through a small channel; accept errors (out
//! of descriptors) are logged at most once per interval and retried after a short pause.
//!
//! A connection the front closes (its client stopped answering detections, its pushes kept
//! failing) is closed at once on the wire too ([`Kill`]), as Nacos closes it: a client whose
//! requests are answered "unregistered" on a transport that still works may never reconnect
//! (nacos-sdk-python 3.2.0 takes a 3xx answer to its health check as a server still starting,
//! and stayed on such a connection for good).
//!
//! With TLS (feature `tls`, [`super::GrpcFront::with_tls`]) each admitted connection's
//! handshake runs in a task of its own, so a slow one holds up no other, within the same
//! setup timeout: the time a connection has to open its bi-stream counts from its accept, the
//! handshake included, and a connection whose handshake is not done by then is closed.

use super::server::Shared;
use crate::front::gate::{ConnectionGate, RefusalLog, Ticket, REFUSAL_LOG_INTERVAL};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Connections admitted but not yet taken by tonic.
const HANDOFF: usize = 64;

/// The TLS side of the listener, when it has one.
#[cfg(feature = "tls")]
pub(crate) type Tls = Option<Arc<crate::front::tls::TlsAcceptor>>;
/// No TLS in a build without feature `tls`.
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = Option<std::convert::Infallible>;

/// Accepts on `listener` until the receiver is dropped, admitting through `gate`, over TLS
/// with `tls`.
pub(crate) fn spawn(
    listener: TcpListener,
    gate: Arc<ConnectionGate>,
    shared: Weak<Shared>,
    setup_timeout: Duration,
    tls: Tls,
) -> mpsc::Receiver<io::Result<Guarded>> {
    let (tx, rx) = mpsc::channel(HANDOFF);
    tokio::spawn(async move {
        let errors = RefusalLog::new(REFUSAL_LOG_INTERVAL);
        loop {
            let (stream, peer) = tokio::select! {
                () = tx.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        crate::front::gate::accept_failed(&errors, "gRPC", &error).await;
                        continue;
                    }
                },
            };
            // A refusal is counted and logged by the gate; the socket closes here.
            let Ok(ticket) = gate.admit(peer.ip()) else {
                continue;
            };
            // Small unary answers must not wait for Nagle's algorithm: the trailers of an
            // answer of 248 bytes or more go in a second write, which would otherwise wait for
            // the client's delayed ACK (40 ms per call).
            let _ = stream.set_nodelay(true);
            let accepted = Accepted {
                peer,
                local: stream.local_addr().ok(),
                ticket,
                shared: shared.clone(),
                setup_timeout,
                deadline: Instant::now() + setup_timeout,
            };
            match &tls {
                None => {
                    if tx
                        .send(Ok(accepted.guard(Io::Plain(stream))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                #[cfg(feature = "tls")]
                Some(tls) => {
                    let (tls, tx) = (tls.clone(), tx.clone());
                    tokio::spawn(async move {
                        let handshake = tls.handshake(stream, peer, setup_timeout);
                        let secured = tokio::select! {
                            () = tx.closed() => return,
                            secured = handshake => secured,
                        };
                        // A failed handshake is logged by the acceptor; its place is freed here.
                        if let Some(secured) = secured {
                            let conn = accepted.guard(Io::Tls(Box::new(secured)));
                            let _ = tx.send(Ok(conn)).await;
                        }
                    });
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match *never {},
            }
        }
    });
    rx
}

/// An admitted connection before its stream is ready (before its TLS handshake).
struct Accepted {
    peer: SocketAddr,
    local: Option<SocketAddr>,
    ticket: Ticket,
    shared: Weak<Shared>,
    setup_timeout: Duration,
    /// When the connection must hold a live bi-stream: the setup timeout after its accept.
    deadline: Instant,
}

impl Accepted {
    fn guard(self, stream: Io) -> Guarded {
        let kill = Arc::new(Kill::default());
        if let Some(shared) = self.shared.upgrade() {
            crate::util::lock(&shared.kills).insert(self.peer, kill.clone());
        }
        Guarded {
            stream,
            kill,
            peer: self.peer,
            local: self.local,
            _ticket: self.ticket,
            shared: self.shared,
            timeout: self.setup_timeout,
            check: Box::pin(tokio::time::sleep_until(self.deadline)),
            expired: false,
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut kills = crate::util::lock(&shared.kills);
            if kills
                .get(&self.peer)
                .is_some_and(|k| Arc::ptr_eq(k, &self.kill))
            {
                kills.remove(&self.peer);
            }
        }
    }
}

/// Closes an admitted connection from outside its task: see the module documentation.
#[derive(Default)]
pub(crate) struct Kill {
    killed: std::sync::atomic::AtomicBool,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Kill {
    /// Closes the connection: its next read or write fails, and its task is woken for it.
    pub(crate) fn kill(&self) {
        self.killed
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(waker) = crate::util::lock(&self.waker).take() {
            waker.wake();
        }
    }

    /// Whether it was killed; else `cx` is woken when it is.
    fn killed(&self, cx: &Context<'_>) -> bool {
        if self.killed.load(std::sync::atomic::Ordering::Acquire) {
            return true;
        }
        let mut waker = crate::util::lock(&self.waker);
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        drop(waker);
        self.killed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A connection's byte stream: TCP, or TLS over it.
enum Io {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Calls `$method` on the stream inside `$io`, whichever it is.
macro_rules! on_stream {
    ($io:expr, $method:ident($($arg:expr),*)) => {
        match $io.get_mut() {
            Io::Plain(s) => Pin::new(s).$method($($arg),*),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).$method($($arg),*),
        }
    };
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        on_stream!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        on_stream!(self, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, poll_shutdown(cx))
    }
}

/// One admitted connection: it frees its place at the gate when dropped, and fails (so
/// tonic closes it) once it has held no live bi-stream for the setup timeout since its
/// accept. The check runs when the timer fires, then again one timeout later while the
/// connection lasts, so a connection whose bi-stream was closed by the server (its client
/// stopped answering) is closed too.
pub(crate) struct Guarded {
    stream: Io,
    kill: Arc<Kill>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    _ticket: Ticket,
    shared: Weak<Shared>,
    timeout: Duration,
    check: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Guarded {
    /// Whether the connection must close now: its timer fired and it holds no live bi-stream.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.expired {
            return true;
        }
        if self.kill.killed(cx) {
            tracing::debug!(peer = %self.peer, "gRPC connection closed: the front dropped it");
            self.expired = true;
            return true;
        }
        while self.check.as_mut().poll(cx).is_ready() {
            let live = self
                .shared
                .upgrade()
                .is_some_and(|shared| super::server::has_stream(&shared, &self.peer));
            if !live {
                tracing::debug!(peer = %self.peer, "gRPC connection closed: no live bi-stream");
                self.expired = true;
                return true;
            }
            let next = Instant::now() + self.timeout;
            self.check.as_mut().reset(next);
        }
        false
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no live bi-stream within the setup timeout",
    )
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}
