//! Clients and the business profile in DynamoDB: the same contract as invoices, decided
//! by comparing three states of each record (state-based: these records are few).
//!
//! - the local one: its content's checksum, an explicit local deletion (the user deleted
//!   it here: a marker kept until DynamoDB has the tombstone), or nothing;
//! - the synced one: (version, checksum) both sides last agreed on, per (user, target);
//! - DynamoDB's: (version, checksum), or a tombstone, or nothing.
//!
//! DynamoDB wins and the loser is kept ([`RecordStep::TakeKeepLocal`]); equal content is
//! never a conflict; a delete is a tombstone and only ever an explicit one; an absence in
//! DynamoDB is uploaded again; writes are conditional on what was seen; a local copy is
//! replaced only after it is kept, and the synced mark moves only after the store that
//! must hold a version holds it (the page stores, then marks; DynamoDB confirms, then the
//! page marks).

use crate::model::{Profile, Settings};
use serde::{Deserialize, Serialize};

/// The sort key of a client's item.
pub fn client_key(id: &str) -> String {
    format!("#client#{id}")
}

/// The sort key of the business profile's item.
pub const PROFILE_KEY: &str = "#profile";

/// The profile record's content: the profile and the settings that describe the business
/// (the next number of this browser's own counter stays here).
pub fn profile_value(p: &Profile, s: &Settings) -> serde_json::Value {
    serde_json::json!({
        "profile": p,
        "numberPrefix": s.number_prefix,
        "numberDigits": s.number_digits,
    })
}

/// Whether the business was never set up: the profile and the numbering as they come.
pub fn is_default_profile(p: &Profile, s: &Settings) -> bool {
    let d = Settings::default();
    *p == Profile::default()
        && s.number_prefix == d.number_prefix
        && s.number_digits == d.number_digits
}

/// The client id in a record key, if it is a client's.
pub fn client_id_of(key: &str) -> Option<&str> {
    key.strip_prefix("#client#")
}

/// A record's checksum: FNV-1a 64 of its canonical JSON (object keys in order; the
/// bookkeeping field `updatedAt` left out: a save of the same content is the same).
pub fn record_checksum(content: &serde_json::Value) -> String {
    let mut v = content.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("updatedAt");
    }
    let json = serde_json::to_vec(&v).unwrap_or_default();
    format!("fnv1a64:{:016x}", crate::checksum::fnv1a64(&json))
}

/// What this device has of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRecord {
    /// Its content's checksum.
    Present(String),
    /// Deleted here by the user; the tombstone is not in DynamoDB yet.
    Deleted,
    /// Nothing (never had it, or local data was cleared: never a deletion).
    Absent,
    /// A stand-in made here from an invoice's client details (its checksum): DynamoDB's
    /// own record replaces it, without a conflict; it goes up only where DynamoDB has none.
    Placeholder(String),
}

/// What DynamoDB has of a record (as a Query read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRecord {
    pub key: String,
    pub version: u64,
    /// None: a tombstone.
    pub checksum: Option<String>,
    /// The content as JSON text (None for a tombstone, or unreadable).
    pub content: Option<String>,
    /// The versions this one descends from, newest first (at most [`LINEAGE`]): a device
    /// takes a newer version only if it descends from the one it agreed on; after a lab
    /// reset another branch does not, and this device's copy is kept instead.
    #[serde(default)]
    pub lineage: Vec<Mark>,
}

/// How many ancestors a record item remembers.
pub const LINEAGE: usize = 20;

/// The lineage of a write based on `base`, whose own lineage is `base_lineage`.
pub fn lineage_after(base: Option<&Mark>, base_lineage: &[Mark]) -> Vec<Mark> {
    match base {
        None => Vec::new(),
        Some(b) => std::iter::once(b.clone())
            .chain(base_lineage.iter().cloned())
            .take(LINEAGE)
            .collect(),
    }
}

/// (version, checksum) both sides last agreed on; checksum None: a tombstone.
pub type Mark = (u64, Option<String>);

/// What to do with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordStep {
    Keep,
    /// Both have the same: remember DynamoDB's as synced.
    Synced(Mark),
    /// Store DynamoDB's (or remove the local copy for a tombstone), then mark it synced.
    Take(Mark),
    /// Both changed: keep the local one for review first, then as [`RecordStep::Take`].
    TakeKeepLocal(Mark),
    /// Write the local content as `version`, conditional on `base` (None: nothing there).
    Upload {
        version: u64,
        base: Option<Mark>,
    },
    /// Write a tombstone at `version`, conditional on `base`.
    Tombstone {
        version: u64,
        base: Mark,
    },
    /// Nothing left to do on either side: drop the deletion marker and the synced mark.
    Forget,
}

/// The decision for one record. `needed`: an invoice here names this client, so a
/// deletion made elsewhere does not remove it here: it goes back to DynamoDB instead (no
/// invoice ever names a client a device lacks; the invoice carries its details anyway).
pub fn decide(
    local: &LocalRecord,
    synced: Option<&Mark>,
    remote: Option<&RemoteRecord>,
    needed: bool,
) -> RecordStep {
    let Some(r) = remote else {
        return match local {
            // absence in DynamoDB is never a deletion: the local record goes up again
            LocalRecord::Present(_) | LocalRecord::Placeholder(_) => RecordStep::Upload {
                version: synced.map_or(1, |s| s.0 + 1),
                base: None,
            },
            LocalRecord::Deleted => RecordStep::Forget,
            LocalRecord::Absent if synced.is_some() => RecordStep::Forget,
            LocalRecord::Absent => RecordStep::Keep,
        };
    };
    let theirs: Mark = (r.version, r.checksum.clone());
    let unchanged_there = synced == Some(&theirs);
    match local {
        LocalRecord::Placeholder(sum) => match &r.checksum {
            Some(c) if c == sum => RecordStep::Synced(theirs),
            Some(_) => RecordStep::Take(theirs),
            // deleted there: it stays while an invoice here names it
            None if needed => RecordStep::Upload {
                version: r.version + 1,
                base: Some(theirs),
            },
            None => RecordStep::Take(theirs),
        },
        LocalRecord::Present(_) if needed && r.checksum.is_none() => RecordStep::Upload {
            version: r.version + 1,
            base: Some(theirs),
        },
        LocalRecord::Present(sum) => {
            if r.checksum.as_deref() == Some(sum.as_str()) {
                if unchanged_there {
                    RecordStep::Keep
                } else {
                    RecordStep::Synced(theirs)
                }
            } else if unchanged_there {
                RecordStep::Upload {
                    version: r.version + 1,
                    base: Some(theirs),
                }
            } else if synced
                .is_some_and(|s| s.1.as_deref() == Some(sum.as_str()) && r.lineage.contains(s))
            {
                // unchanged here since the last agreement, and DynamoDB's is built on it
                RecordStep::Take(theirs)
            } else {
                RecordStep::TakeKeepLocal(theirs)
            }
        }
        LocalRecord::Deleted => {
            if r.checksum.is_none() {
                RecordStep::Forget
            } else if unchanged_there {
                RecordStep::Tombstone {
                    version: r.version + 1,
                    base: theirs,
                }
            } else {
                // changed there while deleted here: it comes back, the delete is kept
                RecordStep::TakeKeepLocal(theirs)
            }
        }
        // nothing here, and no deletion made here: DynamoDB's record comes (again)
        LocalRecord::Absent if unchanged_there && r.checksum.is_none() => RecordStep::Keep,
        LocalRecord::Absent => RecordStep::Take(theirs),
    }
}

/// What "Delete all local data" does with one record of the current (user, target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtWipe {
    /// DynamoDB has it (or it is a stand-in, or nothing is here): it goes with the data.
    Forget,
    /// A change DynamoDB does not have yet: kept for review (the conflicts store outlives
    /// the wipe, as the invoices' queue does), never lost with the rest.
    Keep,
    /// A deletion not yet in DynamoDB: the marker stays, the tombstone still goes.
    KeepMarker,
}

/// The rule for one record at a local wipe: a change is unsent unless its content is the
/// one both sides last agreed on.
pub fn at_wipe(local: &LocalRecord, synced: Option<&Mark>) -> AtWipe {
    match local {
        LocalRecord::Present(sum) if synced.and_then(|s| s.1.as_deref()) != Some(sum.as_str()) => {
            AtWipe::Keep
        }
        LocalRecord::Deleted => AtWipe::KeepMarker,
        LocalRecord::Present(_) | LocalRecord::Absent | LocalRecord::Placeholder(_) => {
            AtWipe::Forget
        }
    }
}

/// The clients to make here as stand-ins (from the details an invoice carries): one
/// invoice for each client id that `invoices` name and `has_client` lacks, in order. No
/// invoice here ever names a client that is missing.
pub fn missing_clients<'a>(
    invoices: impl IntoIterator<Item = &'a crate::model::Invoice>,
    has_client: impl Fn(&str) -> bool,
) -> Vec<&'a crate::model::Invoice> {
    let mut out: Vec<&crate::model::Invoice> = Vec::new();
    for inv in invoices {
        let id = inv.content.client_id.as_str();
        if !has_client(id) && !out.iter().any(|o| o.content.client_id == id) {
            out.push(inv);
        }
    }
    out
}

/// Whether a conditional write based on `base` (None: nothing there) holds against what
/// DynamoDB has now: the rule the cloud adapter's condition expresses.
pub fn write_holds(base: Option<&Mark>, now: Option<&RemoteRecord>) -> bool {
    match (base, now) {
        (None, None) => true,
        (Some(b), Some(n)) => b.0 == n.version && b.1 == n.checksum,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(v: u64, sum: Option<&str>) -> RemoteRecord {
        RemoteRecord {
            key: client_key("c1"),
            version: v,
            checksum: sum.map(str::to_string),
            content: sum.map(|s| format!("{{\"name\":\"{s}\"}}")),
            lineage: vec![mark(v.saturating_sub(1), Some("a"))],
        }
    }
    fn mark(v: u64, sum: Option<&str>) -> Mark {
        (v, sum.map(str::to_string))
    }
    fn decide3(l: &LocalRecord, s: Option<&Mark>, r: Option<&RemoteRecord>) -> RecordStep {
        decide(l, s, r, false)
    }
    fn present(s: &str) -> LocalRecord {
        LocalRecord::Present(s.into())
    }

    #[test]
    fn the_checksum_ignores_the_save_time() {
        let a = serde_json::json!({"id": "c1", "name": "Acme", "updatedAt": "2026-01-01"});
        let b = serde_json::json!({"id": "c1", "name": "Acme", "updatedAt": "2026-12-02"});
        assert_eq!(record_checksum(&a), record_checksum(&b));
        let c = serde_json::json!({"id": "c1", "name": "Acme Ltd"});
        assert_ne!(record_checksum(&a), record_checksum(&c));
        assert_eq!(client_id_of(&client_key("c9")), Some("c9"));
        assert_eq!(client_id_of(PROFILE_KEY), None);
    }

    #[test]
    fn every_case() {
        use RecordStep::*;
        // new here: up, on nothing
        assert_eq!(
            decide3(&present("a"), None, None),
            Upload {
                version: 1,
                base: None
            }
        );
        // a lab reset: DynamoDB lost it, it goes up again after the version it had
        assert_eq!(
            decide3(&present("a"), Some(&mark(3, Some("a"))), None),
            Upload {
                version: 4,
                base: None
            }
        );
        // equal content is never a conflict
        assert_eq!(
            decide3(&present("a"), None, Some(&remote(2, Some("a")))),
            Synced(mark(2, Some("a")))
        );
        assert_eq!(
            decide3(
                &present("a"),
                Some(&mark(2, Some("a"))),
                Some(&remote(2, Some("a")))
            ),
            Keep
        );
        // edited here only
        assert_eq!(
            decide3(
                &present("b"),
                Some(&mark(2, Some("a"))),
                Some(&remote(2, Some("a")))
            ),
            Upload {
                version: 3,
                base: Some(mark(2, Some("a")))
            }
        );
        // edited there only
        assert_eq!(
            decide3(
                &present("a"),
                Some(&mark(2, Some("a"))),
                Some(&remote(3, Some("c")))
            ),
            Take(mark(3, Some("c")))
        );
        // edited on both: DynamoDB wins, the local one is kept
        assert_eq!(
            decide3(
                &present("b"),
                Some(&mark(2, Some("a"))),
                Some(&remote(3, Some("c")))
            ),
            TakeKeepLocal(mark(3, Some("c")))
        );
        // deleted there, unchanged here: removed here
        assert_eq!(
            decide3(
                &present("a"),
                Some(&mark(2, Some("a"))),
                Some(&remote(3, None))
            ),
            Take(mark(3, None))
        );
        // deleted there, edited here: DynamoDB wins, the edit is kept
        assert_eq!(
            decide3(
                &present("b"),
                Some(&mark(2, Some("a"))),
                Some(&remote(3, None))
            ),
            TakeKeepLocal(mark(3, None))
        );
        // deleted here: a tombstone after DynamoDB's version, unless it changed there
        assert_eq!(
            decide3(
                &LocalRecord::Deleted,
                Some(&mark(2, Some("a"))),
                Some(&remote(2, Some("a")))
            ),
            Tombstone {
                version: 3,
                base: mark(2, Some("a"))
            }
        );
        assert_eq!(
            decide3(
                &LocalRecord::Deleted,
                Some(&mark(2, Some("a"))),
                Some(&remote(3, Some("c")))
            ),
            TakeKeepLocal(mark(3, Some("c")))
        );
        assert_eq!(
            decide3(&LocalRecord::Deleted, None, Some(&remote(3, None))),
            Forget
        );
        assert_eq!(decide3(&LocalRecord::Deleted, None, None), Forget);
        // absent here (never had it, or local data cleared): never a deletion
        // ... and a live record missing here comes back even if it was agreed on
        assert_eq!(
            decide3(
                &LocalRecord::Absent,
                Some(&mark(2, Some("a"))),
                Some(&remote(2, Some("a")))
            ),
            Take(mark(2, Some("a")))
        );
        assert_eq!(
            decide3(
                &LocalRecord::Absent,
                Some(&mark(3, None)),
                Some(&remote(3, None))
            ),
            Keep
        );
        // a stand-in made from an invoice: DynamoDB's own record wins without a conflict,
        // it goes up where DynamoDB has none, and stays while needed after a delete there
        let stand_in = LocalRecord::Placeholder("p".into());
        assert_eq!(
            decide3(&stand_in, None, Some(&remote(4, Some("a")))),
            Take(mark(4, Some("a")))
        );
        assert_eq!(
            decide3(&stand_in, None, None),
            Upload {
                version: 1,
                base: None
            }
        );
        assert_eq!(
            decide(&stand_in, None, Some(&remote(5, None)), true),
            Upload {
                version: 6,
                base: Some(mark(5, None))
            }
        );
        assert_eq!(
            decide3(&stand_in, None, Some(&remote(5, None))),
            Take(mark(5, None))
        );
        assert_eq!(
            decide3(&LocalRecord::Absent, None, Some(&remote(2, Some("a")))),
            Take(mark(2, Some("a")))
        );
        assert_eq!(decide3(&LocalRecord::Absent, None, None), Keep);
        // deleted there while an invoice here names it: it goes back, after the tombstone
        assert_eq!(
            decide(
                &present("a"),
                Some(&mark(2, Some("a"))),
                Some(&remote(3, None)),
                true
            ),
            Upload {
                version: 4,
                base: Some(mark(3, None))
            }
        );
    }

    #[test]
    fn a_wipe_keeps_what_dynamodb_lacks() {
        let synced = mark(2, Some("a"));
        // the content both sides agreed on goes with the wipe; a change after it stays
        assert_eq!(at_wipe(&present("a"), Some(&synced)), AtWipe::Forget);
        assert_eq!(at_wipe(&present("b"), Some(&synced)), AtWipe::Keep);
        assert_eq!(at_wipe(&present("a"), None), AtWipe::Keep);
        assert_eq!(at_wipe(&present("a"), Some(&mark(3, None))), AtWipe::Keep);
        assert_eq!(
            at_wipe(&LocalRecord::Deleted, Some(&synced)),
            AtWipe::KeepMarker
        );
        // a stand-in is made again from the invoices; nothing here is nothing to keep
        assert_eq!(
            at_wipe(&LocalRecord::Placeholder("p".into()), None),
            AtWipe::Forget
        );
        assert_eq!(at_wipe(&LocalRecord::Absent, Some(&synced)), AtWipe::Forget);
    }

    #[test]
    fn missing_clients_are_named_once_each() {
        use crate::testing::invoice;
        let invs = [
            invoice("i1", "INV-1", "known"),
            invoice("i2", "INV-2", "gone"),
            invoice("i3", "INV-3", "gone"),
            invoice("i4", "INV-4", "other"),
        ];
        let made: Vec<&str> = missing_clients(&invs, |id| id == "known")
            .into_iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(made, ["i2", "i4"]);
        assert!(missing_clients(&invs, |_| true).is_empty());
    }
}
