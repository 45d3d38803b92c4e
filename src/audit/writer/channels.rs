//! What the writer receives, and how: ordinary records, durable ones (those of money-moving
//! requests, whose answers wait until the record is written and synced: every one waiting is
//! taken at once and written in one synced batch, a group commit), and commands.

use tokio::sync::{mpsc, oneshot};

use crate::audit::line::RequestRecord;
use crate::audit::status::{AuditError, Control, Durable};
use crate::limits::AUDIT_CHANNEL_CAPACITY;

type Ack = oneshot::Sender<Result<(), AuditError>>;

/// What the writer receives: records, records their requests wait for, commands.
pub(crate) struct Channels {
    pub records: mpsc::Receiver<RequestRecord>,
    pub durable: mpsc::Receiver<Durable>,
    pub control: mpsc::Receiver<Control>,
}

/// Receives every durable record waiting, or never once the channel has closed.
pub(super) async fn recv_durable(
    rx: &mut Option<mpsc::Receiver<Durable>>,
    into: &mut Vec<Durable>,
) -> usize {
    match rx {
        Some(rx) => rx.recv_many(into, AUDIT_CHANNEL_CAPACITY).await,
        None => std::future::pending().await,
    }
}

/// The records of the `durable` batch received, and who waits for each.
pub(super) fn split(durable: &mut Vec<Durable>) -> (Vec<RequestRecord>, Vec<Ack>) {
    durable.drain(..).map(|d| (d.record, d.ack)).unzip()
}

/// Tells every request waiting how the synced write went.
pub(super) fn answer(acks: Vec<Ack>, result: &Result<(), AuditError>) {
    for ack in acks {
        let _ = ack.send(result.clone());
    }
}

/// Takes every record already in the channel (at most its capacity), without waiting.
pub(super) fn waiting(rx: &mut mpsc::Receiver<RequestRecord>) -> Vec<RequestRecord> {
    let mut taken = Vec::new();
    while taken.len() < AUDIT_CHANNEL_CAPACITY {
        match rx.try_recv() {
            Ok(r) => taken.push(r),
            Err(_) => break,
        }
    }
    taken
}
