//! What the service worker learned while syncing in the background (no tab may have been
//! open to store it): DynamoDB's versions wait in the engine's inbox in IndexedDB, and the
//! page stores them like a replay's answer (losers kept, then stored, then acknowledged)
//! at start-up and whenever the service worker tells the tabs; only then does an entry go.
//! Also where the page tells the engine whom it syncs for (the service worker cannot read
//! localStorage).

use super::apply::apply;
use super::still_on;
use crate::service;
use crate::state::Store;
use ledgerline_core::protocol::SyncContext;
use std::cell::Cell;

thread_local! {
    static APPLYING: Cell<bool> = const { Cell::new(false) };
    /// Asked again while a round ran: one more round after it.
    static AGAIN: Cell<bool> = const { Cell::new(false) };
}

/// Stores what waits in the inbox of the signed-in user and the current table.
pub async fn apply_inbox(store: &Store) {
    // one round at a time in this tab; a broadcast during a round makes one more after it
    if APPLYING.with(|a| a.replace(true)) {
        AGAIN.with(|a| a.set(true));
        return;
    }
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            APPLYING.with(|a| a.set(false));
        }
    }
    let _done = Done;
    loop {
        AGAIN.with(|a| a.set(false));
        apply_round(store).await;
        if !AGAIN.with(|a| a.get()) {
            break;
        }
    }
}

async fn apply_round(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let target = store.config.target.clone();
    let Ok(items) = service::inbox(&target, &sub).await else {
        return;
    };
    for item in items {
        if !still_on(store, &sub, &target) {
            return;
        }
        if apply(store, &sub, &target, item.take, item.kept as usize, None).await {
            let _ = service::inbox_done(&target, &sub, vec![item.at]).await;
        }
    }
}

/// Tells the engine whom this page syncs for (None: nobody signed in); if changes wait
/// for that user and the browser is offline, the service worker is asked to send them
/// once it is back (should the tab be gone by then).
pub async fn set_context(context: Option<SyncContext>) {
    if let Ok(pending) = service::set_context(context).await {
        if pending > 0 {
            crate::background::request_replay_when_online();
        }
    }
}
