//! The console's live updates: one change sink on the store feeds a broadcast channel; each
//! browser's `GET /console/api/events` gets its own receiver as a server-sent-event stream.

use super::api::State;
use crate::registry::RegistryReader;
use crate::store::ServiceSnapshot;
use axum::extract::State as Shared;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Changes a browser may fall behind by before it is told to read everything again.
const BACKLOG: usize = 1024;

/// One changed service, as sent to the browser.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Change {
    namespace: String,
    group: String,
    service: String,
    revision: u64,
}

/// Adds the change sink to `registry`'s store; returns the sender the streams subscribe to.
pub(super) fn watch(registry: &RegistryReader) -> broadcast::Sender<Change> {
    let (tx, _) = broadcast::channel(BACKLOG);
    let sink = tx.clone();
    registry
        .store()
        .add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
            // Nobody watching: nothing to build. A full channel drops the oldest change
            // (its receivers then lag): the writer never waits.
            if sink.receiver_count() == 0 {
                return;
            }
            let key = snap.key();
            let _ = sink.send(Change {
                namespace: key.namespace().as_str().to_owned(),
                group: key.group().as_str().to_owned(),
                service: key.service().as_str().to_owned(),
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

/// `GET /console/api/events`.
pub(super) async fn stream(
    Shared(state): Shared<Arc<State>>,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let mut changes = state.changes.subscribe();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        // The first event tells the page it is live.
        if tx
            .send(Event::default().event("hello").data("{}"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let next = tokio::select! {
                next = changes.recv() => next,
                // The browser went away: stop at once, not at the next change.
                () = tx.closed() => return,
            };
            let event = match next {
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
    Sse::new(Changes(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
