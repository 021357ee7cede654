//! The answer to a drain (a value type, here so that the registry's own drain and every front
//! share it): a deregistration (or `enabled=false`) that waits until every
//! subscriber of the service has taken a push without the instance, or a deadline passes.
//!
//! The same JSON on every front: the v1 API answers it to `DELETE /nacos/v1/ns/instance` and
//! `PUT /nacos/v1/ns/instance?enabled=false` given `drainMillis`, the gRPC front puts it in the
//! `InstanceResponse` (field `drain`) to an `InstanceRequest` carrying `drainMillis`, and
//! [`crate::NamingClient::drain_instance`] returns it. Nacos has no drain: its deregistration
//! returns before any consumer has heard of it (alibaba/nacos #12707).
//!
//! ```json
//! {"drained":false,"waitedMillis":3000,"subscribers":3,"acked":2,
//!  "fronts":[{"front":"grpc","subscribers":2,"acked":2,"gone":0,"pending":[]},
//!            {"front":"udp","subscribers":1,"acked":0,"gone":0,
//!             "pending":[{"addr":"10.0.0.7:53000","agent":"Nacos-Java-Client:v1.4.6","app":""}]}]}
//! ```

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The key a drain is asked with on every front: `drainMillis`, how long the caller is
/// willing to wait, in milliseconds.
pub const DRAIN_PARAM: &str = "drainMillis";

/// What a drain takes out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainAction {
    /// Deregister the instance.
    Deregister,
    /// Set `enabled=false`: the instance stays registered (and keeps beating) but is listed
    /// to nobody.
    Disable,
}

/// A subscriber that had not taken a push without the instance when the drain returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DrainPending {
    /// Where its pushes go (`10.0.0.7:53000`, a connection's address, `in-process#3`).
    pub addr: String,
    /// Its user agent, if it gave one.
    pub agent: String,
    /// Its application name, if it gave one.
    pub app: String,
}

/// What one front's subscribers did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FrontDrain {
    /// The front (`grpc`, `udp`, `in-memory`, `listeners`).
    pub front: String,
    /// Its subscribers that could see the instance when the drain began (those subscribed to
    /// the instance's cluster, or to every cluster).
    pub subscribers: usize,
    /// Those that took (acked, or were handed in-process) a push without the instance.
    pub acked: usize,
    /// Those that went away (unsubscribed, expired, their connection closed) before acking.
    pub gone: usize,
    /// Those still waited for when the drain returned, at most
    /// [`DRAIN_PENDING_LISTED`] of them (the count is `subscribers - acked - gone`).
    pub pending: Vec<DrainPending>,
}

/// At most this many pending subscribers are listed per front in a [`FrontDrain`]; the counts
/// cover all of them.
pub const DRAIN_PENDING_LISTED: usize = 100;

/// The answer to a drain: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DrainReport {
    /// Whether every subscriber acked (or went away) before the deadline: it is safe to stop
    /// the instance.
    pub drained: bool,
    /// How long the drain waited, after the write, in milliseconds.
    pub waited_millis: u64,
    /// Subscribers waited for, over every front.
    pub subscribers: usize,
    /// Those that acked, over every front.
    pub acked: usize,
    /// Per front, in the order the node lists its fronts.
    pub fronts: Vec<FrontDrain>,
}

impl DrainReport {
    /// The report of `fronts` after waiting `waited`.
    pub fn new(fronts: Vec<FrontDrain>, waited: Duration) -> Self {
        let subscribers = fronts.iter().map(|f| f.subscribers).sum();
        let acked = fronts.iter().map(|f| f.acked).sum();
        let settled = fronts.iter().map(|f| f.acked + f.gone).sum::<usize>();
        Self {
            drained: settled >= subscribers,
            waited_millis: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            subscribers,
            acked,
            fronts,
        }
    }

    /// Subscribers still waited for when the drain returned, over every front.
    pub fn pending(&self) -> usize {
        self.fronts
            .iter()
            .map(|f| f.subscribers.saturating_sub(f.acked + f.gone))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_drained_when_every_subscriber_acked_or_went_away() {
        let front = |subscribers, acked, gone| FrontDrain {
            front: "grpc".into(),
            subscribers,
            acked,
            gone,
            pending: Vec::new(),
        };
        let done = DrainReport::new(vec![front(2, 1, 1), front(1, 1, 0)], Duration::ZERO);
        assert!(done.drained);
        assert_eq!((done.subscribers, done.acked, done.pending()), (3, 2, 0));
        let open = DrainReport::new(vec![front(3, 1, 0)], Duration::from_millis(1500));
        assert!(!open.drained);
        assert_eq!((open.pending(), open.waited_millis), (2, 1500));
        let nobody = DrainReport::new(Vec::new(), Duration::ZERO);
        assert!(nobody.drained, "nobody to wait for: safe at once");
        let json = serde_json::to_string(&open).unwrap();
        assert!(json.starts_with(r#"{"drained":false,"waitedMillis":1500,"subscribers":3"#));
        assert_eq!(serde_json::from_str::<DrainReport>(&json).unwrap(), open);
    }
}
