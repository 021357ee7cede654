//! The baseline nacre is measured against: a hand-rolled `RwLock<HashMap>` registry (see the
//! docs of `benches/registry.rs`), and [`check_baseline_behaves`], which shows it applies the
//! same timing rules.

use crate::{instance, now, service_key};
use nacre::health::{judge, next_deadline, BeatTimeouts, Verdict};
use nacre::model::TimingOverrides;
use nacre::{HealthConfig, Instance, InstanceKey, ManualClock, ServiceKey, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// When an instance last beat, and its `preserved.*` timing (parsed once, at registration).
#[derive(Clone, Copy)]
struct BeatCell {
    last_beat: Timestamp,
    overrides: TimingOverrides,
}

/// One service of the baseline. `instances`, `index` and `beats` always line up.
#[derive(Default)]
struct BaseService {
    /// What readers get: they clone the `Arc` and iterate outside the lock.
    instances: Arc<Vec<Instance>>,
    /// Position of each instance in `instances`.
    index: FastMap<InstanceKey, usize>,
    /// Parallel to `instances`; readers never see it, so a beat copies nothing.
    beats: Vec<BeatCell>,
}

impl BaseService {
    fn remove_at(&mut self, at: usize) {
        let list = Arc::make_mut(&mut self.instances);
        let gone = list.swap_remove(at);
        self.beats.swap_remove(at);
        self.index.remove(&gone.key());
        if let Some(moved) = list.get(at) {
            if let Some(slot) = self.index.get_mut(&moved.key()) {
                *slot = at;
            }
        }
    }

    fn set_health(&mut self, at: usize, healthy: bool) {
        if let Some(inst) = Arc::make_mut(&mut self.instances).get_mut(at) {
            *inst = inst
                .to_builder()
                .healthy(healthy)
                .build()
                .expect("a valid instance stays valid with another health flag");
        }
    }
}

/// A hand-rolled registry: `RwLock<HashMap<ServiceKey, BaseService>>` (see the module docs).
#[derive(Default)]
pub(crate) struct Baseline {
    services: RwLock<FastMap<ServiceKey, BaseService>>,
    health: HealthConfig,
}

/// What a baseline sweep did.
#[derive(Debug, Default)]
pub(crate) struct BaseSweep {
    pub(crate) instances: usize,
    pub(crate) marked_unhealthy: usize,
    pub(crate) removed: usize,
    pub(crate) next_due: Option<Timestamp>,
}

impl Baseline {
    fn read(&self) -> RwLockReadGuard<'_, FastMap<ServiceKey, BaseService>> {
        self.services.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, FastMap<ServiceKey, BaseService>> {
        self.services
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers or replaces an instance; counts as a beat.
    pub(crate) fn register(&self, key: &ServiceKey, instance: Instance, now: Timestamp) {
        let beat = BeatCell {
            last_beat: now,
            overrides: instance.timing_overrides(),
        };
        let ikey = instance.key();
        let mut services = self.write();
        if !services.contains_key(key) {
            services.insert(key.clone(), BaseService::default());
        }
        let svc = services
            .get_mut(key)
            .expect("the service was inserted just above");
        match svc.index.get(&ikey) {
            Some(&at) => {
                Arc::make_mut(&mut svc.instances)[at] = instance;
                svc.beats[at] = beat;
            }
            None => {
                svc.index.insert(ikey, svc.instances.len());
                Arc::make_mut(&mut svc.instances).push(instance);
                svc.beats.push(beat);
            }
        }
    }

    pub(crate) fn deregister(&self, key: &ServiceKey, instance: &InstanceKey) -> bool {
        let mut services = self.write();
        let Some(svc) = services.get_mut(key) else {
            return false;
        };
        let Some(at) = svc.index.get(instance).copied() else {
            return false;
        };
        svc.remove_at(at);
        true
    }

    /// Records a beat; a beat on an unhealthy instance makes it healthy again (as nacre does).
    pub(crate) fn heartbeat(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        now: Timestamp,
    ) -> bool {
        let mut services = self.write();
        let Some(svc) = services.get_mut(key) else {
            return false;
        };
        let Some(at) = svc.index.get(instance).copied() else {
            return false;
        };
        svc.beats[at].last_beat = now;
        if !svc.instances[at].healthy() {
            svc.set_health(at, true);
        }
        true
    }

    /// The service's instance list, shared (one reference count).
    pub(crate) fn select(&self, key: &ServiceKey) -> Option<Arc<Vec<Instance>>> {
        self.read().get(key).map(|svc| svc.instances.clone())
    }

    /// Judges every ephemeral instance with nacre's policy; changes things under the write
    /// lock only when some verdict is not `Keep` (re-judged there, so a beat in between wins).
    pub(crate) fn sweep(&self, now: Timestamp) -> BaseSweep {
        let mut report = BaseSweep::default();
        let mut due = Vec::new();
        {
            let services = self.read();
            for (key, svc) in services.iter() {
                for (inst, beat) in svc.instances.iter().zip(&svc.beats) {
                    if !inst.ephemeral() {
                        continue;
                    }
                    report.instances += 1;
                    let timeouts = BeatTimeouts::resolve(beat.overrides, &self.health);
                    match judge(beat.last_beat, inst.healthy(), &timeouts, now) {
                        Verdict::Keep => {
                            let next = next_deadline(beat.last_beat, inst.healthy(), &timeouts);
                            report.next_due = Some(report.next_due.map_or(next, |d| d.min(next)));
                        }
                        _ => due.push((key.clone(), inst.key())),
                    }
                }
            }
        }
        if due.is_empty() {
            return report;
        }
        let mut services = self.write();
        for (key, ikey) in due {
            let Some(svc) = services.get_mut(&key) else {
                continue;
            };
            let Some(at) = svc.index.get(&ikey).copied() else {
                continue;
            };
            let beat = svc.beats[at];
            let timeouts = BeatTimeouts::resolve(beat.overrides, &self.health);
            match judge(beat.last_beat, svc.instances[at].healthy(), &timeouts, now) {
                Verdict::Keep => {}
                Verdict::MarkUnhealthy => {
                    svc.set_health(at, false);
                    report.marked_unhealthy += 1;
                }
                Verdict::Remove => {
                    svc.remove_at(at);
                    report.removed += 1;
                }
            }
        }
        report
    }
}

/// Checks that the baseline really is a registry (the same timing rules as nacre), so that it
/// is not a straw man that skips work.
pub(crate) fn check_baseline_behaves() {
    let clock = ManualClock::new();
    let base = Baseline::default();
    let key = service_key(0);
    let first = instance(0).key();
    for n in 0..3 {
        base.register(&key, instance(n), now(&clock));
    }
    let healthy = |b: &Baseline| {
        b.select(&key)
            .map_or(0, |l| l.iter().filter(|i| i.healthy()).count())
    };
    assert_eq!(healthy(&base), 3);
    clock.advance(Duration::from_secs(10));
    assert!(base.heartbeat(&key, &first, now(&clock)));
    clock.advance(Duration::from_secs(5));
    let swept = base.sweep(now(&clock));
    assert_eq!((swept.instances, swept.marked_unhealthy), (3, 2));
    assert_eq!(healthy(&base), 1);
    clock.advance(Duration::from_secs(15));
    let swept = base.sweep(now(&clock));
    assert_eq!((swept.marked_unhealthy, swept.removed), (1, 2));
    assert_eq!(base.select(&key).map(|l| l.len()), Some(1));
    assert!(base.heartbeat(&key, &first, now(&clock)));
    assert_eq!(healthy(&base), 1);
    assert!(base.deregister(&key, &first));
    assert_eq!(base.select(&key).map(|l| l.len()), Some(0));
}
