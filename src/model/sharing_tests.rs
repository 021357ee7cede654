//! What stored instances share instead of allocating each: the empty metadata map, the
//! default cluster name; and the compact timing overrides reading back as set.

use super::{Instance, PRESERVED_HEART_BEAT_TIMEOUT, PRESERVED_IP_DELETE_TIMEOUT};
use std::time::Duration;

#[test]
fn instances_without_metadata_share_one_empty_map() {
    let a = Instance::new("10.0.0.1", 80).unwrap();
    let b = Instance::new("10.0.0.2", 80).unwrap();
    assert!(std::ptr::eq(a.metadata(), b.metadata()));
    let c = Instance::builder("10.0.0.3", 80)
        .metadata("k", "v")
        .build()
        .unwrap();
    assert!(!std::ptr::eq(a.metadata(), c.metadata()));
}

#[test]
fn instances_in_the_default_cluster_share_its_name() {
    let a = Instance::new("10.0.0.1", 80).unwrap();
    let b = Instance::builder("10.0.0.2", 80)
        .cluster("DEFAULT")
        .build()
        .unwrap();
    assert_eq!(a.cluster(), b.cluster());
    assert!(std::ptr::eq(
        a.cluster().as_str().as_ptr(),
        b.cluster().as_str().as_ptr()
    ));
}

#[test]
fn timing_overrides_read_back_as_set_and_unset() {
    let i = Instance::builder("10.0.0.1", 80)
        .metadata(PRESERVED_HEART_BEAT_TIMEOUT, "90000")
        .build()
        .unwrap();
    let t = i.timing_overrides();
    assert_eq!(t.beat_timeout, Some(Duration::from_millis(90_000)));
    assert_eq!(t.beat_interval, None);
    assert_eq!(t.delete_timeout, None);
    // 80 bytes: with the two reference counts, a 96-byte allocation (issue 24, item 4).
    assert!(std::mem::size_of::<Instance>() <= 80);
}

#[test]
fn a_timing_beyond_what_is_stored_counts_as_the_longest_stored() {
    let i = Instance::builder("10.0.0.1", 80)
        .metadata(PRESERVED_IP_DELETE_TIMEOUT, "9000000000")
        .build()
        .unwrap();
    let longest = Duration::from_millis(u64::from(u32::MAX));
    assert_eq!(i.timing_overrides().delete_timeout, Some(longest));
    assert_eq!(
        i.metadata()
            .get(PRESERVED_IP_DELETE_TIMEOUT)
            .map(String::as_str),
        Some("9000000000"),
        "the metadata keeps what the client sent"
    );
}

#[test]
fn hosts_inline_or_shared_order_and_compare_as_their_text() {
    use super::Host;
    let texts = [
        "10.0.0.7",
        "10.0.0.70",
        "fe80::1",
        "orders-1.svc.cluster.local",
        "orders-1.svc.local",
        "2001:db8:85a3::8a2e:370:7334",
    ];
    let mut hosts: Vec<Host> = texts.iter().map(|t| Host::new(t).unwrap()).collect();
    hosts.sort();
    let mut sorted = texts.to_vec();
    sorted.sort();
    let back: Vec<&str> = hosts.iter().map(Host::as_str).collect();
    assert_eq!(back, sorted);
    for t in texts {
        let (a, b) = (Host::new(t).unwrap(), Host::new(t).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.to_string(), t);
        assert_eq!(format!("{a:?}"), format!("{t:?}"));
    }
    assert_ne!(
        Host::new("10.0.0.7").unwrap(),
        Host::new("10.0.0.70").unwrap()
    );
    assert!(std::mem::size_of::<Host>() <= 24);
}
