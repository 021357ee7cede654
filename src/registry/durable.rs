//! [`Registry`]'s durability: attaching a [`Persistence`] (load, then commit every change
//! from then on) and waiting for a write to be on disk. See [`crate::persist`].
//!
//! The rule "a write that touches persistent data is answered once it is on disk" is stated
//! once, in [`DiskWait`]: [`Registry::execute`] (a standalone node's writes), a cluster
//! member's route and a member answering a forwarded write all take it from there.

use super::command::{Command, CommandOutput};
use super::handle::Registry;
use super::reader::RegistryReader;
use crate::model::ServiceKey;
use crate::persist::{
    CommitPolicy, Journal, LoadReport, NotPersisted, PersistError, PersistFailure, PersistStats,
    Persistence,
};
use crate::store::{MergeRules, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Why [`Registry::execute`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// The registry refused the write; nothing changed.
    #[error(transparent)]
    Refused(#[from] StoreError),
    /// The write was applied in memory but its commit to disk failed or did not finish within
    /// [`CommitPolicy::wait_timeout`] (see [`crate::persist`]).
    #[error(transparent)]
    NotPersisted(#[from] NotPersisted),
}

/// What a write waits for before it is answered: the commit of its service, when the registry
/// keeps persistent data on disk and the write touches it; nothing otherwise. Taken before the
/// write is applied ([`Registry::disk_wait`]), awaited after.
#[derive(Debug)]
#[must_use = "a write that touches persistent data is answered only once it is on disk"]
pub(crate) struct DiskWait(Option<ServiceKey>);

impl DiskWait {
    /// Waits for the commit, if there is one to wait for.
    pub(crate) async fn done(self, registry: &Registry) -> Result<(), NotPersisted> {
        match self.0 {
            Some(service) => registry.persisted(&service).await,
            None => Ok(()),
        }
    }

    /// Like [`DiskWait::done`], blocking the calling thread (for at most
    /// [`CommitPolicy::wait_timeout`]).
    pub(crate) fn done_blocking(self, registry: &Registry) -> Result<(), NotPersisted> {
        match self.0 {
            Some(service) => registry.wait_persisted(&service),
            None => Ok(()),
        }
    }
}

impl Registry {
    /// Applies `command` here and answers once it is durable: a write that touches persistent
    /// data (a persistent instance, service settings) waits for its commit when a persistence
    /// is attached. The write route of a standalone node; a cluster member's is
    /// [`crate::cluster::ClusterNode::execute`].
    ///
    /// ```
    /// use nacre::{Command, Instance, Registry, ServiceKey};
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let registry = Registry::default();
    /// let orders = ServiceKey::named("orders")?;
    /// let out = registry.execute(Command::register(&orders, Instance::new("10.0.0.1", 8080)?)).await?;
    /// assert!(out.into_revision().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn execute(&self, command: Command) -> Result<CommandOutput, ExecuteError> {
        let wait = self.disk_wait(&command);
        let out = command.apply(self)?;
        wait.done(self).await?;
        Ok(out)
    }

    /// What `command` must wait for once applied (see [`DiskWait`]).
    pub(crate) fn disk_wait(&self, command: &Command) -> DiskWait {
        DiskWait(
            (self.is_persistent() && command.touches_persistent_data())
                .then(|| command.service().clone()),
        )
    }

    /// Loads what `persistence` holds into this registry, then keeps it up to date: from now
    /// on every change to a persistent instance, or to service settings, is committed to it
    /// (group commit, as `policy` says). Call it once, before the registry serves (for a
    /// cluster node: before [`crate::cluster::ClusterNode::start`]).
    ///
    /// Loading is the store's merge of each stored record under the registry's
    /// limits, so what a peer sends later is reconciled by the ordinary merge rule. A stored
    /// tombstone is of persistent data (only those reach the disk), so it is loaded as durable
    /// ([`crate::store::Tombstone::durable`]). A record
    /// the merge refuses is reported in [`LoadReport::refused`] and logged; a store that cannot
    /// be read at all is an error, and nothing is loaded.
    pub fn attach_persistence(
        &self,
        persistence: Arc<dyn Persistence>,
        policy: CommitPolicy,
    ) -> Result<LoadReport, PersistError> {
        if self.journal_slot().get().is_some() {
            return Err(PersistError::AlreadyAttached);
        }
        let records = persistence.load()?;
        let now = self.clock().now();
        let rules = MergeRules::new(*self.limits());
        let mut report = LoadReport::default();
        let mut on_disk = HashMap::with_capacity(records.len());
        for record in records {
            let (live, tombs) = crate::persist::part_count(&record);
            report.services += 1;
            report.instances += live;
            report.tombstones += tombs;
            let key = record.key.clone();
            let outcome = self.store().merge_durable(record.clone(), &rules, now);
            for refusal in outcome.refused {
                tracing::warn!(service = %key, ?refusal, "a stored record was refused on load");
                report.refused.push((key.clone(), refusal));
            }
            on_disk.insert(key, record);
        }
        let journal = Journal::start(
            self.shared_store().clone(),
            self.clock().clone(),
            persistence,
            policy,
            on_disk,
        )
        .map_err(|e| PersistError::io("starting the persistence committer thread", e))?;
        if self.journal_slot().set(journal).is_err() {
            return Err(PersistError::AlreadyAttached);
        }
        tracing::info!(
            services = report.services,
            instances = report.instances,
            tombstones = report.tombstones,
            refused = report.refused.len(),
            "loaded the persistent store"
        );
        Ok(report)
    }

    /// Waits until every change of `service` published so far is on disk (at once when no
    /// persistence is attached, or nothing of the service is pending), for at most
    /// [`CommitPolicy::wait_timeout`] on the registry's clock: past it the answer is
    /// [`NotPersisted::TimedOut`]. Fronts call it before they answer a write; see
    /// [`crate::persist`].
    pub async fn persisted(&self, service: &ServiceKey) -> Result<(), NotPersisted> {
        match self.journal_slot().get() {
            Some(journal) => journal.persisted(service).await,
            None => Ok(()),
        }
    }

    /// Like [`Registry::persisted`], blocking the calling thread, for at most
    /// [`CommitPolicy::wait_timeout`] of real time. Not for an async task: it holds its thread.
    pub fn wait_persisted(&self, service: &ServiceKey) -> Result<(), NotPersisted> {
        match self.journal_slot().get() {
            Some(journal) => journal.wait_persisted(service),
            None => Ok(()),
        }
    }
}

impl RegistryReader {
    /// Whether a persistence is attached.
    pub fn is_persistent(&self) -> bool {
        self.inner.journal.get().is_some()
    }

    /// The persistence's counters (all zero without one): changes, commits (one fsync each),
    /// rows written, what is pending. For operators, tests and benchmarks.
    pub fn persist_stats(&self) -> PersistStats {
        self.inner
            .journal
            .get()
            .map_or_else(PersistStats::default, Journal::stats)
    }

    /// Why the persistence is failing, while it is: from a failed commit until a commit
    /// succeeds (`None` without a persistence). Readiness reports it
    /// ([`crate::front::Backend::readiness`]).
    pub fn persist_failure(&self) -> Option<PersistFailure> {
        self.inner.journal.get().and_then(Journal::failure)
    }
}

#[cfg(test)]
#[path = "durable_tests.rs"]
mod tests;
