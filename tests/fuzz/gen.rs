//! Strategies shared by the properties: valid model values from a small universe (so that
//! writes collide), and hostile text.

use nacre::{Instance, InstanceKey, ServiceKey, ServiceSettings};
use proptest::collection::btree_map;
use proptest::prelude::*;
use std::collections::BTreeMap;

pub(crate) const CLUSTERS: [&str; 2] = ["DEFAULT", "hz-a"];
pub(crate) const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "fe80::7"];
pub(crate) const SERVICES: [(&str, &str, &str); 2] = [
    ("public", "DEFAULT_GROUP", "orders"),
    ("dev", "shop", "pay"),
];

/// One of [`SERVICES`].
pub(crate) fn service_key(i: usize) -> ServiceKey {
    let (ns, group, name) = SERVICES[i % SERVICES.len()];
    ServiceKey::new(ns, group, name).unwrap()
}

/// The instance keys of the universe: every cluster × ip, port 8080.
pub(crate) fn instance_keys() -> Vec<InstanceKey> {
    CLUSTERS
        .iter()
        .flat_map(|c| {
            IPS.iter()
                .map(move |ip| InstanceKey::new(c, ip, 8080).unwrap())
        })
        .collect()
}

/// Metadata: small maps, sometimes with a valid `preserved.*` timing key.
pub(crate) fn metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    (
        btree_map("[a-z]{1,6}", "[ -~]{0,12}", 0..3),
        prop::option::of((0..3usize, 1..100_000u64)),
    )
        .prop_map(|(mut m, timing)| {
            if let Some((k, ms)) = timing {
                let key = [
                    nacre::model::PRESERVED_HEART_BEAT_INTERVAL,
                    nacre::model::PRESERVED_HEART_BEAT_TIMEOUT,
                    nacre::model::PRESERVED_IP_DELETE_TIMEOUT,
                ][k];
                m.insert(key.to_owned(), ms.to_string());
            }
            m
        })
}

/// A weight that survives a JSON round trip exactly: quarters from 0 to 10000.
pub(crate) fn weight() -> impl Strategy<Value = f64> {
    (0..=40_000u32).prop_map(|q| f64::from(q) / 4.0)
}

/// A valid instance under `key`.
pub(crate) fn instance_at(key: InstanceKey) -> impl Strategy<Value = Instance> {
    (
        weight(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        metadata(),
    )
        .prop_map(move |(w, healthy, enabled, ephemeral, md)| {
            Instance::builder(key.endpoint.ip.as_str(), key.endpoint.port)
                .cluster(key.cluster.as_str())
                .weight(w)
                .healthy(healthy)
                .enabled(enabled)
                .ephemeral(ephemeral)
                .metadata_map(md)
                .build()
                .unwrap()
        })
}

/// A valid instance somewhere in the universe.
pub(crate) fn instance() -> impl Strategy<Value = Instance> {
    prop::sample::select(instance_keys()).prop_flat_map(instance_at)
}

/// Valid service settings.
pub(crate) fn settings() -> impl Strategy<Value = ServiceSettings> {
    ((0..=4u8), btree_map("[a-z]{1,4}", "[a-z0-9]{0,6}", 0..2)).prop_map(|(t, metadata)| {
        ServiceSettings {
            protect_threshold: f32::from(t) / 4.0,
            metadata,
        }
    })
}

/// Text a client or a peer might send where a name or value goes: plausible values, values
/// just over a rule, and garbage (controls, separators, unicode, very long).
pub(crate) fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "orders", "DEFAULT_GROUP", "shop@@orders", "@@", "a@@", "@@b", "a@@b@@c", "public",
            "dev", "dev##shop@@orders", "##", "10.0.0.1", "fe80::7", "8080", "0", "65535",
            "65536", "-1", "1", "true", "FALSE", "yes", "nan", "NaN", "inf", "-0", "1e308",
            "1e-320", "0.5", "10000", "10000.0001", "DEFAULT", "hz-a", "a,b", ",,", "hz-a, DEFAULT",
            "{}", "{\"a\":\"b\"}", "{\"a\":1,\"b\":null,\"c\":true}", "{\"a\":{}}", "{\"a\":[]}",
            "{", "a=b", "a=b,c=d", "a=b=c", "=", ",", "preserved.heart.beat.timeout=soon",
            "preserved.ip.delete.timeout=3000", "*", " ", "\t", "", "\u{0}", "\u{7f}", "é",
            "✓", "\u{200b}", "\u{feff}x", "%", "%%", "+", "&", "#", "/",
        ])
        .prop_map(str::to_owned),
        2 => "\\PC{0,24}",
        1 => any::<String>(),
        1 => ("[a-z]{1,3}", 60..700usize).prop_map(|(s, n)| s.repeat(n)),
        1 => ("[a-z]=", 4000..5000usize).prop_map(|(k, n)| format!("{k}{}", "v".repeat(n))),
    ]
}

/// The parameter names the v1 API reads, and a few it does not.
#[cfg(feature = "http")]
pub(crate) const PARAM_NAMES: &[&str] = &[
    "serviceName",
    "groupName",
    "namespaceId",
    "ip",
    "port",
    "weight",
    "healthy",
    "enabled",
    "enable",
    "ephemeral",
    "clusterName",
    "cluster",
    "clusters",
    "metadata",
    "beat",
    "healthyOnly",
    "protectThreshold",
    "selector",
    "pageNo",
    "pageSize",
    "key",
    "valid",
    "app",
    "withInstances",
    "hasIpCount",
    "udpPort",
    "clientIP",
    "serviceNameParam",
    "groupNameParam",
    "unknown",
    "",
];

/// Name-value pairs, names mostly from [`PARAM_NAMES`], repeated names likely.
#[cfg(feature = "http")]
pub(crate) fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        8 => prop::sample::select(PARAM_NAMES).prop_map(str::to_owned),
        1 => hostile_text(),
    ];
    proptest::collection::vec((name, hostile_text()), 0..10)
}

/// `s` percent-encoded as a browser encodes a form value (every byte but unreserved ones;
/// spaces sometimes as `+`).
#[cfg(feature = "http")]
pub(crate) fn encode(s: &str, plus_for_space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `pairs` as an urlencoded string.
#[cfg(feature = "http")]
pub(crate) fn encode_pairs(pairs: &[(String, String)], plus_for_space: bool) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode(k, plus_for_space),
                encode(v, plus_for_space)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Raw query text: encoded pairs with raw garbage spliced in (bad escapes, stray `&` and `=`,
/// invalid UTF-8 after decoding).
#[cfg(feature = "http")]
pub(crate) fn raw_query() -> impl Strategy<Value = String> {
    (
        pairs(),
        any::<bool>(),
        proptest::collection::vec(
            prop::sample::select(vec![
                "%",
                "%4",
                "%zz",
                "%FF",
                "%C3%28",
                "%ED%A0%80",
                "&",
                "&&",
                "=",
                "==",
                "+",
                "%00",
                "%0A",
                "a=%",
                "=x",
                "&=&",
                ";",
                "%25",
                "%2B",
            ]),
            0..4,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(pairs, plus, junk, at)| {
            let mut q = encode_pairs(&pairs, plus);
            for j in junk {
                let mut i = at.index(q.len() + 1);
                while !q.is_char_boundary(i) {
                    i -= 1;
                }
                q.insert_str(i, j);
            }
            q
        })
}
