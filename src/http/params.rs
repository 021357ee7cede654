//! Nacos request parameters: reading the query string and form body of a v1 call into
//! validated nacre types, with a typed [`ParamError`] (answered as `400 Bad Request` with its
//! message) for everything that does not fit.
//!
//! The rules follow the Nacos server:
//! - parameters come from the query string and from an `application/x-www-form-urlencoded`
//!   body alike (the Java client puts them in the body of `POST` and `PUT`, the Python client
//!   in the query string); when both carry a name the query string wins, as a servlet's
//!   `getParameter` does;
//! - a parameter that is present but blank counts as absent, so its default applies;
//! - `serviceName` may carry its group (`group@@service`), which then wins over `groupName`;
//! - `clusterName` falls back to `cluster`, and `enabled` to `enable`;
//! - `metadata` is a JSON object or `k1=v1,k2=v2`.
//!
//! Unlike Nacos, which takes a malformed number or flag as its default or answers 500, every
//! value is checked: a bad one answers 400 and names the parameter.
//!
//! ```
//! use nacre::http::{ParamError, Params};
//! let params = Params::parse(Some("serviceName=shop%40%40orders&ip=10.0.0.7&port=8080&weight=2"), b"");
//! let key = params.service_key()?;
//! assert_eq!(key.group().as_str(), "shop");
//! let instance = params.instance()?;
//! assert_eq!((instance.port(), instance.weight()), (8080, 2.0));
//!
//! let bad = Params::parse(Some("serviceName=orders&ip=10.0.0.7&port=http"), b"");
//! assert!(matches!(bad.instance(), Err(ParamError::Malformed { name: "port", .. })));
//! # Ok::<(), ParamError>(())
//! ```

use crate::model::{
    excerpt, parse_cluster_list, split_grouped_name, ClusterName, Endpoint, GroupName, Instance,
    InstanceKey, NamespaceId, ServiceKey, ValidationError,
};
use crate::protocol::metadata;
use crate::store::{InstanceUpdate, ServiceSettings};
use std::collections::{BTreeMap, HashMap};

/// Why the parameters of a request were refused. The server answers `400 Bad Request` with the
/// message ([`ParamError::status`]: 413 for a body over the size cap, 408 for one that took too
/// long to arrive).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A required parameter was missing or blank.
    #[error("Param '{0}' is required.")]
    Missing(&'static str),
    /// A parameter that is not of its type (a number, a flag, JSON...).
    #[error("Param '{name}' = `{value}` is not {expected}")]
    Malformed {
        /// The parameter.
        name: &'static str,
        /// The first bytes of the value.
        value: String,
        /// What it should have been, in words.
        expected: &'static str,
    },
    /// A parameter of the right type that breaks a validation rule.
    #[error("Param '{name}' is invalid: {source}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// The rule it broke.
        #[source]
        source: ValidationError,
    },
    /// The request body could not be read.
    #[error("the request body could not be read: {0}")]
    Body(String),
    /// The request body is larger than the server takes.
    #[error("the request body is too large: {0}")]
    BodyTooLarge(String),
    /// The request body took longer than the server waits.
    #[error("the request body took too long to arrive")]
    BodyTimeout,
}

impl ParamError {
    /// The HTTP status it answers with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            ParamError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ParamError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn malformed(name: &'static str, value: &str, expected: &'static str) -> Self {
        ParamError::Malformed {
            name,
            value: excerpt(value),
            expected,
        }
    }

    fn invalid(name: &'static str) -> impl FnOnce(ValidationError) -> Self {
        move |source| ParamError::Invalid { name, source }
    }
}

/// The parameters of one request, from its query string and form body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Reads `query` (without the `?`) and then `form` (an urlencoded body; pass `b""` when the
    /// body is not a form). The first value of a name wins.
    pub fn parse(query: Option<&str>, form: &[u8]) -> Self {
        let mut values = HashMap::new();
        let query = query.unwrap_or("").as_bytes();
        for (k, v) in form_urlencoded::parse(query).chain(form_urlencoded::parse(form)) {
            values
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        Self { values }
    }

    /// Parameters from name-value pairs (the first value of a name wins).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut values = HashMap::new();
        for (k, v) in pairs {
            values.entry(k.into()).or_insert_with(|| v.into());
        }
        Self { values }
    }

    /// The same parameters, with `name` set to `value` where it is absent or blank (how the
    /// v2 and v3 routes give a v1 route their own defaults).
    pub fn with_default(mut self, name: &str, value: &str) -> Self {
        if self.get(name).is_none() {
            self.values.insert(name.to_owned(), value.to_owned());
        }
        self
    }

    /// The value of `name`, or `None` when it is absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether `name` was sent at all, blank or not.
    pub fn present(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value of `name`, which must be present and not blank.
    pub fn required(&self, name: &'static str) -> Result<&str, ParamError> {
        self.get(name).ok_or(ParamError::Missing(name))
    }

    /// A flag: `true`/`false` in any case (also `yes`/`no`, `on`/`off`, `y`/`n`, `t`/`f`,
    /// `1`/`0`), or `default` when absent.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ParamError> {
        self.get(name).map_or(Ok(default), |v| parse_flag(name, v))
    }

    /// A flag that may be absent.
    pub fn optional_flag(&self, name: &'static str) -> Result<Option<bool>, ParamError> {
        self.get(name).map(|v| parse_flag(name, v)).transpose()
    }

    /// A number that may be absent.
    pub fn optional_f64(&self, name: &'static str) -> Result<Option<f64>, ParamError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| ParamError::malformed(name, v, "a number"))
            })
            .transpose()
    }

    /// A whole number from 0 up that may be absent.
    pub fn optional_u64(&self, name: &'static str) -> Result<Option<u64>, ParamError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| ParamError::malformed(name, v, "a whole number from 0 up"))
            })
            .transpose()
    }

    /// A whole number from 1 up, which must be present.
    pub fn positive(&self, name: &'static str) -> Result<usize, ParamError> {
        let v = self.required(name)?;
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ParamError::malformed(name, v, "a whole number from 1 up"))
    }

    /// A whole number from 1 up, `default` when absent.
    pub fn positive_or(&self, name: &'static str, default: usize) -> Result<usize, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(_) => self.positive(name),
        }
    }

    /// The namespace: `namespaceId`, `public` when absent.
    pub fn namespace(&self) -> Result<NamespaceId, ParamError> {
        self.get("namespaceId")
            .map_or(Ok(NamespaceId::default()), |ns| {
                NamespaceId::new(ns).map_err(ParamError::invalid("namespaceId"))
            })
    }

    /// The group named by `groupName`, `DEFAULT_GROUP` when absent.
    pub fn group(&self) -> Result<GroupName, ParamError> {
        self.get("groupName").map_or(Ok(GroupName::default()), |g| {
            GroupName::new(g).map_err(ParamError::invalid("groupName"))
        })
    }

    /// The service: `namespaceId`, and `serviceName` either grouped (`group@@service`) or plain
    /// with its group in `groupName`.
    pub fn service_key(&self) -> Result<ServiceKey, ParamError> {
        let namespace = self.namespace()?;
        let name = self.required("serviceName")?;
        self.service_in(namespace, "serviceName", name)
    }

    /// The service named by the parameter `name` in the form `GET
    /// /nacos/v1/ns/instance/statuses` takes for its `key`: `namespace##group@@service`, or
    /// without `namespace##` for `public`. (Nacos wants the group there; nacre takes a plain
    /// name as one in `groupName`, `DEFAULT_GROUP` when absent, as it does for `serviceName`.)
    pub fn namespaced_service(&self, name: &'static str) -> Result<ServiceKey, ParamError> {
        let raw = self.required(name)?;
        let (namespace, service) = match raw.split_once("##") {
            Some((namespace, service)) => (
                NamespaceId::new(namespace).map_err(ParamError::invalid(name))?,
                service,
            ),
            None => (NamespaceId::default(), raw),
        };
        self.service_in(namespace, name, service)
    }

    /// `service` (grouped, or plain with its group in `groupName`) in `namespace`; errors name
    /// the parameter `param`.
    fn service_in(
        &self,
        namespace: NamespaceId,
        param: &'static str,
        service: &str,
    ) -> Result<ServiceKey, ParamError> {
        if service.contains("@@") {
            let (group, service) =
                split_grouped_name(service).map_err(ParamError::invalid(param))?;
            return Ok(ServiceKey::from_parts(namespace, group, service));
        }
        let service =
            crate::model::ServiceName::new(service).map_err(ParamError::invalid(param))?;
        Ok(ServiceKey::from_parts(namespace, self.group()?, service))
    }

    /// The instance's cluster: `clusterName`, else `cluster`, else `DEFAULT`.
    pub fn cluster(&self) -> Result<ClusterName, ParamError> {
        if let Some(c) = self.get("clusterName") {
            return ClusterName::new(c).map_err(ParamError::invalid("clusterName"));
        }
        self.get("cluster").map_or(Ok(ClusterName::default()), |c| {
            ClusterName::new(c).map_err(ParamError::invalid("cluster"))
        })
    }

    /// The clusters a query asks for: `clusters`, comma separated; empty means all.
    pub fn clusters(&self) -> Result<Vec<ClusterName>, ParamError> {
        self.get("clusters").map_or(Ok(Vec::new()), |list| {
            parse_cluster_list(list).map_err(ParamError::invalid("clusters"))
        })
    }

    /// `ip` and `port`, both required.
    pub fn endpoint(&self) -> Result<Endpoint, ParamError> {
        let ip = self.required("ip")?;
        let port = self.required("port")?;
        let port = port
            .trim()
            .parse::<u16>()
            .map_err(|_| ParamError::malformed("port", port, "a port number (1-65535)"))?;
        Endpoint::new(ip, port).map_err(|e| match e {
            ValidationError::ZeroPort => ParamError::Invalid {
                name: "port",
                source: e,
            },
            other => ParamError::Invalid {
                name: "ip",
                source: other,
            },
        })
    }

    /// Cluster and endpoint of an instance.
    pub fn instance_key(&self) -> Result<InstanceKey, ParamError> {
        Ok(InstanceKey {
            cluster: self.cluster()?,
            endpoint: self.endpoint()?,
        })
    }

    /// Metadata in `name`, a JSON object or `k1=v1,k2=v2`, if present.
    pub fn metadata(
        &self,
        name: &'static str,
    ) -> Result<Option<BTreeMap<String, String>>, ParamError> {
        self.get(name)
            .map(|raw| parse_metadata(name, raw))
            .transpose()
    }

    /// The enabled flag: `enabled`, else `enable`.
    fn enabled(&self) -> Result<Option<bool>, ParamError> {
        match self.optional_flag("enabled")? {
            Some(e) => Ok(Some(e)),
            None => self.optional_flag("enable"),
        }
    }

    /// The instance a registration describes, with Nacos' defaults: weight 1, healthy,
    /// enabled, ephemeral, cluster `DEFAULT`, no metadata.
    pub fn instance(&self) -> Result<Instance, ParamError> {
        let key = self.instance_key()?;
        let weight = self.optional_f64("weight")?.unwrap_or(1.0);
        Instance::builder(key.endpoint.ip.as_str(), key.endpoint.port)
            .cluster(key.cluster.as_str())
            .weight(weight)
            .healthy(self.flag("healthy", true)?)
            .enabled(self.enabled()?.unwrap_or(true))
            .ephemeral(self.flag("ephemeral", true)?)
            .metadata_map(self.metadata("metadata")?.unwrap_or_default())
            .build()
            .map_err(|e| instance_error(e, "metadata"))
    }

    /// The change a `PUT /nacos/v1/ns/instance` asks for, as Nacos 2.x reads it: `weight`
    /// (1 when absent) and `enabled` (or `enable`; true when absent) are both set, so an absent
    /// one goes back to its default; `metadata`, if present, is laid over the instance's own
    /// ([`InstanceUpdate::merge_metadata`]). `healthy` and `ephemeral` are not read: health is
    /// the beats' business and an instance cannot change its kind.
    pub fn instance_update(&self) -> Result<InstanceUpdate, ParamError> {
        Ok(InstanceUpdate {
            weight: Some(self.weight()?.unwrap_or(1.0)),
            enabled: Some(self.enabled()?.unwrap_or(true)),
            metadata: self.metadata("metadata")?,
            merge_metadata: true,
        })
    }

    /// The change a `PATCH /nacos/v1/ns/instance` asks for: `weight`, `enabled` and `metadata`
    /// (laid over the instance's own), each only if present. As in Nacos, `enable` is not read
    /// here, and neither is `healthy`.
    pub fn instance_patch(&self) -> Result<InstanceUpdate, ParamError> {
        Ok(InstanceUpdate {
            weight: self.weight()?,
            enabled: self.optional_flag("enabled")?,
            metadata: self.metadata("metadata")?,
            merge_metadata: true,
        })
    }

    /// `weight`, if present, checked (0 to 10000).
    fn weight(&self) -> Result<Option<f64>, ParamError> {
        let weight = self.optional_f64("weight")?;
        if let Some(w) = weight {
            // The registry checks the weight too; checking here names the parameter.
            Instance::builder("127.0.0.1", 1)
                .weight(w)
                .build()
                .map_err(ParamError::invalid("weight"))?;
        }
        Ok(weight)
    }

    /// Service settings: `protectThreshold` (0 to 1; `default` when absent, or required when
    /// `default` is `None`) and `metadata`.
    pub fn service_settings(
        &self,
        default_threshold: Option<f32>,
    ) -> Result<ServiceSettings, ParamError> {
        let protect_threshold = match (self.get("protectThreshold"), default_threshold) {
            (Some(raw), _) => {
                let t = raw.trim().parse::<f32>().map_err(|_| {
                    ParamError::malformed("protectThreshold", raw, "a number from 0 to 1")
                })?;
                if !(0.0..=1.0).contains(&t) {
                    return Err(ParamError::Invalid {
                        name: "protectThreshold",
                        source: ValidationError::BadProtectThreshold(t),
                    });
                }
                t
            }
            (None, Some(t)) => t,
            (None, None) => return Err(ParamError::Missing("protectThreshold")),
        };
        Ok(ServiceSettings {
            protect_threshold,
            metadata: self.metadata("metadata")?.unwrap_or_default(),
        })
    }
}

/// Reads the query string, and the body when it is a form (or has no content type), as a
/// servlet container does; or takes the parameters a layer in front of the route read already
/// and left in the request's extensions (`http::access`).
impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = ParamError;

    async fn from_request(mut req: axum::extract::Request, state: &S) -> Result<Self, ParamError> {
        // Read already by a layer in front of the route (the auth check).
        if let Some(params) = req.extensions_mut().remove::<Params>() {
            return Ok(params);
        }
        let query = req.uri().query().map(str::to_owned);
        let form = is_form(req.headers());
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ParamError::BodyTooLarge(e.body_text())
                } else if caused_by::<super::BodyTimeout>(&e) {
                    ParamError::BodyTimeout
                } else {
                    ParamError::Body(e.body_text())
                }
            })?;
        let form: &[u8] = if form { &body } else { b"" };
        Ok(Params::parse(query.as_deref(), form))
    }
}

/// Whether a body with these headers is read as a form: it says it is one, or says nothing.
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|ct| {
            ct.to_str().is_ok_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
        })
}

/// Whether `E` is somewhere in `err`'s chain of causes.
fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<E>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Names the parameter an instance validation error is about.
pub(crate) fn instance_error(e: ValidationError, metadata_param: &'static str) -> ParamError {
    let name = match e {
        ValidationError::BadWeight { .. } => "weight",
        ValidationError::ZeroPort => "port",
        ValidationError::BadHost(_) => "ip",
        ValidationError::EmptyName {
            kind: crate::model::NameKind::Cluster,
        }
        | ValidationError::NameTooLong {
            kind: crate::model::NameKind::Cluster,
            ..
        }
        | ValidationError::BadCharacter {
            kind: crate::model::NameKind::Cluster,
            ..
        } => "clusterName",
        _ => metadata_param,
    };
    ParamError::Invalid { name, source: e }
}

fn parse_flag(name: &'static str, value: &str) -> Result<bool, ParamError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "t" | "1" => Ok(true),
        "false" | "no" | "off" | "n" | "f" | "0" => Ok(false),
        _ => Err(ParamError::malformed(name, value, "true or false")),
    }
}

/// Parses metadata as Nacos does: a JSON object (scalar values are taken as text), or
/// `k1=v1,k2=v2`.
pub fn parse_metadata(
    name: &'static str,
    raw: &str,
) -> Result<BTreeMap<String, String>, ParamError> {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|_| ParamError::malformed(name, raw, "a JSON object or `k1=v1,k2=v2`"))?;
        return metadata::from_json(map).map_err(|source| ParamError::Invalid { name, source });
    }
    let mut out = BTreeMap::new();
    for pair in trimmed.split(',') {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !v.contains('='))
            .ok_or_else(|| ParamError::malformed(name, raw, "a JSON object or `k1=v1,k2=v2`"))?;
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
