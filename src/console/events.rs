//! The console's live updates: one change sink on the store feeds a broadcast channel; each
//! browser's `GET /console/api/events` gets its own receiver as a server-sent-event stream.
//!
//! With auth on, a stream needs a valid token in its headers (any caller may listen; the
//! global admin hears every change), checked before the stream takes a place, and a change of
//! a service the caller may not read is not sent to it: each change is put to the caller's
//! [`crate::front::access::Viewer`] as it passes. The token is checked when the stream
//! opens; one that expires (or whose user is taken out) while the stream is open hears at
//! most the rest of the stream's lifetime (5 minutes by default), and is refused when the page
//! reconnects. The page reads the stream with `fetch()` (an `EventSource` cannot send a
//! header), in the same server-sent-event format.

use super::api::State;
use super::auth::Caller;
use crate::front::access::Need;
use crate::front::gate::Slot;
use crate::model::ServiceKey;
use crate::registry::RegistryReader;
use crate::store::ServiceSnapshot;
use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How soon a browser reconnects when its stream ends.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Changes a browser may fall behind by before it is told to read everything again.
const BACKLOG: usize = 1024;

/// One changed service: sent to the browser as `{"namespace","group","service","revision"}`.
#[derive(Debug, Clone)]
pub(super) struct Change {
    key: ServiceKey,
    revision: u64,
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Sent<'a> {
            namespace: &'a str,
            group: &'a str,
            service: &'a str,
            revision: u64,
        }
        Sent {
            namespace: self.key.namespace().as_str(),
            group: self.key.group().as_str(),
            service: self.key.service().as_str(),
            revision: self.revision,
        }
        .serialize(serializer)
    }
}

/// Adds the change sink to `registry`'s store; returns the sender the streams subscribe to.
/// Every change also counts in `generation` (what the console's lists are as of).
pub(super) fn watch(
    registry: &RegistryReader,
    generation: Arc<std::sync::atomic::AtomicU64>,
) -> broadcast::Sender<Change> {
    let (tx, _) = broadcast::channel(BACKLOG);
    let sink = tx.clone();
    registry
        .store()
        .add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
            generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            // Nobody watching: nothing to build. A full channel drops the oldest change
            // (its receivers then lag): the writer never waits.
            if sink.receiver_count() == 0 {
                return;
            }
            let _ = sink.send(Change {
                key: snap.key().clone(),
                revision: snap.revision(),
            });
        }));
    tx
}

/// The stream of one browser: a task moves its broadcast receiver's changes into a small
/// channel this stream reads; it ends when the browser goes (the channel closes).
struct Changes(mpsc::Receiver<Event>);

impl futures_core::Stream for Changes {
    type Item = Result<Event, Infallible>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// `GET /console/api/events`: with auth on, a valid token first (403); then admitted by the
/// console's stream gate (429 past it); lasts the stream lifetime, then ends and closes its
/// connection (the browser reconnects). Sends only the changes the caller may read.
pub(super) async fn stream(
    caller: Caller,
    Shared(state): Shared<Arc<State>>,
    request: axum::extract::Request,
) -> Response {
    let allowed = match caller.check(&Need::ListAll) {
        Ok(allowed) => allowed,
        Err(e) => return crate::http::access::refusal(&e),
    };
    let ip = crate::http::access::peer_ip(&request);
    let slot = request.extensions().get::<Slot>().cloned();
    let ticket = match state.streams.admit(ip) {
        Ok(ticket) => ticket,
        Err(refusal) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONNECTION, "close")],
                format!("no live updates now: {refusal}; the page still works, reload it later"),
            )
                .into_response()
        }
    };
    // The stream is counted here now, not among the API's connections.
    if let Some(slot) = slot {
        slot.give_back();
    }
    let mut changes = state.changes.subscribe();
    let (tx, rx) = mpsc::channel(16);
    let lifetime = tokio::time::sleep(state.stream_lifetime);
    tokio::spawn(async move {
        let _ticket = ticket;
        tokio::pin!(lifetime);
        // The first event tells the page it is live, and how soon to come back when the
        // stream ends.
        let hello = Event::default()
            .event("hello")
            .data("{}")
            .retry(RECONNECT_AFTER);
        if tx.send(hello).await.is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                next = changes.recv() => next,
                // The browser went away: stop at once, not at the next change.
                () = tx.closed() => return,
                () = &mut lifetime => return,
            };
            let event = match next {
                Ok(change) if !allowed.may_read(&change.key) => continue,
                Ok(change) => match Event::default().event("change").json_data(&change) {
                    Ok(event) => event,
                    Err(_) => continue,
                },
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Event::default().event("resync").data("{}")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    let sse = Sse::new(Changes(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // The connection ends with the stream: it no longer holds a place of the API's.
    ([(header::CONNECTION, "close")], sse).into_response()
}
