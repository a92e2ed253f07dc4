//! The pull: DynamoDB's changes of this user's partition, once per start-up or sign-in
//! (local data is on screen already: this only brings what changed elsewhere).

use super::apply::apply;
use super::runner::with_state;
use super::{connection_of, enqueue, keep_conflicts_for, replay::replay_now, still, still_on};
use crate::platform::with_kv;
use crate::state::{Action, Store};
use ledgerline_core::protocol::Target;
use ledgerline_core::store::load_invoice;
use ledgerline_core::sync::{Conflict, OpKind};

/// Brings DynamoDB's changes once per start-up or sign-in, then sends the queue.
pub async fn pull_then_replay(store: &Store) {
    if !store.pulled && !with_state(|s| std::mem::replace(&mut s.pulling, true)) {
        let pulled = pull(store).await;
        with_state(|s| s.pulling = false);
        if !pulled {
            return;
        }
    }
    replay_now(store).await;
}

/// One pull; false if it did not happen (no answer, or the user changed meanwhile).
async fn pull(store: &Store) -> bool {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return false;
    };
    let snap = store.snap.clone();
    let local = snap
        .invoices
        .iter()
        .map(|i| (i.id.clone(), i.version, i.checksum.clone()))
        .collect();
    let prefix = store.ns.invoice("");
    let damaged = snap
        .damaged
        .iter()
        .filter_map(|d| d.key.strip_prefix(&prefix).map(str::to_string))
        .collect();
    let target = store.config.target.clone();
    let answer = crate::service::pull(&target, &sub, local, damaged).await;
    // another user, or another table meanwhile: what was read belongs to neither
    if !still_on(store, &sub, &target) {
        return false;
    }
    let crate::service::Pulled {
        take,
        conflicts,
        upload,
        reuploaded,
        review,
        repaired,
        damaged_remote,
        started_at,
    } = match answer {
        Ok(p) => p,
        Err(e) => {
            if let Some(c) = connection_of(&e) {
                store.dispatch(Action::SetConnection(c));
            }
            return false;
        }
    };
    store.dispatch(Action::Pulled);
    let Some(session) = store.session.clone() else {
        return false;
    };
    // DynamoDB lacks these or has them older, and nothing is queued: queued again, as
    // stored now (absence in DynamoDB is "not there", never "deleted")
    for id in &upload {
        if let Some(inv) = with_kv(|kv| load_invoice(kv, &store.ns, id)) {
            enqueue(store, &session, id, OpKind::Put(Box::new(inv)), None);
        }
    }
    if reuploaded > 0 {
        store.dispatch(Action::Toast(format!(
            "{reuploaded} invoice(s) were missing in DynamoDB (the table is new, or was reset with the lab): they are being uploaded again from this browser."
        )));
    }
    let reviewed = review_missing(store, &sub, &target, &review).await;
    super::repair::repair_remote(store, &damaged_remote);
    let numbers: Vec<String> = take
        .iter()
        .filter(|t| repaired.contains(&t.invoice_id))
        .filter_map(|t| t.remote.as_ref().map(|i| i.content.number.clone()))
        .collect();
    let complete = reviewed == review.len();
    apply(
        store,
        &sub,
        &target,
        take,
        conflicts.len(),
        complete.then_some(started_at),
    )
    .await;
    if !numbers.is_empty() && still(store, &sub) {
        let text = format!(
            "Repaired from DynamoDB: invoice {} was damaged in this browser.",
            numbers.join(", ")
        );
        crate::oplog::local(
            store,
            "integrity.repairLocal",
            None,
            Ok(text.clone()),
            js_sys::Date::now(),
        );
        store.dispatch(Action::Toast(text));
    }
    true
}

/// Invoices missing in DynamoDB after this browser had not pulled for longer than a
/// tombstone lives: they may have been deleted elsewhere, so they are not uploaded but
/// kept for review (Conflicts: "Restore mine" uploads them). Returns how many were.
async fn review_missing(store: &Store, sub: &str, target: &Target, ids: &[String]) -> usize {
    let copies: Vec<_> = ids
        .iter()
        .filter_map(|id| with_kv(|kv| load_invoice(kv, &store.ns, id)))
        .collect();
    if copies.is_empty() {
        return ids.len();
    }
    let now = js_sys::Date::now() as u64;
    let items = copies
        .iter()
        .map(|inv| Conflict {
            invoice_id: inv.id.clone(),
            local: Some(inv.clone()),
            remote: None,
            remote_version: None,
            damaged_remote: None,
            record: None,
            at: now,
        })
        .collect();
    let ns = store.ns.clone();
    if !keep_conflicts_for(store, target, items).await || !still_on(store, sub, target) {
        return 0;
    }
    let removed: Vec<String> = copies.iter().map(|i| i.id.clone()).collect();
    for id in &removed {
        with_kv(|kv| ledgerline_core::store::remove_invoice(kv, &ns, id));
    }
    let n = removed.len();
    store.dispatch(Action::ApplyRemote {
        items: Vec::new(),
        removed,
        conflicts: 0,
        full: 0,
    });
    store.dispatch(Action::Toast(format!(
        "{n} invoice(s) are missing in DynamoDB and this browser had not synced for over 90 days: they may have been deleted on another device. They are kept under Conflicts: restore the ones you still want."
    )));
    ids.len()
}
