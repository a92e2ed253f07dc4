//! DynamoDB's versions into localStorage, two-phase: a local copy that loses is kept in
//! the conflicts store first; then localStorage takes DynamoDB's versions (a backup of
//! the local data before); then the worker is told which ones localStorage now holds,
//! and only those are marked synced. A copy that changed since the decision (a save in
//! between) is left alone: the next pull decides again.

use super::{keep_conflicts_for, still_on};
use crate::platform::with_kv;
use crate::service::Answer;
use crate::state::{Action, Store};
use ledgerline_core::model::Invoice;
use ledgerline_core::outbox;
use ledgerline_core::protocol::{Take, Target};
use ledgerline_core::store::{load_invoice, put_invoice, remove_invoice};
use ledgerline_core::sync::{may_store, still_as_decided, Ack, Conflict};

/// Takes a backup of the local data before a sync changes it; returns whether it was kept.
pub async fn backup(store: &Store, reason: &str) -> bool {
    keep_copy(store, reason, store.config.backups_kept)
        .await
        .0
        .is_ok()
}

/// Keeps an export bundle of the local data in IndexedDB (`reason` says why; the newest
/// `keep` of its kind stay). Returns the worker's answer and the bundle's size in bytes.
pub async fn keep_copy(store: &Store, reason: &str, keep: u32) -> (Answer<()>, usize) {
    let snap = store.snap.clone();
    let bundle = ledgerline_core::exchange::export_json(&snap, &crate::platform::now_rfc3339());
    let bytes = bundle.len();
    let user = crate::oplog::user_of(store);
    let answer =
        crate::service::keep_backup(&user, reason, snap.invoices.len() as u32, bundle, keep).await;
    (answer, bytes)
}

/// Stores `takes` (read from `target`) and acknowledges what localStorage holds
/// afterwards. `kept`: how many conflicts the worker recorded for them (told to the
/// user). `pulled_at`: the pull's start, acknowledged as a complete pull only if every
/// take was stored. Nothing happens if the user or the table changed meanwhile.
/// Returns whether the worker took the acknowledgement (false: nothing or not all of it
/// happened; the next pull decides again).
pub async fn apply(
    store: &Store,
    sub: &str,
    target: &Target,
    takes: Vec<Take>,
    kept: usize,
    pulled_at: Option<f64>,
) -> bool {
    if !still_on(store, sub, target) {
        return false;
    }
    let ns = store.ns.clone();
    let current = |id: &str| with_kv(|kv| load_invoice(kv, &ns, id));
    // 1. the local copies that lose are kept first; if they cannot be, nothing changes
    let now = js_sys::Date::now() as u64;
    let losers: Vec<Conflict> = takes
        .iter()
        .filter(|t| t.keep_local)
        .filter_map(|t| {
            let mine = current(&t.invoice_id)?;
            still_as_decided(t.expected.as_ref(), Some(&mine)).then(|| Conflict {
                invoice_id: t.invoice_id.clone(),
                local: Some(mine),
                remote: t.remote.clone(),
                remote_version: t.remote.is_none().then_some(t.version),
                damaged_remote: None,
                record: None,
                at: now,
            })
        })
        .collect();
    let local_losers = losers.len();
    if !losers.is_empty() && !keep_conflicts_for(store, target, losers).await {
        store.dispatch(Action::Toast(
            "DynamoDB has newer versions of some invoices, but this browser's versions could not be kept for review first, so nothing was replaced. Export a backup (Data → Export JSON); the app tries again at the next sync.".into(),
        ));
        return false;
    }
    if !still_on(store, sub, target) {
        return false;
    }
    // 2. a backup of the local data, then localStorage takes what still stands
    if !takes.is_empty() {
        // a failed backup must not keep DynamoDB's versions out: every losing local
        // version is in the conflicts store already
        backup(store, "before sync").await;
        if !still_on(store, sub, target) {
            return false;
        }
    }
    // changes made here whose hand-over has not reached the queue yet: DynamoDB's copy
    // must neither bring back a deleted invoice nor overwrite a save the queue has not
    // taken; they go first, and the next pull decides again
    let waiting: Vec<String> = with_kv(|kv| outbox::pending(kv, sub))
        .into_iter()
        .map(|(id, ..)| id)
        .collect();
    let mut stored: Vec<Invoice> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut refused: Vec<Invoice> = Vec::new();
    let mut acks: Vec<Ack> = Vec::new();
    for t in &takes {
        let now = current(&t.invoice_id);
        if !may_store(
            t.expected.as_ref(),
            now.as_ref(),
            waiting.contains(&t.invoice_id),
        ) {
            continue;
        }
        let held = match &t.remote {
            Some(r) => match with_kv(|kv| put_invoice(kv, &ns, r)) {
                Ok(()) => {
                    stored.push(r.clone());
                    true
                }
                Err(_) => {
                    refused.push(r.clone());
                    false
                }
            },
            None => {
                with_kv(|kv| remove_invoice(kv, &ns, &t.invoice_id));
                removed.push(t.invoice_id.clone());
                with_kv(|kv| kv.get(&ns.invoice(&t.invoice_id))).is_none()
            }
        };
        if held {
            acks.push(Ack {
                invoice_id: t.invoice_id.clone(),
                version: t.version,
                seen: t.seen.clone(),
                checksum: Some(
                    t.remote
                        .as_ref()
                        .map(|r| r.checksum.clone())
                        .unwrap_or_default(),
                ),
            });
        }
    }
    let complete = acks.len() == takes.len();
    crate::records::stand_ins(store, &stored);
    store.dispatch(Action::ApplyRemote {
        items: stored,
        removed,
        conflicts: kept + local_losers,
        full: refused.len(),
    });
    if !refused.is_empty() {
        keep_refused(store, sub, refused).await;
    }
    // 3. the acknowledgement: only now is DynamoDB's version marked synced here
    let acked = crate::service::ack(target, sub, acks, pulled_at.filter(|_| complete)).await;
    let Ok((pending, conflicts)) = acked else {
        return false;
    };
    if still_on(store, sub, target) {
        store.dispatch(Action::SetPending(pending));
        store.dispatch(Action::SetConflicts(conflicts));
    }
    true
}

/// What browser storage refused (full) is kept in IndexedDB, restorable from Data →
/// Backups once there is room; it is in DynamoDB too, and not acknowledged, so the next
/// pull brings it again.
async fn keep_refused(store: &Store, sub: &str, refused: Vec<Invoice>) {
    let parked = ledgerline_core::store::Snapshot {
        invoices: refused,
        clients: store.snap.clients.clone(),
        ..Default::default()
    };
    let _ = crate::service::keep_backup(
        sub,
        "kept: browser storage was full",
        parked.invoices.len() as u32,
        ledgerline_core::exchange::export_json(&parked, &crate::platform::now_rfc3339()),
        store.config.backups_kept.max(1).saturating_add(1),
    )
    .await;
}
