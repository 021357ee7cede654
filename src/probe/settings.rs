//! How each cluster is probed ([`ClusterCheck`]), and where the prober asks it
//! ([`CheckSettings`]).
//!
//! The prober does not read the control plane itself: `probe` sits beside the fronts, and the
//! control plane is a feature of its own. The host hands it a [`CheckSettings`]; `nacre-server`
//! gives one that reads the control plane's cluster settings (or [`TcpEverywhere`], Nacos'
//! default for a cluster nobody configured, when it runs no control plane).
//!
//! ```
//! use nacre::probe::{CheckSettings, Checker, ClusterCheck, HttpProbe, TcpEverywhere};
//! use nacre::{ClusterName, ServiceKey};
//!
//! let check = TcpEverywhere.check_of(&ServiceKey::named("orders")?, &ClusterName::default());
//! assert_eq!(check, ClusterCheck::tcp());
//! assert_eq!(check.port_for(8080), 8080);
//! let headers = HttpProbe::parse_headers("X-Probe: nacre|bad|Accept:text/plain");
//! assert_eq!(headers, [("X-Probe".to_owned(), "nacre".to_owned()), ("Accept".to_owned(), "text/plain".to_owned())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::model::{ClusterName, ServiceKey};

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checker {
    /// Connect over TCP.
    Tcp,
    /// `GET` a path over HTTP.
    Http(HttpProbe),
    /// Nothing: the cluster's health is set by hand.
    None,
}

/// An HTTP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// The path, empty for `/`.
    pub path: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The status that means healthy.
    pub expected_code: u16,
}

impl HttpProbe {
    /// Reads Nacos' header text, `name:value|name:value`; a part that is not one name and one
    /// value is left out, as Nacos does.
    pub fn parse_headers(text: &str) -> Vec<(String, String)> {
        text.split('|')
            .filter_map(|part| {
                let mut halves = part.split(':');
                match (halves.next(), halves.next(), halves.next()) {
                    (Some(name), Some(value), None) if !name.trim().is_empty() => {
                        Some((name.trim().to_owned(), value.trim().to_owned()))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// How the instances of one cluster are probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCheck {
    /// What a probe does.
    pub checker: Checker,
    /// The port probed; `None`: each instance's own.
    pub port: Option<u16>,
}

impl ClusterCheck {
    /// TCP on each instance's own port: Nacos' default.
    pub fn tcp() -> Self {
        ClusterCheck {
            checker: Checker::Tcp,
            port: None,
        }
    }

    /// No probe.
    pub fn none() -> Self {
        ClusterCheck {
            checker: Checker::None,
            port: None,
        }
    }

    /// Whether instances of the cluster are probed at all.
    pub fn probes(&self) -> bool {
        self.checker != Checker::None
    }

    /// The port to probe an instance listening on `instance_port` at.
    pub fn port_for(&self, instance_port: u16) -> u16 {
        self.port.unwrap_or(instance_port)
    }
}

/// Where the prober (and `PUT /nacos/v1/ns/health/instance`) learns how a cluster is checked.
pub trait CheckSettings: Send + Sync + std::fmt::Debug + 'static {
    /// How the instances of `cluster` of `service` are probed.
    fn check_of(&self, service: &ServiceKey, cluster: &ClusterName) -> ClusterCheck;
}

/// Every cluster probed by TCP on the instance's port: what a node without a control plane
/// does.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpEverywhere;

impl CheckSettings for TcpEverywhere {
    fn check_of(&self, _: &ServiceKey, _: &ClusterName) -> ClusterCheck {
        ClusterCheck::tcp()
    }
}
