//! The paths of the Nacos v1 naming API: what [`super::NacosApi`] serves and
//! [`super::HttpClientTransport`] asks.

/// `POST`/`DELETE`/`PUT`/`PATCH`/`GET`: register, deregister, update, patch, read one
/// instance.
pub const INSTANCE_PATH: &str = "/nacos/v1/ns/instance";
/// `GET`/`DELETE`: read or clear the operators' overrides of a service's instances (nacre's
/// own; feature `control`).
pub const INSTANCE_OVERRIDE_PATH: &str = "/nacos/v1/ns/instance/override";
/// `PUT`/`DELETE`: set or remove metadata keys of many instances of a service.
pub const METADATA_BATCH_PATH: &str = "/nacos/v1/ns/instance/metadata/batch";
/// `PUT`: a heartbeat.
pub const BEAT_PATH: &str = "/nacos/v1/ns/instance/beat";
/// `GET`: a service's instances.
pub const INSTANCE_LIST_PATH: &str = "/nacos/v1/ns/instance/list";
/// Any method: every instance of a service with its health (`ip:port_healthy`).
pub const INSTANCE_STATUSES_PATH: &str = "/nacos/v1/ns/instance/statuses";
/// `PUT`: set the health of a persistent instance.
pub const HEALTH_INSTANCE_PATH: &str = "/nacos/v1/ns/health/instance";
/// `PUT`: the same as [`HEALTH_INSTANCE_PATH`] (Nacos serves both).
pub const HEALTH_PATH: &str = "/nacos/v1/ns/health";
/// `PUT`: set the settings of one cluster of a service (its health checker, check port,
/// metadata), served with feature `control`.
pub const CLUSTER_PATH: &str = "/nacos/v1/ns/cluster";
/// `POST`/`DELETE`/`PUT`/`GET`: create, remove, update, read a service.
pub const SERVICE_PATH: &str = "/nacos/v1/ns/service";
/// `GET`: one page of service names.
pub const SERVICE_LIST_PATH: &str = "/nacos/v1/ns/service/list";
/// `GET`: who is pushed a service's changes.
pub const SUBSCRIBERS_PATH: &str = "/nacos/v1/ns/service/subscribers";
/// Any method: the grouped service names of each namespace, searched by `expr`.
pub const SERVICE_NAMES_PATH: &str = "/nacos/v1/ns/service/names";
/// `GET`: one page of services with counts, or with their instances (the console's list).
pub const CATALOG_SERVICES_PATH: &str = "/nacos/v1/ns/catalog/services";
/// Any method: one page of the instances of one cluster of a service.
pub const CATALOG_INSTANCES_PATH: &str = "/nacos/v1/ns/catalog/instances";
/// `GET`: the server's status and counts.
pub const METRICS_PATH: &str = "/nacos/v1/ns/operator/metrics";
/// `GET`: liveness probe.
pub const LIVENESS_PATH: &str = "/nacos/v1/console/health/liveness";
/// `GET`: readiness probe.
pub const READINESS_PATH: &str = "/nacos/v1/console/health/readiness";
/// `GET`/`POST`/`PUT`/`DELETE`: Nacos' v1 console namespace API (list, one with `show=all`,
/// create, update, delete), served with a control plane.
pub const NAMESPACES_PATH: &str = "/nacos/v1/console/namespaces";
/// `GET`/`POST`/`PUT`/`DELETE`: Nacos' v2 console namespace API (one, create, update,
/// delete), served with a control plane.
pub const NAMESPACE_V2_PATH: &str = "/nacos/v2/console/namespace";
/// `GET`: Nacos' v2 console namespace list, served with a control plane.
pub const NAMESPACE_V2_LIST_PATH: &str = "/nacos/v2/console/namespace/list";
