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
    /// DynamoDB's content checksum at the base version, when known ("" for a tombstone):
    /// the write is conditional on it too, so that after a lab reset another device's
    /// different copy under the same version number is never taken for the one seen.
    #[serde(default)]
    pub base_checksum: Option<String>,
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
    /// The copy this change was built on, as this device held it (version, checksum):
    /// DynamoDB holding exactly that copy is no conflict even if the base version lags
    /// (a pulled version stored here whose acknowledgement never arrived). The first
    /// change of a coalesced chain keeps its parent.
    #[serde(default)]
    pub parent: Option<(u64, String)>,
    /// Saves this entry replaced, and what its saves were built on (version, checksum):
    /// one of them arriving late is not sent again.
    #[serde(default)]
    pub superseded: Vec<(u64, String)>,
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

/// What this device last knew DynamoDB had for an invoice: its version, and its content
/// checksum ("" for a tombstone; None when not known, as recorded by older versions).
pub type Seen = (u64, Option<String>);

/// The base of a new queue entry ([`base_for`]) and DynamoDB's checksum at that base,
/// when `synced` knows it.
pub fn base_of(kind: &OpKind, synced: Option<&Seen>) -> (Option<u64>, Option<String>) {
    let base = base_for(kind, synced.map(|s| s.0));
    let sum = synced
        .filter(|s| Some(s.0) == base)
        .and_then(|s| s.1.clone());
    (base, sum)
}

/// What `op` sends, as recorded in [`QueueOp::sent`] (and in an `Ack`'s `seen`).
pub fn sent_mark(kind: &OpKind) -> (u64, String) {
    match kind {
        OpKind::Put(inv) => (inv.version, inv.checksum.clone()),
        OpKind::Delete => (0, String::new()),
    }
}

/// What DynamoDB holds once `op` landed (version, checksum; "" for a tombstone): the
/// parent of the next change of the same invoice.
pub fn written_mark(op: &QueueOp) -> (u64, String) {
    match &op.kind {
        OpKind::Put(inv) => (inv.version, inv.checksum.clone()),
        OpKind::Delete => (super::tombstone_version(op.base_version), String::new()),
    }
}

/// What [`enqueue`] did with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued (alone, or replacing an older state of the invoice).
    Queued,
    /// A delete of an invoice DynamoDB never had cancelled its pending put: nothing to send.
    Cancelled,
    /// Already superseded by what is queued (a late arrival of an older save): nothing
    /// changes.
    Stale,
    /// Two saves that neither descends from the other (two tabs saving over one copy):
    /// one is queued, and this one is not: it must be kept as a conflict, not dropped.
    Displaced(Box<Invoice>),
}

/// How many superseded saves a queue entry remembers.
const SUPERSEDED_KEPT: usize = 16;

/// Adds a change to the queue, coalescing with a pending change of the same invoice. The
/// entry keeps its base version, first-queued time and sent mark; which state it sends:
/// - a save already superseded (it is what is queued, or what a queued save or delete
///   was built on: an older save arriving late) changes nothing;
/// - a newer version replaces the queued one; so does a save built on the queued
///   content, or one that is this device's current copy (`parent` unknown: an outbox
///   drain, a pull's re-upload), even under a lower version number (a pull may have
///   stored DynamoDB's older version of the same content here);
/// - two saves of which neither descends from the other keep the newer version queued
///   and hand the other back ([`Enqueued::Displaced`]) to be kept as a conflict;
/// - a delete of an invoice DynamoDB never had cancels its pending put altogether,
///   unless that put may already be on its way (sent, not confirmed): then the delete is
///   queued, so that a put which landed is deleted after all.
pub fn enqueue(queue: &mut Vec<QueueOp>, op: QueueOp) -> Enqueued {
    let Some(i) = queue.iter().position(|q| q.invoice_id == op.invoice_id) else {
        if op.kind == OpKind::Delete && op.base_version.is_none() {
            return Enqueued::Cancelled;
        }
        let mut op = op;
        op.superseded = op.parent.iter().cloned().collect();
        queue.push(op);
        return Enqueued::Queued;
    };
    let old_mark = match &queue[i].kind {
        OpKind::Put(old) => Some((old.version, old.checksum.clone())),
        OpKind::Delete => None,
    };
    match (&queue[i].kind, &op.kind) {
        (_, OpKind::Put(new))
            if queue[i]
                .superseded
                .contains(&(new.version, new.checksum.clone())) =>
        {
            return Enqueued::Stale;
        }
        (OpKind::Put(old), OpKind::Put(new))
            if new.checksum == old.checksum && new.version <= old.version =>
        {
            return Enqueued::Stale;
        }
        (OpKind::Put(old), OpKind::Put(new)) => {
            use std::cmp::Ordering::*;
            // neither descends from the other?
            let siblings = match (&op.parent, new.version.cmp(&old.version)) {
                (_, Equal) => true,
                (Some(p), Greater) => p.0 == old.version && p.1 != old.checksum,
                (None, Greater) => false,
                (Some(p), Less) => p.1 != old.checksum,
                // this device's current copy under a lower version
                (None, Less) => true,
            };
            if siblings {
                if new.version < old.version && op.parent.is_some() {
                    // a late save of an older branch: the queued one stays
                    return Enqueued::Displaced(new.clone());
                }
                let kept = old.clone();
                replace(&mut queue[i], op, old_mark);
                return Enqueued::Displaced(kept);
            }
        }
        (OpKind::Delete, OpKind::Delete) => return Enqueued::Stale,
        _ => {}
    }
    if op.kind == OpKind::Delete && queue[i].base_version.is_none() && queue[i].sent.is_none() {
        queue.remove(i);
        return Enqueued::Cancelled;
    }
    replace(&mut queue[i], op, old_mark);
    Enqueued::Queued
}

/// `q` sends `op`'s state now; what it sent before, and what `op` was built on, are
/// remembered as superseded.
fn replace(q: &mut QueueOp, op: QueueOp, old_mark: Option<(u64, String)>) {
    q.superseded.extend(old_mark);
    q.superseded.extend(op.parent.clone());
    q.superseded.dedup();
    let extra = q.superseded.len().saturating_sub(SUPERSEDED_KEPT);
    q.superseded.drain(..extra);
    if q.parent.is_none() {
        q.parent = op.parent;
    }
    q.kind = op.kind;
    q.attempts = 0;
    q.last_error = None;
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
            parent: None,
            base_checksum: None,
            superseded: Vec::new(),
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
    fn a_late_save_never_replaces_the_delete_built_on_it_or_on_a_newer_save() {
        let mark = |p: &QueueOp| sent_mark(&p.kind);
        let v3 = put("a", 3, Some(2));
        let mut v4 = put("a", 4, Some(2));
        if let OpKind::Put(inv) = &mut v4.kind {
            inv.content.notes = "four".into();
            crate::exchange::reseal(inv);
        }
        v4.parent = Some(mark(&v3));
        let mut gone = del("a", Some(2));
        gone.parent = Some(mark(&v4));
        let mut q = vec![];
        assert_eq!(enqueue(&mut q, v4.clone()), Enqueued::Queued);
        assert_eq!(enqueue(&mut q, gone), Enqueued::Queued);
        assert_eq!(q[0].kind, OpKind::Delete);
        // the save the delete was built on, and the one before it, arrive late (another
        // tab's slow hand-over): the delete stays, as the newest change
        let mut v4_late = v4.clone();
        v4_late.parent = None;
        assert_eq!(enqueue(&mut q, v4_late), Enqueued::Stale);
        assert_eq!(enqueue(&mut q, v3), Enqueued::Stale);
        assert_eq!(q[0].kind, OpKind::Delete);
        assert_eq!(q[0].base_version, Some(2));
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
        let sealed = |v: u64, notes: &str| {
            let mut p = put("a", v, Some(3));
            if let OpKind::Put(inv) = &mut p.kind {
                inv.content.notes = notes.into();
                crate::exchange::reseal(inv);
            }
            p
        };
        let mark = |p: &QueueOp| sent_mark(&p.kind);
        let v4 = sealed(4, "four");
        let mut v5 = sealed(5, "five");
        v5.parent = Some(mark(&v4));
        let mut v4_late = v4.clone();
        v4_late.parent = Some((3, "three".into()));
        let mut q = vec![];
        assert_eq!(enqueue(&mut q, v5.clone()), Enqueued::Queued);
        // v4 was what v5 was built on: arriving late, it changes nothing
        assert_eq!(enqueue(&mut q, v4_late), Enqueued::Stale);
        assert!(matches!(&q[0].kind, OpKind::Put(inv) if inv.version == 5));
        assert_eq!(enqueue(&mut q, v5.clone()), Enqueued::Stale);
        // another tab saved over the same v4: queued, the replaced one handed back
        let mut other = sealed(5, "other tab");
        other.parent = Some(mark(&v4));
        match enqueue(&mut q, other) {
            Enqueued::Displaced(old) => assert_eq!(old.content.notes, "five"),
            e => panic!("expected Displaced, got {e:?}"),
        }
        // a late save of an older branch is kept aside; the queued one stays
        let mut branch = sealed(4, "branch");
        branch.parent = Some((3, "elsewhere".into()));
        match enqueue(&mut q, branch) {
            Enqueued::Displaced(b) => assert_eq!(b.content.notes, "branch"),
            e => panic!("expected Displaced, got {e:?}"),
        }
        assert!(matches!(&q[0].kind, OpKind::Put(inv) if inv.content.notes == "other tab"));
        // a save built on the queued content, under a lower version (a pull stored
        // DynamoDB's older version of that content here): it goes
        let mut q2 = vec![sealed(3, "A")];
        let mut b = sealed(2, "B");
        b.parent = Some((1, mark(&q2[0]).1));
        assert_eq!(enqueue(&mut q2, b), Enqueued::Queued);
        assert!(matches!(&q2[0].kind, OpKind::Put(inv) if inv.content.notes == "B"));
    }
}
