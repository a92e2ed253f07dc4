//! Batches for TransactWriteItems: at most 100 actions, at most 4 MB, one action per
//! item; an item over 400 KB can never be written and is refused up front.

use super::queue::{OpKind, QueueOp};
use crate::errors::ErrorClass;
use crate::model::Invoice;

/// TransactWriteItems limits.
pub const MAX_ACTIONS: usize = 100;
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024;
/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size an operation adds to a transaction (its item's JSON, a fair upper bound of
/// DynamoDB's own accounting for our string-heavy items).
pub fn op_bytes(op: &QueueOp) -> usize {
    match &op.kind {
        OpKind::Put(inv) => invoice_bytes(inv),
        OpKind::Delete => 256,
    }
}

/// The size of an invoice's item as [`op_bytes`] counts it.
pub fn invoice_bytes(inv: &Invoice) -> usize {
    serde_json::to_vec(inv)
        .map(|v| v.len())
        .unwrap_or(usize::MAX / 2)
        + 256
}

/// Why an invoice in the refused list cannot go, as far as this device can tell from
/// its copy: the message names the cause the user can act on, not a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its item is over DynamoDB's limit (`bytes` as counted here).
    TooLarge { bytes: usize },
    /// Its content no longer matches its checksum (damaged in this browser's storage).
    Damaged,
    /// Within the limit and intact: DynamoDB refused it as invalid.
    Invalid,
}

/// The cause of an invoice's refusal (see [`Refusal`]).
pub fn refusal(inv: &Invoice) -> Refusal {
    let bytes = invoice_bytes(inv);
    if bytes > MAX_ITEM_BYTES {
        Refusal::TooLarge { bytes }
    } else if !crate::checksum::verify(inv) {
        Refusal::Damaged
    } else {
        Refusal::Invalid
    }
}

/// The status line for refused invoices (`causes`: one per invoice, in order; a missing
/// local copy counts as invalid) and its tooltip.
pub fn refused_status(causes: &[Refusal]) -> (String, String) {
    let n = causes.len();
    let s = if n == 1 { "" } else { "s" };
    let all = |f: fn(&Refusal) -> bool| n > 0 && causes.iter().all(f);
    let (why, tip) = if all(|c| matches!(c, Refusal::TooLarge { .. })) {
        (
            "too large",
            "Over DynamoDB's 400 KB limit for one invoice: it stays in this browser until you shorten it (notes, lines, logo) and save it again.",
        )
    } else if all(|c| *c == Refusal::Damaged) {
        (
            "damaged here",
            "Its copy in this browser no longer matches its checksum: restore it from the latest copy or a backup (see the damaged-entries notice), then it is sent.",
        )
    } else if all(|c| *c == Refusal::Invalid) {
        (
            "refused by DynamoDB",
            "DynamoDB refused it as invalid: it stays in this browser. Open it, correct any unusual field and save it again.",
        )
    } else {
        (
            "refused",
            "Some are over DynamoDB's 400 KB limit, some were refused as invalid or are damaged here: they stay in this browser. Open each, correct it and save it again.",
        )
    };
    (
        format!("{n} invoice{s} can't be uploaded: {why} — open it"),
        tip.to_string(),
    )
}

/// The toast that tells of newly refused invoices (`refused`: number and cause).
pub fn refused_toast(refused: &[(String, Refusal)]) -> String {
    let said: Vec<String> = refused
        .iter()
        .map(|(number, cause)| match cause {
            Refusal::TooLarge { bytes } => format!(
                "{number} is too large ({} KB; DynamoDB takes at most 400 KB): shorten its notes or lines, or use a smaller logo, and save it again",
                bytes.div_ceil(1024)
            ),
            Refusal::Damaged => format!(
                "{number} is damaged in this browser (its copy does not match its checksum): restore it from the latest copy or a backup (see the damaged-entries notice)"
            ),
            Refusal::Invalid => format!(
                "DynamoDB refused {number} as invalid: open it, correct any unusual field and save it again"
            ),
        })
        .collect();
    format!(
        "Not uploaded: {}. {} in this browser only; the other invoices are sent as usual.",
        said.join("; "),
        if refused.len() == 1 {
            "It stays"
        } else {
            "They stay"
        }
    )
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

/// How many actions the next transaction may carry, adapted like congestion control: a
/// transaction that timed out or was throttled halves it and caps it at three quarters of
/// the size that failed; each success doubles it up to the cap; a run of successes at the
/// cap raises the cap by a quarter (the server may have recovered). A slow server (one
/// that takes longer for larger transactions, as moto does) settles on batches it answers
/// in time instead of timing out on every one; a fast one keeps full batches. Only
/// failures shrink it: a busy device (slow answers that still arrive) keeps its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub size: usize,
    pub cap: usize,
    /// Successes in a row at the cap.
    streak: u8,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            size: MAX_ACTIONS,
            cap: MAX_ACTIONS,
            streak: 0,
        }
    }
}

/// Successes in a row at the cap before it grows.
const STREAK: u8 = 16;

impl Window {
    /// A transaction of `sent` actions succeeded.
    pub fn on_success(&mut self, sent: usize) {
        if sent < self.size {
            return; // a short batch (the queue's end) says nothing about the size
        }
        if self.size >= self.cap {
            self.streak = self.streak.saturating_add(1);
            if self.streak >= STREAK {
                self.cap = (self.cap + (self.cap / 4).max(1)).min(MAX_ACTIONS);
                self.streak = 0;
            }
        }
        self.size = self.size.saturating_mul(2).min(self.cap);
    }

    /// A transaction of `sent` actions timed out or was throttled.
    pub fn on_slow(&mut self, sent: usize) {
        let failed = sent.min(self.size).max(1);
        self.cap = (failed * 3 / 4).max(1);
        self.size = (failed / 2).max(1);
        self.streak = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::queue::enqueue;
    use crate::sync::queue::tests::put;

    fn invoice_of(op: QueueOp) -> Invoice {
        match op.kind {
            OpKind::Put(inv) => *inv,
            OpKind::Delete => unreachable!(),
        }
    }

    #[test]
    fn a_refusal_is_said_as_its_cause() {
        let small = invoice_of(put("a", 1, None));
        assert_eq!(refusal(&small), Refusal::Invalid);
        let mut big = small.clone();
        big.content.notes = "x".repeat(MAX_ITEM_BYTES);
        big.checksum = crate::checksum::content_checksum(&big.content);
        let Refusal::TooLarge { bytes } = refusal(&big) else {
            panic!("{:?}", refusal(&big));
        };
        assert!(bytes > MAX_ITEM_BYTES && bytes == invoice_bytes(&big));
        // exactly what plan_batches sets apart as too large
        let mut op = put("b", 1, None);
        op.kind = OpKind::Put(Box::new(big.clone()));
        assert!(cannot_send(&op));
        let mut damaged = small.clone();
        damaged.content.notes = "changed after its checksum".into();
        assert_eq!(refusal(&damaged), Refusal::Damaged);

        // the status names the cause: "too large" only for what is too large
        let (line, tip) = refused_status(&[Refusal::Invalid]);
        assert_eq!(
            line,
            "1 invoice can't be uploaded: refused by DynamoDB — open it"
        );
        assert!(tip.contains("invalid") && !tip.contains("400 KB"), "{tip}");
        let (line, tip) = refused_status(&[refusal(&big), refusal(&big)]);
        assert_eq!(line, "2 invoices can't be uploaded: too large — open it");
        assert!(tip.contains("400 KB"), "{tip}");
        let (line, _) = refused_status(&[Refusal::Damaged]);
        assert_eq!(line, "1 invoice can't be uploaded: damaged here — open it");
        let (line, tip) = refused_status(&[refusal(&big), Refusal::Invalid]);
        assert_eq!(line, "2 invoices can't be uploaded: refused — open it");
        assert!(tip.contains("400 KB") && tip.contains("invalid"), "{tip}");

        let toast = refused_toast(&[
            ("INV-0006".into(), Refusal::Invalid),
            ("INV-0007".into(), refusal(&big)),
        ]);
        assert!(
            toast.contains("DynamoDB refused INV-0006 as invalid"),
            "{toast}"
        );
        let kb = invoice_bytes(&big).div_ceil(1024);
        assert!(
            toast.contains(&format!("INV-0007 is too large ({kb} KB")),
            "{toast}"
        );
        assert!(toast.contains("They stay in this browser"), "{toast}");
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

    /// Round trips and timeouts of a replay of `total` writes against a server answering
    /// n actions in `secs(n)` seconds, with a 15 s client timeout.
    fn replay_trips(secs: impl Fn(usize) -> f64, total: usize) -> (usize, usize) {
        let mut w = Window::default();
        let (mut left, mut trips, mut timeouts) = (total, 0, 0);
        while left > 0 && trips < 10_000 {
            let n = w.size.min(left);
            trips += 1;
            if secs(n) > 15.0 {
                timeouts += 1;
                w.on_slow(n);
            } else {
                left -= n;
                w.on_success(n);
            }
        }
        (trips, timeouts)
    }

    #[test]
    fn the_window_settles_below_what_times_out() {
        let fast = replay_trips(|_| 0.1, 1000);
        assert_eq!(fast, (10, 0), "a fast server: full batches");
        assert_eq!(
            replay_trips(|_| 2.0, 1000),
            (10, 0),
            "latency alone: full batches"
        );
        // slower the larger the transaction: 100 actions take 17 s
        let (trips, timeouts) = replay_trips(|n| 2.0 + 0.15 * n as f64, 1000);
        assert_eq!(timeouts, 1);
        assert!(
            trips <= 2 * fast.0,
            "{trips} round trips, {} on a fast server",
            fast.0
        );
        // 100 actions in 22 s: batches of 65 at most go through
        let (trips, timeouts) = replay_trips(|n| 2.0 + 0.2 * n as f64, 1000);
        assert!(timeouts <= 2, "{timeouts} timeouts");
        assert!(trips <= 22, "{trips} round trips");
        // a server that recovers gets full batches again
        let mut w = Window::default();
        w.on_slow(100);
        w.on_slow(50);
        assert_eq!((w.size, w.cap), (25, 37));
        for _ in 0..200 {
            let n = w.size;
            w.on_success(n);
        }
        assert_eq!((w.size, w.cap), (MAX_ACTIONS, MAX_ACTIONS));
        // a short batch at the queue's end does not grow it
        let mut w = Window::default();
        w.on_slow(100);
        w.on_success(3);
        assert_eq!(w.size, 50);
        // never zero
        let mut w = Window::default();
        for _ in 0..20 {
            w.on_slow(1);
        }
        assert_eq!((w.size, w.cap), (1, 1));
        w.on_success(1);
        assert_eq!(w.size, 1, "at the cap");
    }
}
