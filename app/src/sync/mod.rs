//! The page's side of staying connected: the connection manager's checks, handing saved
//! changes to the cloud worker's queue, and storing what DynamoDB sends back. Anonymous
//! mode never calls DynamoDB. The decisions are `ledgerline_core::sync`'s; this is I/O.
//!
//! - `runner`: the one value holding this page's sync state (retries, one replay and one
//!   pull at a time, the outbox drained once per start) and the backoff scheduler;
//! - `apply`: DynamoDB's versions into localStorage, two-phase (losers kept first, then
//!   stored, then acknowledged);
//! - `pull`, `replay`: the two jobs.

mod apply;
mod inbox;
mod pull;
mod repair;
mod replay;
mod runner;

use crate::platform::with_kv;
use crate::service::{Answer, CallError};
use crate::state::{Action, Connection, Store};
use ledgerline_core::outbox::{self, Pending};
use ledgerline_core::protocol::SessionInfo;
use ledgerline_core::sync::{Conflict, OpKind};

pub use apply::{backup, keep_copy};
pub use inbox::{apply_inbox, set_context};
use runner::{with_state, RETRY_CHECK};

// Everything here takes the `Store` handle, never a copy of the state: a handle reads the
// state as it is now, so a reply arriving after the user edited, deleted, switched
// account or changed the endpoint acts on what is current.

/// Whether `sub` is still the signed-in user (a reply for a previous user is dropped).
pub(crate) fn still(store: &Store, sub: &str) -> bool {
    store.session.as_ref().map(|s| s.sub.as_str()) == Some(sub)
}

/// Whether `sub` is still signed in and the app still points at `target`: what a sync
/// job read from one table is never stored or acknowledged for another.
pub(crate) fn still_on(
    store: &Store,
    sub: &str,
    target: &ledgerline_core::protocol::Target,
) -> bool {
    still(store, sub) && store.config.target == *target
}

/// What a failed call says about the connection (None: it says nothing about it).
pub fn connection_of(e: &CallError) -> Option<Connection> {
    match e {
        CallError::Failed(class) => Some(Connection::Failed { class: *class }),
        CallError::NoCredentials => Some(Connection::NoCredentials),
        _ => None,
    }
}

/// What a connection check (or a table creation) says about the connection.
pub fn connection_of_check(answer: &Answer<(String, f64)>) -> Option<Connection> {
    match answer {
        Ok((_, ms)) => Some(Connection::Connected { ms: *ms }),
        Err(e) => connection_of(e),
    }
}

/// Hands one change to the worker's durable queue; once it is there, the outbox note
/// written with the save is dropped. Returns the queue's length if it was queued.
async fn hand_over(
    store: &Store,
    user: &str,
    invoice_id: &str,
    kind: OpKind,
    parent: Option<(u64, String)>,
    token: u64,
) -> Option<u32> {
    let queued =
        crate::service::enqueue(&store.config.target, user, invoice_id, kind, parent).await;
    match queued {
        Ok(pending) => {
            with_kv(|kv| outbox::confirm(kv, user, invoice_id, token));
            Some(pending)
        }
        _ => None,
    }
}

/// Queues again what the outbox still holds: changes saved here whose queued operation
/// never reached IndexedDB (the tab closed first, or the worker failed). Once per page
/// start and user, before the first check: later, the outbox only holds this page's own
/// changes in flight, which must not be handed over a second time out of order.
async fn drain_outbox(store: &Store) {
    let Some(user) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    if !with_state(|s| s.first_drain(&user)) {
        return;
    }
    let noted = with_kv(|kv| outbox::pending(kv, &user));
    for (id, what, token, parent) in noted {
        if !still(store, &user) {
            return;
        }
        // the note says which invoice changed; what to send is its state now
        let current = with_kv(|kv| ledgerline_core::store::load_invoice(kv, &store.ns, &id));
        let kind = match (what, current) {
            (_, Some(inv)) => OpKind::Put(Box::new(inv)),
            (Pending::Delete, None) => OpKind::Delete,
            // a put of an invoice no longer here (local data cleared): nothing to send
            (Pending::Put, None) => {
                with_kv(|kv| outbox::confirm(kv, &user, &id, token));
                continue;
            }
        };
        if let Some(pending) = hand_over(store, &user, &id, kind, parent, token).await {
            if still(store, &user) {
                store.dispatch(Action::SetPending(pending));
            }
        }
    }
}

/// The copy a change is built on, as the queue records it: (version, checksum), or
/// (0, "") for a new invoice.
pub fn parent_of(previous: Option<&ledgerline_core::model::Invoice>) -> Option<(u64, String)> {
    Some(
        previous
            .map(|p| (p.version, p.checksum.clone()))
            .unwrap_or((0, String::new())),
    )
}

/// Queues a change of a signed-in user's invoice (`parent`: the copy it was built on),
/// then tries to send the queue. The local save is already done: nothing here blocks
/// the user.
pub fn enqueue(
    store: &Store,
    session: &SessionInfo,
    invoice_id: &str,
    kind: OpKind,
    parent: Option<(u64, String)>,
) {
    let user = session.sub.clone();
    let id = invoice_id.to_string();
    let what = match &kind {
        OpKind::Put(_) => Pending::Put,
        OpKind::Delete => Pending::Delete,
    };
    let token = with_state(|s| s.next_token());
    // synchronously, in the same turn as the local save: no navigation can come between.
    // If even this note cannot be written (storage full), the pull at the next start
    // still finds the change by comparing versions.
    let _ = with_kv(|kv| outbox::add(kv, &user, &id, what, token, parent.clone()));
    // the status never says "connected" with a change not yet handed over
    store.dispatch(Action::SetPending(store.pending.saturating_add(1)));
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let queued = hand_over(&store, &user, &id, kind, parent, token).await;
        if let Some(pending) = queued {
            if still(&store, &user) {
                store.dispatch(Action::SetPending(pending));
            }
        }
        // sent at once only while DynamoDB answers; otherwise the connection manager
        // replays when it comes back (no request per save against a dead endpoint), and
        // the service worker does once the network is back, should every tab be closed
        // (asked now when offline; when the tab goes, or a replay fails, otherwise)
        if matches!(store.connection, Connection::Connected { .. }) {
            replay::replay_now(&store).await;
        } else if queued.is_some() {
            crate::background::request_replay_when_online();
        }
    });
}

/// Keeps local versions for review in the conflicts store of the current table (a stale
/// editor's draft). True once they are durably kept.
pub async fn keep_conflicts(store: &Store, items: Vec<Conflict>) -> bool {
    keep_conflicts_for(store, &store.config.target.clone(), items).await
}

/// [`keep_conflicts`] for the table a sync job read (the user may have switched since).
pub async fn keep_conflicts_for(
    store: &Store,
    target: &ledgerline_core::protocol::Target,
    items: Vec<Conflict>,
) -> bool {
    let user = crate::oplog::user_of(store);
    match crate::service::keep_conflicts(target, &user, items).await {
        Ok((pending, conflicts)) => {
            if still(store, &user) || store.session.is_none() {
                store.dispatch(Action::SetConflicts(conflicts));
                if store.session.is_some() {
                    store.dispatch(Action::SetPending(pending));
                }
            }
            true
        }
        Err(_) => false,
    }
}

/// How many conflicts wait for review and changes for DynamoDB, from IndexedDB (online
/// or not).
pub async fn count(store: &Store) {
    let user = crate::oplog::user_of(store);
    let answer = crate::service::counts_of(&store.config.target, &user).await;
    if let Ok((pending, conflicts)) = answer {
        if crate::oplog::user_of(store) == user {
            store.dispatch(Action::SetConflicts(conflicts));
            if store.session.is_some() {
                store.dispatch(Action::SetPending(pending));
            }
        }
    }
}

/// One connection check (DescribeTable), only for a signed-in user.
pub fn check(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let target = store.config.target.clone();
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        drain_outbox(&store).await;
        let answer = crate::service::check(&target).await;
        if !still(&store, &sub) {
            return;
        }
        if let Err(CallError::SessionExpired(message)) = &answer {
            // the sign-in cannot give AWS credentials (the identity pool refused it, or its
            // refresh token ended): only signing in again mends it, and the page says so
            store.dispatch(Action::SessionExpired(message.clone()));
            return;
        }
        let ok = answer.is_ok();
        if ok {
            // invoice numbers for this device when few are left, before the status
            // says "connected" (a new invoice made then has a number from the lease)
            crate::numbers::top_up(&store).await;
            if !still(&store, &sub) {
                return;
            }
        }
        if let Some(c) = connection_of_check(&answer) {
            store.dispatch(Action::SetConnection(c));
        }
        match answer {
            Err(CallError::Failed(class)) if class.retryable() => {
                let again = store.clone();
                runner::after_backoff(RETRY_CHECK, move || check(&again));
            }
            _ => with_state(|s| s.reset_retries(RETRY_CHECK)),
        }
        // DynamoDB answers: bring its changes (at start, and whenever another device
        // changed the invoices since: one read of the change marker), then send whatever
        // waits; then the clients and the profile
        if ok {
            if store.pulled {
                let changed = crate::service::changed(&target, &sub).await;
                if changed == Ok(true) && still_on(&store, &sub, &target) {
                    store.dispatch(Action::Repull);
                }
            }
            pull::pull_then_replay(&store).await;
            if still(&store, &sub) {
                crate::records::sync(&store).await;
            }
        }
    });
}

/// At start-up: the page's word for who is signed in (localStorage) is checked against
/// the worker's sealed session, which proves it (a signed ID token); the page follows the
/// worker. Then the Cognito session is renewed; an expired one asks to sign in again.
pub fn refresh_session(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let cognito = store.config.cognito.clone();
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match crate::service::signed_in(cognito.clone()).await {
            Ok(Some(proven)) if proven.sub == sub => {}
            Ok(proven) => {
                if !still(&store, &sub) {
                    return;
                }
                let said = match &proven {
                    Some(p) => format!("This browser is signed in as {}: switched to that account.", p.email),
                    None => "You are signed out: this browser holds no valid sign-in for that account. Sign in again (Account); the invoices in this browser are untouched.".to_string(),
                };
                if let Err(e) = crate::state::switch_user(&store, proven) {
                    store.dispatch(Action::Toast(e.message()));
                    return;
                }
                store.dispatch(Action::Toast(said));
                return;
            }
            // the worker could not say (its storage failed): its own guard still refuses
            // anything for another user
            Err(_) => {}
        }
        if let Err(crate::service::CallError::SessionExpired(message)) =
            crate::service::refresh_session(cognito).await
        {
            if still(&store, &sub) {
                store.dispatch(Action::SessionExpired(message));
            }
        }
    });
}

/// The number of an invoice DynamoDB would not take and why, from this browser's copy
/// (its id, and "refused as invalid", when that copy cannot be read: the copy here is
/// damaged, then said so, or gone).
pub fn refusal_here(store: &Store, id: &str) -> (String, ledgerline_core::sync::Refusal) {
    use ledgerline_core::sync::{refusal, Refusal};
    if let Some(inv) = store.invoice(id) {
        return (inv.content.number.clone(), refusal(inv));
    }
    let key = store.ns.invoice(id);
    let damaged = store.snap.damaged.iter().any(|d| d.key == key);
    (
        id.to_string(),
        if damaged {
            Refusal::Damaged
        } else {
            Refusal::Invalid
        },
    )
}
