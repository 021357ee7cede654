//! The health endpoint: `PUT /nacos/v1/ns/health/instance` (also at `PUT /nacos/v1/ns/health`,
//! as in Nacos), which sets the health of a persistent instance by hand — for an operator, or
//! a health checker running outside nacre.
//!
//! When active health checks run ([`super::NacosApi::health_checks`], as in `nacre-server`),
//! this endpoint writes only to clusters whose checker is `NONE` and answers 400 `health check
//! is still working, service: G@@S, cluster: C` for the others, as Nacos does (a probe would
//! overwrite the health at its next round anyway). Without active checks nothing checks a
//! persistent instance, which is Nacos' `NONE` everywhere, and the write is taken. The health
//! of an ephemeral instance follows its beats, and setting it answers 400 with the same
//! message. The write is [`Command::SetHealth`], routed and replicated like every other.

use super::error::ApiError;
use super::instance::resolve_key;
use super::params::{ParamError, Params};
use super::state::Api;
use crate::cluster::ClusterError;
use crate::model::Instance;
use crate::registry::{Command, StoreError};
use axum::extract::State;

fn persistent(instance: &Instance) -> bool {
    !instance.ephemeral()
}

fn any(_: &Instance) -> bool {
    true
}

/// `PUT /nacos/v1/ns/health/instance`: `healthy` (or `valid`, required), `serviceName`,
/// `namespaceId`, `clusterName` (default `DEFAULT`), `ip`, `port`; answers `ok`.
///
/// The instance is the one in the cluster named, else the one persistent instance on that
/// ip:port in any cluster (Nacos finds a persistent instance by its address). An instance
/// nobody registered answers `ok` and nothing changes, as in Nacos; an ephemeral one answers
/// 400.
pub(crate) async fn update(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let healthy = match p.optional_flag("healthy")? {
        Some(healthy) => healthy,
        None => p
            .optional_flag("valid")?
            .ok_or(ParamError::Missing("healthy"))?,
    };
    let service = p.service_key()?;
    let key = resolve_key(&api, &service, p.instance_key()?, &[&persistent, &any]);
    if let Some(checks) = &api.checks {
        if checks.check_of(&service, &key.cluster).probes() {
            return Err(ApiError::HealthCheckRunning {
                service: service.grouped_name(),
                cluster: key.cluster.to_string(),
            });
        }
    }
    match api
        .backend
        .execute(Command::set_health(&service, &key, healthy))
        .await
    {
        Ok(_) | Err(ClusterError::Registry(StoreError::InstanceNotFound(_))) => Ok("ok"),
        Err(e) => Err(e.into()),
    }
}
