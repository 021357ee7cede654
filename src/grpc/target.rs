//! [`ConnTarget`]: a gRPC connection as a push target. A push is a `NotifySubscriberRequest`
//! on the connection's bi-stream whose `requestId` is the hub's [`AckId`]; the client's
//! `NotifySubscriberResponse` with that id is the ack.

use super::outbound::{Outbound, SendError};
use super::proto::Payload;
use super::server::Shared;
use crate::front::push::{AckId, PushResult, PushTarget, TargetKey};
use crate::protocol::json::{NameStyle, ServiceInfoJsonRef};
use crate::protocol::ServiceInfo;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

/// See the module documentation.
pub(crate) struct ConnTarget {
    addr: SocketAddr,
    /// The client's version, as its connection setup named it.
    agent: Arc<str>,
    stream: Outbound,
    shared: Weak<Shared>,
}

/// The JSON of `info`, serialized once per push round rather than once per subscriber.
fn service_info_json(shared: &Shared, info: &ServiceInfo) -> Arc<str> {
    let made: Result<Arc<str>, std::convert::Infallible> =
        shared.notify_memo.get_or_make(info, || {
            let health = shared.backend.registry().health_config();
            let grouped = info.service.grouped_name();
            let value = ServiceInfoJsonRef::from_info(info, &grouped, NameStyle::Plain, health);
            Ok(serde_json::to_string(&value)
                .unwrap_or_else(|_| "{}".to_owned())
                .into())
        });
    match made {
        Ok(json) => json,
        Err(never) => match never {},
    }
}

impl ConnTarget {
    pub(crate) fn new(
        addr: SocketAddr,
        agent: Arc<str>,
        stream: Outbound,
        shared: Weak<Shared>,
    ) -> Self {
        Self {
            addr,
            agent,
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

    fn describe(&self) -> crate::front::push::TargetDetails {
        crate::front::push::TargetDetails {
            addr: self.addr.to_string(),
            agent: self.agent.to_string(),
            app: String::new(),
        }
    }

    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult {
        let Some(shared) = self.shared.upgrade() else {
            return PushResult::Closed;
        };
        let json = service_info_json(&shared, info);
        // The same serviceInfo goes to every subscriber of the shape: only the id differs.
        let body = format!(
            r#"{{"headers":{{}},"requestId":"{}","module":"naming","serviceInfo":{json}}}"#,
            ack.0
        );
        let payload = Payload::new("NotifySubscriberRequest", body.into_bytes());
        match self.stream.try_send(payload) {
            Ok(()) => PushResult::AwaitingAck,
            Err(SendError::Full) => {
                PushResult::Failed("the connection's send queue is full (count or bytes)".into())
            }
            Err(SendError::Closed) => PushResult::Closed,
        }
    }

    fn dropped(&self) {
        if let Some(shared) = self.shared.upgrade() {
            let _ = shared.close_tx.send(self.addr);
            shared.wake.notify_one();
        }
    }
}
