//! Unit tests of the parameter rules: sources, flags, grouped names, metadata, clusters.

use super::*;

fn p(q: &str) -> Params {
    Params::parse(Some(q), b"")
}

#[test]
fn query_wins_over_body_and_blank_counts_as_absent() {
    let params = Params::parse(Some("a=1&b=%20"), b"a=2&c=3");
    assert_eq!(params.get("a"), Some("1"));
    assert_eq!(params.get("b"), None);
    assert_eq!(params.get("c"), Some("3"));
}

#[test]
fn python_style_flags_are_accepted_and_garbage_is_not() {
    assert_eq!(p("x=True").flag("x", false), Ok(true));
    assert_eq!(p("x=False").flag("x", true), Ok(false));
    assert_eq!(p("").flag("x", true), Ok(true));
    assert!(matches!(
        p("x=maybe").flag("x", true),
        Err(ParamError::Malformed { name: "x", .. })
    ));
}

#[test]
fn grouped_service_name_wins_over_group_name() {
    let key = p("serviceName=a%40%40b&groupName=c").service_key().unwrap();
    assert_eq!((key.group().as_str(), key.service().as_str()), ("a", "b"));
    let key = p("serviceName=b&groupName=c&namespaceId=dev")
        .service_key()
        .unwrap();
    assert_eq!(key.to_string(), "dev/c@@b");
    assert_eq!(
        p("groupName=c").service_key(),
        Err(ParamError::Missing("serviceName"))
    );
}

#[test]
fn metadata_is_json_or_pairs() {
    let m = parse_metadata("metadata", r#"{"a":"1","b":2,"c":true}"#).unwrap();
    assert_eq!(m.get("b").map(String::as_str), Some("2"));
    assert_eq!(m.get("c").map(String::as_str), Some("true"));
    let m = parse_metadata("metadata", "a=1,b=2").unwrap();
    assert_eq!(m.len(), 2);
    for bad in ["a", "a=", "=1", "a=1=2", "{oops", r#"{"a":{"b":1}}"#] {
        assert!(parse_metadata("metadata", bad).is_err(), "{bad}");
    }
}

#[test]
fn cluster_name_falls_back_to_cluster() {
    assert_eq!(p("cluster=hz").cluster().unwrap().as_str(), "hz");
    assert_eq!(
        p("clusterName=sh&cluster=hz").cluster().unwrap().as_str(),
        "sh"
    );
    assert_eq!(p("").cluster().unwrap().as_str(), "DEFAULT");
}

#[test]
fn bad_instance_fields_name_their_parameter() {
    let base = "ip=10.0.0.1&port=80";
    let name = |q: &str| match p(&format!("{base}&{q}")).instance() {
        Err(ParamError::Invalid { name, .. } | ParamError::Malformed { name, .. }) => name,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(name("weight=-1"), "weight");
    assert_eq!(name("weight=abc"), "weight");
    assert_eq!(name("clusterName=a%2Cb"), "clusterName");
    assert_eq!(name("metadata=nope"), "metadata");
    assert_eq!(name("enabled=perhaps"), "enabled");
    assert!(matches!(
        p("ip=10.0.0.1&port=0").instance(),
        Err(ParamError::Invalid { name: "port", .. })
    ));
    assert!(matches!(
        p("ip=not%20a%20host&port=80").instance(),
        Err(ParamError::Invalid { name: "ip", .. })
    ));
}
