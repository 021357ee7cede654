//! Group commit for control writes: the writes that arrive at a leader while one entry is
//! being appended go into the next entry together ([`ControlCommand::Batch`]), so a burst of
//! writes costs one `fsync` (and one round to the followers) per batch instead of one per
//! write.
//!
//! openraft 0.9 appends each `client_write` as an entry of its own, each with its own
//! `fsync`: concurrent writes queue behind one another's flushes (about 3 000 writes a second
//! on this machine, one `fsync` each). A [`Batcher`] task holds the member's writes: it takes
//! the first one waiting and every other one already queued, up to [`MAX_BATCH`] commands and
//! [`MAX_BATCH_BYTES`] encoded, and hands them to Raft as one entry; while that entry is on its
//! way the next ones queue. A lone write goes alone, as before, with no waiting for company.
//!
//! Each command of a batch is applied in order, exactly as if it were an entry of its own
//! (its own answer, a rejection changing nothing), and is linearized inside its own call: it
//! was queued after its caller invoked it, and answered after its entry was committed and
//! applied.

use openraft::error::{ClientWriteError, RaftError};
use openraft::Raft;
use tokio::sync::{mpsc, oneshot};

use super::command::{ControlCommand, ControlResponse};
use super::types::ControlTypeConfig;

/// The most commands one entry carries.
pub const MAX_BATCH: usize = 256;
/// The most encoded bytes of the commands one entry carries (well under the store's entry
/// limit).
pub const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Writes waiting for a batch at most; a caller past it waits for room.
const QUEUE: usize = 4 * MAX_BATCH;

/// What Raft answered a write: its log index and answer, or why it failed.
pub(crate) type Outcome =
    Result<(u64, ControlResponse), RaftError<u64, ClientWriteError<u64, openraft::BasicNode>>>;

type Waiting = (ControlCommand, oneshot::Sender<Outcome>);

/// The queue of one member's writes: see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    queue: mpsc::Sender<Waiting>,
}

impl Batcher {
    /// Starts the task that writes `raft`'s batches; it ends when the last [`Batcher`] clone
    /// is dropped.
    pub(crate) fn start(raft: Raft<ControlTypeConfig>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, waiting));
        Batcher { queue }
    }

    /// Writes `command` in the next batch; `None` when the task has stopped.
    pub(crate) async fn write(&self, command: ControlCommand) -> Option<Outcome> {
        let (answer, answered) = oneshot::channel();
        self.queue.send((command, answer)).await.ok()?;
        answered.await.ok()
    }
}

async fn run(raft: Raft<ControlTypeConfig>, mut waiting: mpsc::Receiver<Waiting>) {
    while let Some(first) = waiting.recv().await {
        let mut bytes = encoded_len(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match waiting.try_recv() {
                Ok(next) => {
                    bytes += encoded_len(&next.0);
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        write_batch(&raft, batch).await;
    }
}

fn encoded_len(command: &ControlCommand) -> usize {
    postcard::experimental::serialized_size(command).unwrap_or(MAX_BATCH_BYTES)
}

async fn write_batch(raft: &Raft<ControlTypeConfig>, mut batch: Vec<Waiting>) {
    if batch.len() == 1 {
        let Some((command, answer)) = batch.pop() else {
            return;
        };
        let outcome = raft
            .client_write(command)
            .await
            .map(|w| (w.log_id.index, w.data));
        let _ = answer.send(outcome);
        return;
    }
    let (commands, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let count = commands.len();
    match raft.client_write(ControlCommand::Batch(commands)).await {
        Ok(written) => {
            let index = written.log_id.index;
            let responses = match written.data {
                ControlResponse::Batch(responses) if responses.len() == count => responses,
                other => {
                    // Not a batch's answer: no caller may take a part of it as its own. Their
                    // answers are dropped, and each write fails as stopped.
                    tracing::error!(?other, count, "a control batch was answered out of shape");
                    return;
                }
            };
            for (answer, response) in answers.into_iter().zip(responses) {
                let _ = answer.send(Ok((index, response)));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}
