//! The load tools' way to put peer records into an empty registry: as a restarted cluster
//! member loads its snapshot, through the public sans-IO core. A two-member `DistroCore`
//! over `registry` asks its peer for a snapshot, and the answer is one chunk holding
//! `records`; the core merges them under the registry's limits, as it merges what a peer
//! sends. (The store's own merge is the crate's: no registry hands out a write that skips its
//! route.)

use nacre::cluster::{DistroConfig, DistroCore, NodeId, PeerRequest, PeerResponse};
use nacre::store::ServiceRecord;
use nacre::{Registry, Timestamp};
use std::error::Error;

/// Loads `records` into `registry` at `now` (see the module documentation); returns the core,
/// which is ready.
pub(crate) fn load_snapshot(
    registry: Registry,
    records: Vec<ServiceRecord>,
    now: Timestamp,
) -> Result<DistroCore, Box<dyn Error>> {
    let me = NodeId::new("127.0.0.1:1")?;
    let peer = NodeId::new("127.0.0.1:2")?;
    let mut core = DistroCore::new(
        me.clone(),
        &[me, peer],
        registry,
        DistroConfig::default(),
        now,
    )?;
    let ask = core
        .poll(now)
        .into_iter()
        .find(|o| matches!(o.request, PeerRequest::Snapshot { .. }))
        .ok_or("a starting member asks its peer for a snapshot")?;
    core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records,
            next: None,
        }),
        now,
    );
    if !core.is_ready() {
        return Err("the snapshot did not make the core ready".into());
    }
    Ok(core)
}
