//! [`Journal`]: group commit. A store sink marks changed services in order; one committer
//! thread takes the pending marks, reads the services' current snapshots, and commits what
//! changed in their rows as one batch; writers wait for the commit that covers their mark, for
//! at most [`CommitPolicy::wait_timeout`].
//!
//! The order is what makes a wait sound. Every mark gets a sequence number under one mutex,
//! inside the store's write (sinks run before the write returns). The queue holds services in
//! the order of their oldest mark not taken yet, and the committer takes them from the front.
//! So once a commit succeeds, every mark older than the queue's front is on disk (`durable`):
//! the committer read each snapshot after it took its service. A writer's ticket is the
//! newest mark of its service that is not durable yet (taken after its write returned, so at
//! or after its own mark), or nothing to wait for.
//!
//! Marks coalesce: a change of a service that is in the queue already only moves its newest
//! mark, so the queue holds at most one entry per service, whatever the rate of changes or
//! how long commits fail. The exception is the per-write baseline ([`CommitPolicy::per_write`])
//! while commits succeed, which commits every change on its own by design; its first failure
//! folds its queue to one entry per service, and it coalesces until a commit succeeds.
//!
//! A failed commit puts its services back at the front, with their marks, so `durable` never
//! passes a change that is not on disk; the writers waiting on them are told at once
//! ([`NotPersisted::Failed`]), the failure is reported ([`Journal::failure`], which readiness
//! reads) until a commit succeeds, and the committer tries again after
//! [`CommitPolicy::retry_after`] (a backoff; new changes do not cut it short, so a failing disk
//! is not retried once per write).

use super::part::{diff, may_concern_disk, persistent_part};
use super::{CommitPolicy, NotPersisted, PersistFailure, PersistStats, Persistence, StoreWrite};
use crate::clock::{Clock, Timestamp};
use crate::model::ServiceKey;
use crate::store::{ServiceRecord, ServiceSnapshot, Store};
use crate::util::lock;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often an idle committer looks for rows of services the store has forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// The shortest time between two log lines about writes whose commit timed out.
const TIMEOUT_LOG_EVERY: Duration = Duration::from_secs(60);

/// What waiters watch: how far commits got, and the last failure.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Every mark numbered up to this is on disk.
    durable: u64,
    /// The last failed commit: every mark up to this that is not durable was in it (or in an
    /// earlier one that failed), and why it failed.
    failed: Option<(u64, Arc<str>)>,
}

impl Progress {
    /// `Some` once the wait for `ticket` is over.
    fn outcome(&self, ticket: u64) -> Option<Result<(), NotPersisted>> {
        if self.durable >= ticket {
            return Some(Ok(()));
        }
        match &self.failed {
            Some((upto, why)) if ticket <= *upto => {
                Some(Err(NotPersisted::Failed(why.to_string())))
            }
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// The number of the next mark (marks start at 1).
    next: u64,
    /// Services with marks not taken by the committer, in the order of their oldest such mark
    /// (which each entry holds).
    queue: VecDeque<(u64, ServiceKey)>,
    /// How many entries of the queue each service has: one at most while marks coalesce.
    queued: HashMap<ServiceKey, usize>,
    /// Per service, its newest mark that is not durable yet.
    latest: HashMap<ServiceKey, u64>,
    /// Services with a row on disk or in a commit under way: their changes are always marked.
    known: HashSet<ServiceKey>,
    progress: Progress,
    /// Set while commits fail: from a failed commit to the next one that succeeds.
    failure: Option<PersistFailure>,
    /// Whether marks of a queued service coalesce while commits succeed (all but the
    /// per-write baseline).
    coalesce: bool,
    stopping: bool,
}

impl State {
    /// Marks a change of `key`.
    fn push_mark(&mut self, key: ServiceKey) {
        let seq = self.next;
        self.next += 1;
        self.latest.insert(key.clone(), seq);
        let entries = self.queued.entry(key.clone()).or_insert(0);
        if *entries > 0 && (self.coalesce || self.failure.is_some()) {
            return;
        }
        *entries += 1;
        self.queue.push_back((seq, key));
    }

    /// Takes up to `max` entries from the front.
    fn take(&mut self, max: usize) -> Vec<(u64, ServiceKey)> {
        let n = max.max(1).min(self.queue.len());
        let batch: Vec<_> = self.queue.drain(..n).collect();
        for (_, key) in &batch {
            if let Some(entries) = self.queued.get_mut(key) {
                *entries -= 1;
                if *entries == 0 {
                    self.queued.remove(key);
                }
            }
            self.known.insert(key.clone());
        }
        batch
    }

    /// The newest mark such that every mark up to it is in an entry taken from the queue: the
    /// marks a commit of everything taken so far covers.
    fn taken_upto(&self) -> u64 {
        self.queue
            .front()
            .map_or(self.next - 1, |(first, _)| first - 1)
    }

    /// Puts a failed batch back at the front and folds the queue to one entry per service
    /// (the oldest mark of each stays its entry's).
    fn put_back(&mut self, batch: Vec<(u64, ServiceKey)>) {
        for entry in batch.into_iter().rev() {
            *self.queued.entry(entry.1.clone()).or_insert(0) += 1;
            self.queue.push_front(entry);
        }
        if self.queued.values().any(|n| *n > 1) {
            let mut seen = HashSet::with_capacity(self.queued.len());
            self.queue.retain(|(_, key)| seen.insert(key.clone()));
            for entries in self.queued.values_mut() {
                *entries = 1;
            }
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Commits made, rows they wrote, commits that failed.
    commits: std::sync::atomic::AtomicU64,
    rows: std::sync::atomic::AtomicU64,
    failed_commits: std::sync::atomic::AtomicU64,
    /// Wakes the committer.
    work: Condvar,
    /// Wakes blocking waiters.
    done: Condvar,
    /// Wakes async waiters.
    watch: tokio::sync::watch::Sender<Progress>,
}

impl Shared {
    fn publish(&self, state: &State) {
        self.watch.send_replace(state.progress.clone());
        self.done.notify_all();
    }
}

/// The group-commit journal of one registry: see the module documentation.
pub(crate) struct Journal {
    shared: Arc<Shared>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    wait_timeout: Duration,
    /// When the next timed-out line may be logged, and the timeouts not logged since the last.
    timeouts: Mutex<(Option<Timestamp>, u64)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Journal")
            .field("pending", &state.queue.len())
            .field("durable", &state.progress.durable)
            .field("failure", &state.failure)
            .finish()
    }
}

impl Journal {
    /// Starts the committer over `store`, writing to `persistence`, whose rows are `on_disk`
    /// now; installs the sink that marks changes; and marks every service the store holds, so
    /// what it held before (and what the load changed) is reconciled with the disk at once.
    /// Waits for commits end at `clock`'s `now` plus the policy's `wait_timeout`.
    pub(crate) fn start(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        persistence: Arc<dyn Persistence>,
        policy: CommitPolicy,
        on_disk: HashMap<ServiceKey, ServiceRecord>,
    ) -> std::io::Result<Journal> {
        let state = State {
            next: 1,
            known: on_disk.keys().cloned().collect(),
            coalesce: policy.max_batch > 1,
            ..State::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            commits: Default::default(),
            rows: Default::default(),
            failed_commits: Default::default(),
            work: Condvar::new(),
            done: Condvar::new(),
            watch: tokio::sync::watch::Sender::new(Progress::default()),
        });
        let committer = Committer {
            shared: shared.clone(),
            store: store.clone(),
            persistence,
            policy,
            written: on_disk,
        };
        let thread = std::thread::Builder::new()
            .name("nacre-persist".to_owned())
            .spawn(move || committer.run())?;
        let sink = shared.clone();
        store.add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
            mark_if_concerned(&sink, snap)
        }));
        {
            let mut state = lock(&shared.state);
            for key in store.all_keys() {
                state.push_mark(key);
            }
        }
        shared.work.notify_one();
        Ok(Journal {
            shared,
            store,
            clock,
            wait_timeout: policy.wait_timeout,
            timeouts: Mutex::default(),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The mark to wait for before a write to `service` counts as durable, if any.
    fn ticket(&self, service: &ServiceKey) -> Option<u64> {
        lock(&self.shared.state).latest.get(service).copied()
    }

    /// Waits until every change of `service` published so far is on disk, for at most the
    /// policy's `wait_timeout` (measured on the registry's clock).
    pub(crate) async fn persisted(&self, service: &ServiceKey) -> Result<(), NotPersisted> {
        let Some(ticket) = self.ticket(service) else {
            return Ok(());
        };
        let deadline = self.clock.now() + self.wait_timeout;
        let mut rx = self.shared.watch.subscribe();
        tokio::select! {
            seen = rx.wait_for(|p| p.outcome(ticket).is_some()) => match seen {
                Ok(progress) => progress.outcome(ticket).unwrap_or(Ok(())),
                Err(_) => Err(NotPersisted::Failed("the committer has stopped".to_owned())),
            },
            () = self.clock.sleep_until(deadline) => Err(self.timed_out(service, ticket)),
        }
    }

    /// Like [`Journal::persisted`], blocking the calling thread for at most the policy's
    /// `wait_timeout` (real time: a condition variable's wait).
    pub(crate) fn wait_persisted(&self, service: &ServiceKey) -> Result<(), NotPersisted> {
        let Some(ticket) = self.ticket(service) else {
            return Ok(());
        };
        let deadline = Instant::now() + self.wait_timeout;
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(outcome) = state.progress.outcome(ticket) {
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(state);
                return Err(self.timed_out(service, ticket));
            }
            state = match self.shared.done.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The answer to a wait past its deadline, logged at most once per
    /// [`TIMEOUT_LOG_EVERY`] (a hung disk times out every write).
    fn timed_out(&self, service: &ServiceKey, ticket: u64) -> NotPersisted {
        let now = self.clock.now();
        let unlogged = {
            let mut gate = lock(&self.timeouts);
            if gate.0.is_some_and(|next| now < next) {
                gate.1 += 1;
                None
            } else {
                gate.0 = Some(now + TIMEOUT_LOG_EVERY);
                Some(std::mem::take(&mut gate.1))
            }
        };
        if let Some(unlogged) = unlogged {
            tracing::warn!(
                service = %service,
                mark = ticket,
                timeout_ms = u64::try_from(self.wait_timeout.as_millis()).unwrap_or(u64::MAX),
                unlogged_since_last = unlogged,
                "a write's commit did not finish in time; the write is answered with an error \
                 and committed when the disk allows"
            );
        }
        NotPersisted::TimedOut(self.wait_timeout)
    }

    /// Marks the services with a row that the store has forgotten (a removed service whose
    /// retention passed leaves the store without publishing anything), so their rows go.
    pub(crate) fn forget_retired(&self) {
        let mut state = lock(&self.shared.state);
        prune(&mut state, &self.store);
        drop(state);
        self.shared.work.notify_one();
    }

    /// Why commits are failing, from a failed commit until one succeeds.
    pub(crate) fn failure(&self) -> Option<PersistFailure> {
        lock(&self.shared.state).failure.clone()
    }

    /// Counters.
    pub(crate) fn stats(&self) -> PersistStats {
        use std::sync::atomic::Ordering::Relaxed;
        let state = lock(&self.shared.state);
        PersistStats {
            changes: state.next - 1,
            durable: state.progress.durable,
            pending_services: state.latest.len(),
            queued: state.queue.len(),
            commits: self.shared.commits.load(Relaxed),
            rows_written: self.shared.rows.load(Relaxed),
            failed_commits: self.shared.failed_commits.load(Relaxed),
        }
    }
}

impl Drop for Journal {
    /// Commits what is pending, then stops the committer.
    fn drop(&mut self) {
        lock(&self.shared.state).stopping = true;
        self.shared.work.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

/// Marks every known service that `store` no longer holds.
fn prune(state: &mut State, store: &Store) {
    let gone: Vec<ServiceKey> = state
        .known
        .iter()
        .filter(|k| store.load_any(k).is_none())
        .cloned()
        .collect();
    for key in gone {
        state.push_mark(key);
    }
}

/// The sink: marks a published change if it may concern the disk.
fn mark_if_concerned(shared: &Shared, snap: &ServiceSnapshot) {
    let mut state = lock(&shared.state);
    if state.stopping || !may_concern_disk(snap, state.known.contains(snap.key())) {
        return;
    }
    state.push_mark(snap.key().clone());
    drop(state);
    shared.work.notify_one();
}

struct Committer {
    shared: Arc<Shared>,
    store: Arc<Store>,
    persistence: Arc<dyn Persistence>,
    policy: CommitPolicy,
    /// The rows on disk, as last committed.
    written: HashMap<ServiceKey, ServiceRecord>,
}

impl Committer {
    fn run(mut self) {
        let mut last_prune = Instant::now();
        loop {
            let Some((batch, upto)) = self.next_batch(&mut last_prune) else {
                return;
            };
            if let Some(failures) = self.commit(batch, upto) {
                if !self.back_off(failures) {
                    return;
                }
            }
        }
    }

    /// Sleeps [`CommitPolicy::retry_after`] the `failures`-th failure in a row; new marks do
    /// not cut it short, a stop does (for one last try). `false` when stopping already.
    fn back_off(&self, failures: u64) -> bool {
        let delay = self.policy.retry_after(failures);
        let until = Instant::now() + delay;
        let mut state = lock(&self.shared.state);
        if state.stopping {
            // A stop gets one last try, not a loop.
            tracing::error!(
                pending = state.latest.len(),
                "stopping with persistent changes that could not be committed"
            );
            return false;
        }
        tracing::info!(
            failures,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "the commit is tried again after a pause"
        );
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if state.stopping || left.is_zero() {
                return true;
            }
            state = match self.shared.work.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits for marks and takes the next batch from the front, with the newest mark a commit
    /// of it covers; `None` once stopping with nothing pending.
    fn next_batch(&self, last_prune: &mut Instant) -> Option<(Vec<(u64, ServiceKey)>, u64)> {
        let mut state = lock(&self.shared.state);
        loop {
            if !state.queue.is_empty() {
                break;
            }
            if state.stopping {
                return None;
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                *last_prune = Instant::now();
                // A backstop for hosts that collect tombstones themselves
                // (`Registry::check_health` calls `forget_retired`).
                prune(&mut state, &self.store);
                continue;
            }
            state = match self.shared.work.wait_timeout(state, PRUNE_EVERY) {
                Ok((s, _)) => s,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let batch = state.take(self.policy.max_batch);
        Some((batch, state.taken_upto()))
    }

    /// Commits one batch covering the marks up to `upto`; returns the failures in a row when
    /// it failed.
    fn commit(&mut self, batch: Vec<(u64, ServiceKey)>, upto: u64) -> Option<u64> {
        if batch.is_empty() {
            return None;
        }
        let keys: HashSet<&ServiceKey> = batch.iter().map(|(_, k)| k).collect();
        // One mark per commit is the per-write baseline: it writes its service's row even when
        // an earlier commit already carried the change, as a store without group commit would.
        let rewrite = self.policy.max_batch == 1;
        let mut writes = Vec::new();
        let mut rows = Vec::with_capacity(keys.len());
        for key in &keys {
            let snap = self.store.load_any(key);
            let stored = self.written.get(*key);
            let row = persistent_part(snap.as_deref(), stored);
            let changes = diff(key, stored, row.as_ref());
            match &row {
                Some(row) if changes.is_empty() && rewrite => writes.push(StoreWrite::PutService {
                    service: (*key).clone(),
                    meta: row.meta.clone(),
                }),
                _ => writes.extend(changes),
            }
            rows.push(((*key).clone(), row));
        }
        let result = if writes.is_empty() {
            Ok(())
        } else {
            self.persistence.commit(&writes)
        };
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(()) => {
                if !writes.is_empty() {
                    self.shared.commits.fetch_add(1, Relaxed);
                    self.shared.rows.fetch_add(writes.len() as u64, Relaxed);
                }
                for (key, row) in rows {
                    match row {
                        Some(row) => {
                            self.written.insert(key, row);
                        }
                        None => {
                            self.written.remove(&key);
                        }
                    }
                }
                let mut state = lock(&self.shared.state);
                for key in &keys {
                    if !self.written.contains_key(*key) {
                        state.known.remove(*key);
                    }
                }
                let durable = state.taken_upto().max(state.progress.durable);
                state.progress.durable = durable;
                state.latest.retain(|_, seq| *seq > durable);
                if let Some(failure) = state.failure.take() {
                    tracing::info!(
                        failures = failure.attempts,
                        "commits to the persistent store succeed again"
                    );
                }
                self.shared.publish(&state);
                None
            }
            Err(e) => {
                self.shared.failed_commits.fetch_add(1, Relaxed);
                let why: Arc<str> = Arc::from(e.to_string());
                let mut state = lock(&self.shared.state);
                let attempts = state.failure.as_ref().map_or(0, |f| f.attempts) + 1;
                tracing::error!(
                    error = %e,
                    services = keys.len(),
                    attempts,
                    "could not commit persistent data; the writes waiting for it are answered \
                     with an error, the node reports itself not ready, and the commit is tried \
                     again"
                );
                state.failure = Some(PersistFailure {
                    attempts,
                    error: why.to_string(),
                });
                state.put_back(batch);
                state.progress.failed = Some((upto, why));
                self.shared.publish(&state);
                Some(attempts)
            }
        }
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
