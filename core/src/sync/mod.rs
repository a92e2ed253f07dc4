//! Sync decisions, pure and tested here; the cloud worker does the I/O and applies them.
//!
//! The contract (README, "Sync"):
//! - **I1 Deletes are explicit.** A delete is a tombstone item (same key, `deleted`,
//!   version + 1, no content, an `expiresAt` TTL), never a DeleteItem; every reader
//!   treats a tombstone as "deleted at version v".
//! - **I2 Absence means "not there"**, never "deleted": an invoice DynamoDB lacks is
//!   uploaded again (a lab reset, a new table).
//! - **I3 Hand-offs are two-phase**: a pulled or conflict-taken version is marked synced
//!   only once the page says localStorage holds it ([`Ack`]).
//! - **I4 Sync state belongs to (user, target)**: see [`scope`].
//! - **I5 DynamoDB wins, the loser is kept** in the conflicts store; equal content is
//!   never a conflict.
//! - **I6 Local-only actions are local**: nothing here infers a delete from a local absence.
//!
//! Split by concern: [`queue`] (coalescing), [`batch`] (transactions within DynamoDB's
//! limits), [`pull`] (what a pull does with each invoice), [`replay`] (a failed
//! condition), [`backoff`].

pub mod backoff;
pub mod batch;
pub mod job;
pub mod pull;
pub mod queue;
pub mod records;
pub mod replay;

#[cfg(test)]
mod model;

pub use backoff::{backoff_ms, retry_later};
pub use batch::{
    op_bytes, plan_batches, refusal, refused_status, refused_toast, Refusal, Window, MAX_ACTIONS,
    MAX_ITEM_BYTES, MAX_TX_BYTES,
};
pub use queue::{
    base_for, base_of, enqueue, sent_mark, written_mark, Enqueued, OpKind, QueueOp, Seen,
};

use crate::model::Invoice;
use crate::protocol::Target;
use serde::{Deserialize, Serialize};

/// How long DynamoDB keeps a tombstone (its `expiresAt` TTL): 90 days.
pub const TOMBSTONE_LIFETIME_SECS: u64 = 90 * 24 * 3600;

/// The version a tombstone gets: one after the version it deletes (the write's base).
pub fn tombstone_version(base: Option<u64>) -> u64 {
    base.unwrap_or(0).saturating_add(1)
}

/// The key prefix of one user's sync state for one target (endpoint, region, table):
/// `<user>|<endpoint>~<region>~<table>`. Synced versions, the queue and conflicts live
/// under it, so that pointing the app at another table (or a table recreated empty)
/// starts from "nothing synced there yet" and never takes a local invoice for deleted.
pub fn scope(user: &str, target: &Target) -> String {
    let endpoint = target.endpoint.trim().trim_end_matches('/');
    let endpoint = if endpoint.is_empty() { "aws" } else { endpoint };
    let clean = |s: &str| s.trim().replace('|', "%7C").replace('~', "%7E");
    format!(
        "{user}|{}~{}~{}",
        clean(endpoint),
        clean(&target.region),
        clean(&target.table)
    )
}

/// A local version set aside because DynamoDB's won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub invoice_id: String,
    /// What this device had or wanted to write (None: it wanted to delete).
    pub local: Option<Invoice>,
    /// DynamoDB's version, now the local one (None: deleted in DynamoDB, or missing
    /// there while this device's last complete pull is too old to tell).
    pub remote: Option<Invoice>,
    /// DynamoDB's version when it has no content (a tombstone): a restore goes after it.
    #[serde(default)]
    pub remote_version: Option<u64>,
    /// DynamoDB's item as it was when it could not be read (failing its checksum, or not
    /// an invoice at all), in DynamoDB's JSON, kept before this device's copy replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged_remote: Option<String>,
    /// A client or the profile that lost, not an invoice (`invoice_id` is then its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordConflict>,
    /// Milliseconds since the epoch.
    pub at: u64,
}

impl Conflict {
    /// Two records of the same loss (a pull or replay interrupted and run again): the
    /// same local content losing to the same DynamoDB version.
    pub fn same_as(&self, other: &Conflict) -> bool {
        let sum = |i: &Option<Invoice>| i.as_ref().map(|i| (i.version, i.checksum.clone()));
        self.invoice_id == other.invoice_id
            && sum(&self.local) == sum(&other.local)
            && sum(&self.remote) == sum(&other.remote)
            && self.remote_version == other.remote_version
            && self.damaged_remote == other.damaged_remote
            && self.record == other.record
    }
}

/// A client or the business profile whose local version lost ([`records`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordConflict {
    /// `#client#<id>` or `#profile`.
    pub key: String,
    /// This device's content (None: the user deleted it here).
    pub local: Option<serde_json::Value>,
    /// DynamoDB's content, now the local one (None: deleted there).
    pub remote: Option<serde_json::Value>,
    /// Not a conflict with DynamoDB: a change DynamoDB did not have yet when the user
    /// deleted all local data, kept here instead of lost ([`records::at_wipe`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsent: bool,
    /// For an unsent change: the version both sides had agreed on when it was kept, so
    /// that "Restore mine" sends it on top of that version (or meets a conflict if
    /// DynamoDB changed since) instead of losing to DynamoDB's copy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<records::Mark>,
    /// Not a conflict with DynamoDB: anonymous mode's version (`local`), set aside when
    /// anonymous data moved into an account that had its own (`remote`, kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub moved: bool,
}

/// What DynamoDB holds for one key, as far as the versions Query tells (no content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteMeta {
    /// 0 if the item's version cannot be read.
    pub version: u64,
    /// A tombstone: deleted at `version`.
    pub deleted: bool,
    /// The content checksum DynamoDB has (None for tombstones and old items).
    pub checksum: Option<String>,
    /// The version (and checksum) the writing device built this one on, when it said so
    /// (item attribute `builtOn`): lets a device tell a successor of its own copy from a
    /// version made on another branch (after a lab reset lost the history between).
    #[serde(default)]
    pub built_on: Option<(u64, String)>,
}

/// DynamoDB's full item for one key, as read back (GetItem / BatchGetItem).
#[derive(Debug, Clone, PartialEq, Eq)]
// read one at a time, never stored in bulk: the size difference does not matter
#[allow(clippy::large_enum_variant)]
pub enum RemoteItem {
    Absent,
    Live(Invoice),
    Tombstone(u64),
    /// There, but failing its checksum or unreadable: its version, if readable.
    Damaged(Option<u64>),
}

/// The page's word that localStorage now holds DynamoDB's `version` of an invoice (or,
/// for a tombstone, no longer holds the invoice). Only then is the version marked
/// synced, and the queued change the decision was made against (`seen`, its
/// [`sent_mark`]) dropped if it is still the one queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    pub invoice_id: String,
    pub version: u64,
    #[serde(default)]
    pub seen: Option<(u64, String)>,
    /// DynamoDB's checksum at `version` ("" for a tombstone).
    #[serde(default)]
    pub checksum: Option<String>,
}

/// Applies an [`Ack`] to one invoice's queue entry and synced version: the entry goes
/// if it is still the change the decision saw; a newer one stays, on its own base.
pub fn on_ack(current: Option<QueueOp>, ack: &Ack) -> (Option<QueueOp>, Seen) {
    let keep = match (&current, &ack.seen) {
        (Some(c), Some(seen)) => sent_mark(&c.kind) != *seen,
        (Some(_), None) => true,
        (None, _) => false,
    };
    (
        current.filter(|_| keep),
        (ack.version, ack.checksum.clone()),
    )
}

/// What this device learns DynamoDB has from reading its item back, as a base.
pub fn seen_of(remote: &RemoteItem) -> Option<Seen> {
    match remote {
        RemoteItem::Live(r) => Some((r.version, Some(r.checksum.clone()))),
        RemoteItem::Tombstone(v) => Some((*v, Some(String::new()))),
        RemoteItem::Damaged(v) => v.map(|v| (v, None)),
        RemoteItem::Absent => None,
    }
}

/// What this device learns DynamoDB has from a versions Query row.
pub fn seen_of_meta(m: &RemoteMeta) -> Seen {
    let sum = if m.deleted {
        Some(String::new())
    } else {
        m.checksum.clone()
    };
    (m.version, sum)
}

/// What a queue entry's condition is checked against: DynamoDB's version and checksum
/// now (None: no item; a tombstone's checksum is ""). The model and the cloud adapter's
/// condition expression agree on this.
pub fn condition_holds(op: &QueueOp, remote: Option<(u64, &str)>) -> bool {
    match (op.base_version, remote) {
        (None, None) => true,
        (Some(b), Some((v, sum))) => b == v && op.base_checksum.as_deref().is_none_or(|c| c == sum),
        _ => false,
    }
}

/// Whether an editor's draft was built on a copy that has moved on since it opened (a
/// pull or another tab replaced it, or it was deleted): saving it as the next version
/// would silently overwrite the newer one, so the draft takes the conflict path.
pub fn edited_copy_moved_on(loaded: Option<(u64, &str)>, current: Option<&Invoice>) -> bool {
    match (loaded, current) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some((v, sum)), Some(c)) => c.version != v || c.checksum != sum,
    }
}

/// Whether the local copy is still the one a decision was made on (`expected`: its
/// version and checksum then, None: it was not here). A save that landed in between
/// (its hand-over still on the way) must never be overwritten by DynamoDB's version: the
/// page then leaves it alone and the next pull decides again.
pub fn still_as_decided(expected: Option<&(u64, String)>, current: Option<&Invoice>) -> bool {
    match (expected, current) {
        (None, None) => true,
        (Some((v, sum)), Some(c)) => c.version == *v && c.checksum == *sum,
        _ => false,
    }
}

/// Whether the page may store DynamoDB's state of an invoice now: the local copy is
/// still the one the decision was made on, and no change of it by the user waits in the
/// outbox (its hand-over is on its way, or failed and goes at the next start): a remote
/// copy must neither bring back what the user just deleted nor overwrite a save the
/// queue has not taken yet; that change goes out first and the next pull decides again.
pub fn may_store(
    expected: Option<&(u64, String)>,
    current: Option<&Invoice>,
    change_pending: bool,
) -> bool {
    still_as_decided(expected, current) && !change_pending
}

/// The version a local copy comes back as over DynamoDB's (a "Restore mine", an undo of
/// a delete): after both this copy and whatever DynamoDB has (a tombstone included), so
/// no device can take it for the version it replaces.
pub fn restored_version(local: u64, remote: Option<u64>) -> u64 {
    local.max(remote.unwrap_or(0)).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_separates_targets_and_users() {
        let t = Target::default();
        let mut other = t.clone();
        other.table = "another".into();
        assert_ne!(scope("u", &t), scope("u", &other));
        assert_ne!(scope("u", &t), scope("v", &t));
        assert_eq!(scope("u", &t), "u|aws~us-east-1~ledgerline-invoices");
        let mut local = t.clone();
        local.endpoint = "http://127.0.0.1:4567/".into();
        assert_eq!(
            scope("u", &local),
            "u|http://127.0.0.1:4567~us-east-1~ledgerline-invoices"
        );
        let mut odd = t.clone();
        odd.table = "a|b~c".into();
        assert_eq!(scope("u", &odd).matches('|').count(), 1);
    }

    #[test]
    fn a_tombstone_is_one_after_its_base() {
        assert_eq!(tombstone_version(None), 1);
        assert_eq!(tombstone_version(Some(7)), 8);
        assert_eq!(tombstone_version(Some(u64::MAX)), u64::MAX);
    }
}
