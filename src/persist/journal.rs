//! [`Journal`]: group commit. A store sink marks changed services in order; one committer
//! thread takes the pending marks, reads the services' current snapshots, and commits the rows
//! that changed as one batch; writers wait for the commit that covers their mark.
//!
//! The order is what makes a wait sound. Every mark gets a sequence number under one mutex,
//! inside the store's write (sinks run before the write returns), and the committer takes
//! marks from the front of the queue. So once a commit of everything up to mark `n` has
//! succeeded (`durable >= n`), every change marked up to `n` is on disk: the committer read
//! each snapshot after it took its mark. A writer's ticket is the newest mark of its service
//! that is not durable yet (taken after its write returned, so at or after its own mark), or
//! nothing to wait for.
//!
//! A failed commit puts its marks back at the front, with their numbers, so `durable` never
//! passes a change that is not on disk; the writers waiting on them are told at once
//! ([`NotPersisted`]) and the committer tries again after [`CommitPolicy::retry_delay`].

use super::part::{may_concern_disk, persistent_part};
use super::{CommitPolicy, NotPersisted, PersistStats, Persistence, StoreWrite};
use crate::model::ServiceKey;
use crate::store::{ServiceRecord, ServiceSnapshot, Store};
use crate::util::lock;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often an idle committer looks for rows of services the store has forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// What waiters watch: how far commits got, and the last failure.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Every mark numbered up to this is on disk.
    durable: u64,
    /// The marks of the last failed commit (first, last) and why it failed.
    failed: Option<(u64, u64, Arc<str>)>,
}

impl Progress {
    /// `Some` once the wait for `ticket` is over.
    fn outcome(&self, ticket: u64) -> Option<Result<(), NotPersisted>> {
        if self.durable >= ticket {
            return Some(Ok(()));
        }
        match &self.failed {
            Some((first, last, why)) if (*first..=*last).contains(&ticket) => {
                Some(Err(NotPersisted(why.to_string())))
            }
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// The number of the next mark (marks start at 1).
    next: u64,
    queue: VecDeque<(u64, ServiceKey)>,
    /// Per service, its newest mark that is not durable yet.
    latest: HashMap<ServiceKey, u64>,
    /// Services with a row on disk or in a commit under way: their changes are always marked.
    known: HashSet<ServiceKey>,
    progress: Progress,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Commits made, and rows they wrote.
    commits: std::sync::atomic::AtomicU64,
    rows: std::sync::atomic::AtomicU64,
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
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Journal")
            .field("pending", &state.queue.len())
            .field("durable", &state.progress.durable)
            .finish()
    }
}

impl Journal {
    /// Starts the committer over `store`, writing to `persistence`, whose rows are `on_disk`
    /// now; installs the sink that marks changes; and marks every service the store holds, so
    /// what it held before (and what the load changed) is reconciled with the disk at once.
    pub(crate) fn start(
        store: Arc<Store>,
        persistence: Arc<dyn Persistence>,
        policy: CommitPolicy,
        on_disk: HashMap<ServiceKey, ServiceRecord>,
    ) -> std::io::Result<Journal> {
        let state = State {
            next: 1,
            known: on_disk.keys().cloned().collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            commits: Default::default(),
            rows: Default::default(),
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
                push_mark(&mut state, key);
            }
        }
        shared.work.notify_one();
        Ok(Journal {
            shared,
            store,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The mark to wait for before a write to `service` counts as durable, if any.
    fn ticket(&self, service: &ServiceKey) -> Option<u64> {
        lock(&self.shared.state).latest.get(service).copied()
    }

    /// Waits until every change of `service` published so far is on disk.
    pub(crate) async fn persisted(&self, service: &ServiceKey) -> Result<(), NotPersisted> {
        let Some(ticket) = self.ticket(service) else {
            return Ok(());
        };
        let mut rx = self.shared.watch.subscribe();
        let seen = rx
            .wait_for(|p| p.outcome(ticket).is_some())
            .await
            .map_err(|_| NotPersisted("the committer has stopped".to_owned()))?;
        seen.outcome(ticket).unwrap_or(Ok(()))
    }

    /// Like [`Journal::persisted`], blocking the calling thread for at most `timeout`.
    pub(crate) fn wait_persisted(
        &self,
        service: &ServiceKey,
        timeout: Duration,
    ) -> Result<(), NotPersisted> {
        let Some(ticket) = self.ticket(service) else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(outcome) = state.progress.outcome(ticket) {
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotPersisted(format!(
                    "the commit did not finish within {timeout:?}"
                )));
            }
            state = match self.shared.done.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Marks the services with a row that the store has forgotten (a removed service whose
    /// retention passed leaves the store without publishing anything), so their rows go.
    pub(crate) fn forget_retired(&self) {
        let mut state = lock(&self.shared.state);
        prune(&mut state, &self.store);
        drop(state);
        self.shared.work.notify_one();
    }

    /// Counters.
    pub(crate) fn stats(&self) -> PersistStats {
        use std::sync::atomic::Ordering::Relaxed;
        let state = lock(&self.shared.state);
        PersistStats {
            changes: state.next - 1,
            durable: state.progress.durable,
            pending_services: state.latest.len(),
            commits: self.shared.commits.load(Relaxed),
            rows_written: self.shared.rows.load(Relaxed),
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
        push_mark(state, key);
    }
}

fn push_mark(state: &mut State, key: ServiceKey) {
    let seq = state.next;
    state.next += 1;
    state.latest.insert(key.clone(), seq);
    state.queue.push_back((seq, key));
}

/// The sink: marks a published change if it may concern the disk.
fn mark_if_concerned(shared: &Shared, snap: &ServiceSnapshot) {
    let mut state = lock(&shared.state);
    if state.stopping || !may_concern_disk(snap, state.known.contains(snap.key())) {
        return;
    }
    push_mark(&mut state, snap.key().clone());
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
            let Some(batch) = self.next_batch(&mut last_prune) else {
                return;
            };
            let failed = self.commit(batch);
            if failed {
                let state = lock(&self.shared.state);
                if state.stopping {
                    // A stop gets one last try, not a loop.
                    tracing::error!(
                        pending = state.queue.len(),
                        "stopping with persistent changes that could not be committed"
                    );
                    return;
                }
                let _unused = self
                    .shared
                    .work
                    .wait_timeout(state, self.policy.retry_delay);
            }
        }
    }

    /// Waits for marks and takes the next batch from the front; `None` once stopping with
    /// nothing pending.
    fn next_batch(&self, last_prune: &mut Instant) -> Option<Vec<(u64, ServiceKey)>> {
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
        let n = self.policy.max_batch.clamp(1, state.queue.len());
        let batch: Vec<_> = state.queue.drain(..n).collect();
        for (_, key) in &batch {
            state.known.insert(key.clone());
        }
        Some(batch)
    }

    /// Commits one batch; returns whether it failed.
    fn commit(&mut self, batch: Vec<(u64, ServiceKey)>) -> bool {
        let (Some(first), Some(last)) = (batch.first().map(|b| b.0), batch.last().map(|b| b.0))
        else {
            return false;
        };
        let keys: HashSet<&ServiceKey> = batch.iter().map(|(_, k)| k).collect();
        // One mark per commit is the per-write baseline: it writes its row even when an
        // earlier commit already carried the change, as a store without group commit would.
        let rewrite = self.policy.max_batch == 1;
        let mut writes = Vec::new();
        for key in &keys {
            let snap = self.store.load_any(key);
            let stored = self.written.get(*key);
            match persistent_part(snap.as_deref(), stored) {
                Some(row) if rewrite || stored != Some(&row) => writes.push(StoreWrite::Put(row)),
                None if stored.is_some() => writes.push(StoreWrite::Delete((*key).clone())),
                _ => {}
            }
        }
        let result = if writes.is_empty() {
            Ok(())
        } else {
            self.persistence.commit(&writes)
        };
        let failed = result.is_err();
        match result {
            Ok(()) => {
                if !writes.is_empty() {
                    use std::sync::atomic::Ordering::Relaxed;
                    self.shared.commits.fetch_add(1, Relaxed);
                    self.shared.rows.fetch_add(writes.len() as u64, Relaxed);
                }
                for w in writes {
                    match w {
                        StoreWrite::Put(row) => {
                            self.written.insert(row.key.clone(), row);
                        }
                        StoreWrite::Delete(key) => {
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
                state.progress.durable = last;
                state.latest.retain(|_, seq| *seq > last);
                self.shared.publish(&state);
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    services = keys.len(),
                    "could not commit persistent data; the writes waiting for it are answered \
                     with an error, and the commit is tried again"
                );
                let why: Arc<str> = Arc::from(e.to_string());
                let mut state = lock(&self.shared.state);
                for mark in batch.into_iter().rev() {
                    state.queue.push_front(mark);
                }
                state.progress.failed = Some((first, last, why));
                self.shared.publish(&state);
            }
        }
        failed
    }
}
