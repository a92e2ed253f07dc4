//! Batches for TransactWriteItems: at most 100 actions, at most 4 MB, one action per
//! item; an item over 400 KB can never be written and is refused up front.

use super::queue::{OpKind, QueueOp};
use crate::errors::ErrorClass;

/// TransactWriteItems limits.
pub const MAX_ACTIONS: usize = 100;
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024;
/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

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
/// that cannot succeed as they are (an item over 400 KB, one failing its checksum, or
/// one DynamoDB refused as invalid) are returned apart and not sent again until the
/// invoice changes (a new save replaces the operation): one bad item never blocks the rest.
pub fn plan_batches(queue: &[QueueOp]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut apart = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, op) in queue.iter().enumerate() {
        if cannot_send(op) {
            apart.push(i);
            continue;
        }
        let b = op_bytes(op);
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
    (batches, apart)
}

/// An operation that cannot go as it is: too large, failing its checksum (checked
/// before upload too), or refused by DynamoDB as invalid. It waits for a new save.
pub fn cannot_send(op: &QueueOp) -> bool {
    let damaged = matches!(&op.kind, OpKind::Put(inv) if !crate::checksum::verify(inv));
    op_bytes(op) > MAX_ITEM_BYTES || damaged || op.last_error == Some(ErrorClass::RequestInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::queue::enqueue;
    use crate::sync::queue::tests::put;

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
}
