//! [`ClientTransport`] and [`PushTransport`] for [`GrpcClientTransport`]: each call is one
//! request on the connection, and what it publishes is remembered for the redo.

use super::wire::{batch_body, instance_body, naming_head, subscribe_body};
use super::GrpcClientTransport;
use crate::model::{excerpt, Instance, ServiceKey, ServiceName};
use crate::protocol::json::ServiceInfoJson;
use crate::protocol::{
    ClientTransport, DrainAction, DrainReport, PushSink, PushTransport, ServiceInfo,
    ServiceListQuery, ServiceQuery, TransportError, DRAIN_PARAM,
};
use crate::registry::ServiceList;
use crate::util::lock;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

fn persistent(instance: &Instance) -> bool {
    !instance.ephemeral()
}

#[async_trait]
impl ClientTransport for GrpcClientTransport {
    async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let kind = if persistent(instance) {
            "PersistentInstanceRequest"
        } else {
            "InstanceRequest"
        };
        let body = instance_body(service, "registerInstance", instance);
        self.send(kind, body, "InstanceResponse").await?;
        if !persistent(instance) {
            lock(&self.inner.published)
                .single
                .insert((service.clone(), instance.key()), instance.clone());
        }
        Ok(())
    }

    async fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), TransportError> {
        let body = batch_body(service, instances);
        self.send("BatchInstanceRequest", body, "BatchInstanceResponse")
            .await?;
        lock(&self.inner.published)
            .batches
            .insert(service.clone(), instances.to_vec());
        Ok(())
    }

    async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let kind = self.forget(service, instance);
        let body = instance_body(service, "deregisterInstance", instance);
        self.send(kind, body, "InstanceResponse").await?;
        Ok(())
    }

    /// Deregistrations only: Nacos' gRPC protocol has no instance update, so
    /// [`DrainAction::Disable`] is refused (501) here; the v1 transport has it.
    async fn drain_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
        action: DrainAction,
        wait: std::time::Duration,
    ) -> Result<DrainReport, TransportError> {
        if action != DrainAction::Deregister {
            return Err(TransportError::Server {
                code: 501,
                message: "the gRPC protocol has no instance update: disable over v1".to_owned(),
            });
        }
        let kind = self.forget(service, instance);
        let mut body = instance_body(service, "deregisterInstance", instance);
        if let Value::Object(m) = &mut body {
            let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            m.insert(DRAIN_PARAM.into(), json!(millis));
        }
        let timeout = wait.saturating_add(self.inner.timeout);
        let answer = self
            .send_within(kind, body, "InstanceResponse", timeout)
            .await?;
        let drain = answer.get("drain").cloned().unwrap_or(Value::Null);
        serde_json::from_value(drain).map_err(|e| TransportError::Malformed {
            reason: format!("an InstanceResponse without its drain report: {e}"),
        })
    }

    async fn query_service(&self, query: &ServiceQuery) -> Result<ServiceInfo, TransportError> {
        let mut m = naming_head(&query.service);
        let clusters: Vec<&str> = query.clusters.iter().map(|c| c.as_str()).collect();
        m.insert("cluster".into(), json!(clusters.join(",")));
        m.insert("healthyOnly".into(), json!(query.healthy_only));
        m.insert("udpPort".into(), json!(0));
        let answer = self
            .send(
                "ServiceQueryRequest",
                Value::Object(m),
                "QueryServiceResponse",
            )
            .await?;
        let info: ServiceInfoJson =
            serde_json::from_value(answer["serviceInfo"].clone()).map_err(|e| {
                TransportError::Malformed {
                    reason: format!("serviceInfo: {e}"),
                }
            })?;
        info.to_info(query.service.clone(), query.clusters.clone(), 0)
            .map_err(|e| TransportError::Malformed {
                reason: format!("serviceInfo holds an invalid host: {e}"),
            })
    }

    async fn list_services(&self, query: &ServiceListQuery) -> Result<ServiceList, TransportError> {
        let body = json!({
            "namespace": query.namespace.as_str(),
            "groupName": query.group.as_str(),
            "serviceName": "",
            "pageNo": query.page_no,
            "pageSize": query.page_size,
        });
        let answer = self
            .send("ServiceListRequest", body, "ServiceListResponse")
            .await?;
        let count = answer["count"].as_u64().unwrap_or(0);
        let names = answer["serviceNames"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let services = names
            .iter()
            .filter_map(Value::as_str)
            .map(|n| {
                ServiceName::new(n).map_err(|e| TransportError::Malformed {
                    reason: format!("service name `{}`: {e}", excerpt(n)),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServiceList {
            count: usize::try_from(count).unwrap_or(usize::MAX),
            services,
        })
    }

    fn pushes(&self) -> Option<&dyn PushTransport> {
        Some(self)
    }
}

#[async_trait]
impl PushTransport for GrpcClientTransport {
    async fn subscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let known = {
            let mut p = lock(&self.inner.published);
            p.subscriptions.retain(|_, sinks| {
                sinks.retain(|_, s| !s.is_closed());
                !sinks.is_empty()
            });
            let sinks = p.subscriptions.entry(service.clone()).or_default();
            sinks.insert(pushes.id(), pushes.clone()).is_some()
        };
        // Once subscribed on this connection, a renewal costs nothing: a reconnect subscribes
        // everything again by itself.
        let connected = self
            .inner
            .conn
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.alive.load(Ordering::Acquire));
        if known && connected {
            return Ok(());
        }
        let body = subscribe_body(service, true);
        self.send("SubscribeServiceRequest", body, "SubscribeServiceResponse")
            .await?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let last = {
            let mut p = lock(&self.inner.published);
            match p.subscriptions.get_mut(service) {
                Some(sinks) => {
                    sinks.remove(&pushes.id());
                    let empty = sinks.is_empty();
                    if empty {
                        p.subscriptions.remove(service);
                    }
                    empty
                }
                None => false,
            }
        };
        if last {
            let body = subscribe_body(service, false);
            self.send("SubscribeServiceRequest", body, "SubscribeServiceResponse")
                .await?;
        }
        Ok(())
    }
}

impl GrpcClientTransport {
    /// Forgets `instance` (no redo brings it back); the request type that deregisters it.
    fn forget(&self, service: &ServiceKey, instance: &Instance) -> &'static str {
        let mut p = lock(&self.inner.published);
        p.single.remove(&(service.clone(), instance.key()));
        if let Some(batch) = p.batches.get_mut(service) {
            batch.retain(|i| i.key() != instance.key());
        }
        if persistent(instance) {
            "PersistentInstanceRequest"
        } else {
            "InstanceRequest"
        }
    }
}
