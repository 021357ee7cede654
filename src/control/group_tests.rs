//! Three control members in one process over [`MemoryNetwork`]: real tokio, real redb files,
//! real openraft, its Raft messages through each member's [`ClusterNode`] and the network's
//! fault hooks. Every wait polls with a deadline; only openraft's own timers (set small here)
//! pace the tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::{RaftLogReader, RaftStateMachine};
use openraft::EntryPayload;

use super::*;
use crate::cluster::ClusterNode;
use crate::control::{ControlMembers, ControlState, Namespace};
use crate::model::NamespaceId;
use crate::transport::memory::MemoryNetwork;

const DEADLINE: Duration = Duration::from_secs(20);

fn timing() -> ControlTiming {
    ControlTiming {
        heartbeat: Duration::from_millis(50),
        election_min: Duration::from_millis(300),
        election_max: Duration::from_millis(600),
        write_timeout: Duration::from_secs(2),
    }
}

fn create(id: &str) -> ControlCommand {
    let ns = Namespace::new(NamespaceId::new(id).expect("valid"), id, "", 200).expect("valid");
    ControlCommand::CreateNamespace(ns)
}

struct Member {
    control: ControlNode,
    // Kept alive: the network holds its own clone, the test keeps this one for restarts.
    _node: ClusterNode,
}

struct Group {
    net: MemoryNetwork,
    ids: Vec<NodeId>,
    dir: PathBuf,
    members: Vec<Option<Member>>,
}

impl Group {
    async fn start(name: &str) -> Group {
        let dir = std::env::temp_dir().join(format!("nacre-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let net = MemoryNetwork::new(Arc::new(crate::SystemClock::new()), 7);
        let ids: Vec<NodeId> = (1..=3)
            .map(|i| NodeId::new(&format!("127.0.0.1:{}", 8847 + i)).expect("valid"))
            .collect();
        let mut group = Group {
            net,
            ids,
            dir,
            members: vec![None, None, None],
        };
        for i in 0..3 {
            group.restart(i).await;
        }
        group
    }

    fn path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{i}-{}", store::FILE_NAME))
    }

    /// Starts member `i` on its file (again), and attaches it to the network.
    async fn restart(&mut self, i: usize) {
        let id = &self.ids[i];
        let transport = self.net.transport(id);
        let members = ControlMembers::new(id, &self.ids).expect("a valid list");
        let control = ControlNode::start(&self.path(i), members, Some(transport.clone()), timing())
            .await
            .expect("starts");
        let node = ClusterNode::builder(id.clone(), self.ids.clone(), transport)
            .control(control.handler())
            .build()
            .expect("builds");
        self.net.attach(&node);
        self.members[i] = Some(Member {
            control,
            _node: node,
        });
    }

    /// Crashes member `i`: detached from the network, its Raft stopped, its file closed.
    async fn stop(&mut self, i: usize) {
        self.net.crash(&self.ids[i]);
        if let Some(m) = self.members[i].take() {
            m.control.shutdown().await;
        }
    }

    fn control(&self, i: usize) -> &ControlNode {
        &self.members[i].as_ref().expect("running").control
    }

    fn running(&self) -> impl Iterator<Item = (usize, &ControlNode)> {
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (i, &m.control)))
    }

    /// Waits until every member in `among` names the same leader, one of `among`.
    async fn leader_among(&self, among: &[usize]) -> usize {
        let mut found = None;
        eventually("one leader agreed on", || {
            let leaders: Vec<Option<NodeId>> =
                among.iter().map(|&i| self.control(i).leader()).collect();
            found = match leaders.first() {
                Some(Some(l)) if leaders.iter().all(|x| x.as_ref() == Some(l)) => {
                    among.iter().copied().find(|&i| &self.ids[i] == l)
                }
                _ => None,
            };
            found.is_some()
        })
        .await;
        found.expect("found")
    }

    /// Waits until every running member has applied the same index, at least `target` (an
    /// election may add entries meanwhile), and returns it.
    async fn converged(&self, target: u64) -> u64 {
        let mut reached = None;
        eventually("every running member applied as far", || {
            let mut all = self.running().map(|(_, c)| c.applied_index());
            let first = all.next().flatten();
            reached = first.filter(|&a| a >= target && all.all(|x| x == Some(a)));
            reached.is_some()
        })
        .await;
        reached.expect("reached")
    }

    /// Writes `command` through member `i`, and returns the answer and its index.
    async fn write(&self, i: usize, command: ControlCommand) -> (ControlResponse, u64) {
        let written = self.control(i).write_indexed(command).await;
        let written = written.expect("written");
        (written.response, written.index)
    }

    /// Stops every member and reads each one's state from its file, up to `applied`.
    async fn states(mut self, applied: u64) -> Vec<ControlState> {
        for i in 0..3 {
            self.stop(i).await;
        }
        let mut out = Vec::new();
        for i in 0..3 {
            out.push(read_state(&self.path(i), applied).await);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        out
    }
}

/// The state a member's file holds: its snapshot, then its log entries up to `applied`.
async fn read_state(path: &Path, applied: u64) -> ControlState {
    let (mut log, mut machine) = store::open(path, StoreLimits::default()).expect("opens");
    let (from, _) = machine.applied_state().await.expect("reads");
    let mut state = machine.state().clone();
    let first = from.map_or(0, |l| l.index + 1);
    let entries = log
        .try_get_log_entries(first..=applied)
        .await
        .expect("reads the log");
    if first <= applied {
        assert_eq!(
            entries.last().map(|e| e.log_id.index),
            Some(applied),
            "{} holds the log up to {applied}",
            path.display()
        );
    }
    for entry in entries {
        if let EntryPayload::Normal(command) = &entry.payload {
            state.apply(command);
        }
    }
    state
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {DEADLINE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn has(state: &ControlState, id: &str) -> bool {
    state.namespace(id).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_a_leader_and_a_write_on_it_is_applied_on_all_three() {
    let group = Group::start("control-elect").await;
    let leader = group.leader_among(&[0, 1, 2]).await;
    let (answer, index) = group.write(leader, create("dev")).await;
    assert_eq!(answer, ControlResponse::Done);
    let applied = group.converged(index).await;
    for state in group.states(applied).await {
        assert!(has(&state, "dev"), "{state:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_a_follower_is_forwarded_and_applied_everywhere() {
    let group = Group::start("control-forward").await;
    let leader = group.leader_among(&[0, 1, 2]).await;
    let (answer, _) = group.write((leader + 1) % 3, create("dev")).await;
    assert_eq!(answer, ControlResponse::Done);
    // The leader's state answers a second create, through the other follower.
    let (answer, index) = group.write((leader + 2) % 3, create("dev")).await;
    let exists =
        crate::control::ControlError::NamespaceExists(NamespaceId::new("dev").expect("ok"));
    assert_eq!(answer, ControlResponse::Rejected(exists));
    let applied = group.converged(index).await;
    for state in group.states(applied).await {
        assert!(has(&state, "dev"), "{state:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_loses_its_writes_and_the_majority_goes_on() {
    let group = Group::start("control-partition").await;
    let old = group.leader_among(&[0, 1, 2]).await;
    let (answer, _) = group.write(old, create("before")).await;
    assert_eq!(answer, ControlResponse::Done);
    let majority: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let side: Vec<NodeId> = majority.iter().map(|&i| group.ids[i].clone()).collect();
    let isolated = group.ids[old].clone();
    group
        .net
        .with_faults(|f| f.partition(&[&[isolated], &side]));

    let new = group.leader_among(&majority).await;
    assert_ne!(new, old);
    let (during, _) = group.write(majority[0], create("during")).await;
    assert_eq!(during, ControlResponse::Done);
    let lost = group.control(old).write(create("lost")).await;
    assert!(
        matches!(
            lost,
            Err(ControlWriteError::NoLeader(_) | ControlWriteError::Unconfirmed(_))
        ),
        "{lost:?}"
    );

    group.net.with_faults(|f| f.heal());
    group.leader_among(&[0, 1, 2]).await;
    let (after, index) = group.write(old, create("after")).await;
    assert_eq!(after, ControlResponse::Done);
    let applied = group.converged(index).await;
    let states = group.states(applied).await;
    for state in &states {
        assert!(has(state, "before") && has(state, "during") && has(state, "after"));
        let lost = has(state, "lost");
        assert!(!lost, "an unconfirmed write was applied: {state:?}");
    }
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_on_its_file_catches_up() {
    let mut group = Group::start("control-restart").await;
    let leader = group.leader_among(&[0, 1, 2]).await;
    let follower = (leader + 1) % 3;
    let (answer, index) = group.write(leader, create("one")).await;
    assert_eq!(answer, ControlResponse::Done);
    group.converged(index).await;
    group.stop(follower).await;
    // Two of three still make a majority.
    let (answer, _) = group.write(leader, create("two")).await;
    assert_eq!(answer, ControlResponse::Done);
    group.restart(follower).await;
    group.leader_among(&[0, 1, 2]).await;
    let (answer, index) = group.write(follower, create("three")).await;
    assert_eq!(answer, ControlResponse::Done);
    let applied = group.converged(index).await;
    let states = group.states(applied).await;
    for state in &states {
        assert!(has(state, "one") && has(state, "two") && has(state, "three"));
    }
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_the_leaders_purged_log_catches_up_from_a_snapshot() {
    let mut group = Group::start("control-snapshot").await;
    let leader = group.leader_among(&[0, 1, 2]).await;
    let follower = (leader + 1) % 3;
    let (_, index) = group.write(leader, create("one")).await;
    group.converged(index).await;
    group.stop(follower).await;
    group.write(leader, create("two")).await;
    let (_, index) = group.write(leader, create("three")).await;
    // The leader snapshots and drops its log: the member it left behind can only be sent the
    // snapshot (InstallSnapshot over the peer transport).
    let raft = &group.control(leader).inner.raft;
    raft.trigger().snapshot().await.expect("snapshot triggered");
    let at_least = |l: Option<openraft::LogId<u64>>| l.is_some_and(|l| l.index >= index);
    eventually("the leader snapshots", || {
        at_least(raft.metrics().borrow().snapshot)
    })
    .await;
    raft.trigger()
        .purge_log(index)
        .await
        .expect("purge triggered");
    eventually("the leader purges", || {
        at_least(raft.metrics().borrow().purged)
    })
    .await;
    group.restart(follower).await;
    let applied = group.converged(index).await;
    let installed = group
        .control(follower)
        .inner
        .raft
        .metrics()
        .borrow()
        .snapshot;
    assert!(at_least(installed), "the follower installed {installed:?}");
    let states = group.states(applied).await;
    for state in &states {
        assert!(has(state, "one") && has(state, "two") && has(state, "three"));
    }
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_peer_is_refused_as_malformed_never_a_panic() {
    use crate::cluster::{ControlReply, ControlRequest};
    let dir = std::env::temp_dir().join(format!("nacre-control-garbage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let me = NodeId::new("127.0.0.1:8848").expect("valid");
    let node = ControlNode::start(
        &dir.join(store::FILE_NAME),
        ControlMembers::alone(&me),
        None,
        timing(),
    )
    .await
    .expect("starts");
    node.wait_for_leader(DEADLINE).await.expect("leads itself");
    let handler = node.handler();
    let peer = NodeId::new("127.0.0.1:8849").expect("valid");
    let too_large = vec![0u8; crate::cluster::MAX_CONTROL_BODY_BYTES + 1];
    for body in [vec![], vec![0xff; 7], too_large] {
        for request in [
            ControlRequest::Vote(body.clone()),
            ControlRequest::AppendEntries(body.clone()),
            ControlRequest::InstallSnapshot(body.clone()),
            ControlRequest::Forward(body.clone()),
        ] {
            let reply = handler.receive(&peer, request).await;
            assert!(matches!(reply, ControlReply::Malformed(_)), "{reply:?}");
        }
    }
    // Still a working member.
    assert_eq!(
        node.write(create("dev")).await.expect("written"),
        ControlResponse::Done
    );
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
