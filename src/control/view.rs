//! [`StateView`]: the applied [`ControlState`] as readers see it, published by the state
//! machine after every apply and snapshot install.
//!
//! Reads take no lock: the machine builds the next state beside the published one and swaps
//! the pointer ([`arc_swap::ArcSwap`]), so a reader holds the state it loaded for as long as it
//! likes and a write never waits for a reader. Each publish clones the whole state once per
//! applied batch of entries; the state is namespaces only now (at most
//! [`super::MAX_NAMESPACES`], a few hundred bytes each), and the control plane's write rate is
//! an operator's. When the state grows (persistent instances), its maps should become
//! persistent ones (`imbl`, already in the tree) so that a clone shares what did not change.
//!
//! ```
//! use nacre::control::{ControlState, StateView};
//!
//! let view = StateView::default();
//! let before = view.load();
//! view.publish(ControlState::default());
//! assert_eq!(*before, *view.load());
//! ```

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::state::ControlState;

/// The applied control state, shared by the state machine (which publishes) and every reader
/// (which loads). Cheap to clone: clones share one state.
#[derive(Debug, Clone)]
pub struct StateView(Arc<ArcSwap<ControlState>>);

impl Default for StateView {
    fn default() -> Self {
        StateView(Arc::new(ArcSwap::from_pointee(ControlState::default())))
    }
}

impl StateView {
    /// The state as last published: what every write answered so far has applied.
    pub fn load(&self) -> Arc<ControlState> {
        self.0.load_full()
    }

    /// Publishes `state` (the state machine does, after it applied or installed it).
    pub fn publish(&self, state: ControlState) {
        self.0.store(Arc::new(state));
    }
}
