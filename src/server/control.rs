//! The control plane of a standalone `nacre-server` with `--data-dir`: a one-member Raft
//! group ([`crate::control::StandaloneControl`]) on `DIR/control.redb`
//! ([`crate::control::store::FILE_NAME`]), given to the v1 API for Nacos' namespace API.
//!
//! The member's Raft address is [`STANDALONE_ADDRESS`], not the listener's: the Raft id made
//! from it is kept in the file, so a node restarted on another port still leads its group. A
//! cluster member does not start one yet (its multi-member group comes with the Raft network),
//! so it serves no namespace API; neither does a node without `--data-dir`, which keeps
//! nothing on disk.

use std::sync::Arc;

use super::{ServerConfig, ServerError};
use crate::control::{store, ClosableControl, StandaloneControl};

/// The Raft address of a standalone node's one member.
pub const STANDALONE_ADDRESS: &str = "standalone";

/// The control plane for `config`: started for a standalone node with a data directory, none
/// otherwise.
pub(super) async fn start(
    config: &ServerConfig,
) -> Result<Option<Arc<ClosableControl>>, ServerError> {
    let Some(dir) = config.data_dir.as_ref().filter(|_| config.is_standalone()) else {
        return Ok(None);
    };
    let path = dir.join(store::FILE_NAME);
    let node = StandaloneControl::start(&path, STANDALONE_ADDRESS).await?;
    tracing::info!(path = %path.display(), "control plane started");
    Ok(Some(Arc::new(ClosableControl::new(node))))
}
