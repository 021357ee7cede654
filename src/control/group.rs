//! [`ControlNode`]: one member of the control group, 1 to n members, on the store's file and
//! the peer transport.
//!
//! ## Starting a group
//!
//! Every member starts with the same static list ([`ControlMembers`], from `--members`). A
//! new group is initialized by one member only, the one with the lowest Raft id: it writes the
//! membership as the log's first entry and stands for election; the others start empty and
//! wait to hear from it (they take its vote request, then its log). At a restart every member
//! finds its log and vote on disk and initializes nothing. The lowest id, rather than "every
//! member initializes with the same list", keeps one first entry in every log; the cost is
//! that a brand-new group forms only once that member is up (after that, any majority works).
//!
//! Nacos' JRaft needs no such step: every member starts with the same initial configuration
//! (its `cluster.conf`) and any of them may stand for election from an empty log. openraft
//! asks for an explicit `initialize` instead, on one member.
//!
//! ## Writes
//!
//! [`ControlNode::write`] is the one entry point. On the leader the command is appended,
//! replicated to a majority (each on disk), applied and answered. On a follower that knows
//! the leader it is forwarded once, as a [`ControlRequest::Forward`], and the leader's answer
//! is returned. Otherwise it fails:
//! - [`ControlWriteError::NoLeader`]: no leader is known (an election is running, or this
//!   member is in a minority), or the leader moved while the write was forwarded; nothing was
//!   appended for it.
//! - [`ControlWriteError::Unconfirmed`]: the write was handed to a leader (this member, or
//!   the one it was forwarded to) but not confirmed within [`ControlTiming::write_timeout`]:
//!   a leader cut off from its majority cannot commit it, but one that was slow may still.
//!   Fronts answer both as Nacos' "no leader"; a history checker must count the second as
//!   unknown.
//!
//! A leader cut off from its majority keeps its title until it hears a higher term (openraft
//! 0.9 has no leader lease check on writes): its writes end as `Unconfirmed`, are never
//! committed, and are replaced by the new leader's log when the partition heals.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, Raft};

use super::command::{ControlCommand, ControlResponse};
use super::members::ControlMembers;
use super::network::NoPeers;
use super::node::{ControlStartError, ControlWriteError};
use super::peer_network::PeerNetwork;
use super::serve::ControlPeer;
use super::store::{self, StoreLimits};
use super::types::ControlTypeConfig;
use super::wire::{self, ForwardAnswer, ForwardFailure};
use crate::cluster::{
    ControlHandler, ControlReply, ControlRequest, NodeId, PeerError, PeerRequest, PeerResponse,
    PeerTransport,
};

/// The name of the control group (openraft's `cluster_name`), which the "no leader" error
/// names as Nacos names its Raft group.
pub const CONTROL_GROUP: &str = "nacre-control";

/// How long [`ControlNode::shutdown`] waits for Raft's tasks to close the store's file.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The control group's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlTiming {
    /// How often the leader sends heartbeats (default 250 ms); also how long openraft lets one
    /// `AppendEntries` take.
    pub heartbeat: Duration,
    /// A follower stands for election after hearing nothing for a random time between
    /// `election_min` and `election_max` (default 1.5 s to 3 s). Nacos' JRaft waits 5 s.
    /// `election_min` also bounds the sending of one snapshot chunk.
    pub election_min: Duration,
    /// See `election_min`.
    pub election_max: Duration,
    /// How long a write waits to be committed before it is answered
    /// [`ControlWriteError::Unconfirmed`] (default 5 s); a forwarded write gets as long again
    /// on the wire.
    pub write_timeout: Duration,
}

impl Default for ControlTiming {
    fn default() -> Self {
        ControlTiming {
            heartbeat: Duration::from_millis(250),
            election_min: Duration::from_millis(1500),
            election_max: Duration::from_millis(3000),
            write_timeout: Duration::from_secs(5),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) struct Inner {
    pub(crate) raft: Raft<ControlTypeConfig>,
    /// This member's writes, in batches (group commit, `super::batch`).
    batcher: super::batch::Batcher,
    members: ControlMembers,
    transport: Option<Arc<dyn PeerTransport>>,
    pub(crate) timing: ControlTiming,
    file_open: Box<dyn Fn() -> bool + Send + Sync>,
    /// The applied state, as the state machine publishes it (read by `super::plane`).
    pub(crate) view: super::view::StateView,
}

/// One member of the control group. Cheap to clone; clones share the member.
///
/// A member of three, over the peer transport its [`crate::cluster::ClusterNode`] uses
/// (`transport` here), answering the others through that node:
///
/// ```no_run
/// use std::sync::Arc;
/// use nacre::cluster::{ClusterNode, NodeId, PeerTransport};
/// use nacre::control::{ControlMembers, ControlNode, ControlTiming};
///
/// # async fn run(transport: Arc<dyn PeerTransport>) -> Result<(), Box<dyn std::error::Error>> {
/// let me = NodeId::new("10.0.0.1:8848")?;
/// let all: Vec<NodeId> = ["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"]
///     .iter()
///     .map(|a| NodeId::new(a))
///     .collect::<Result<_, _>>()?;
/// let members = ControlMembers::new(&me, &all)?;
/// let path = std::path::Path::new("/var/lib/nacre/control.redb");
/// let control =
///     ControlNode::start(path, members, Some(transport.clone()), ControlTiming::default()).await?;
/// let node = ClusterNode::builder(me, all, transport)
///     .control(control.handler())
///     .build()?;
/// node.start();
/// let leader = control.wait_for_leader(std::time::Duration::from_secs(10)).await?;
/// # let _ = leader;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ControlNode {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ControlNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlNode")
            .field("me", self.inner.members.me())
            .field("members", &self.inner.members.len())
            .finish()
    }
}

impl ControlNode {
    /// Opens the store at `path` and starts this member of `members`, reaching the others
    /// through `transport` (none for a group of one). Initializes a new group when this
    /// member has the lowest id (see the module docs). Returns at once: hand
    /// [`ControlNode::handler`] to the member's [`crate::cluster::ClusterNode`], then wait
    /// for a leader ([`ControlNode::wait_for_leader`]) if the caller needs one.
    pub async fn start(
        path: &Path,
        members: ControlMembers,
        transport: Option<Arc<dyn PeerTransport>>,
        timing: ControlTiming,
    ) -> Result<Self, ControlStartError> {
        let limits = StoreLimits::default();
        let (log, machine) = store::open(path, limits)?;
        let file_open = Box::new(log.open_probe());
        let view = machine.view();
        let config = Config {
            cluster_name: CONTROL_GROUP.to_owned(),
            heartbeat_interval: millis(timing.heartbeat),
            election_timeout_min: millis(timing.election_min),
            election_timeout_max: millis(timing.election_max),
            max_payload_entries: wire::max_payload_entries(limits.max_entry_bytes),
            // openraft bounds each append by the heartbeat interval; a snapshot chunk (3 MiB)
            // gets the shortest election timeout rather than its default 200 ms.
            install_snapshot_timeout: millis(timing.election_min),
            ..Config::default()
        }
        .validate()
        .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        let (id, config) = (members.my_id(), Arc::new(config));
        let raft = match &transport {
            Some(t) => Raft::new(id, config, PeerNetwork::new(t.clone()), log, machine).await,
            None => Raft::new(id, config, NoPeers, log, machine).await,
        }
        .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        if !initialized && members.initializes() {
            raft.initialize(members.raft_nodes())
                .await
                .map_err(|e| ControlStartError::Raft(e.to_string()))?;
            tracing::info!(id, members = members.len(), "control group initialized");
        }
        Ok(ControlNode {
            inner: Arc::new(Inner {
                batcher: super::batch::Batcher::start(raft.clone()),
                raft,
                members,
                transport,
                timing,
                file_open,
                view,
            }),
        })
    }

    /// The side that answers the other members' control requests: give it to this member's
    /// [`crate::cluster::ClusterNodeBuilder::control`].
    pub fn handler(&self) -> Arc<dyn ControlHandler> {
        Arc::new(ControlPeer::new(self.clone()))
    }

    /// This member's id on the peer network.
    pub fn me(&self) -> &NodeId {
        self.inner.members.me()
    }

    /// The member this one believes leads the group, if any.
    pub fn leader(&self) -> Option<NodeId> {
        let leader = self.inner.raft.metrics().borrow().current_leader;
        leader.and_then(|id| self.inner.members.address(id).cloned())
    }

    /// Whether this member leads the group now.
    pub fn is_leader(&self) -> bool {
        self.leader().as_ref() == Some(self.me())
    }

    /// The Raft term this member is in (0 before the first election).
    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow().current_term
    }

    /// The index of the last log entry this member applied (`None` before the first).
    pub fn applied_index(&self) -> Option<u64> {
        self.inner
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
    }

    /// Waits until this member has applied the entry at `index`, at most `timeout`; answers
    /// whether it has.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut metrics = self.inner.raft.metrics();
        let reached = tokio::time::timeout(timeout, async {
            loop {
                if self.applied_index().is_some_and(|i| i >= index) {
                    return true;
                }
                if metrics.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        reached.unwrap_or(false)
    }

    /// Waits until this member knows a leader, at most `timeout`, and returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, ControlWriteError> {
        let mut metrics = self.inner.raft.metrics();
        let known = tokio::time::timeout(timeout, async {
            loop {
                if let Some(leader) = self.leader() {
                    return Ok(leader);
                }
                if metrics.changed().await.is_err() {
                    return Err(ControlWriteError::Stopped("Raft stopped".to_owned()));
                }
            }
        })
        .await;
        known.unwrap_or_else(|_| {
            Err(ControlWriteError::NoLeader(format!(
                "no leader elected within {timeout:?}"
            )))
        })
    }

    /// Writes `command` through the group: applied on the leader (here, or forwarded to it)
    /// and answered once a majority has it on disk. See the module docs for the errors.
    pub async fn write(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        Ok(self.write_indexed(command).await?.response)
    }

    /// [`ControlNode::write`], with the log index the command was committed at: once this
    /// member's [`ControlNode::applied_index`] reaches it, its state includes the write.
    pub async fn write_indexed(
        &self,
        command: ControlCommand,
    ) -> Result<Written, ControlWriteError> {
        match self.write_here(command.clone()).await {
            Err(Redirect::To(leader)) => self.forward(&leader, command).await,
            Err(Redirect::Fail(e)) => Err(e),
            Ok(answer) => Ok(answer),
        }
    }

    /// Writes `command` if this member leads; says where the leader is otherwise.
    async fn write_here(&self, command: ControlCommand) -> Result<Written, Redirect> {
        let timeout = self.inner.timing.write_timeout;
        let written = tokio::time::timeout(timeout, self.inner.batcher.write(command)).await;
        match written {
            Err(_) => Err(Redirect::Fail(ControlWriteError::Unconfirmed(format!(
                "not committed within {timeout:?}: this member leads but no majority answered"
            )))),
            Ok(None) => Err(Redirect::Fail(ControlWriteError::Stopped(
                "the control plane's writer has stopped".to_owned(),
            ))),
            Ok(Some(Ok((index, response)))) => Ok(Written { index, response }),
            Ok(Some(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))))) => {
                let leader = f.leader_id.and_then(|id| self.inner.members.address(id));
                match leader {
                    Some(leader) if leader != self.me() && self.inner.transport.is_some() => {
                        Err(Redirect::To(leader.clone()))
                    }
                    _ => Err(Redirect::Fail(ControlWriteError::NoLeader(
                        "no leader is known to this member (an election is running, or this \
                         member is cut off from a majority)"
                            .to_owned(),
                    ))),
                }
            }
            Ok(Some(Err(e))) => Err(Redirect::Fail(ControlWriteError::Stopped(e.to_string()))),
        }
    }

    /// A write forwarded here by another member: written if this member leads, never
    /// forwarded again.
    pub(crate) async fn write_forwarded(&self, command: ControlCommand) -> ForwardAnswer {
        match self.write_here(command).await {
            Ok(answer) => Ok(answer),
            Err(Redirect::To(leader)) => Err(ForwardFailure::NoLeader(format!(
                "this member does not lead; it believes {leader} does"
            ))),
            Err(Redirect::Fail(ControlWriteError::Unconfirmed(why))) => {
                Err(ForwardFailure::Unconfirmed(why))
            }
            Err(Redirect::Fail(ControlWriteError::Stopped(why))) => {
                Err(ForwardFailure::Stopped(why))
            }
            Err(Redirect::Fail(e)) => Err(ForwardFailure::NoLeader(e.to_string())),
        }
    }

    /// Sends `command` to `leader` and returns its answer.
    async fn forward(
        &self,
        leader: &NodeId,
        command: ControlCommand,
    ) -> Result<Written, ControlWriteError> {
        let Some(transport) = &self.inner.transport else {
            return Err(ControlWriteError::NoLeader("no peer network".to_owned()));
        };
        let body = wire::encode(&command).map_err(|e| ControlWriteError::Stopped(e.to_string()))?;
        let request = PeerRequest::Control(ControlRequest::Forward(body));
        // The leader's own wait, and as long again for the wire.
        let timeout = self.inner.timing.write_timeout * 2;
        let unconfirmed = |why: String| {
            ControlWriteError::Unconfirmed(format!("forwarded to the leader {leader}: {why}"))
        };
        let no_leader = |why: String| {
            ControlWriteError::NoLeader(format!("the leader {leader} did not take it: {why}"))
        };
        let answer = match tokio::time::timeout(timeout, transport.send(leader, request)).await {
            Err(_) => return Err(unconfirmed(format!("no answer within {timeout:?}"))),
            Ok(Err(e @ PeerError::Unreachable(_))) => return Err(no_leader(e.to_string())),
            Ok(Err(e)) => return Err(unconfirmed(e.to_string())),
            Ok(Ok(PeerResponse::Control(ControlReply::Answer(bytes)))) => bytes,
            Ok(Ok(other)) => return Err(no_leader(format!("{other:?}"))),
        };
        match wire::decode::<ForwardAnswer>(&answer) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ForwardFailure::NoLeader(why) | ForwardFailure::Stopped(why))) => {
                Err(no_leader(why))
            }
            Ok(Err(ForwardFailure::Unconfirmed(why))) => Err(unconfirmed(why)),
            Err(e) => Err(unconfirmed(e.to_string())),
        }
    }

    /// Stops Raft, and returns once its tasks have closed the store's file (so that it can
    /// be opened again), or after 10 s with a warning. Clones (the handler given to the
    /// cluster node) then answer every request as a stopped member.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "the control plane's Raft did not stop cleanly");
        }
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        while (self.inner.file_open)() {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("the control plane's store is still open after its Raft stopped");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A committed write: its answer, and where it is in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// The log index it was committed at.
    pub index: u64,
    /// What applying it answered.
    pub response: ControlResponse,
}

/// Where a write goes when this member does not take it.
enum Redirect {
    /// To the leader.
    To(NodeId),
    /// Nowhere: the write fails.
    Fail(ControlWriteError),
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
