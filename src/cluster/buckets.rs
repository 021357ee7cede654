//! Bucketed checksums for verify: services hashed into a fixed number of buckets, one sum per
//! bucket, so two nodes that agree compare `buckets` numbers instead of one checksum per
//! service.
//!
//! A service's bucket is a hash of its key (independent of the [`super::DistroMapper`]'s
//! hash, so one owner's services spread over every bucket), and its contribution to the bucket
//! is a mix of its key hash and its [`checksum`](crate::store::ServiceSnapshot::checksum). A
//! bucket's sum is the wrapping sum of its services' contributions: independent of order, so
//! each side sums its services as its store yields them, and 0 for an empty bucket (one byte
//! on the wire). Two buckets with the same services and checksums have the same sum; a
//! difference in any service changes it except with probability about 2^-64.

use super::mapper::distro_hash;
use crate::model::ServiceKey;

/// The most buckets a verify may use. A peer's message with more is not compared (its sender
/// must be misconfigured: [`super::DistroConfig::verify_buckets`] is clamped to this).
pub(crate) const MAX_BUCKETS: usize = 1 << 16;

/// SplitMix64's finalizer: a bijective mix, so distinct inputs stay distinct.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A service's place among `buckets` buckets and its contribution to its bucket's sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    /// The bucket, below the bucket count.
    pub(crate) bucket: usize,
    /// What it adds to the bucket's sum.
    pub(crate) value: u64,
}

/// Where `key`, whose checksum is `checksum`, goes among `buckets` buckets (at least 1).
pub(crate) fn place(key: &ServiceKey, checksum: u64, buckets: usize) -> Placed {
    let h = distro_hash(key);
    Placed {
        bucket: bucket_of_hash(h, buckets),
        value: mix(h ^ mix(checksum.wrapping_add(0x9e37_79b9_7f4a_7c15))),
    }
}

/// The bucket of `key` among `buckets` buckets (at least 1).
pub(crate) fn bucket_of(key: &ServiceKey, buckets: usize) -> usize {
    bucket_of_hash(distro_hash(key), buckets)
}

fn bucket_of_hash(h: u64, buckets: usize) -> usize {
    // A different mix of the key hash than the mapper's modulo, so a node's own services are
    // not confined to some buckets.
    (mix(h.rotate_left(17)) % buckets.max(1) as u64) as usize
}

/// Sums of services by bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketSums(Vec<u64>);

impl BucketSums {
    /// `buckets` empty buckets (at least 1).
    pub(crate) fn new(buckets: usize) -> Self {
        Self(vec![0; buckets.max(1)])
    }

    /// Adds a service.
    pub(crate) fn add(&mut self, key: &ServiceKey, checksum: u64) {
        let p = place(key, checksum, self.0.len());
        self.0[p.bucket] = self.0[p.bucket].wrapping_add(p.value);
    }

    /// The sums, one per bucket.
    pub(crate) fn into_sums(self) -> Vec<u64> {
        self.0
    }

    /// The buckets whose sums differ from `theirs` (of the same length).
    pub(crate) fn differing(&self, theirs: &[u64]) -> Vec<u32> {
        self.0
            .iter()
            .zip(theirs)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> ServiceKey {
        ServiceKey::named(&format!("svc-{i}")).unwrap()
    }

    #[test]
    fn sums_do_not_depend_on_order_and_see_every_change() {
        let mut a = BucketSums::new(16);
        let mut b = BucketSums::new(16);
        for i in 0..100 {
            a.add(&key(i), i as u64);
        }
        for i in (0..100).rev() {
            b.add(&key(i), i as u64);
        }
        assert_eq!(a, b);
        assert!(a.differing(&b.clone().into_sums()).is_empty());

        let mut c = BucketSums::new(16);
        for i in 0..100 {
            c.add(&key(i), if i == 42 { 0 } else { i as u64 });
        }
        assert_eq!(
            c.differing(&a.clone().into_sums()),
            vec![bucket_of(&key(42), 16) as u32]
        );
        // A missing service differs too.
        let mut d = BucketSums::new(16);
        for i in 1..100 {
            d.add(&key(i), i as u64);
        }
        assert_eq!(
            d.differing(&a.into_sums()),
            vec![bucket_of(&key(0), 16) as u32]
        );
    }

    #[test]
    fn services_spread_over_the_buckets() {
        let mut counts = [0usize; 64];
        for i in 0..64_000 {
            counts[bucket_of(&key(i), 64)] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }

    #[test]
    fn an_empty_bucket_sums_to_zero() {
        let mut sums = BucketSums::new(1024);
        sums.add(&key(1), 7);
        let sums = sums.into_sums();
        assert_eq!(sums.iter().filter(|s| **s == 0).count(), 1023);
    }
}
