//! [`StateView`]: the applied [`ControlState`] as readers see it, published by the state
//! machine after every apply and snapshot install.
//!
//! Reads take no lock: the machine builds the next state beside the published one and swaps
//! the pointer ([`arc_swap::ArcSwap`]), so a reader holds the state it loaded for as long as it
//! likes and a write never waits for a reader. Each publish clones the state once per applied
//! batch of entries: the namespaces (at most [`super::MAX_NAMESPACES`], a few hundred bytes
//! each), the cluster settings, the users, role bindings and permissions (bounded, see
//! [`super::MAX_USERS`]), and one shared pointer per service with overrides (the overrides
//! themselves are copied only for the service a write changes), and likewise one shared
//! pointer per service with persistent instances.
//!
//! A [`ControlSink`] attached to the view is told of each publish, with what it may have
//! changed ([`Changes`]), before the write is answered: the registry follows the log this way.
//!
//! ```
//! use nacre::control::{Changes, ControlState, StateView};
//!
//! let view = StateView::default();
//! let before = view.load();
//! view.publish(ControlState::default(), &Changes::All);
//! assert_eq!(*before, *view.load());
//! ```

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use super::command::Changes;
use super::state::ControlState;

/// Told of every publish with what it may have changed, before the write is answered: the
/// registry's copy of the persistent instances and overrides follows the log this way
/// (`nacre::control`'s registry sink). It runs on the Raft task: it must not wait on the
/// control plane.
pub trait ControlSink: Send + Sync + std::fmt::Debug + 'static {
    /// `state` was published; `changes` says what may differ from the last state told.
    fn applied(&self, state: &Arc<ControlState>, changes: &Changes);
}

/// The applied control state, shared by the state machine (which publishes) and every reader
/// (which loads). Cheap to clone: clones share one state.
#[derive(Debug, Clone)]
pub struct StateView(Arc<ViewInner>);

#[derive(Debug)]
struct ViewInner {
    state: ArcSwap<ControlState>,
    sink: OnceLock<Arc<dyn ControlSink>>,
    /// Held while the sink is told, so two publishes are told in their order.
    telling: std::sync::Mutex<()>,
}

impl Default for StateView {
    fn default() -> Self {
        StateView(Arc::new(ViewInner {
            state: ArcSwap::from_pointee(ControlState::default()),
            sink: OnceLock::new(),
            telling: std::sync::Mutex::new(()),
        }))
    }
}

impl StateView {
    /// The state as last published: what every write answered so far has applied.
    pub fn load(&self) -> Arc<ControlState> {
        self.0.state.load_full()
    }

    /// Publishes `state` (the state machine does, after it applied or installed it) and tells
    /// the sink, if one is attached, that `changes` may differ.
    pub fn publish(&self, state: ControlState, changes: &Changes) {
        let _order = self.0.telling.lock().unwrap_or_else(|e| e.into_inner());
        let state = Arc::new(state);
        self.0.state.store(state.clone());
        if let Some(sink) = self.0.sink.get() {
            if !changes.is_empty() {
                sink.applied(&state, changes);
            }
        }
    }

    /// Tells `sink` of every publish from now on, and at once of the whole current state.
    /// The first call attaches; later calls change nothing and answer `false`.
    pub fn attach_sink(&self, sink: Arc<dyn ControlSink>) -> bool {
        let _order = self.0.telling.lock().unwrap_or_else(|e| e.into_inner());
        if self.0.sink.set(sink.clone()).is_err() {
            return false;
        }
        sink.applied(&self.0.state.load_full(), &Changes::All);
        true
    }
}
