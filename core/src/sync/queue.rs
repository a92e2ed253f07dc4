//! The queue holds at most one operation per invoice: a later save or delete replaces
//! the earlier one (the newest *version* wins, whatever order they arrive in) but keeps
//! its *base version*, the version DynamoDB had when this device last saw the item,
//! which every write is conditional on.

use crate::errors::ErrorClass;
use crate::model::Invoice;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpKind {
    /// Write this record.
    Put(Box<Invoice>),
    /// Write a tombstone (deleted at the base version + 1).
    Delete,
}

/// One pending change of one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueOp {
    pub invoice_id: String,
    pub kind: OpKind,
    /// DynamoDB's version when this device last saw the item (None: never there).
    pub base_version: Option<u64>,
    /// Milliseconds since the epoch, when first queued.
    pub queued_at: u64,
    pub attempts: u32,
    pub last_error: Option<ErrorClass>,
    /// What was last handed to DynamoDB for this entry and not confirmed yet: the put's
    /// (version, checksum), or (0, "") for a delete. A write can land with its answer lost;
    /// this tells "DynamoDB has what we sent" apart from a conflict, even after a newer
    /// save replaced the entry's kind.
    #[serde(default)]
    pub sent: Option<(u64, String)>,
}

/// The condition's base for a new queue entry: the version DynamoDB had when this device
/// last saw the item (`synced`), unless the change was built on an older local copy than
/// that (DynamoDB's newer version was not stored here yet): then the version the change
/// was built on, so that the write fails its condition and takes the conflict path
/// instead of silently overwriting DynamoDB's newer version.
pub fn base_for(kind: &OpKind, synced: Option<u64>) -> Option<u64> {
    match (kind, synced) {
        (OpKind::Put(inv), Some(s)) if s >= inv.version => inv.version.checked_sub(1),
        _ => synced,
    }
}

/// What `op` sends, as recorded in [`QueueOp::sent`] (and in an `Ack`'s `seen`).
pub fn sent_mark(kind: &OpKind) -> (u64, String) {
    match kind {
        OpKind::Put(inv) => (inv.version, inv.checksum.clone()),
        OpKind::Delete => (0, String::new()),
    }
}

/// What [`enqueue`] did with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued (alone, or replacing an older state of the invoice).
    Queued,
    /// A delete of an invoice DynamoDB never had cancelled its pending put: nothing to send.
    Cancelled,
    /// Older than what is queued (a late arrival): the queue already holds a newer version.
    Stale,
    /// Queued, replacing a different state of the *same* version (two tabs saved over the
    /// same copy): the replaced one must be kept as a conflict, not dropped.
    Displaced(Box<Invoice>),
}

/// Adds a change to the queue, coalescing with a pending change of the same invoice:
/// the newer version wins (an older put arriving later never replaces a newer one), the
/// base version, first-queued time and sent mark stay. A delete of an invoice DynamoDB
/// never had cancels its pending put altogether, unless that put may already be on its
/// way (sent, not confirmed): then the delete is queued, so that a put which landed is
/// deleted after all.
pub fn enqueue(queue: &mut Vec<QueueOp>, op: QueueOp) -> Enqueued {
    let Some(i) = queue.iter().position(|q| q.invoice_id == op.invoice_id) else {
        if op.kind == OpKind::Delete && op.base_version.is_none() {
            return Enqueued::Cancelled;
        }
        queue.push(op);
        return Enqueued::Queued;
    };
    let mut outcome = Enqueued::Queued;
    match (&queue[i].kind, &op.kind) {
        (OpKind::Put(old), OpKind::Put(new)) if new.version < old.version => {
            return Enqueued::Stale
        }
        (OpKind::Put(old), OpKind::Put(new)) if new.version == old.version => {
            if new.checksum == old.checksum {
                return Enqueued::Stale;
            }
            outcome = Enqueued::Displaced(old.clone());
        }
        (OpKind::Delete, OpKind::Delete) => return Enqueued::Stale,
        _ => {}
    }
    if op.kind == OpKind::Delete && queue[i].base_version.is_none() && queue[i].sent.is_none() {
        queue.remove(i);
        return Enqueued::Cancelled;
    }
    let q = &mut queue[i];
    q.kind = op.kind;
    q.attempts = 0;
    q.last_error = None;
    outcome
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::invoice;

    pub fn put(id: &str, version: u64, base: Option<u64>) -> QueueOp {
        let mut inv = invoice(id, &format!("N-{id}"), "c");
        inv.version = version;
        QueueOp {
            invoice_id: id.into(),
            kind: OpKind::Put(Box::new(inv)),
            base_version: base,
            queued_at: 0,
            attempts: 0,
            last_error: None,
            sent: None,
        }
    }

    pub fn del(id: &str, base: Option<u64>) -> QueueOp {
        QueueOp {
            kind: OpKind::Delete,
            ..put(id, 0, base)
        }
    }

    #[test]
    fn a_change_built_on_a_stale_copy_is_based_on_that_copy() {
        let p = |v| put("a", v, None).kind;
        assert_eq!(base_for(&p(5), Some(4)), Some(4));
        assert_eq!(base_for(&p(5), Some(6)), Some(4));
        assert_eq!(base_for(&p(5), Some(5)), Some(4));
        assert_eq!(base_for(&p(7), Some(2)), Some(2));
        assert_eq!(base_for(&p(1), None), None);
        assert_eq!(base_for(&OpKind::Delete, Some(3)), Some(3));
    }

    #[test]
    fn a_delete_after_a_put_in_flight_is_kept() {
        let mut q = vec![put("a", 1, None)];
        q[0].sent = Some(sent_mark(&q[0].kind));
        assert_eq!(enqueue(&mut q, del("a", None)), Enqueued::Queued);
        assert_eq!(q.len(), 1, "the put may have landed: the delete must go");
        assert_eq!(q[0].kind, OpKind::Delete);
        assert_eq!(q[0].sent.as_ref().map(|s| s.0), Some(1), "the mark stays");
    }

    #[test]
    fn coalescing_keeps_latest_state_and_first_base() {
        let mut q = vec![];
        enqueue(&mut q, put("a", 3, Some(2)));
        enqueue(&mut q, put("a", 4, Some(3)));
        enqueue(&mut q, put("b", 1, None));
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].base_version, Some(2));
        assert!(matches!(&q[0].kind, OpKind::Put(inv) if inv.version == 4));
        enqueue(&mut q, del("a", Some(3)));
        assert_eq!(q[0].kind, OpKind::Delete);
        assert_eq!(q[0].base_version, Some(2));
        assert_eq!(enqueue(&mut q, del("b", None)), Enqueued::Cancelled);
        assert_eq!(q.len(), 1);
        assert_eq!(enqueue(&mut q, del("c", None)), Enqueued::Cancelled);
        assert_eq!(q.len(), 1);
        // a restore after the delete: the put replaces it, on the same base
        assert_eq!(enqueue(&mut q, put("a", 6, Some(9))), Enqueued::Queued);
        assert_eq!(q[0].base_version, Some(2));
    }

    #[test]
    fn an_older_put_arriving_later_never_replaces_a_newer_one() {
        let mut q = vec![];
        enqueue(&mut q, put("a", 5, Some(4)));
        assert_eq!(enqueue(&mut q, put("a", 4, Some(3))), Enqueued::Stale);
        assert!(matches!(&q[0].kind, OpKind::Put(inv) if inv.version == 5));
        // the very same state again: nothing changes
        assert_eq!(enqueue(&mut q, put("a", 5, Some(4))), Enqueued::Stale);
        // the same version with other content: queued, the replaced one handed back
        let mut other = put("a", 5, Some(4));
        if let OpKind::Put(inv) = &mut other.kind {
            inv.content.notes = "other tab".into();
            crate::exchange::reseal(inv);
        }
        match enqueue(&mut q, other) {
            Enqueued::Displaced(old) => assert_eq!(old.content.notes, ""),
            e => panic!("expected Displaced, got {e:?}"),
        }
    }
}
