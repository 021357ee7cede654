//! The gRPC front's driver: beats for connection-bound instances, client detection, and
//! closing connections. One task, so that a connection's close and the beats for its
//! instances never interleave: a beat awaited here cannot land after the close that follows
//! it.

use super::messages::{Empty, ServerRequest};
use super::server::{self, send_on_stream, Shared};
use crate::clock::Clock;
use crate::cluster::ClusterError;
use crate::registry::Command;
use crate::store::StoreError;
use crate::util::{lock, next_round};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, Notify};

/// Beats (and connection closes) a cluster member sends to other members at once, for
/// connection-bound instances.
const MAX_BEATS_IN_FLIGHT: usize = 64;

pub(crate) async fn run(
    weak: Weak<Shared>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
    mut close_rx: mpsc::UnboundedReceiver<SocketAddr>,
) {
    let mut closing: Vec<SocketAddr> = Vec::new();
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        while let Ok(addr) = close_rx.try_recv() {
            closing.push(addr);
        }
        // Closes wait on forwarded deregistrations: a bounded number at once, all done
        // before any beat below (so no beat lands after its connection's close).
        in_flight(closing.drain(..), |addr| {
            let shared = shared.clone();
            async move { server::close(&shared, addr).await }
        })
        .await;
        let now = clock.now();
        let (beats, live) = {
            let mut table = lock(&shared.table);
            (table.due_beats(now), table.liveness(now))
        };
        if shared.backend.cluster_node().is_none() {
            // A standalone beat is an atomic store: no task is worth spawning for it.
            for (service, instance, tag) in beats {
                beat(&shared, service, instance, tag).await;
            }
        } else {
            // Beats forwarded to other members wait on the network: a bounded number at once.
            in_flight(beats, |(service, instance, tag)| {
                let shared = shared.clone();
                async move { beat(&shared, service, instance, tag).await }
            })
            .await;
        }
        for (addr, id) in live.probe {
            let probe = ServerRequest::new(id, "internal", Empty {});
            if !send_on_stream(&shared, &addr, "ClientDetectionRequest", &probe) {
                closing.push(addr);
            }
        }
        closing.extend(live.drop);
        if !closing.is_empty() {
            continue;
        }
        let next = lock(&shared.table).next_wakeup();
        drop(shared);
        tokio::select! {
            () = next_round(&*clock, now, next, &wake) => {}
            addr = close_rx.recv() => match addr {
                Some(addr) => closing.push(addr),
                None => return,
            },
        }
    }
}

/// Runs `work` on every item, at most [`MAX_BEATS_IN_FLIGHT`] at once, and returns when all
/// are done.
async fn in_flight<T, F, Fut>(items: impl IntoIterator<Item = T>, mut work: F)
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for item in items {
        if tasks.len() >= MAX_BEATS_IN_FLIGHT {
            let _ = tasks.join_next().await;
        }
        tasks.spawn(work(item));
    }
    while tasks.join_next().await.is_some() {}
}

/// One beat for an instance a connection published. A member that lost the instance (evicted
/// while unreachable, restarted) gets it back, as long as the connection still owns it.
async fn beat(
    shared: &Arc<Shared>,
    service: crate::model::ServiceKey,
    instance: crate::Instance,
    tag: u64,
) {
    let key = instance.key();
    let owned = |shared: &Shared| lock(&shared.table).owns(&service, &key);
    match shared
        .backend
        .execute(Command::light_beat(&service, &key))
        .await
    {
        Err(ClusterError::Registry(StoreError::InstanceNotFound(_))) if owned(shared) => {
            let origin = crate::timeline::Origin::front("grpc")
                .reason("its connection is open: registered again by the connection's keeper");
            let again =
                shared
                    .backend
                    .execute(Command::register_for(&service, vec![instance], tag));
            let _ = crate::timeline::with_origin(origin, again).await;
            // A deregistration may have raced the registration: undo it then.
            if !owned(shared) {
                let _ = shared
                    .backend
                    .execute(Command::deregister_for(&service, &key, tag))
                    .await;
            }
        }
        _ => {}
    }
}
