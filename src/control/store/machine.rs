//! [`ControlMachine`]: openraft's [`RaftStateMachine`] over [`ControlState`], with its
//! snapshots in the control store's redb file.
//!
//! The state lives in memory and reaches the disk as snapshots: at open it is the current
//! snapshot's, and openraft applies the committed entries after it again (the log keeps every
//! entry a snapshot does not cover, and the committed id is saved). A snapshot is the state
//! encoded with postcard; built or installed, it is committed (meta and data in one
//! transaction, `Durability::Immediate`) before the call returns.
//!
//! Readers see the state through a [`StateView`] ([`ControlMachine::view`]): the machine
//! publishes a copy after each applied batch that changed it, after a snapshot install and at
//! open, so a write is visible to readers before openraft answers it.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StoredMembership,
};

use super::error::ControlStoreError;
use super::file::{StoreFile, SNAPSHOT};
use crate::control::command::{Changes, ControlResponse};
use crate::control::state::ControlState;
use crate::control::types::ControlTypeConfig;
use crate::control::view::StateView;

type Result<T> = std::result::Result<T, StorageError<u64>>;
type Meta = SnapshotMeta<u64, BasicNode>;

/// The control plane's state machine: [`ControlState`] and what openraft tracks beside it
/// (last applied entry, membership), with snapshots in the control store's file.
pub struct ControlMachine {
    file: Arc<StoreFile>,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: ControlState,
    view: StateView,
}

impl std::fmt::Debug for ControlMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlMachine")
            .field("path", &self.file.path)
            .field("last_applied", &self.last_applied)
            .finish()
    }
}

/// Builds a snapshot of the state as it was when openraft asked for the builder.
#[derive(Debug)]
pub struct ControlSnapshotBuilder {
    file: Arc<StoreFile>,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: ControlState,
}

impl ControlMachine {
    /// The machine at the file's current snapshot, or empty.
    pub(super) fn open(file: Arc<StoreFile>) -> std::result::Result<Self, ControlStoreError> {
        let mut machine = ControlMachine {
            file,
            last_applied: None,
            membership: StoredMembership::default(),
            state: ControlState::default(),
            view: StateView::default(),
        };
        if let Some((meta, data)) = machine.read_snapshot()? {
            machine.state = machine.decode_state(&data)?;
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership;
            machine.view.publish(machine.state.clone(), &Changes::All);
        }
        Ok(machine)
    }

    /// The state as applied so far.
    pub fn state(&self) -> &ControlState {
        &self.state
    }

    /// The view readers load the applied state from; it stays current after the machine is
    /// handed to openraft.
    pub fn view(&self) -> StateView {
        self.view.clone()
    }

    fn read_snapshot(&self) -> std::result::Result<Option<(Meta, Vec<u8>)>, ControlStoreError> {
        let meta: Option<Meta> = self.file.get(SNAPSHOT, "meta")?;
        let Some(meta) = meta else {
            return Ok(None);
        };
        let data: Option<Vec<u8>> = self.file.get(SNAPSHOT, "data")?;
        let Some(data) = data else {
            return Err(self
                .file
                .corrupt("the snapshot has a meta row but no data row"));
        };
        Ok(Some((meta, data)))
    }

    fn decode_state(&self, data: &[u8]) -> std::result::Result<ControlState, ControlStoreError> {
        check_snapshot_size(&self.file, data.len())?;
        self.file.decode(data, "snapshot data")
    }
}

fn check_snapshot_size(
    file: &StoreFile,
    size: usize,
) -> std::result::Result<(), ControlStoreError> {
    let limit = file.limits.max_snapshot_bytes;
    if size > limit {
        return Err(ControlStoreError::SnapshotTooLarge { size, limit });
    }
    Ok(())
}

/// Writes a snapshot's meta and data in one durable transaction.
fn save_snapshot(
    file: &StoreFile,
    meta: &Meta,
    data: &[u8],
) -> std::result::Result<(), ControlStoreError> {
    check_snapshot_size(file, data.len())?;
    let meta_bytes = file.encode(meta, "snapshot meta")?;
    let data_bytes = file.encode(&data, "snapshot data")?;
    let tx = file.begin_write()?;
    {
        let mut table = file.table(&tx, SNAPSHOT)?;
        table
            .insert("meta", meta_bytes.as_slice())
            .map_err(|e| file.db_error("write the snapshot", e))?;
        table
            .insert("data", data_bytes.as_slice())
            .map_err(|e| file.db_error("write the snapshot", e))?;
    }
    file.commit(tx, "write the snapshot")
}

fn snapshot_id(last: Option<&LogId<u64>>) -> String {
    match last {
        Some(id) => format!(
            "{}-{}-{}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => "empty".to_owned(),
    }
}

impl RaftSnapshotBuilder<ControlTypeConfig> for ControlSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<ControlTypeConfig>> {
        let signature_err =
            |e: ControlStoreError| e.into_storage(ErrorSubject::Snapshot(None), ErrorVerb::Write);
        let data = self
            .file
            .encode(&self.state, "snapshot data")
            .map_err(signature_err)?;
        let meta = Meta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: snapshot_id(self.last_applied.as_ref()),
        };
        save_snapshot(&self.file, &meta, &data).map_err(signature_err)?;
        tracing::debug!(snapshot = %meta.snapshot_id, bytes = data.len(), "control snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<ControlTypeConfig> for ControlMachine {
    type SnapshotBuilder = ControlSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ControlResponse>>
    where
        I: IntoIterator<Item = Entry<ControlTypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut changed = false;
        let mut changes = Changes::default();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => ControlResponse::Done,
                EntryPayload::Normal(command) => {
                    let response = self.state.apply(&command);
                    changed |= response.changed_state();
                    if response.changed_state() {
                        command.note_changes(&mut changes);
                    }
                    response
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    ControlResponse::Done
                }
            };
            responses.push(response);
        }
        if changed {
            self.view.publish(self.state.clone(), &changes);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        ControlSnapshotBuilder {
            file: self.file.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            state: self.state.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let err = |e: ControlStoreError| {
            e.into_storage(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )
        };
        let data = snapshot.into_inner();
        // Decoded before anything is written: a snapshot that does not decode changes nothing.
        let state = self.decode_state(&data).map_err(err)?;
        save_snapshot(&self.file, meta, &data).map_err(err)?;
        self.state = state;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.view.publish(self.state.clone(), &Changes::All);
        tracing::info!(snapshot = %meta.snapshot_id, "control snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<ControlTypeConfig>>> {
        let snapshot = self
            .read_snapshot()
            .map_err(|e| e.into_storage(ErrorSubject::Snapshot(None), ErrorVerb::Read))?;
        Ok(snapshot.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
