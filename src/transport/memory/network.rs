//! [`MemoryNetwork`]: an in-process network for [`ClusterNode`]s on tokio, with the faults of a
//! [`FaultModel`].

use super::faults::{Delivery, FaultModel};
use crate::clock::Clock;
use crate::cluster::{
    encoded_len, request_len, ClusterNode, NodeId, PeerError, PeerHandler, PeerRequest,
    PeerResponse, PeerTransport,
};
use crate::util::lock;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Requests handed to the network.
    pub requests: u64,
    /// Requests that reached their receiver.
    pub delivered: u64,
    /// Bytes of the delivered requests (in their [`crate::cluster::Envelope`]) and their
    /// answers, as the binary peer format encodes them ([`crate::cluster::encode_message`]):
    /// what an HTTP peer body would hold, without HTTP's own headers.
    pub bytes: u64,
    /// The same messages as JSON, for comparison. Counted only where a [`super::Simulation`]
    /// measures bytes; the [`MemoryNetwork`] leaves it 0.
    pub json_bytes: u64,
}

struct State {
    faults: FaultModel,
    handlers: HashMap<NodeId, Arc<dyn PeerHandler>>,
    stats: NetStats,
}

/// An in-process network. Attach nodes, hand each the [`PeerTransport`] from
/// [`MemoryNetwork::transport`], and inject faults while they run. Delays sleep on the given
/// clock, so with a [`crate::ManualClock`] no real time passes.
#[derive(Clone)]
pub struct MemoryNetwork {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNetwork")
            .field("stats", &self.stats())
            .finish()
    }
}

impl MemoryNetwork {
    /// A perfect network on `clock`, whose fault randomness comes from `seed`.
    pub fn new(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            clock,
            state: Arc::new(Mutex::new(State {
                faults: FaultModel::new(seed),
                handlers: HashMap::new(),
                stats: NetStats::default(),
            })),
        }
    }

    /// The transport node `me` sends through.
    pub fn transport(&self, me: &NodeId) -> Arc<dyn PeerTransport> {
        Arc::new(MemoryTransport {
            me: me.clone(),
            net: self.clone(),
        })
    }

    /// Makes `node` reachable under its id (again, after a restart).
    pub fn attach(&self, node: &ClusterNode) {
        let mut s = lock(&self.state);
        s.faults.restart(node.id());
        s.handlers.insert(node.id().clone(), Arc::new(node.clone()));
    }

    /// Attaches any handler under `id`.
    pub fn attach_handler(&self, id: &NodeId, handler: Arc<dyn PeerHandler>) {
        let mut s = lock(&self.state);
        s.faults.restart(id);
        s.handlers.insert(id.clone(), handler);
    }

    /// Crashes a node: it is detached and nothing reaches it. Stop its driver too
    /// ([`ClusterNode::stop`]) so it stops sending.
    pub fn crash(&self, id: &NodeId) {
        let mut s = lock(&self.state);
        s.faults.crash(id);
        s.handlers.remove(id);
    }

    /// Changes the faults.
    pub fn with_faults<R>(&self, f: impl FnOnce(&mut FaultModel) -> R) -> R {
        f(&mut lock(&self.state).faults)
    }

    /// Traffic so far.
    pub fn stats(&self) -> NetStats {
        lock(&self.state).stats
    }

    async fn deliver(
        &self,
        from: &NodeId,
        to: &NodeId,
        request: PeerRequest,
    ) -> Result<PeerResponse, PeerError> {
        let (fate, request_bytes) = {
            let mut s = lock(&self.state);
            s.stats.requests += 1;
            (s.faults.decide(from, to), request_len(from, &request))
        };
        let delay = match fate {
            Delivery::Deliver(d) => d,
            Delivery::Drop => return Err(PeerError::Timeout(to.clone())),
            Delivery::Unreachable => return Err(PeerError::Unreachable(to.clone())),
        };
        if !delay.is_zero() {
            self.clock.sleep_until(self.clock.now() + delay).await;
        }
        let handler = {
            let s = lock(&self.state);
            if !s.faults.can_reach(from, to) {
                return Err(PeerError::Unreachable(to.clone()));
            }
            s.handlers.get(to).cloned()
        };
        let Some(handler) = handler else {
            return Err(PeerError::Unreachable(to.clone()));
        };
        let response = match request {
            PeerRequest::Control(request) => handler.receive_control(from, request).await,
            request => handler.receive(from, request),
        };
        {
            let mut s = lock(&self.state);
            s.stats.delivered += 1;
            s.stats.bytes += request_bytes + encoded_len(&response);
        }
        if !delay.is_zero() {
            self.clock.sleep_until(self.clock.now() + delay).await;
        }
        let back = lock(&self.state).faults.can_reach(to, from);
        if back {
            Ok(response)
        } else {
            Err(PeerError::Timeout(to.clone()))
        }
    }
}

/// JSON size of a message, for traffic accounting.
pub(crate) fn json_len<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_vec(value).map_or(0, |v| v.len() as u64)
}

struct MemoryTransport {
    me: NodeId,
    net: MemoryNetwork,
}

#[async_trait]
impl PeerTransport for MemoryTransport {
    async fn send(&self, to: &NodeId, request: PeerRequest) -> Result<PeerResponse, PeerError> {
        self.net.deliver(&self.me, to, request).await
    }
}
