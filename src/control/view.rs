//! [`StateView`]: the applied [`ControlState`] as readers see it, published by the state
//! machine after every apply and snapshot install.
//!
//! Reads take no lock: the machine builds the next state beside the published one and swaps
//! the pointer ([`arc_swap::ArcSwap`]), so a reader holds the state it loaded for as long as it
//! likes and a write never waits for a reader. Each publish clones the state once per applied
//! batch of entries: the namespaces (at most [`super::MAX_NAMESPACES`], a few hundred bytes
//! each), the cluster settings, the users, role bindings and permissions (bounded, see
//! [`super::MAX_USERS`]), and one shared pointer per service with overrides (the overrides
//! themselves are copied only for the service a write changes). When persistent instances join
//! the state, their maps should be shared the same way.
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
