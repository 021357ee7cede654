//! [`PushTarget`]: one place pushes go — an in-process [`PushSink`], a UDP address, a gRPC
//! stream.

use crate::protocol::{PushSink, ServiceInfo, Taken};
use std::fmt;
use std::sync::Arc;

/// Names a push target; subscriptions and acks are keyed by it. Two targets with the same key
/// are the same target (a renewal replaces the older handle).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey(Arc<str>);

impl TargetKey {
    /// A key from any text (`"udp:10.0.0.1:53000"`, `"grpc:<connection id>"`...).
    pub fn new(key: impl AsRef<str>) -> Self {
        TargetKey(Arc::from(key.as_ref()))
    }
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names one push, so its ack can be matched (UDP puts it in `lastRefTime`, gRPC in the
/// request id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AckId(pub u64);

/// What a push target says of itself, for listings of subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetDetails {
    /// Where pushes go (`10.0.0.7:53000`, a connection's address, `in-process#3`).
    pub addr: String,
    /// The client's user agent, if it gave one.
    pub agent: String,
    /// The client's application name (Nacos' `app`), if it gave one.
    pub app: String,
}

/// What a target did with a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// Taken on the spot: no ack will follow.
    Delivered,
    /// Sent; [`super::PushHub::ack`] reports its ack later.
    AwaitingAck,
    /// The target is gone for good: drop it and its subscriptions.
    Closed,
    /// Not sent this time (a full buffer, a send error): counts as a failed push.
    Failed(String),
}

/// Where pushes go. Implementations must not block: `push` is called by the hub's driver for
/// every subscriber in turn (queue the data, or send it without waiting).
pub trait PushTarget: Send + Sync + 'static {
    /// The target's key.
    fn key(&self) -> TargetKey;
    /// Sends `info`, naming the push `ack`.
    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult;

    /// [`PushTarget::push`] for a push a drain waits on (see [`crate::front::drain`]): a
    /// target that answers [`PushResult::Delivered`] may hand back what resolves once the
    /// client *took* the push (applied it, its listeners returned), and the drain counts the
    /// target then rather than on the spot. Default: [`PushTarget::push`], nothing to wait for.
    fn push_taking(&self, info: &ServiceInfo, ack: AckId) -> (PushResult, Option<Taken>) {
        (self.push(info, ack), None)
    }

    /// What the target is, for listings of subscribers (`/service/subscribers`). Default: the
    /// key as the address, nothing else.
    fn describe(&self) -> TargetDetails {
        TargetDetails {
            addr: self.key().to_string(),
            ..TargetDetails::default()
        }
    }

    /// The address the target's pushes go to, when many targets can share one host (UDP: a
    /// port each): the hub bounds the subscriptions of one source
    /// ([`super::PushConfig::max_subscriptions_per_source`]). Default: none (a connection is
    /// bounded by its front).
    fn source(&self) -> Option<std::net::IpAddr> {
        None
    }

    /// The hub dropped this target because its pushes kept failing (not called when the
    /// target itself answered [`PushResult::Closed`]). A connection-based target closes its
    /// connection here. Default: nothing.
    fn dropped(&self) {}
}

/// The agent listed for in-process subscribers (a [`PushSink`] of a [`crate::NamingClient`]
/// in the same process).
pub const IN_PROCESS_AGENT: &str = "nacre-in-process";

/// The in-process target: a [`crate::NamingClient`]'s own sink, delivered on the spot.
impl PushTarget for PushSink {
    fn key(&self) -> TargetKey {
        TargetKey::new(format!("sink:{}", self.id()))
    }
    fn describe(&self) -> TargetDetails {
        TargetDetails {
            addr: format!("in-process#{}", self.id()),
            agent: IN_PROCESS_AGENT.to_owned(),
            app: String::new(),
        }
    }
    fn push(&self, info: &ServiceInfo, _ack: AckId) -> PushResult {
        if PushSink::push(self, info.clone()) {
            PushResult::Delivered
        } else {
            PushResult::Closed
        }
    }
    fn push_taking(&self, info: &ServiceInfo, _ack: AckId) -> (PushResult, Option<Taken>) {
        match self.push_taken(info.clone()) {
            Some(taken) => (PushResult::Delivered, Some(taken)),
            None => (PushResult::Closed, None),
        }
    }
}
