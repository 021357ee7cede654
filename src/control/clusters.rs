//! Cluster settings in the control plane: how the instances of one cluster of a service are
//! health-checked ([`HealthChecker`]), on which port, and the cluster's metadata — Nacos'
//! `ClusterMetadata`, written by `PUT /nacos/v1/ns/cluster` ([`super::ControlCommand::SetClusterSettings`]).
//!
//! The settings are read by the active health checks of persistent instances (`nacre::probe`,
//! with the `http` feature): TCP connect by default, an HTTP `GET`, or none (health set by
//! hand through `PUT /nacos/v1/ns/health/instance`). A cluster nobody configured has
//! [`ClusterSettings::defaults`]: TCP on the instance's own port, as Nacos' `ClusterMetadata`
//! defaults (`healthyCheckPort` 80, `useInstancePortForCheck` true, checker `Tcp`).
//!
//! The table holds at most [`MAX_CLUSTER_SETTINGS`] clusters; setting an existing cluster
//! replaces it whole (Nacos' `updateClusterMetadata` does the same).
//!
//! ## What differs from Nacos
//!
//! - An HTTP check's `path` must be empty or start with `/`: Nacos resolves it against
//!   `http://ip:port` with `java.net.URL`, so an absolute URL there makes the server probe
//!   any host it names. nacre refuses it. Paths and the `headers` text are bounded
//!   ([`MAX_CHECK_PATH_LEN`], [`MAX_CHECK_HEADERS_LEN`]) and hold no control characters.
//! - Metadata is bounded ([`MAX_CLUSTER_METADATA_BYTES`], keys plus values); Nacos has no bound.
//! - Nacos' `MYSQL` checker is not offered: nacre never holds database credentials.
//! - The check port is checked (1 to 65535 when the instance's own port is not used); Nacos
//!   takes any integer, and a bad one as 0.
//!
//! ```
//! use nacre::control::{ClusterSettings, ControlCommand, ControlResponse, ControlState, HealthChecker};
//! use nacre::{ClusterName, ServiceKey};
//!
//! let mut state = ControlState::default();
//! let key = ServiceKey::named("orders")?;
//! let mut settings = ClusterSettings::defaults(key.clone(), ClusterName::default());
//! settings.checker = HealthChecker::None;
//! let command = ControlCommand::SetClusterSettings(settings.clone());
//! assert_eq!(state.apply(&command), ControlResponse::Done);
//! assert_eq!(state.cluster_settings(&key, &ClusterName::default()), Some(&settings));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::ControlError;
use super::state::ControlState;
use crate::model::{ClusterName, ServiceKey};

/// The most clusters with settings the control plane holds.
pub const MAX_CLUSTER_SETTINGS: usize = 10_000;
/// The largest metadata of one cluster, keys plus values, in bytes (as an instance's, 4 KiB).
pub const MAX_CLUSTER_METADATA_BYTES: usize = 4 * 1024;
/// The longest HTTP check path, in bytes.
pub const MAX_CHECK_PATH_LEN: usize = 512;
/// The longest HTTP check `headers` text (`name:value|name:value`), in bytes.
pub const MAX_CHECK_HEADERS_LEN: usize = 1024;
/// Nacos' `healthyCheckPort` when none was set.
pub const DEFAULT_CHECK_PORT: u16 = 80;

/// How the instances of a cluster are checked: Nacos' `healthChecker` (`{"type":"TCP"}`,
/// `{"type":"HTTP",...}`, `{"type":"NONE"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthChecker {
    /// A TCP connect to the check port: healthy when it is accepted (Nacos' default).
    #[default]
    Tcp,
    /// An HTTP `GET` of a path on the check port.
    Http(HttpCheck),
    /// No check: the health is set by hand (`PUT /nacos/v1/ns/health/instance`).
    None,
}

impl HealthChecker {
    /// Nacos' name of the type: `TCP`, `HTTP` or `NONE`.
    pub fn type_name(&self) -> &'static str {
        match self {
            HealthChecker::Tcp => "TCP",
            HealthChecker::Http(_) => "HTTP",
            HealthChecker::None => "NONE",
        }
    }
}

/// An HTTP check: Nacos' `Http` checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// The path to `GET`: empty (the root) or starting with `/`.
    pub path: String,
    /// Extra request headers, Nacos' text form `name:value|name:value`.
    pub headers: String,
    /// The status code that means healthy (Nacos' `expectedResponseCode`, 200 by default).
    pub expected_code: u16,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            path: String::new(),
            headers: String::new(),
            expected_code: 200,
        }
    }
}

/// The settings of one cluster of a service: Nacos' `ClusterMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The service.
    pub service: ServiceKey,
    /// The cluster.
    pub cluster: ClusterName,
    /// How its instances are checked.
    pub checker: HealthChecker,
    /// The port checked when [`ClusterSettings::use_instance_port`] is false (Nacos'
    /// `checkPort`).
    pub check_port: u16,
    /// Check each instance on its own port (Nacos' `useInstancePort4Check`).
    pub use_instance_port: bool,
    /// Free metadata (Nacos' `extendData`).
    pub metadata: BTreeMap<String, String>,
}

impl ClusterSettings {
    /// The settings of a cluster nobody configured, as Nacos' `ClusterMetadata` defaults: TCP,
    /// on the instance's own port (check port 80), no metadata.
    pub fn defaults(service: ServiceKey, cluster: ClusterName) -> Self {
        ClusterSettings {
            service,
            cluster,
            checker: HealthChecker::Tcp,
            check_port: DEFAULT_CHECK_PORT,
            use_instance_port: true,
            metadata: BTreeMap::new(),
        }
    }

    /// The port to check an instance listening on `instance_port` at.
    pub fn port_for(&self, instance_port: u16) -> u16 {
        if self.use_instance_port {
            instance_port
        } else {
            self.check_port
        }
    }

    /// Checks every field's rule (see the module documentation).
    pub fn check(&self) -> Result<(), ControlError> {
        let bad = |field: &str, rule: String| {
            Err(ControlError::InvalidClusterSettings {
                service: self.service.clone(),
                cluster: self.cluster.clone(),
                field: field.to_owned(),
                rule,
            })
        };
        if !self.use_instance_port && self.check_port == 0 {
            return bad(
                "checkPort",
                "must be 1 to 65535 when useInstancePort4Check is false".into(),
            );
        }
        let size: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_CLUSTER_METADATA_BYTES {
            return bad(
                "metadata",
                format!("is {size} bytes, more than {MAX_CLUSTER_METADATA_BYTES}"),
            );
        }
        if let HealthChecker::Http(http) = &self.checker {
            if !(http.path.is_empty() || http.path.starts_with('/')) {
                return bad(
                    "healthChecker.path",
                    "must be empty or start with `/`".into(),
                );
            }
            if http.path.len() > MAX_CHECK_PATH_LEN {
                return bad(
                    "healthChecker.path",
                    format!("must be at most {MAX_CHECK_PATH_LEN} bytes"),
                );
            }
            if http.path.chars().any(|c| c.is_control() || c == ' ') {
                return bad(
                    "healthChecker.path",
                    "must not contain spaces or control characters".into(),
                );
            }
            if http.headers.len() > MAX_CHECK_HEADERS_LEN {
                return bad(
                    "healthChecker.headers",
                    format!("must be at most {MAX_CHECK_HEADERS_LEN} bytes"),
                );
            }
            if http.headers.chars().any(char::is_control) {
                return bad(
                    "healthChecker.headers",
                    "must not contain control characters".into(),
                );
            }
            if !(100..=599).contains(&http.expected_code) {
                return bad(
                    "healthChecker.expectedResponseCode",
                    "must be an HTTP status code (100 to 599)".into(),
                );
            }
        }
        Ok(())
    }
}

/// The cluster settings in the state: by service, then cluster name (ordered maps, so equal
/// states encode to equal bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClusterTable {
    services: BTreeMap<ServiceKey, BTreeMap<ClusterName, ClusterSettings>>,
}

impl ClusterTable {
    /// Applies [`ControlCommand::SetClusterSettings`]: checked, then stored (replacing).
    pub(super) fn set(&mut self, settings: &ClusterSettings) -> Result<(), ControlError> {
        settings.check()?;
        let exists = self
            .services
            .get(&settings.service)
            .is_some_and(|c| c.contains_key(&settings.cluster));
        if !exists && self.len() >= MAX_CLUSTER_SETTINGS {
            return Err(ControlError::TooManyClusterSettings {
                limit: MAX_CLUSTER_SETTINGS,
            });
        }
        self.services
            .entry(settings.service.clone())
            .or_default()
            .insert(settings.cluster.clone(), settings.clone());
        Ok(())
    }

    fn len(&self) -> usize {
        self.services.values().map(BTreeMap::len).sum()
    }
}

impl ControlState {
    /// The settings of one cluster, if an operator set them (else the cluster has
    /// [`ClusterSettings::defaults`]).
    pub fn cluster_settings(
        &self,
        service: &ServiceKey,
        cluster: &ClusterName,
    ) -> Option<&ClusterSettings> {
        self.clusters.services.get(service)?.get(cluster)
    }

    /// Every cluster of `service` with settings, by name.
    pub fn clusters_of(&self, service: &ServiceKey) -> impl Iterator<Item = &ClusterSettings> {
        self.clusters
            .services
            .get(service)
            .into_iter()
            .flat_map(BTreeMap::values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlCommand, ControlResponse};

    fn key(name: &str) -> ServiceKey {
        ServiceKey::named(name).expect("valid service")
    }

    fn cluster(name: &str) -> ClusterName {
        ClusterName::new(name).expect("valid cluster")
    }

    fn set(state: &mut ControlState, settings: &ClusterSettings) -> ControlResponse {
        state.apply(&ControlCommand::SetClusterSettings(settings.clone()))
    }

    #[test]
    fn setting_a_cluster_twice_replaces_it_whole() {
        let mut state = ControlState::default();
        let mut http = ClusterSettings::defaults(key("orders"), cluster("hz"));
        http.checker = HealthChecker::Http(HttpCheck {
            path: "/health".into(),
            ..HttpCheck::default()
        });
        http.metadata.insert("zone".into(), "a".into());
        assert_eq!(set(&mut state, &http), ControlResponse::Done);
        let none = ClusterSettings {
            checker: HealthChecker::None,
            ..ClusterSettings::defaults(key("orders"), cluster("hz"))
        };
        assert_eq!(set(&mut state, &none), ControlResponse::Done);
        assert_eq!(
            state.cluster_settings(&key("orders"), &cluster("hz")),
            Some(&none)
        );
        assert_eq!(state.clusters_of(&key("orders")).count(), 1);
        assert_eq!(state.cluster_settings(&key("orders"), &cluster("sh")), None);
    }

    #[test]
    fn each_broken_rule_is_rejected_naming_its_field_and_changes_nothing() {
        let base = ClusterSettings::defaults(key("orders"), ClusterName::default());
        let http = |path: &str, headers: &str, code: u16| ClusterSettings {
            checker: HealthChecker::Http(HttpCheck {
                path: path.into(),
                headers: headers.into(),
                expected_code: code,
            }),
            ..base.clone()
        };
        let cases = [
            (
                ClusterSettings {
                    use_instance_port: false,
                    check_port: 0,
                    ..base.clone()
                },
                "checkPort",
            ),
            (
                ClusterSettings {
                    metadata: [("k".to_owned(), "v".repeat(MAX_CLUSTER_METADATA_BYTES))].into(),
                    ..base.clone()
                },
                "metadata",
            ),
            (
                http("http://169.254.169.254/", "", 200),
                "healthChecker.path",
            ),
            (
                http(&format!("/{}", "a".repeat(MAX_CHECK_PATH_LEN)), "", 200),
                "healthChecker.path",
            ),
            (http("/a b", "", 200), "healthChecker.path"),
            (http("/", "a:b\r\nx:y", 200), "healthChecker.headers"),
            (http("/", "", 99), "healthChecker.expectedResponseCode"),
            (http("/", "", 600), "healthChecker.expectedResponseCode"),
        ];
        for (settings, field) in cases {
            let mut state = ControlState::default();
            match set(&mut state, &settings) {
                ControlResponse::Rejected(ControlError::InvalidClusterSettings {
                    field: f,
                    ..
                }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
            assert_eq!(state, ControlState::default(), "{field}");
        }
    }

    #[test]
    fn the_table_is_bounded_but_an_existing_cluster_can_still_change() {
        let mut table = ClusterTable::default();
        for i in 0..MAX_CLUSTER_SETTINGS {
            let settings = ClusterSettings::defaults(key(&format!("s{}", i / 10)), {
                cluster(&format!("c{}", i % 10))
            });
            table.set(&settings).expect("under the bound");
        }
        let one_more = ClusterSettings::defaults(key("extra"), ClusterName::default());
        assert_eq!(
            table.set(&one_more),
            Err(ControlError::TooManyClusterSettings {
                limit: MAX_CLUSTER_SETTINGS
            })
        );
        let mut again = ClusterSettings::defaults(key("s0"), cluster("c0"));
        again.checker = HealthChecker::None;
        assert_eq!(table.set(&again), Ok(()));
    }

    #[test]
    fn the_port_checked_follows_use_instance_port() {
        let mut settings = ClusterSettings::defaults(key("orders"), ClusterName::default());
        assert_eq!(settings.port_for(8080), 8080);
        settings.use_instance_port = false;
        settings.check_port = 9000;
        assert_eq!(settings.port_for(8080), 9000);
    }
}
