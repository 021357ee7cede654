//! What stored instances share instead of allocating each: the empty metadata map, the
//! default cluster name; and the compact timing overrides reading back as set.

use super::{Instance, PRESERVED_HEART_BEAT_TIMEOUT};
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
    assert!(std::mem::size_of::<Instance>() <= 88);
}
