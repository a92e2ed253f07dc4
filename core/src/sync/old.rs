//! Sync decisions, pure and tested here; the cloud worker does the I/O.
//!
//! - The queue holds at most one operation per invoice: a later save or delete replaces
//!   the earlier one (the latest state wins) but keeps its *base version*, the version
//!   DynamoDB had when this device last saw the item, which every write is conditional on.
//! - Batches for TransactWriteItems: at most 100 actions, at most 4 MB, one action per
//!   item; an item over 400 KB can never be written and is refused up front.
//! - Retries: capped exponential backoff with full jitter, for retryable classes only.
//! - Pulls: DynamoDB is the source of truth; a newer remote item replaces the local one,
//!   and if the local one had unsent changes they are kept as a conflict for review.

use crate::errors::ErrorClass;
use crate::model::Invoice;
use serde::{Deserialize, Serialize};

/// TransactWriteItems limits.
pub const MAX_ACTIONS: usize = 100;
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024;
/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpKind {
    /// Write this record.
    Put(Box<Invoice>),
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

/// What `op` sends, as recorded in [`QueueOp::sent`].
pub fn sent_mark(kind: &OpKind) -> (u64, String) {
    match kind {
        OpKind::Put(inv) => (inv.version, inv.checksum.clone()),
        OpKind::Delete => (0, String::new()),
    }
}

/// Adds a change to the queue, coalescing with a pending change of the same invoice:
/// the new kind wins, the base version, first-queued time and sent mark stay. A delete of
/// an invoice DynamoDB never had cancels its pending put altogether, unless that put may
/// already be on its way (sent, not confirmed): then the delete is queued, so that a put
/// which landed is deleted after all.
pub fn enqueue(queue: &mut Vec<QueueOp>, op: QueueOp) {
    match queue.iter().position(|q| q.invoice_id == op.invoice_id) {
        Some(i) => {
            let base = queue[i].base_version;
            if op.kind == OpKind::Delete && base.is_none() && queue[i].sent.is_none() {
                queue.remove(i);
                return;
            }
            let q = &mut queue[i];
            q.kind = op.kind;
            q.attempts = 0;
            q.last_error = None;
        }
        None => {
            if op.kind == OpKind::Delete && op.base_version.is_none() {
                return;
            }
            queue.push(op);
        }
    }
}

/// The size an operation adds to a transaction (its item's JSON, a fair upper bound of
/// DynamoDB's own accounting for our string-heavy items).
pub fn op_bytes(op: &QueueOp) -> usize {
    match &op.kind {
        OpKind::Put(inv) => {
            serde_json::to_vec(inv)
                .map(|v| v.len())
                .unwrap_or(usize::MAX / 2)
                + 256
        }
        OpKind::Delete => 256,
    }
}

/// Splits the queue (by index) into transactions within DynamoDB's limits. Operations
/// that cannot succeed as they are (an item over 400 KB, one failing its checksum, or one
/// DynamoDB refused as invalid) are returned apart and not sent again until the invoice changes (a new save
/// replaces the operation): one bad item never blocks the rest.
pub fn plan_batches(queue: &[QueueOp]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut too_big = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, op) in queue.iter().enumerate() {
        let b = op_bytes(op);
        // checked before upload too: a queued copy failing its checksum never goes out
        let damaged = matches!(&op.kind, OpKind::Put(inv) if !crate::checksum::verify(inv));
        if b > MAX_ITEM_BYTES || damaged || op.last_error == Some(ErrorClass::RequestInvalid) {
            too_big.push(i);
            continue;
        }
        if current.len() == MAX_ACTIONS || bytes + b > MAX_TX_BYTES {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += b;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, too_big)
}

/// Capped exponential backoff with full jitter: a delay in `[0, min(cap, base * 2^attempt))`.
/// `unit` is a uniform random number in `[0, 1)`.
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64, unit: f64) -> u64 {
    let ceiling = base_ms.saturating_mul(1u64 << attempt.min(32)).min(cap_ms);
    ((ceiling as f64) * unit.clamp(0.0, 1.0)).floor() as u64
}

/// Whether a failed operation is tried again by itself, later.
pub fn retry_later(class: ErrorClass) -> bool {
    class.retryable()
}

/// A local version set aside because DynamoDB's won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub invoice_id: String,
    /// What this device wanted to write (None: it wanted to delete).
    pub local: Option<Invoice>,
    /// DynamoDB's version, now the local one (None: deleted in DynamoDB).
    pub remote: Option<Invoice>,
    /// Milliseconds since the epoch.
    pub at: u64,
}

/// What a pull does with one remote item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAction {
    /// Nothing changed (or the local copy is the newer one, waiting to be sent).
    Keep,
    /// DynamoDB's copy replaces the local one.
    TakeRemote,
    /// DynamoDB's copy replaces the local one, and the local one (with unsent changes)
    /// is kept as a conflict for the user to review.
    TakeRemoteKeepLocalAsConflict,
}

/// Decides, for one invoice, between the local copy (its version, if this device has
/// it) and DynamoDB's version `remote_version`. `pending` is its queued operation, if any.
pub fn on_pull(
    local_version: Option<u64>,
    pending: Option<&QueueOp>,
    remote_version: u64,
) -> PullAction {
    match (local_version, pending) {
        (None, None) => PullAction::TakeRemote,
        // a delete is queued: unless DynamoDB moved on since, the delete will be sent
        (None, Some(p)) if Some(remote_version) == p.base_version => PullAction::Keep,
        (None, Some(_)) => PullAction::TakeRemote,
        (Some(l), None) if remote_version > l => PullAction::TakeRemote,
        // same version, or the local copy is newer and will be queued
        (Some(_), None) => PullAction::Keep,
        // unsent local changes on top of the version DynamoDB still has: they go out next
        (Some(_), Some(p)) if Some(remote_version) == p.base_version => PullAction::Keep,
        // DynamoDB moved on while we had unsent changes: DynamoDB wins, ours is kept aside
        (Some(_), Some(_)) => PullAction::TakeRemoteKeepLocalAsConflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::invoice;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_change_built_on_a_stale_copy_is_based_on_that_copy() {
        let p = |v| put("a", v, None).kind;
        // up to date: DynamoDB has 4, the edit is 5
        assert_eq!(base_for(&p(5), Some(4)), Some(4));
        // DynamoDB moved to 6 before this device stored it; the edit 5 was built on 4
        assert_eq!(base_for(&p(5), Some(6)), Some(4));
        assert_eq!(base_for(&p(5), Some(5)), Some(4));
        // several offline edits after DynamoDB's 2
        assert_eq!(base_for(&p(7), Some(2)), Some(2));
        assert_eq!(base_for(&p(1), None), None);
        assert_eq!(base_for(&OpKind::Delete, Some(3)), Some(3));
    }

    #[test]
    fn a_delete_after_a_put_in_flight_is_kept() {
        let mut q = vec![put("a", 1, None)];
        q[0].sent = Some(sent_mark(&q[0].kind));
        enqueue(&mut q, del("a", None));
        assert_eq!(q.len(), 1, "the put may have landed: the delete must go");
        assert_eq!(q[0].kind, OpKind::Delete);
        assert_eq!(q[0].base_version, None);
        assert_eq!(q[0].sent.as_ref().map(|s| s.0), Some(1), "the mark stays");
    }

    fn put(id: &str, version: u64, base: Option<u64>) -> QueueOp {
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

    fn del(id: &str, base: Option<u64>) -> QueueOp {
        QueueOp {
            kind: OpKind::Delete,
            ..put(id, 0, base)
        }
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
        // delete of something DynamoDB has: becomes a delete with the same base
        enqueue(&mut q, del("a", Some(3)));
        assert_eq!(q[0].kind, OpKind::Delete);
        assert_eq!(q[0].base_version, Some(2));
        // delete of something never uploaded: nothing to send at all
        enqueue(&mut q, del("b", None));
        assert_eq!(q.len(), 1);
        enqueue(&mut q, del("c", None));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn batches_respect_action_and_size_limits() {
        let q: Vec<QueueOp> = (0..250).map(|i| put(&format!("i{i}"), 1, None)).collect();
        let (b, big) = plan_batches(&q);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert!(big.is_empty());
        let mut huge = put("h", 1, None);
        if let OpKind::Put(inv) = &mut huge.kind {
            inv.content.notes = "x".repeat(MAX_ITEM_BYTES);
            crate::exchange::reseal(inv);
        }
        let mut q2 = vec![put("a", 1, None), huge, put("b", 1, None)];
        // many 300 KB items: the 4 MB bound splits before 100 actions
        for i in 0..20 {
            let mut p = put(&format!("m{i}"), 1, None);
            if let OpKind::Put(inv) = &mut p.kind {
                inv.content.notes = "y".repeat(300 * 1024);
                crate::exchange::reseal(inv);
            }
            q2.push(p);
        }
        let (b, big) = plan_batches(&q2);
        assert_eq!(big, vec![1]);
        for batch in &b {
            let bytes: usize = batch.iter().map(|i| op_bytes(&q2[*i])).sum();
            assert!(bytes <= MAX_TX_BYTES && batch.len() <= MAX_ACTIONS);
        }
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 22);
        // refused as invalid before: set apart until the invoice changes
        let mut refused = put("r", 1, None);
        refused.last_error = Some(ErrorClass::RequestInvalid);
        let mut retried = put("t", 1, None);
        retried.last_error = Some(ErrorClass::Throttled);
        let mut tampered = put("x", 1, None);
        if let OpKind::Put(inv) = &mut tampered.kind {
            inv.content.notes = "changed after sealing".into();
        }
        let (b, apart) = plan_batches(&[refused, retried, tampered]);
        assert_eq!(apart, vec![0, 2]);
        assert_eq!(b, vec![vec![1]]);
        let mut q3 = vec![put("r", 1, None)];
        q3[0].last_error = Some(ErrorClass::RequestInvalid);
        enqueue(&mut q3, put("r", 2, None));
        assert_eq!(q3[0].last_error, None, "a new save sends it again");
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        assert_eq!(backoff_ms(0, 500, 60_000, 0.999), 499);
        assert_eq!(backoff_ms(3, 500, 60_000, 0.5), 2_000);
        assert_eq!(backoff_ms(30, 500, 60_000, 0.999), 59_940);
        assert_eq!(backoff_ms(100, 500, 60_000, 0.0), 0);
        assert!(retry_later(ErrorClass::Throttled));
        assert!(!retry_later(ErrorClass::CredentialsExpired));
        assert!(!retry_later(ErrorClass::Conflict));
    }

    #[test]
    fn pull_decisions() {
        let l = 5;
        assert_eq!(on_pull(None, None, 3), PullAction::TakeRemote);
        assert_eq!(on_pull(Some(l), None, 6), PullAction::TakeRemote);
        assert_eq!(on_pull(Some(l), None, 5), PullAction::Keep);
        assert_eq!(
            on_pull(Some(l), Some(&put("a", 5, Some(4))), 4),
            PullAction::Keep
        );
        assert_eq!(
            on_pull(Some(l), Some(&put("a", 5, Some(4))), 6),
            PullAction::TakeRemoteKeepLocalAsConflict
        );
        assert_eq!(on_pull(None, Some(&del("a", Some(4))), 4), PullAction::Keep);
        assert_eq!(
            on_pull(None, Some(&del("a", Some(4))), 7),
            PullAction::TakeRemote
        );
    }

    /// A model of one device and DynamoDB: local saves and deletes go into the queue;
    /// replays send batches that may fail midway (a lost connection) and retry later.
    /// Whatever the interleaving, once the queue drains DynamoDB equals the local store:
    /// nothing lost, nothing duplicated, nothing resurrected.
    #[derive(Debug, Clone)]
    enum Step {
        Save(u8),
        Delete(u8),
        /// Replay, failing after `n` successful transactions.
        Replay(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..12).prop_map(Step::Save),
            (0u8..12).prop_map(Step::Delete),
            (0u8..3).prop_map(Step::Replay),
        ]
    }

    fn replay(
        queue: &mut Vec<QueueOp>,
        remote: &mut BTreeMap<String, u64>,
        synced: &mut BTreeMap<String, u64>,
        fail_after: Option<usize>,
    ) {
        let (batches, big) = plan_batches(queue);
        assert!(big.is_empty());
        let mut done: Vec<usize> = Vec::new();
        for (n, batch) in batches.iter().enumerate() {
            if fail_after == Some(n) {
                break; // connection lost: this and later batches stay queued
            }
            // all-or-nothing transaction with conditions on the base version
            let ok = batch.iter().all(|i| {
                let op = &queue[*i];
                remote.get(&op.invoice_id).copied() == op.base_version
            });
            assert!(ok, "a condition failed without any other writer");
            for i in batch {
                let op = &queue[*i];
                match &op.kind {
                    OpKind::Put(inv) => {
                        remote.insert(op.invoice_id.clone(), inv.version);
                        synced.insert(op.invoice_id.clone(), inv.version);
                    }
                    OpKind::Delete => {
                        remote.remove(&op.invoice_id);
                        synced.remove(&op.invoice_id);
                    }
                }
                done.push(*i);
            }
        }
        let mut i = 0;
        queue.retain(|_| {
            let keep = !done.contains(&i);
            i += 1;
            keep
        });
    }

    proptest! {
        #[test]
        fn interleavings_never_lose_or_duplicate(steps in proptest::collection::vec(step(), 1..60)) {
            let mut local: BTreeMap<String, u64> = BTreeMap::new();
            let mut remote: BTreeMap<String, u64> = BTreeMap::new();
            let mut synced: BTreeMap<String, u64> = BTreeMap::new();
            let mut queue: Vec<QueueOp> = Vec::new();
            for s in &steps {
                match s {
                    Step::Save(k) => {
                        let id = format!("i{k}");
                        let v = local.get(&id).copied().unwrap_or(0) + 1;
                        local.insert(id.clone(), v);
                        let base = synced.get(&id).copied();
                        enqueue(&mut queue, put(&id, v, base));
                    }
                    Step::Delete(k) => {
                        let id = format!("i{k}");
                        if local.remove(&id).is_some() {
                            let base = synced.get(&id).copied();
                            enqueue(&mut queue, del(&id, base));
                        }
                    }
                    Step::Replay(n) => replay(&mut queue, &mut remote, &mut synced, Some(*n as usize)),
                }
                // at most one queued operation per invoice, always
                let mut ids: Vec<_> = queue.iter().map(|q| q.invoice_id.clone()).collect();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), queue.len());
            }
            replay(&mut queue, &mut remote, &mut synced, None);
            prop_assert!(queue.is_empty());
            prop_assert_eq!(&remote, &local);
        }
    }
}
