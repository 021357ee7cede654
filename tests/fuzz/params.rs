//! The v1 parameter parser, [`Params`]: arbitrary query strings and form bodies (encoded
//! pairs, raw garbage, repeated names, huge values, unicode, control characters) through
//! `Params::parse` and every extraction method. Never a panic; every result is `Ok` or a
//! [`ParamError`] naming a parameter the method reads, in its message; what comes out `Ok` is
//! valid (an instance registers, or is refused only for the registry's metadata size limit).

use crate::gen::{self, PARAM_NAMES};
use nacre::http::params::parse_metadata;
use nacre::http::{ParamError, Params};
use nacre::{Instance, Limits, ManualClock, Registry, ServiceKey, StoreError, ValidationError};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The parameter an error names, if it is one of the kinds parsing can produce.
fn named(e: &ParamError) -> Option<&'static str> {
    match e {
        ParamError::Missing(n) => Some(n),
        ParamError::Malformed { name, .. } | ParamError::Invalid { name, .. } => Some(name),
        _ => None,
    }
}

/// Checks that `result` is `Ok` or an error naming one of `reads`, in its message too.
fn names_a_read<T>(
    what: &str,
    reads: &[&str],
    result: &Result<T, ParamError>,
) -> Result<(), TestCaseError> {
    let Err(e) = result else { return Ok(()) };
    let name = named(e).ok_or_else(|| TestCaseError::fail(format!("{what}: unexpected {e:?}")))?;
    prop_assert!(
        reads.contains(&name),
        "{}: the error names `{}`, which it does not read: {:?}",
        what,
        name,
        e
    );
    prop_assert!(
        e.to_string().contains(&format!("'{name}'")),
        "{}: `{}` does not name `{}`",
        what,
        e,
        name
    );
    Ok(())
}

fn ok_or_skip<T>(r: Result<T, ParamError>) -> Option<T> {
    r.ok()
}

/// Runs every extraction method on `p`, checking each result.
fn extract_everything(p: &Params) -> Result<(), TestCaseError> {
    let r = p.flag("healthy", true);
    names_a_read("flag", &["healthy"], &r)?;
    let r = p.optional_flag("enabled");
    names_a_read("optional_flag", &["enabled"], &r)?;
    let r = p.optional_f64("weight");
    names_a_read("optional_f64", &["weight"], &r)?;
    let r = p.positive("pageNo");
    names_a_read("positive", &["pageNo"], &r)?;
    if let Ok(n) = r {
        prop_assert!(n >= 1);
    }
    let r = p.positive_or("pageSize", 10);
    names_a_read("positive_or", &["pageSize"], &r)?;
    if let Ok(n) = r {
        prop_assert!(n >= 1);
    }
    names_a_read("namespace", &["namespaceId"], &p.namespace())?;
    names_a_read("group", &["groupName"], &p.group())?;

    let r = p.service_key();
    names_a_read(
        "service_key",
        &["namespaceId", "serviceName", "groupName"],
        &r,
    )?;
    if let Ok(key) = &r {
        valid_key(key)?;
    }
    let r = p.namespaced_service("key");
    names_a_read("namespaced_service", &["key", "groupName"], &r)?;
    if let Ok(key) = &r {
        valid_key(key)?;
    }
    names_a_read("cluster", &["clusterName", "cluster"], &p.cluster())?;
    let r = p.clusters();
    names_a_read("clusters", &["clusters"], &r)?;
    for c in r.unwrap_or_default() {
        prop_assert!(nacre::model::ClusterName::new(c.as_str()).is_ok());
    }
    names_a_read("endpoint", &["ip", "port"], &p.endpoint())?;
    names_a_read(
        "instance_key",
        &["clusterName", "cluster", "ip", "port"],
        &p.instance_key(),
    )?;
    names_a_read("metadata", &["metadata"], &p.metadata("metadata"))?;

    let r = p.instance();
    names_a_read(
        "instance",
        &[
            "clusterName",
            "cluster",
            "ip",
            "port",
            "weight",
            "healthy",
            "enabled",
            "enable",
            "ephemeral",
            "metadata",
        ],
        &r,
    )?;
    if let Ok(inst) = r {
        registers(inst)?;
    }
    let r = p.instance_update();
    names_a_read(
        "instance_update",
        &["weight", "enabled", "enable", "metadata"],
        &r,
    )?;
    if let Ok(u) = r {
        let w = u.weight.expect("a PUT always sets the weight");
        prop_assert!((0.0..=nacre::model::MAX_WEIGHT).contains(&w));
        prop_assert!(u.enabled.is_some() && u.merge_metadata);
    }
    let r = p.instance_patch();
    names_a_read("instance_patch", &["weight", "enabled", "metadata"], &r)?;
    if let Some(w) = ok_or_skip(r).and_then(|u| u.weight) {
        prop_assert!((0.0..=nacre::model::MAX_WEIGHT).contains(&w));
    }
    for default in [Some(0.25), None] {
        let r = p.service_settings(default);
        names_a_read("service_settings", &["protectThreshold", "metadata"], &r)?;
        if let Ok(s) = r {
            prop_assert!((0.0..=1.0).contains(&s.protect_threshold));
        }
    }
    Ok(())
}

fn valid_key(key: &ServiceKey) -> Result<(), TestCaseError> {
    let again = ServiceKey::new(
        key.namespace().as_str(),
        key.group().as_str(),
        key.service().as_str(),
    );
    prop_assert_eq!(again.as_ref(), Ok(key));
    Ok(())
}

/// An instance the parser accepted registers, and reads back as it was; the only refusal
/// allowed is the registry's metadata size limit, which the parser does not know.
fn registers(inst: Instance) -> Result<(), TestCaseError> {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    let key = ServiceKey::named("orders").unwrap();
    match registry.register_instance(&key, inst.clone()) {
        Ok(_) => {
            let stored = registry.get_all_instances(&key, &[]);
            let stored: Vec<Instance> = stored.iter().map(|i| Instance::clone(i)).collect();
            prop_assert_eq!(stored, vec![inst]);
        }
        Err(StoreError::Invalid(ValidationError::MetadataTooLarge { size, max })) => {
            prop_assert!(size > max && inst.metadata_size() > Limits::default().max_metadata_bytes);
        }
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "{inst:?} was parsed but refused: {e}"
            )))
        }
    }
    Ok(())
}

/// What `Params::get` should answer: the first value of each name, query before form, as
/// long as it is not blank.
fn model(query: &[(String, String)], form: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in query.iter().chain(form) {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out
}

proptest! {
    #![proptest_config(crate::config(384))]

    /// Encoded pairs split between the query string and a form body parse to exactly the
    /// first value of each name (query first), blanks counting as absent.
    #[test]
    fn parse_keeps_the_first_value_of_each_name(
        query in gen::pairs(),
        form in gen::pairs(),
        plus in any::<bool>(),
    ) {
        let q = gen::encode_pairs(&query, plus);
        let f = gen::encode_pairs(&form, !plus);
        let p = Params::parse(Some(&q), f.as_bytes());
        let want = model(&query, &form);
        for name in want.keys().map(String::as_str).chain(PARAM_NAMES.iter().copied()) {
            let expected = want.get(name).map(String::as_str).filter(|v| !v.trim().is_empty());
            prop_assert_eq!(p.get(name), expected, "{}", name);
        }
        extract_everything(&p)?;
    }

    /// Raw query strings with broken escapes and stray separators, and arbitrary bytes as a
    /// form body: no panic, and every extraction is `Ok` or names what it read.
    #[test]
    fn raw_input_never_panics_the_parser(
        query in prop::option::of(gen::raw_query()),
        form in prop_oneof![
            gen::raw_query().prop_map(String::into_bytes),
            vec(any::<u8>(), 0..300),
        ],
    ) {
        let p = Params::parse(query.as_deref(), &form);
        extract_everything(&p)?;
    }

    /// A registration's parameters with one or more of them replaced by hostile values.
    #[test]
    fn hostile_values_in_a_registration(
        overrides in vec((prop::sample::select(PARAM_NAMES), gen::hostile_text()), 1..5),
    ) {
        let mut pairs: Vec<(String, String)> = overrides
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (k, v) in [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "8080"), ("pageNo", "1"), ("key", "orders")] {
            pairs.push((k.to_owned(), v.to_owned()));
        }
        let p = Params::parse(Some(&gen::encode_pairs(&pairs, false)), b"");
        extract_everything(&p)?;
    }

    /// Metadata text of any shape parses to a map or to an error naming the parameter.
    #[test]
    fn metadata_text_never_panics(raw in gen::hostile_text()) {
        let r = parse_metadata("metadata", &raw);
        names_a_read("parse_metadata", &["metadata"], &r)?;
    }
}
