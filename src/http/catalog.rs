//! The console's catalogue endpoints: `GET /nacos/v1/ns/catalog/services` (one page of the
//! services, with counts or with their instances) and `GET /nacos/v1/ns/catalog/instances`
//! (one page of a cluster's instances). The listing itself is [`crate::front::catalog`],
//! shared with every other service listing.

use super::error::ApiError;
use super::json::{
    CatalogInstancesJson, CatalogServicesJson, ClusterInfoJson, IpAddressInfoJson, SelectorJson,
    ServiceDetailInfoJson, ServiceViewJson,
};
use super::params::{ParamError, Params};
use super::state::Api;
use crate::front::access::Viewer;
use crate::front::catalog::{self, ServiceFilter, ServiceSummary, TextFilter};
use crate::protocol::json::InstanceJson;
use crate::store::ServiceSnapshot;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// `GET /nacos/v1/ns/catalog/services`: one page (`pageNo` from 1 and `pageSize`, both
/// required) of the services of `namespaceId` whose group contains `groupNameParam` and whose
/// name contains `serviceNameParam` (blank: any), in group then name order.
///
/// - Without `withInstances`: `{"count":N,"serviceList":[{"name","groupName","clusterCount",
///   "ipCount","healthyInstanceCount","triggerFlag"}]}`; `hasIpCount=true` leaves out
///   services without instances (and from `count`).
/// - With `withInstances=true`: a JSON array of `{"serviceName","groupName","metadata",
///   "clusterMap":{cluster:{"hosts":[{"ip","port","valid","enabled","weight","metadata"}]}},
///   ...}`, every instance whatever its state; `hasIpCount` is not read, as in Nacos.
///
/// `instance` (a pattern Nacos 2.x accepts and does not use) is not read either.
pub(crate) async fn services(
    State(api): Api,
    viewer: Option<Extension<Viewer>>,
    p: Params,
) -> Result<Response, ApiError> {
    let page_no = p.positive("pageNo")?;
    let page_size = p.positive("pageSize")?;
    let with_instances = p.flag("withInstances", false)?;
    let has_ip_count = p.flag("hasIpCount", false)?;
    let filter = ServiceFilter {
        namespace: Some(p.namespace()?),
        group: TextFilter::containing(p.get("groupNameParam")),
        service: TextFilter::containing(p.get("serviceNameParam")),
        with_instances_only: !with_instances && has_ip_count,
        viewer: viewer.map(|Extension(v)| v),
    };
    let found = catalog::list_services(api.backend.registry(), &filter);
    let page = catalog::page(found, page_no, page_size);
    if with_instances {
        let details: Vec<ServiceDetailInfoJson> =
            page.items.iter().map(|s| detail(&api, s)).collect();
        return Ok(Json(details).into_response());
    }
    let service_list = page
        .items
        .iter()
        .map(|s| {
            let summary = ServiceSummary::of(s);
            ServiceViewJson {
                name: summary.key.service().to_string(),
                group_name: summary.key.group().to_string(),
                cluster_count: summary.cluster_count,
                ip_count: summary.instance_count,
                healthy_instance_count: summary.healthy_count,
                trigger_flag: summary.protect_threshold_reached.to_string(),
            }
        })
        .collect();
    Ok(Json(CatalogServicesJson {
        count: page.count,
        service_list,
    })
    .into_response())
}

/// One service with its instances, by cluster.
fn detail(api: &super::state::ApiState, snapshot: &ServiceSnapshot) -> ServiceDetailInfoJson {
    let key = snapshot.key();
    let cluster_map = snapshot
        .clusters()
        .map(|(name, cluster)| {
            let hosts = cluster
                .instances()
                .map(|e| {
                    let i = e.instance();
                    IpAddressInfoJson {
                        ip: i.ip().to_string(),
                        port: i.port(),
                        valid: i.healthy(),
                        enabled: i.enabled(),
                        weight: i.weight(),
                        metadata: i.metadata().clone(),
                    }
                })
                .collect();
            let settings = super::service::cluster_json(api, key, name);
            let info = ClusterInfoJson {
                cluster_name: Some(settings.name),
                health_checker: Some(settings.health_checker),
                metadata: Some(settings.metadata),
                hosts,
            };
            (name.to_string(), info)
        })
        .collect();
    let settings = snapshot.settings();
    ServiceDetailInfoJson {
        namespace: Some(key.namespace().to_string()),
        service_name: key.service().to_string(),
        group_name: key.group().to_string(),
        cluster_map,
        metadata: settings.metadata.clone(),
        protect_threshold: settings.protect_threshold,
        selector: Some(SelectorJson {
            kind: "none".to_owned(),
        }),
    }
}

/// `GET /nacos/v1/ns/catalog/instances`: one page (`pageNo` from 1 and `pageSize`, both
/// required) of the instances of `serviceName` in `clusterName` (required), whatever their
/// state, in endpoint order: `{"list":[instance...],"count":N}`, each instance as in
/// `GET /nacos/v1/ns/instance/list`. An unknown service or cluster answers 404.
pub(crate) async fn instances(
    State(api): Api,
    p: Params,
) -> Result<Json<CatalogInstancesJson>, ApiError> {
    let service = p.service_key()?;
    if p.get("clusterName").is_none() {
        return Err(ParamError::Missing("clusterName").into());
    }
    let cluster = p.cluster()?;
    let page_no = p.positive("pageNo")?;
    let page_size = p.positive("pageSize")?;
    let registry = api.backend.registry();
    let snapshot = registry.service(&service).ok_or_else(|| {
        ApiError::NotFound(format!("service {} is not found!", service.grouped_name()))
    })?;
    let hosts = snapshot
        .cluster(&cluster)
        .ok_or_else(|| ApiError::NotFound(format!("cluster {cluster} is not found!")))?;
    let health = registry.health_config();
    let all: Vec<_> = hosts.instances().collect();
    let page = catalog::page(all, page_no, page_size);
    Ok(Json(CatalogInstancesJson {
        list: page
            .items
            .iter()
            .map(|e| InstanceJson::from_instance(e.instance(), &service, health))
            .collect(),
        count: page.count,
    }))
}
