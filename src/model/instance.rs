//! [`Instance`] and the ways to name one: [`Host`], [`Endpoint`], [`InstanceKey`] (within a
//! service) and [`InstanceId`] (the Nacos string `ip#port#cluster#group@@service`).

use super::error::{excerpt, ValidationError};
use super::name::{ClusterName, GroupName, ServiceName};
use super::service_key::{split_grouped_name, ServiceKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The largest weight Nacos accepts.
pub const MAX_WEIGHT: f64 = 10_000.0;

/// Metadata key: the client's beat interval for this instance, in milliseconds.
pub const PRESERVED_HEART_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
/// Metadata key: time without a beat before this instance is unhealthy, in milliseconds.
pub const PRESERVED_HEART_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
/// Metadata key: time without a beat before this instance is removed, in milliseconds.
pub const PRESERVED_IP_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";

/// The address an instance listens on: an IP address or a host name, checked.
///
/// ```
/// use nacre::Host;
/// assert!(Host::new("10.0.0.7").is_ok());
/// assert!(Host::new("fe80::1").is_ok());
/// assert!(Host::new("orders-1.svc.local").is_ok());
/// assert!(Host::new("not a host").is_err());
/// ```
///
/// An address of up to 22 characters (every IPv4 address, most IPv6 ones and short host
/// names) is kept inline, in the 24 bytes the value takes; a longer one is shared behind an
/// `Arc`. Before, every address was an `Arc<str>`: a 32-byte allocation per instance, and an
/// eighth of a stored instance's memory (issue 24, item 4). Ordering, equality and hashing are
/// those of the text either way.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Host(Text);

/// The longest host text kept inline.
const INLINE_HOST: usize = 22;

/// A [`Host`]'s text: inline when short, shared when not.
#[derive(Clone)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE_HOST] },
    Shared(Arc<str>),
}

impl Text {
    fn new(value: &str) -> Self {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE_HOST => {
                let mut bytes = [0; INLINE_HOST];
                bytes[..value.len()].copy_from_slice(value.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Shared(Arc::from(value)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Text::Shared(text) => text.as_bytes(),
        }
    }
}

impl Host {
    /// Checks that `value` is an IP address or an RFC 1123 host name.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        check_host(value)?;
        Ok(Self(Text::new(value)))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Checked as ASCII when built, so this never falls back.
            Text::Inline { .. } => std::str::from_utf8(self.0.as_bytes()).unwrap_or_default(),
            Text::Shared(text) => text,
        }
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for Host {}

impl PartialOrd for Host {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Host {
    /// The order of the texts (a `str`'s order is its bytes').
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl std::hash::Hash for Host {
    /// As the text hashes.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

fn check_host(value: &str) -> Result<(), ValidationError> {
    if value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = || ValidationError::BadHost(excerpt(value));
    if value.is_empty() || value.len() > 253 {
        return Err(bad());
    }
    // A dotted quad that did not parse as IPv4 (such as 300.1.1.1) is a bad address, not a
    // host name.
    if value
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    for label in value.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

impl TryFrom<String> for Host {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Host::new(&s)
    }
}

impl From<Host> for String {
    fn from(h: Host) -> String {
        h.as_str().to_owned()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `ip:port` of an instance.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    /// The address.
    pub ip: Host,
    /// The port, never 0.
    pub port: u16,
}

impl Endpoint {
    /// Checks both parts.
    pub fn new(ip: &str, port: u16) -> Result<Self, ValidationError> {
        if port == 0 {
            return Err(ValidationError::ZeroPort);
        }
        Ok(Self {
            ip: Host::new(ip)?,
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip.as_str().contains(':') {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Names one instance within its service: cluster plus endpoint.
///
/// Build it once and reuse it for beats; lookups with it allocate nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct InstanceKey {
    /// The cluster the instance is in.
    pub cluster: ClusterName,
    /// Its address.
    pub endpoint: Endpoint,
}

impl InstanceKey {
    /// Checks the parts and builds the key.
    pub fn new(cluster: &str, ip: &str, port: u16) -> Result<Self, ValidationError> {
        Ok(Self {
            cluster: ClusterName::new(cluster)?,
            endpoint: Endpoint::new(ip, port)?,
        })
    }

    /// `ip:port` in cluster `DEFAULT`.
    pub fn in_default_cluster(ip: &str, port: u16) -> Result<Self, ValidationError> {
        Ok(Self {
            cluster: ClusterName::default(),
            endpoint: Endpoint::new(ip, port)?,
        })
    }

    /// The Nacos instance id of this key in `service`.
    pub fn instance_id(&self, service: &ServiceKey) -> InstanceId {
        InstanceId {
            group: service.group().clone(),
            service: service.service().clone(),
            key: self.clone(),
        }
    }
}

/// The Nacos instance id, printed and parsed as `ip#port#cluster#group@@service`.
///
/// ```
/// use nacre::InstanceId;
/// let id: InstanceId = "10.0.0.7#8080#DEFAULT#DEFAULT_GROUP@@orders".parse().unwrap();
/// assert_eq!(id.key().endpoint.port, 8080);
/// assert_eq!(id.to_string(), "10.0.0.7#8080#DEFAULT#DEFAULT_GROUP@@orders");
/// assert!("10.0.0.7#0#DEFAULT#DEFAULT_GROUP@@orders".parse::<InstanceId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    group: GroupName,
    service: ServiceName,
    key: InstanceKey,
}

impl InstanceId {
    /// The group part.
    pub fn group(&self) -> &GroupName {
        &self.group
    }
    /// The service part.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }
    /// Cluster and endpoint.
    pub fn key(&self) -> &InstanceKey {
        &self.key
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}#{}#{}@@{}",
            self.key.endpoint.ip,
            self.key.endpoint.port,
            self.key.cluster,
            self.group,
            self.service
        )
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({self})")
    }
}

impl FromStr for InstanceId {
    type Err = ValidationError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| ValidationError::BadInstanceId {
            input: excerpt(input),
            reason,
        };
        let mut parts = input.splitn(4, '#');
        let (Some(ip), Some(port), Some(cluster), Some(grouped)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("it has fewer than four `#`-separated parts".into()));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("`{}` is not a port number", excerpt(port))))?;
        let endpoint = Endpoint::new(ip, port).map_err(|e| bad(e.to_string()))?;
        let cluster = ClusterName::new(cluster).map_err(|e| bad(e.to_string()))?;
        let (group, service) = split_grouped_name(grouped).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            group,
            service,
            key: InstanceKey { cluster, endpoint },
        })
    }
}

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One registered copy of a service: where it listens and how it wants to be treated.
///
/// Fields are private so an `Instance` is always valid; build one with [`Instance::builder`]
/// (or [`Instance::new`] for the defaults: weight 1, healthy, enabled, ephemeral, cluster
/// `DEFAULT`, no metadata). It serializes with the Nacos field names (`ip`, `port`, `weight`,
/// `healthy`, `enabled`, `ephemeral`, `clusterName`, `metadata`); deserializing checks every
/// field the same way the builder does.
///
/// ```
/// use nacre::Instance;
/// let inst = Instance::builder("10.0.0.7", 8080)
///     .weight(2.5)
///     .cluster("hz-a")
///     .metadata("version", "1.4.2")
///     .build()
///     .unwrap();
/// assert_eq!(inst.weight(), 2.5);
/// assert_eq!(inst.cluster().as_str(), "hz-a");
/// assert!(Instance::builder("10.0.0.7", 0).build().is_err());
/// assert!(Instance::builder("10.0.0.7", 80).weight(f64::NAN).build().is_err());
/// ```
///
/// Its serde form is the Nacos object above for human-readable formats (JSON), and a compact
/// tuple for binary ones (the peer wire format): see `instance_wire.rs`.
#[derive(Clone, PartialEq)]
pub struct Instance {
    endpoint: Endpoint,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster_name: ClusterName,
    /// Shared: copies of an instance (a health flip makes one) share its metadata, and every
    /// instance without metadata shares one empty map (see [`shared_metadata`]).
    metadata: Arc<BTreeMap<String, String>>,
    /// Read from `metadata` once, when the instance is built (never serialized); in
    /// milliseconds, 12 bytes where [`TimingOverrides`] takes 48 (see [`Timing`]).
    timing: Timing,
}

impl Instance {
    /// An instance from parts already checked (endpoint, cluster) and parts still to check
    /// (weight, metadata). `flags` are `[healthy, enabled, ephemeral]`.
    pub(crate) fn from_parts(
        endpoint: Endpoint,
        cluster_name: ClusterName,
        weight: f64,
        [healthy, enabled, ephemeral]: [bool; 3],
        metadata: BTreeMap<String, String>,
    ) -> Result<Self, ValidationError> {
        check_weight(weight)?;
        check_metadata(&metadata)?;
        Ok(Instance {
            timing: Timing::read(&metadata),
            endpoint,
            weight,
            healthy,
            enabled,
            ephemeral,
            cluster_name,
            metadata: shared_metadata(metadata),
        })
    }

    /// `ip:port` with the defaults.
    pub fn new(ip: &str, port: u16) -> Result<Self, ValidationError> {
        Self::builder(ip, port).build()
    }

    /// Starts building an instance at `ip:port`.
    pub fn builder(ip: &str, port: u16) -> InstanceBuilder {
        InstanceBuilder {
            ip: ip.to_owned(),
            port,
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            cluster: None,
            metadata: BTreeMap::new(),
        }
    }

    /// A builder holding this instance's values, to change some of them.
    pub fn to_builder(&self) -> InstanceBuilder {
        InstanceBuilder {
            ip: self.endpoint.ip.to_string(),
            port: self.endpoint.port,
            weight: self.weight,
            healthy: self.healthy,
            enabled: self.enabled,
            ephemeral: self.ephemeral,
            cluster: Some(self.cluster_name.to_string()),
            metadata: BTreeMap::clone(&self.metadata),
        }
    }

    /// The address.
    pub fn ip(&self) -> &Host {
        &self.endpoint.ip
    }
    /// The port (never 0).
    pub fn port(&self) -> u16 {
        self.endpoint.port
    }
    /// `ip:port`.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    /// The weight for weighted selection, from 0 to [`MAX_WEIGHT`]; 0 means never picked.
    pub fn weight(&self) -> f64 {
        self.weight
    }
    /// Whether the instance is healthy (for ephemeral instances: beating in time).
    pub fn healthy(&self) -> bool {
        self.healthy
    }
    /// Whether the instance may receive traffic; disabled instances are never selected.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// Ephemeral instances live by heartbeats; persistent ones stay until deregistered.
    pub fn ephemeral(&self) -> bool {
        self.ephemeral
    }
    /// The cluster.
    pub fn cluster(&self) -> &ClusterName {
        &self.cluster_name
    }
    /// The metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    /// Cluster plus endpoint: names this instance within its service.
    pub fn key(&self) -> InstanceKey {
        InstanceKey {
            cluster: self.cluster_name.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
    /// The Nacos instance id of this instance in `service`.
    pub fn instance_id(&self, service: &ServiceKey) -> InstanceId {
        self.key().instance_id(service)
    }
    /// Size of the metadata in bytes: all keys plus all values.
    pub fn metadata_size(&self) -> usize {
        super::limits::metadata_size(&self.metadata)
    }

    /// The per-instance timing overrides found in the `preserved.*` metadata keys.
    pub fn timing_overrides(&self) -> TimingOverrides {
        self.timing.overrides()
    }

    pub(crate) fn set_healthy(&mut self, healthy: bool) {
        self.healthy = healthy;
    }
    pub(crate) fn set_weight(&mut self, weight: f64) -> Result<(), ValidationError> {
        check_weight(weight)?;
        self.weight = weight;
        Ok(())
    }
    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }
    pub(crate) fn set_metadata(
        &mut self,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), ValidationError> {
        check_metadata(&metadata)?;
        self.timing = Timing::read(&metadata);
        self.metadata = shared_metadata(metadata);
        Ok(())
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("endpoint", &self.endpoint)
            .field("cluster", &self.cluster_name)
            .field("weight", &self.weight)
            .field("healthy", &self.healthy)
            .field("enabled", &self.enabled)
            .field("ephemeral", &self.ephemeral)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Per-instance timing read from the `preserved.*` metadata keys; `None` means "use the
/// registry's default".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimingOverrides {
    /// `preserved.heart.beat.interval`.
    pub beat_interval: Option<Duration>,
    /// `preserved.heart.beat.timeout`.
    pub beat_timeout: Option<Duration>,
    /// `preserved.ip.delete.timeout`.
    pub delete_timeout: Option<Duration>,
}

/// [`TimingOverrides`] as an instance stores them: milliseconds, 0 for "not set" (a value of
/// 0 is refused by [`check_metadata`], so it cannot mean anything else). A quarter of the size
/// of three `Option<Duration>`s; one of these sits in every stored instance, and at 12 bytes
/// (where three `u64`s took 24) an instance fits a 96-byte allocation instead of 112.
///
/// A value above `u32::MAX` ms (49.7 days) counts as 49.7 days; the metadata keeps the text
/// as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Timing {
    beat_interval: u32,
    beat_timeout: u32,
    delete_timeout: u32,
}

impl Timing {
    fn read(metadata: &BTreeMap<String, String>) -> Self {
        let read = |key| {
            metadata
                .get(key)
                .and_then(|v| parse_millis(v))
                .map_or(0, |ms| u32::try_from(ms).unwrap_or(u32::MAX))
        };
        Timing {
            beat_interval: read(PRESERVED_HEART_BEAT_INTERVAL),
            beat_timeout: read(PRESERVED_HEART_BEAT_TIMEOUT),
            delete_timeout: read(PRESERVED_IP_DELETE_TIMEOUT),
        }
    }

    fn overrides(self) -> TimingOverrides {
        let get = |ms: u32| (ms > 0).then(|| Duration::from_millis(u64::from(ms)));
        TimingOverrides {
            beat_interval: get(self.beat_interval),
            beat_timeout: get(self.beat_timeout),
            delete_timeout: get(self.delete_timeout),
        }
    }
}

/// `metadata` behind an `Arc`; an empty map is one shared allocation, not one per instance
/// (most instances have no metadata, and each empty `Arc<BTreeMap>` took 48 bytes).
fn shared_metadata(metadata: BTreeMap<String, String>) -> Arc<BTreeMap<String, String>> {
    static EMPTY: LazyLock<Arc<BTreeMap<String, String>>> = LazyLock::new(Arc::default);
    if metadata.is_empty() {
        EMPTY.clone()
    } else {
        Arc::new(metadata)
    }
}

fn parse_millis(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok().filter(|ms| *ms > 0)
}

fn check_weight(weight: f64) -> Result<(), ValidationError> {
    if !weight.is_finite() || !(0.0..=MAX_WEIGHT).contains(&weight) {
        return Err(ValidationError::BadWeight {
            weight,
            max: MAX_WEIGHT,
        });
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    for key in metadata.keys() {
        if key.is_empty() {
            return Err(ValidationError::EmptyName {
                kind: super::error::NameKind::MetadataKey,
            });
        }
    }
    for key in [
        PRESERVED_HEART_BEAT_INTERVAL,
        PRESERVED_HEART_BEAT_TIMEOUT,
        PRESERVED_IP_DELETE_TIMEOUT,
    ] {
        if let Some(value) = metadata.get(key) {
            if parse_millis(value).is_none() {
                return Err(ValidationError::BadTimingMetadata {
                    key: key.to_owned(),
                    value: excerpt(value),
                });
            }
        }
    }
    Ok(())
}

/// Builds an [`Instance`]; [`InstanceBuilder::build`] checks every field.
#[derive(Debug, Clone)]
#[must_use]
pub struct InstanceBuilder {
    ip: String,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl InstanceBuilder {
    /// Weight for weighted selection (default 1).
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }
    /// Initial health (default healthy).
    pub fn healthy(mut self, healthy: bool) -> Self {
        self.healthy = healthy;
        self
    }
    /// Whether it may receive traffic (default enabled).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
    /// Ephemeral (kept alive by beats, the default) or persistent.
    pub fn ephemeral(mut self, ephemeral: bool) -> Self {
        self.ephemeral = ephemeral;
        self
    }
    /// The cluster (default `DEFAULT`).
    pub fn cluster(mut self, cluster: &str) -> Self {
        self.cluster = Some(cluster.to_owned());
        self
    }
    /// Adds one metadata entry.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.to_owned(), value.to_owned());
        self
    }
    /// Replaces all metadata.
    pub fn metadata_map(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Checks everything and builds the instance. The metadata size limit is the registry's
    /// and is checked when the instance is registered.
    pub fn build(self) -> Result<Instance, ValidationError> {
        let endpoint = Endpoint::new(&self.ip, self.port)?;
        let cluster_name = match self.cluster {
            Some(c) => ClusterName::new(&c)?,
            None => ClusterName::default(),
        };
        Instance::from_parts(
            endpoint,
            cluster_name,
            self.weight,
            [self.healthy, self.enabled, self.ephemeral],
            self.metadata,
        )
    }
}
