//! Auth on the gRPC front, when the host gave [`GrpcFront::with_access`]: what each naming
//! request needs, asked of [`crate::front::access::Access`] before the request is handled.
//!
//! The token is read from the payload's metadata headers (where Nacos clients put it) or the
//! body's `headers`. `ServerCheck`, `ConnectionSetup` and `HealthCheck` pass, as in Nacos. A
//! query or a subscription needs read permission on its service; a registration,
//! deregistration or batch write needs write permission, and a registration also names the
//! addresses it registers (for a permission limited to `register_cidrs`). A
//! `ServiceListRequest` needs only a valid token and lists what the caller may read. A
//! refusal is the request's own response type with `errorCode` 403, as Nacos answers, so
//! clients report it as an auth failure.

use super::proto::Payload;
use super::GrpcFront;
use std::collections::HashMap;
use std::net::SocketAddr;

impl GrpcFront {
    /// With auth on, the refusal of a request whose caller may not do what it asks (see
    /// [`GrpcFront::with_access`]), or, for a service list granted in part, what the caller
    /// may see. `Ok(None)` lets it through whole. A granted write names its caller in
    /// `caller` (for the instance timeline).
    pub(super) fn access(
        &self,
        kind: &str,
        addr: SocketAddr,
        payload: &Payload,
        caller: &mut Option<std::sync::Arc<str>>,
    ) -> Result<Option<crate::front::access::Viewer>, Box<Payload>> {
        use crate::front::access::{AccessTarget, Front, Need};
        let Some(access) = self.shared.access.get() else {
            return Ok(None);
        };
        let answer = match kind {
            "InstanceRequest" | "PersistentInstanceRequest" => "InstanceResponse",
            "BatchInstanceRequest" => "BatchInstanceResponse",
            "ServiceQueryRequest" => "QueryServiceResponse",
            "SubscribeServiceRequest" => "SubscribeServiceResponse",
            "ServiceListRequest" => "ServiceListResponse",
            // Health checks pass, as in Nacos; what is not handled is refused anyway.
            _ => return Ok(None),
        };
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Address {
            ip: String,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Touches {
            #[serde(flatten)]
            head: super::messages::NamingHead,
            headers: HashMap<String, String>,
            r#type: String,
            instance: Option<Address>,
            instances: Vec<Address>,
        }
        let touches: Touches = serde_json::from_slice(payload.json()).unwrap_or_default();
        let token = payload
            .metadata
            .as_ref()
            .and_then(|m| m.headers.get("accessToken"))
            .or_else(|| touches.headers.get("accessToken"))
            .map(String::as_str);
        let need = if kind == "ServiceListRequest" {
            match (
                crate::model::NamespaceId::new(touches.head.namespace()),
                crate::model::GroupName::new(touches.head.group()),
            ) {
                (Ok(namespace), Ok(group)) => {
                    Need::List(AccessTarget::group(namespace, Some(group)))
                }
                // A bad name is the handler's to refuse, as without auth.
                _ => return Ok(None),
            }
        } else {
            let Ok(key) = touches.head.service_key() else {
                return Ok(None);
            };
            let target = AccessTarget::service(&key);
            match kind {
                "ServiceQueryRequest" | "SubscribeServiceRequest" => Need::Read(target),
                _ => {
                    let registers = touches.r#type.starts_with("register")
                        || touches.r#type.starts_with("batchRegister");
                    let ips = touches.instance.into_iter().chain(touches.instances);
                    // An address that does not parse is the handler's to refuse.
                    let ips = ips.filter_map(|a| a.ip.trim().parse().ok());
                    Need::Write(if registers {
                        target.registering(ips)
                    } else {
                        target
                    })
                }
            }
        };
        match access.check(Front::Grpc, addr.ip(), token, &need) {
            Ok(grant) => {
                *caller = Some(grant.caller);
                Ok(grant.viewer)
            }
            Err(why) => Err(Box::new(super::messages::refusal_payload(
                answer,
                403,
                &why.to_string(),
                refusal_fields(answer, &touches.head),
            ))),
        }
    }
}

/// The fields of a refused `answer` that clients need to parse it at all, so they report the
/// 403 instead of failing on the answer's shape: a service list's `count` (0) and
/// `serviceNames` (none), as Nacos sends them; a query's or subscription's `serviceInfo`, an
/// empty one marked not valid (Nacos leaves it out, which nacos-sdk-rust cannot parse).
/// Every client checks the answer's success before it reads them.
fn refusal_fields(answer: &str, head: &super::messages::NamingHead) -> serde_json::Value {
    match answer {
        "ServiceListResponse" => serde_json::json!({"count": 0, "serviceNames": []}),
        "QueryServiceResponse" | "SubscribeServiceResponse" => serde_json::json!({
            "serviceInfo": {
                "name": crate::model::excerpt(head.service_name.as_deref().unwrap_or("")),
                "groupName": head.group(),
                "clusters": "",
                "cacheMillis": 0,
                "hosts": [],
                "lastRefTime": 0,
                "checksum": "",
                "allIPs": false,
                "reachProtectionThreshold": false,
                "valid": false,
            }
        }),
        _ => serde_json::json!({}),
    }
}
