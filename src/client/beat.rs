//! The beat scheduler and redo: what keeps the client's own instances registered.
//!
//! Every instance the client registers is remembered in [`Registrations`]. Each ephemeral one
//! gets a beat task: it sleeps on the client's [`Clock`] until its next beat, sends it, and sets
//! the next one at the interval the server answered (`clientBeatInterval`; before the first
//! answer, the instance's `preserved.heart.beat.interval` metadata or the client's default,
//! 5 s). Persistent instances get no beats, as in Nacos.
//!
//! When a server answers a beat with "not found" it has lost the instance: evicted after the
//! client was silent too long, or restarted with nothing. Either way it may have lost more, so
//! the beat task asks for a *redo*: every remembered registration, ephemeral or persistent, is
//! sent again (the client also renews its push subscriptions then; see
//! [`crate::client::NamingClient`]). Registering the same data again is cheap on the server
//! (no new revision, no event), so a redo after a single eviction costs little.
//!
//! Registering, deregistering and redoing take one async lock in turn, so a redo can never
//! bring back an instance that is being deregistered. Deregistering stops the instance's beat
//! task and waits until it is gone before it returns.

use super::stats::Progress;
use crate::clock::{Clock, Timestamp};
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::protocol::{
    BeatAnswer, BeatInfo, ClientTransport, DrainAction, DrainReport, TransportError,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the beat tasks need, shared.
#[derive(Clone)]
pub(crate) struct BeatContext {
    pub(crate) transport: Arc<dyn ClientTransport>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) progress: Progress,
    /// The beat interval before a server has answered one.
    pub(crate) default_interval: Duration,
    pub(crate) runtime: Handle,
}

struct Registration {
    instance: Instance,
    /// The beat task (ephemeral instances only).
    beat: Option<JoinHandle<()>>,
}

/// Everything the client registered, with the beat tasks. See the module documentation.
pub(crate) struct Registrations {
    ctx: BeatContext,
    table: Mutex<HashMap<(ServiceKey, InstanceKey), Registration>>,
    /// Serializes register, deregister and redo (held across transport calls; a drain holds
    /// it for its table edit, not for its wait).
    ops: tokio::sync::Mutex<()>,
    redo: Arc<Notify>,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrations")
            .field("instances", &self.lock().len())
            .finish()
    }
}

impl Registrations {
    pub(crate) fn new(ctx: BeatContext) -> Self {
        Self {
            ctx,
            table: Mutex::new(HashMap::new()),
            ops: tokio::sync::Mutex::new(()),
            redo: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(ServiceKey, InstanceKey), Registration>> {
        crate::util::lock(&self.table)
    }

    /// Resolves when a beat found an instance missing on the server.
    pub(crate) async fn redo_requested(&self) {
        self.redo.notified().await;
    }

    /// Registers `instances` (one request, or one batch request) and, once the server took
    /// them or could not be reached, remembers them and starts their beats. When no server is
    /// reachable the instances stay remembered and beating, so they are registered as soon as
    /// one answers (its first beat answer is "not found", which starts a redo); the error is
    /// still returned. When a server refuses them, nothing changes.
    pub(crate) async fn register(
        &self,
        service: &ServiceKey,
        instances: Vec<Instance>,
        batch: bool,
    ) -> Result<(), TransportError> {
        let _op = self.ops.lock().await;
        let sent = if batch {
            self.ctx
                .transport
                .batch_register_instance(service, &instances)
                .await
        } else {
            let mut sent = Ok(());
            for instance in &instances {
                sent = self
                    .ctx
                    .transport
                    .register_instance(service, instance)
                    .await;
                if sent.is_err() {
                    break;
                }
            }
            sent
        };
        if matches!(&sent, Err(e) if !e.is_unreachable()) {
            return sent;
        }
        for instance in instances {
            let old = self.lock().insert(
                (service.clone(), instance.key()),
                Registration {
                    beat: instance
                        .ephemeral()
                        .then(|| self.spawn_beat(service, &instance)),
                    instance,
                },
            );
            if let Some(task) = old.and_then(|r| r.beat) {
                stop(task).await;
            }
        }
        sent
    }

    /// Forgets `instance`, stops its beats (waiting until the task is gone) and deregisters it.
    pub(crate) async fn deregister(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let _op = self.ops.lock().await;
        let old = self.lock().remove(&(service.clone(), instance.key()));
        if let Some(task) = old.and_then(|r| r.beat) {
            stop(task).await;
        }
        self.ctx
            .transport
            .deregister_instance(service, instance)
            .await
    }

    /// Drains `instance` (see [`crate::front::drain`]). To deregister, as
    /// [`Self::deregister`]; to disable, the remembered registration and its beats carry
    /// `enabled=false` from now on, so neither a redo nor a beat that re-creates an evicted
    /// instance brings it back into rotation.
    pub(crate) async fn drain(
        &self,
        service: &ServiceKey,
        instance: &Instance,
        action: DrainAction,
        wait: std::time::Duration,
    ) -> Result<DrainReport, TransportError> {
        let op = self.ops.lock().await;
        let key = (service.clone(), instance.key());
        let old = match action {
            DrainAction::Deregister => self.lock().remove(&key),
            DrainAction::Disable => {
                let mut table = self.lock();
                table.get_mut(&key).and_then(|r| {
                    r.instance.set_enabled(false);
                    let restart = r
                        .beat
                        .is_some()
                        .then(|| self.spawn_beat(service, &r.instance));
                    std::mem::replace(&mut r.beat, restart).map(|beat| Registration {
                        instance: r.instance.clone(),
                        beat: Some(beat),
                    })
                })
            }
        };
        if let Some(task) = old.and_then(|r| r.beat) {
            stop(task).await;
        }
        // The table says the drain already (a redo sends the instance no more, or disabled),
        // so the other operations need not wait out the drain's wait, up to a minute: only a
        // registration of this very instance sent meanwhile may overtake its write.
        drop(op);
        self.ctx
            .transport
            .drain_instance(service, instance, action, wait)
            .await
    }

    /// Sends every remembered registration again. Failures are left to the next redo.
    pub(crate) async fn redo(&self) {
        let _op = self.ops.lock().await;
        let all: Vec<(ServiceKey, Instance)> = self
            .lock()
            .iter()
            .map(|((service, _), r)| (service.clone(), r.instance.clone()))
            .collect();
        for (service, instance) in all {
            let _ = self
                .ctx
                .transport
                .register_instance(&service, &instance)
                .await;
        }
    }

    /// How many instances are remembered.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Hands over every beat task, to be stopped (shutdown and drop). The registrations stay
    /// remembered but no longer beat.
    pub(crate) fn take_beats(&self) -> Vec<JoinHandle<()>> {
        self.lock()
            .values_mut()
            .filter_map(|r| r.beat.take())
            .collect()
    }

    fn spawn_beat(&self, service: &ServiceKey, instance: &Instance) -> JoinHandle<()> {
        let period = instance
            .timing_overrides()
            .beat_interval
            .unwrap_or(self.ctx.default_interval);
        // The first deadline is fixed now, not when the task first runs, so a test that moves a
        // ManualClock right after registering cannot make the first beat late.
        let first = self.ctx.clock.now() + period;
        let beat = BeatInfo {
            service: service.clone(),
            instance: instance.clone(),
            period,
        };
        self.ctx
            .runtime
            .spawn(beat_loop(self.ctx.clone(), self.redo.clone(), beat, first))
    }
}

async fn stop(task: JoinHandle<()>) {
    task.abort();
    // Resolves once the task's future is dropped; the error is the cancellation itself.
    let _ = task.await;
}

async fn beat_loop(ctx: BeatContext, redo: Arc<Notify>, mut beat: BeatInfo, first: Timestamp) {
    // Over a transport whose instances live by their connection there is nothing to send.
    let Some(beats) = ctx.transport.beats() else {
        return;
    };
    let mut next = first;
    loop {
        ctx.clock.sleep_until(next).await;
        let answer = beats.send_beat(&beat).await;
        match answer {
            Ok(BeatAnswer::Ok {
                client_beat_interval,
                ..
            }) if !client_beat_interval.is_zero() => beat.period = client_beat_interval,
            Ok(BeatAnswer::NotFound) => redo.notify_one(),
            _ => {}
        }
        next = ctx.clock.now() + beat.period;
        ctx.progress.update(|s| {
            s.beats_sent += 1;
            match answer {
                Err(_) => s.beat_failures += 1,
                Ok(BeatAnswer::NotFound) => s.beats_not_found += 1,
                Ok(BeatAnswer::Ok { .. }) => {}
            }
        });
    }
}
