//! [`RoundMemo`]: what a push target makes of a round's [`ServiceInfo`] (its JSON, a datagram
//! template), made once per round and shared by every target of the same shape rather than
//! once per subscriber. Every front that pushes uses it.

use crate::model::{ClusterName, ServiceKey};
use crate::protocol::ServiceInfo;
use crate::util::lock;
use std::sync::Mutex;

/// What identifies a round's data: service, clusters, revision, answer time, host count.
type Shape = (ServiceKey, Vec<ClusterName>, u64, u64, usize);

fn shape(info: &ServiceInfo) -> Shape {
    (
        info.service.clone(),
        info.clusters.clone(),
        info.revision,
        info.last_ref_time,
        info.hosts.len(),
    )
}

/// The last thing made of a round's data, and the shape it was made for.
#[derive(Debug)]
pub struct RoundMemo<T: Clone> {
    last: Mutex<Option<(Shape, T)>>,
}

impl<T: Clone> Default for RoundMemo<T> {
    fn default() -> Self {
        Self {
            last: Mutex::new(None),
        }
    }
}

impl<T: Clone> RoundMemo<T> {
    /// What `make` makes of `info`: the last call's when `info` has the same shape, else made
    /// now (an error is not remembered).
    pub fn get_or_make<E>(
        &self,
        info: &ServiceInfo,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let key = shape(info);
        if let Some((k, v)) = lock(&self.last).as_ref() {
            if *k == key {
                return Ok(v.clone());
            }
        }
        let value = make()?;
        *lock(&self.last) = Some((key, value.clone()));
        Ok(value)
    }
}
