//! [`Outbound`]: what the server queues for one connection's bi-stream, bounded by count
//! ([`crate::grpc::GrpcConfig::stream_buffer`]) and by bytes
//! ([`crate::grpc::GrpcConfig::max_queued_bytes_per_connection`]).
//!
//! A push is a whole `serviceInfo`; counted only by message, a client that stops reading
//! made the server hold 1 024 copies of it (485 MB for 200 subscriptions to a 1.6 MB
//! service). Counted by bytes too, a send that would go past the budget is refused
//! ([`SendError::Full`]): the hub counts the push as failed and drops the connection after
//! its failures in a row. One message larger than the whole budget still goes when nothing
//! else is queued, so a large service can be pushed at all.

use super::proto::Payload;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tonic::Status;

type Item = Result<Payload, Status>;

/// The sending side: cheap to clone (the hub's push targets and the front share it).
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    tx: mpsc::Sender<Item>,
    /// Also the queue's identity: [`Outbound::is`].
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// Names one queue without keeping it open ([`Outbound::id`]).
#[derive(Debug, Clone)]
pub(crate) struct QueueId(std::sync::Weak<AtomicUsize>);

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue holds its count or its bytes: the client is not reading.
    Full,
    /// The stream has ended.
    Closed,
}

/// The receiving side, as tonic's response stream: frees each message's bytes as tonic
/// takes it.
#[derive(Debug)]
pub(crate) struct OutboundStream {
    rx: mpsc::Receiver<Item>,
    queued: Arc<AtomicUsize>,
}

impl Outbound {
    /// A queue of at most `messages` messages and `max_bytes` bytes.
    pub(crate) fn channel(messages: usize, max_bytes: usize) -> (Outbound, OutboundStream) {
        let (tx, rx) = mpsc::channel(messages.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Outbound {
                tx,
                queued: queued.clone(),
                max_bytes,
            },
            OutboundStream { rx, queued },
        )
    }

    /// Queues `payload`, or says why not.
    pub(crate) fn try_send(&self, payload: Payload) -> Result<(), SendError> {
        let size = payload.json().len();
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > self.max_bytes {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return Err(SendError::Full);
        }
        self.tx.try_send(Ok(payload)).map_err(|e| {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            match e {
                TrySendError::Full(_) => SendError::Full,
                TrySendError::Closed(_) => SendError::Closed,
            }
        })
    }

    /// This queue's name.
    pub(crate) fn id(&self) -> QueueId {
        QueueId(Arc::downgrade(&self.queued))
    }

    /// Whether this is the queue `id` names.
    pub(crate) fn is(&self, id: &QueueId) -> bool {
        std::sync::Weak::ptr_eq(&Arc::downgrade(&self.queued), &id.0)
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

impl tokio_stream::Stream for OutboundStream {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let next = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(payload))) = &next {
            self.queued
                .fetch_sub(payload.json().len(), Ordering::AcqRel);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn message(bytes: usize) -> Payload {
        Payload::new("NotifySubscriberRequest", vec![b'x'; bytes])
    }

    #[tokio::test]
    async fn a_reader_that_stops_holds_at_most_the_byte_budget() {
        let (tx, mut rx) = Outbound::channel(1024, 1000);
        for _ in 0..4 {
            tx.try_send(message(250)).unwrap();
        }
        assert_eq!(tx.try_send(message(1)), Err(SendError::Full));
        assert_eq!(tx.queued_bytes(), 1000);
        // The client reads one: room for one more of the same size.
        rx.next().await.unwrap().unwrap();
        assert_eq!(tx.queued_bytes(), 750);
        tx.try_send(message(250)).unwrap();
        assert_eq!(tx.try_send(message(250)), Err(SendError::Full));
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_goes_alone() {
        let (tx, mut rx) = Outbound::channel(1024, 100);
        tx.try_send(message(500)).unwrap();
        assert_eq!(tx.try_send(message(10)), Err(SendError::Full));
        rx.next().await.unwrap().unwrap();
        tx.try_send(message(10)).unwrap();
    }

    #[tokio::test]
    async fn the_count_bound_holds_too_and_a_closed_stream_says_so() {
        let (tx, rx) = Outbound::channel(2, 1 << 20);
        tx.try_send(message(1)).unwrap();
        tx.try_send(message(1)).unwrap();
        assert_eq!(tx.try_send(message(1)), Err(SendError::Full));
        assert_eq!(tx.queued_bytes(), 2);
        drop(rx);
        assert_eq!(tx.try_send(message(1)), Err(SendError::Closed));
        assert_eq!(tx.queued_bytes(), 2);
    }
}
