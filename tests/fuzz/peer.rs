//! The peer message decoders and what they feed: arbitrary bytes through the binary
//! ([`decode_message`]) and JSON decoding of [`Envelope`], [`PeerRequest`] and
//! [`PeerResponse`] (what the HTTP peer route and `HttpPeerTransport` do), and valid messages,
//! serialized in either format and then mutated (JSON by value, binary byte by byte), through
//! [`DistroCore::handle`] and [`DistroCore::on_response`] of a member. Nothing may panic; a
//! stranger changes nothing; the store stays structurally sound ([`check::state`]) and
//! everything it serves rebuilds through the model's checks ([`check::servable`]).
//!
//! With feature `http`, `peer_route` sends the same mutated bodies through the real peer route.

use crate::check;
use crate::gen;
use nacre::cluster::{
    decode_message, encode_message, CodecError, Dispatch, DistroConfig, DistroCore, Envelope,
    NodeId, PeerError, PeerRequest, PeerResponse, WIRE_VERSION,
};
use nacre::registry::Command;
use nacre::store::{InstanceRecord, ServiceMeta, ServiceRecord, Version};
use nacre::{Instance, InstanceUpdate, ManualClock, Registry, ServiceKey, Timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::time::Duration;

pub(crate) fn me() -> NodeId {
    NodeId::new("10.1.0.1:8848").unwrap()
}
pub(crate) fn member() -> NodeId {
    NodeId::new("10.1.0.2:8848").unwrap()
}
fn stranger() -> NodeId {
    NodeId::new("10.9.9.9:8848").unwrap()
}

/// A registry as a cluster member builds it.
fn member_registry(clock: &ManualClock) -> Registry {
    Registry::builder()
        .clock(clock.clone())
        .origin(me().origin())
        .build()
}

/// A two-member core that has loaded its (empty) snapshot and serves.
fn ready_core(clock: &ManualClock) -> DistroCore {
    let mut core = loading_core(clock);
    let now = clock.now();
    let out = core.poll(now);
    let ask = out
        .iter()
        .find(|o| matches!(o.request, PeerRequest::Snapshot { .. }))
        .expect("a starting member asks for a snapshot");
    core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: Vec::new(),
            next: None,
        }),
        now,
    );
    assert!(core.is_ready());
    core
}

fn loading_core(clock: &ManualClock) -> DistroCore {
    DistroCore::new(
        me(),
        &[me(), member()],
        member_registry(clock),
        DistroConfig::default(),
        clock.now(),
    )
    .expect("a member of its own list")
}

// ---- valid messages ----

/// A version stamp near the clock (µs), or one of the values at the edges.
fn stamp() -> impl Strategy<Value = u64> {
    let now = nacre::ManualClock::new().now().as_micros();
    prop_oneof![
        8 => now - 60_000_000..now + 1_000_000,
        1 => prop::sample::select(vec![0, 1, u64::MAX - 1, u64::MAX]),
    ]
}

fn version() -> impl Strategy<Value = Version> {
    (stamp(), any::<u64>()).prop_map(|(stamp, origin)| Version { stamp, origin })
}

fn instance_record() -> impl Strategy<Value = InstanceRecord> {
    prop::sample::select(gen::instance_keys()).prop_flat_map(|key| {
        let data = prop_oneof![
            3 => gen::instance_at(key.clone()).prop_map(Some),
            1 => Just(None),
        ];
        let evicted = prop::option::weighted(0.3, stamp());
        (Just(key), version(), version(), stamp(), data, evicted).prop_map(
            |(key, written, version, beat, data, evicted)| InstanceRecord {
                key,
                written,
                version,
                last_beat: Timestamp::from_micros(beat),
                data,
                evicted: evicted.map(Timestamp::from_micros),
            },
        )
    })
}

fn service_record() -> impl Strategy<Value = ServiceRecord> {
    (
        0..2usize,
        gen::settings(),
        any::<bool>(),
        version(),
        vec(instance_record(), 0..4),
    )
        .prop_map(
            |(svc, settings, removed, version, instances)| ServiceRecord {
                key: gen::service_key(svc),
                meta: ServiceMeta {
                    settings,
                    removed: removed && instances.is_empty(),
                    explicit: false,
                    version,
                },
                instances,
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    let svc = (0..2usize).prop_map(gen::service_key);
    let key = prop::sample::select(gen::instance_keys());
    prop_oneof![
        (svc.clone(), gen::instance()).prop_map(|(s, i)| Command::register(&s, i)),
        (svc.clone(), vec(gen::instance(), 0..3)).prop_map(|(s, i)| Command::batch_register(&s, i)),
        (svc.clone(), key.clone()).prop_map(|(s, k)| Command::deregister(&s, &k)),
        (
            svc.clone(),
            key.clone(),
            prop::option::of(gen::weight()),
            prop::option::of(any::<bool>()),
            prop::option::of(gen::metadata()),
            any::<bool>()
        )
            .prop_map(|(s, k, weight, enabled, metadata, merge_metadata)| {
                Command::update(
                    &s,
                    &k,
                    InstanceUpdate {
                        weight,
                        enabled,
                        metadata,
                        merge_metadata,
                    },
                )
            }),
        (svc.clone(), key.clone(), any::<bool>())
            .prop_map(|(s, k, h)| Command::set_health(&s, &k, h)),
        (svc.clone(), key).prop_map(|(s, k)| Command::light_beat(&s, &k)),
        (svc.clone(), gen::instance()).prop_map(|(s, i)| Command::beat_with(&s, &i)),
        (svc.clone(), gen::settings()).prop_map(|(s, t)| Command::create_service(&s, t)),
        (svc.clone(), gen::settings()).prop_map(|(s, t)| Command::update_service(&s, t)),
        svc.prop_map(|s| Command::remove_service(&s)),
    ]
}

pub(crate) fn request() -> impl Strategy<Value = PeerRequest> {
    prop_oneof![
        1 => any::<bool>().prop_map(|ready| PeerRequest::Ping { ready }),
        6 => vec(service_record(), 0..3).prop_map(|records| PeerRequest::Sync { records }),
        1 => vec(((0..2usize).prop_map(gen::service_key), any::<u64>()), 0..3)
            .prop_map(|checksums| PeerRequest::Verify { checksums }),
        1 => vec(prop_oneof![Just(0u64), any::<u64>()], 0..20)
            .prop_map(|sums| PeerRequest::VerifyBuckets { sums }),
        1 => (0..20u32, vec(0..24u32, 0..4), vec(((0..2usize).prop_map(gen::service_key), any::<u64>()), 0..3))
            .prop_map(|(buckets, covered, checksums)| PeerRequest::VerifyServices { buckets, covered, checksums }),
        1 => vec((0..2usize).prop_map(gen::service_key), 0..3)
            .prop_map(|services| PeerRequest::Fetch { services }),
        1 => Just(PeerRequest::Snapshot { after: None }),
        4 => command().prop_map(PeerRequest::Forward),
        1 => (0..4u8, vec(any::<u8>(), 0..16)).prop_map(|(kind, body)| PeerRequest::Control(match kind {
            0 => nacre::cluster::ControlRequest::Vote(body),
            1 => nacre::cluster::ControlRequest::AppendEntries(body),
            2 => nacre::cluster::ControlRequest::InstallSnapshot(body),
            _ => nacre::cluster::ControlRequest::Forward(body),
        })),
    ]
}

// ---- mutations of well-formed JSON ----

/// One change somewhere in a JSON document: where (an index at each level, going down while
/// `depth` lasts) and what.
#[derive(Debug, Clone)]
pub(crate) struct Mutation {
    path: Vec<Index>,
    what: Change,
}

#[derive(Debug, Clone)]
enum Change {
    Replace(Value),
    Remove,
    Duplicate,
    RenameKey(String),
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(1e308),
            serde_json::json!(-1e308),
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(65536),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([1, "a", null]),
            serde_json::json!({"Live": null}),
            serde_json::json!({"Removed": "Nope"}),
        ]),
        any::<u64>().prop_map(Value::from),
        gen::hostile_text().prop_map(Value::String),
    ]
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let rename = prop_oneof![
        prop::sample::select(vec![
            "Ping",
            "Sync",
            "Verify",
            "Fetch",
            "Snapshot",
            "Forward",
            "Register",
            "Deregister",
            "Live",
            "Removed",
            "stamp",
            "origin",
            "ip",
            "port",
            "weight",
            "metadata",
            "clusterName",
            "key",
            "version",
            "last_beat",
            "state",
            "meta",
            "removed",
        ])
        .prop_map(str::to_owned),
        gen::hostile_text(),
    ];
    let what = prop_oneof![
        6 => json_scalar().prop_map(Change::Replace),
        2 => Just(Change::Remove),
        1 => Just(Change::Duplicate),
        2 => rename.prop_map(Change::RenameKey),
    ];
    (vec(any::<Index>(), 0..8), what).prop_map(|(path, what)| Mutation { path, what })
}

/// Applies `m` to `doc`: walks down `m.path` while the node has children, then changes the
/// child it stopped at (or the node itself at the top).
pub(crate) fn apply(doc: &mut Value, m: &Mutation) {
    let mut node = doc;
    for (depth, step) in m.path.iter().enumerate() {
        let len = match &*node {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let i = step.index(len);
        let last = depth + 1 == m.path.len();
        if last {
            change_child(node, i, &m.what);
            return;
        }
        node = match node {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).expect("i < len"),
            _ => unreachable!("len > 0"),
        };
    }
    if let Change::Replace(v) = &m.what {
        *node = v.clone();
    }
}

fn change_child(parent: &mut Value, i: usize, what: &Change) {
    match parent {
        Value::Array(a) => match what {
            Change::Replace(v) => a[i] = v.clone(),
            Change::Remove => {
                a.remove(i);
            }
            Change::Duplicate | Change::RenameKey(_) => {
                let v = a[i].clone();
                a.insert(i, v);
            }
        },
        Value::Object(o) => {
            let key = o.keys().nth(i).expect("i < len").clone();
            match what {
                Change::Replace(v) => {
                    o.insert(key, v.clone());
                }
                Change::Remove => {
                    o.remove(&key);
                }
                Change::Duplicate => {
                    let v = o[&key].clone();
                    o.insert(format!("{key}2"), v);
                }
                Change::RenameKey(new) => {
                    if let Some(v) = o.remove(&key) {
                        o.insert(new.clone(), v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// `doc` mutated, serialized, and sometimes cut short.
pub(crate) fn mutated_bytes(doc: &Value, mutations: &[Mutation], cut: Option<Index>) -> Vec<u8> {
    let mut doc = doc.clone();
    for m in mutations {
        apply(&mut doc, m);
    }
    let mut bytes = serde_json::to_vec(&doc).unwrap();
    if let Some(at) = cut {
        bytes.truncate(at.index(bytes.len() + 1));
    }
    bytes
}

/// Decodes a peer message in whichever format it is in: binary messages start with `Nc`,
/// which no JSON document does.
pub(crate) fn decode_any<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if is_binary(bytes) {
        decode_message(bytes).ok()
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

/// Whether `bytes` claim to be a binary peer message.
pub(crate) fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(b"Nc")
}

/// One change to a binary message.
#[derive(Debug, Clone)]
pub(crate) enum ByteMutation {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    /// A varint continuation byte: lengths and numbers that run long.
    Long(Index),
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteMutation::Set(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteMutation::Insert(i, b)),
        1 => any::<Index>().prop_map(ByteMutation::Remove),
        1 => any::<Index>().prop_map(ByteMutation::Long),
    ]
}

/// `bytes` changed byte by byte, the header left alone (a changed header is refused before
/// the body is read; `binary_headers_are_checked` covers it).
fn mutate_binary(mut bytes: Vec<u8>, mutations: &[ByteMutation]) -> Vec<u8> {
    for m in mutations {
        let body = bytes.len().saturating_sub(3);
        match m {
            ByteMutation::Set(i, b) if body > 0 => bytes[3 + i.index(body)] = *b,
            ByteMutation::Insert(i, b) => bytes.insert(3 + i.index(body + 1), *b),
            ByteMutation::Remove(i) if body > 0 => {
                bytes.remove(3 + i.index(body));
            }
            ByteMutation::Long(i) if body > 0 => bytes[3 + i.index(body)] |= 0x80,
            _ => {}
        }
    }
    bytes
}

/// A peer request as the HTTP route receives it, mutated or not: JSON or binary, one in two.
pub(crate) fn mutated_envelope() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![mutated_json_envelope(), mutated_binary_envelope()]
}

/// A binary peer request, changed byte by byte or not, sometimes cut short.
fn mutated_binary_envelope() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let mutations = prop_oneof![1 => Just(Vec::new()), 2 => vec(byte_mutation(), 1..4)];
    (
        prop::bool::weighted(0.8),
        request(),
        mutations,
        prop::option::weighted(0.1, any::<Index>()),
    )
        .prop_map(|(from_member, request, mutations, cut)| {
            let from = if from_member { member() } else { stranger() };
            let bytes = encode_message(&Envelope { from, request }).unwrap();
            let mut bytes = mutate_binary(bytes, &mutations);
            if let Some(at) = cut {
                bytes.truncate(3 + at.index(bytes.len() - 2));
            }
            (from_member, bytes)
        })
}

/// A JSON peer request, mutated or not.
fn mutated_json_envelope() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let mutations = prop_oneof![1 => Just(Vec::new()), 2 => vec(mutation(), 1..4)];
    (
        prop::bool::weighted(0.8),
        request(),
        mutations,
        prop::option::weighted(0.1, any::<Index>()),
    )
        .prop_map(|(from_member, request, mutations, cut)| {
            let from = if from_member { member() } else { stranger() };
            let doc = serde_json::to_value(Envelope { from, request }).unwrap();
            (from_member, mutated_bytes(&doc, &mutations, cut))
        })
}

/// Bytes that are not JSON, JSON-ish token soup, and nesting deep enough to hit the decoder's
/// recursion limit.
pub(crate) fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"from\"",
        "\"request\"",
        "\"Sync\"",
        "\"records\"",
        "\"10.1.0.2:8848\"",
        "null",
        "true",
        "1",
        "-0",
        "1e999",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"",
        "\\",
        " ",
    ]);
    prop_oneof![
        vec(any::<u8>(), 0..256),
        // The binary header of this version, then anything.
        vec(any::<u8>(), 0..256).prop_map(|b| [&b"Nc"[..], &[WIRE_VERSION], &b].concat()),
        vec(token, 0..40).prop_map(|t| t.concat().into_bytes()),
        (1..3000usize, prop::bool::ANY).prop_map(|(n, obj)| {
            if obj {
                "{\"a\":".repeat(n).into_bytes()
            } else {
                "[".repeat(n).into_bytes()
            }
        }),
    ]
}

proptest! {
    #![proptest_config(crate::config(256))]

    /// Garbage never panics the decoders; it is refused with an error.
    #[test]
    fn garbage_never_panics_the_peer_decoders(bytes in garbage()) {
        let _ = serde_json::from_slice::<Envelope>(&bytes);
        let _ = serde_json::from_slice::<PeerRequest>(&bytes);
        let _ = serde_json::from_slice::<PeerResponse>(&bytes);
        let _ = decode_message::<Envelope>(&bytes);
        let _ = decode_message::<PeerRequest>(&bytes);
        let _ = decode_message::<PeerResponse>(&bytes);
    }

    /// A valid envelope survives the wire unchanged, in both formats; cut short anywhere, the
    /// binary one is an error, never a shorter value.
    #[test]
    fn valid_envelopes_round_trip(request in request(), cut in any::<Index>()) {
        let envelope = Envelope { from: member(), request };
        let bytes = serde_json::to_vec(&envelope).unwrap();
        let back: Envelope = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &envelope);
        let bytes = encode_message(&envelope).unwrap();
        let back: Envelope = decode_message(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &envelope);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_message::<Envelope>(short).is_err());
    }

    /// Every answer a member can give survives the binary wire unchanged.
    #[test]
    fn valid_answers_round_trip(records in vec(service_record(), 0..4)) {
        let answers = [
            PeerResponse::Records(records.clone()),
            PeerResponse::Chunk { records, next: Some(nacre::ServiceKey::named("a").unwrap()) },
        ];
        for answer in answers {
            let bytes = encode_message(&answer).unwrap();
            let back: PeerResponse = decode_message(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, answer);
        }
    }

    /// A binary message with another header is refused by the header alone: another version
    /// is `CodecError::Version`, never a misread value.
    #[test]
    fn binary_headers_are_checked(request in request(), version in any::<u8>(), magic in any::<[u8; 2]>()) {
        let mut bytes = encode_message(&Envelope { from: member(), request }).unwrap();
        bytes[2] = version;
        let got = decode_message::<Envelope>(&bytes);
        if version == WIRE_VERSION {
            prop_assert!(got.is_ok());
        } else {
            prop_assert_eq!(got, Err(CodecError::Version { found: version, expected: WIRE_VERSION }));
        }
        bytes[2] = WIRE_VERSION;
        bytes[..2].copy_from_slice(&magic);
        if magic != *b"Nc" {
            prop_assert_eq!(decode_message::<Envelope>(&bytes), Err(CodecError::NotPeerMessage { found: magic }));
        }
    }
}

proptest! {
    #![proptest_config(crate::config(160))]

    /// Mutated requests from a member and from a stranger, handled by a serving member one
    /// after another: no panic; every answer serializes; a stranger gets `Rejected` and
    /// changes nothing; the store stays sound and serves only valid instances.
    #[test]
    fn mutated_requests_keep_a_member_sound(batch in vec(mutated_envelope(), 1..6)) {
        let clock = ManualClock::new();
        let mut core = ready_core(&clock);
        for (from_member, bytes) in batch {
            clock.advance(Duration::from_millis(300));
            let Some(envelope) = decode_any::<Envelope>(&bytes) else { continue };
            let before = check::state(core.registry().store()).map_err(TestCaseError::fail)?;
            let answer = core.handle(&envelope.from, envelope.request, clock.now());
            serde_json::to_vec(&answer).map_err(|e| TestCaseError::fail(format!("{answer:?}: {e}")))?;
            let encoded = encode_message(&answer).map_err(|e| TestCaseError::fail(format!("{answer:?}: {e}")))?;
            let decoded = decode_message::<PeerResponse>(&encoded);
            prop_assert_eq!(decoded.as_ref(), Ok(&answer));
            let after = check::state(core.registry().store()).map_err(TestCaseError::fail)?;
            if !from_member && envelope.from != member() {
                prop_assert!(matches!(answer, PeerResponse::Rejected(_)), "{:?}", answer);
                prop_assert_eq!(after, before);
            }
            check::servable(core.registry().store(), None).map_err(TestCaseError::fail)?;
            core.poll(clock.now());
        }
    }

    /// Mutated answers to a starting member's snapshot request and to a serving member's
    /// fetch: no panic, and the store stays sound.
    #[test]
    fn mutated_answers_keep_a_member_sound(
        records in vec(service_record(), 0..4),
        mutations in vec(mutation(), 0..4),
        byte_mutations in vec(byte_mutation(), 0..4),
        binary in any::<bool>(),
    ) {
        let clock = ManualClock::new();
        // A snapshot chunk for the loading member (a fetch answer is `Records`, the same
        // records).
        let chunk = PeerResponse::Chunk { records, next: None };
        let bytes = if binary {
            mutate_binary(encode_message(&chunk).unwrap(), &byte_mutations)
        } else {
            mutated_bytes(&serde_json::to_value(chunk).unwrap(), &mutations, None)
        };
        let Some(answer) = decode_any::<PeerResponse>(&bytes) else { return Ok(()) };
        let mut core = loading_core(&clock);
        let out = core.poll(clock.now());
        for o in out {
            core.on_response(o.id, Ok(answer.clone()), clock.now());
        }
        check::state(core.registry().store()).map_err(TestCaseError::fail)?;
        check::servable(core.registry().store(), None).map_err(TestCaseError::fail)?;
        core.poll(clock.now());
    }
}

proptest! {
    #![proptest_config(crate::config(160))]

    /// Records merged from peers are checked like client writes (the registry's limits, the
    /// settings' ranges), and no version stamp from a peer lands more than a bounded skew
    /// ahead of the clock: an instance with 4.5 KiB of metadata, a protect threshold of 1e38
    /// or a version stamped `u64::MAX` is refused, not merged as sent.
    #[test]
    fn merged_peer_records_are_checked_like_client_writes(batch in vec(mutated_envelope(), 1..6)) {
        let clock = ManualClock::new();
        let mut core = ready_core(&clock);
        let limits = *core.registry().limits();
        for (_, bytes) in batch {
            let Some(envelope) = decode_any::<Envelope>(&bytes) else { continue };
            core.handle(&member(), envelope.request, clock.now());
            check::servable(core.registry().store(), Some(&limits)).map_err(TestCaseError::fail)?;
            // The version clock shows in the next local write's version (a write this member
            // is not responsible for is applied here when its owner cannot be reached).
            let horizon = (clock.now() + Duration::from_secs(60)).as_micros();
            let probe = ServiceKey::named("version-probe").unwrap();
            let instance = Instance::new("10.7.7.7", 7).unwrap();
            let applied = match core.dispatch(Command::register(&probe, instance.clone())) {
                Dispatch::Done(done) => done,
                Dispatch::Forward(f) => {
                    let owner = f.owner().clone();
                    core.complete(f, Err(PeerError::Unreachable(owner)))
                }
            };
            prop_assert!(applied.is_ok(), "{:?}", applied);
            let next = core
                .registry()
                .service(&probe)
                .and_then(|s| s.entry(&instance.key()).map(|e| e.version()))
                .unwrap();
            prop_assert!(next.stamp <= horizon, "the version clock jumped to {:?}", next);
        }
    }
}
