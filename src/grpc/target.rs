//! [`ConnTarget`]: a gRPC connection as a push target. A push is a `NotifySubscriberRequest`
//! on the connection's bi-stream whose `requestId` is the hub's [`AckId`]; the client's
//! `NotifySubscriberResponse` with that id is the ack.

use super::messages::{to_payload, ServerRequest};
use super::proto::Payload;
use super::server::Shared;
use crate::client::ServiceInfo;
use crate::front::json::{NameStyle, ServiceInfoJsonRef};
use crate::front::push::{AckId, PushResult, PushTarget, TargetKey};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Weak;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;
use tonic::Status;

/// See the module documentation.
pub(crate) struct ConnTarget {
    addr: SocketAddr,
    stream: Sender<Result<Payload, Status>>,
    shared: Weak<Shared>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notify<'a> {
    service_info: ServiceInfoJsonRef<'a>,
}

impl ConnTarget {
    pub(crate) fn new(
        addr: SocketAddr,
        stream: Sender<Result<Payload, Status>>,
        shared: Weak<Shared>,
    ) -> Self {
        Self {
            addr,
            stream,
            shared,
        }
    }

    /// The hub key of the connection at `addr`.
    pub(crate) fn key_of(addr: &SocketAddr) -> TargetKey {
        TargetKey::new(format!("grpc:{addr}"))
    }
}

impl PushTarget for ConnTarget {
    fn key(&self) -> TargetKey {
        Self::key_of(&self.addr)
    }

    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult {
        let Some(shared) = self.shared.upgrade() else {
            return PushResult::Closed;
        };
        let health = shared.backend.registry().health_config();
        let grouped = info.service.grouped_name();
        let body = ServerRequest::new(
            ack.0,
            "naming",
            Notify {
                service_info: ServiceInfoJsonRef::from_info(
                    info,
                    &grouped,
                    NameStyle::Plain,
                    health,
                ),
            },
        );
        match self
            .stream
            .try_send(Ok(to_payload("NotifySubscriberRequest", &body)))
        {
            Ok(()) => PushResult::AwaitingAck,
            Err(TrySendError::Full(_)) => {
                PushResult::Failed("the connection's send buffer is full".into())
            }
            Err(TrySendError::Closed(_)) => PushResult::Closed,
        }
    }

    fn dropped(&self) {
        if let Some(shared) = self.shared.upgrade() {
            let _ = shared.close_tx.send(self.addr);
            shared.wake.notify_one();
        }
    }
}
