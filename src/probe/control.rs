//! [`ControlChecks`]: the cluster settings of the control plane as the prober reads them
//! (feature `control`).

use std::sync::Arc;

use super::settings::{CheckSettings, Checker, ClusterCheck, HttpProbe};
use crate::control::{ClusterSettings, ControlPlane, HealthChecker};
use crate::model::{ClusterName, ServiceKey};

/// Reads each cluster's checker from the control plane's applied state; a cluster without
/// settings is checked as Nacos' defaults say (TCP on the instance's port).
#[derive(Debug, Clone)]
pub struct ControlChecks(pub Arc<dyn ControlPlane>);

impl CheckSettings for ControlChecks {
    fn check_of(&self, service: &ServiceKey, cluster: &ClusterName) -> ClusterCheck {
        self.0
            .state()
            .cluster_settings(service, cluster)
            .map_or_else(ClusterCheck::tcp, cluster_check)
    }
}

/// How `settings` say to probe.
pub fn cluster_check(settings: &ClusterSettings) -> ClusterCheck {
    let checker = match &settings.checker {
        HealthChecker::Tcp => Checker::Tcp,
        HealthChecker::Http(http) => Checker::Http(HttpProbe {
            path: http.path.clone(),
            headers: HttpProbe::parse_headers(&http.headers),
            expected_code: http.expected_code,
        }),
        HealthChecker::None => Checker::None,
    };
    ClusterCheck {
        checker,
        port: (!settings.use_instance_port).then_some(settings.check_port),
    }
}
