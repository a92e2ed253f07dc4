//! The page's side of staying connected: the connection manager's checks and uploading
//! saved invoices of a signed-in user. Anonymous mode never calls DynamoDB.

use crate::cloud::call;
use crate::platform::with_kv;
use crate::state::{Action, Connection, Store};
use ledgerline_core::outbox::{self, Pending};
use ledgerline_core::protocol::{Reply, Request, SessionInfo};
use ledgerline_core::sync::OpKind;
use std::cell::Cell;

thread_local! {
    static COUNTER: Cell<u64> = const { Cell::new(0) };
    /// Failed replays in a row (for the backoff); 0 after one that was not retryable.
    static RETRIES: Cell<u32> = const { Cell::new(0) };
    /// A retry is scheduled: later failures do not schedule more.
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    /// A replay runs from this page now; another request only asks for one more round.
    static REPLAYING: Cell<bool> = const { Cell::new(false) };
    static AGAIN: Cell<bool> = const { Cell::new(false) };
    /// The outbox of this user was handed over since this page started.
    static DRAINED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// The invoices DynamoDB refused, as last told to the user (told again only if it changes).
    static REFUSED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A pull runs from this page now (checks meanwhile do not start another).
    static PULLING: Cell<bool> = const { Cell::new(false) };
    /// Failed checks in a row (throttled, 5xx, network) and whether a re-check waits.
    static CHECK_RETRIES: Cell<u32> = const { Cell::new(0) };
    static CHECK_SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

type Flag = std::thread::LocalKey<Cell<bool>>;
type Counter = std::thread::LocalKey<Cell<u32>>;

/// Runs `again` after a capped exponential backoff with full jitter (1 s doubling up to
/// 60 s), counting attempts in `tries`; `scheduled` keeps it to one waiting timer.
fn after_backoff(
    tries: &'static Counter,
    scheduled: &'static Flag,
    again: impl FnOnce() + 'static,
) {
    if scheduled.with(|s| s.replace(true)) {
        return;
    }
    let attempt = tries.with(|r| {
        r.set(r.get().saturating_add(1));
        r.get()
    });
    let wait = ledgerline_core::sync::backoff_ms(attempt, 1000, 60_000, js_sys::Math::random());
    gloo::timers::callback::Timeout::new(wait.max(250) as u32, move || {
        scheduled.with(|s| s.set(false));
        again();
    })
    .forget();
}

/// A check that failed for a passing reason (throttled, 5xx, network) is tried again with
/// the same backoff as replays, so DynamoDB coming back is noticed within seconds rather
/// than at the next interval.
fn recheck_later(store: &Store) {
    let store = store.clone();
    after_backoff(&CHECK_RETRIES, &CHECK_SCHEDULED, move || check(&store));
}

// Everything here takes the `Store` handle, never a copy of the state: a handle reads the
// state as it is now, so a reply arriving after the user edited, deleted, switched
// account or changed the endpoint acts on what is current.

/// Whether `sub` is still the signed-in user (a reply for a previous user is dropped).
fn still(store: &Store, sub: &str) -> bool {
    store.session.as_ref().map(|s| s.sub.as_str()) == Some(sub)
}

/// Throttled, 5xx or network: the replay runs again by itself after a capped exponential
/// backoff with full jitter (1 s doubling up to 60 s), besides the connection manager's
/// regular checks. Expired or invalid credentials are not retried: they wait for renewal.
fn retry_later(store: &Store) {
    let store = store.clone();
    after_backoff(&RETRIES, &SCHEDULED, move || {
        wasm_bindgen_futures::spawn_local(async move { replay_now(&store).await })
    });
}

/// A token unique to one change in this browser (milliseconds and a counter).
fn next_token() -> u64 {
    let n = COUNTER.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    (js_sys::Date::now() as u64) * 1000 + n % 1000
}

/// Hands one change to the worker's durable queue; once it is there, the outbox note
/// written with the save is dropped. Returns the queue's length if it was queued.
async fn hand_over(user: &str, invoice_id: &str, kind: OpKind, token: u64) -> Option<u32> {
    let reply = call(Request::Enqueue {
        user: user.to_string(),
        invoice_id: invoice_id.to_string(),
        kind,
    })
    .await;
    match reply {
        Reply::Queued { pending } => {
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
    if DRAINED.with(|d| d.borrow().as_deref() == Some(user.as_str())) {
        return;
    }
    DRAINED.with(|d| *d.borrow_mut() = Some(user.clone()));
    let noted = with_kv(|kv| outbox::pending(kv, &user));
    for (id, what, token) in noted {
        // the note says which invoice changed; what to send is its state now
        if !still(store, &user) {
            return;
        }
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
        if let Some(pending) = hand_over(&user, &id, kind, token).await {
            if still(store, &user) {
                store.dispatch(Action::SetPending(pending));
            }
        }
    }
}

/// What a reply says about the connection (None: it says nothing about it).
pub fn connection_of(reply: &Reply) -> Option<Connection> {
    match reply {
        Reply::Ok { ms, .. } => Some(Connection::Connected { ms: *ms }),
        Reply::Failed { class, .. } => Some(Connection::Failed { class: *class }),
        Reply::NoCredentials => Some(Connection::NoCredentials),
        _ => None,
    }
}

/// Queues a change of a signed-in user's invoice, then tries to send the queue. The
/// local save is already done: nothing here blocks the user.
pub fn enqueue(store: &Store, session: &SessionInfo, invoice_id: &str, kind: OpKind) {
    let user = session.sub.clone();
    let id = invoice_id.to_string();
    let what = match &kind {
        OpKind::Put(_) => Pending::Put,
        OpKind::Delete => Pending::Delete,
    };
    let token = next_token();
    // synchronously, in the same turn as the local save: no navigation can come between.
    // If even this note cannot be written (storage full), the pull at the next start
    // still finds the change by comparing versions.
    let _ = with_kv(|kv| outbox::add(kv, &user, &id, what, token));
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Some(pending) = hand_over(&user, &id, kind, token).await {
            if still(&store, &user) {
                store.dispatch(Action::SetPending(pending));
            }
        }
        // sent at once only while DynamoDB answers; otherwise the connection manager
        // replays when it comes back (no request per save against a dead endpoint)
        if matches!(store.connection, Connection::Connected { .. }) {
            replay_now(&store).await;
        }
    });
}

/// DynamoDB's versions to store, and the invoices it no longer has.
fn split(
    conflicts: &[ledgerline_core::sync::Conflict],
) -> (Vec<ledgerline_core::model::Invoice>, Vec<String>) {
    let items = conflicts.iter().filter_map(|c| c.remote.clone()).collect();
    let removed = conflicts
        .iter()
        .filter(|c| c.remote.is_none())
        .map(|c| c.invoice_id.clone())
        .collect();
    (items, removed)
}

/// Takes a backup of the local data before a sync changes it; returns whether it was kept.
pub async fn backup(store: &Store, reason: &str) -> bool {
    let snap = store.snap.clone();
    let bundle = ledgerline_core::exchange::export_json(&snap, &crate::platform::now_rfc3339());
    let reply = call(Request::Backup {
        user: crate::oplog::user_of(store),
        reason: reason.to_string(),
        invoices: snap.invoices.len() as u32,
        bundle,
        keep: store.config.backups_kept,
    })
    .await;
    matches!(reply, Reply::Ok { .. })
}

/// DynamoDB's versions replace local ones: a backup first, then localStorage and the view.
async fn apply_remote(
    store: &Store,
    sub: &str,
    items: Vec<ledgerline_core::model::Invoice>,
    removed: Vec<String>,
    conflicts: usize,
) {
    if items.is_empty() && removed.is_empty() {
        return;
    }
    // a failed backup must not keep DynamoDB's versions out: the local versions that
    // lose are kept in the conflicts store anyway
    backup(store, "before sync").await;
    // another account is open now: this user's data must not land in its namespace
    if !still(store, sub) {
        return;
    }
    let ns = store.ns.clone();
    let incoming = items.clone();
    store.dispatch(Action::ApplyRemote {
        items,
        removed,
        conflicts,
    });
    // what browser storage refused (full) is kept in IndexedDB, restorable from Data →
    // Backups once there is room; it is in DynamoDB too and comes back at the next pull
    let refused: Vec<ledgerline_core::model::Invoice> = incoming
        .into_iter()
        .filter(|r| {
            with_kv(|kv| ledgerline_core::store::load_invoice(kv, &ns, &r.id))
                .is_none_or(|l| l.version != r.version || l.checksum != r.checksum)
        })
        .collect();
    if !refused.is_empty() {
        let parked = ledgerline_core::store::Snapshot {
            invoices: refused,
            clients: store.snap.clients.clone(),
            ..Default::default()
        };
        let _ = call(Request::Backup {
            user: sub.to_string(),
            reason: "kept: browser storage was full".into(),
            invoices: parked.invoices.len() as u32,
            bundle: ledgerline_core::exchange::export_json(
                &parked,
                &crate::platform::now_rfc3339(),
            ),
            keep: store.config.backups_kept.max(1).saturating_add(1),
        })
        .await;
    }
}

/// How many conflicts wait for review.
pub async fn count_conflicts(store: &Store) {
    if let Some(user) = store.session.as_ref().map(|s| s.sub.clone()) {
        if let Reply::Conflicts { items } = call(Request::Conflicts { user: user.clone() }).await {
            if still(store, &user) {
                store.dispatch(Action::SetConflicts(items.len() as u32));
            }
        }
    }
}

/// Brings DynamoDB's changes once per start-up or sign-in (local data is already on
/// screen: this only enhances it), then sends the queue.
async fn pull_then_replay(store: &Store) {
    if !store.pulled && !PULLING.with(|p| p.replace(true)) {
        let pulled = pull(store).await;
        PULLING.with(|p| p.set(false));
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
        .map(|i| (i.id.clone(), i.version))
        .collect();
    let prefix = store.ns.invoice("");
    let damaged = snap
        .damaged
        .iter()
        .filter_map(|d| d.key.strip_prefix(&prefix).map(str::to_string))
        .collect();
    let reply = call(Request::Pull {
        target: store.config.target.clone(),
        user: sub.clone(),
        local,
        damaged,
    })
    .await;
    if !still(store, &sub) {
        return false;
    }
    let Reply::Pulled {
        items,
        removed,
        conflicts,
        unsynced,
        deleted_here,
        repaired,
        damaged_remote,
        ..
    } = reply
    else {
        if let Some(c) = connection_of(&reply) {
            store.dispatch(Action::SetConnection(c));
        }
        return false;
    };
    store.dispatch(Action::Pulled);
    // changes saved here whose queued operation was lost (a tab closed before it was
    // stored) are queued again: the queue heals itself at each start
    for id in unsynced {
        // as stored now: it may have changed or gone during the pull
        let now = with_kv(|kv| ledgerline_core::store::load_invoice(kv, &store.ns, &id));
        if let Some(inv) = now {
            let kind = OpKind::Put(Box::new(inv));
            let _ = call(Request::Enqueue {
                user: sub.clone(),
                invoice_id: id,
                kind,
            })
            .await;
        }
    }
    for id in deleted_here {
        // restored or re-created here during the pull: not deleted after all
        if with_kv(|kv| ledgerline_core::store::load_invoice(kv, &store.ns, &id)).is_some() {
            continue;
        }
        let _ = call(Request::Enqueue {
            user: sub.clone(),
            invoice_id: id,
            kind: OpKind::Delete,
        })
        .await;
    }
    repair_remote(store, &damaged_remote);
    let numbers: Vec<String> = items
        .iter()
        .filter(|i| repaired.contains(&i.id))
        .map(|i| i.content.number.clone())
        .collect();
    apply_remote(store, &sub, items, removed, conflicts.len()).await;
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
    count_conflicts(store).await;
    true
}

/// Items damaged in DynamoDB that this device has intact: the local copy goes up as the
/// next version after DynamoDB's (so the conditional write accepts it).
fn repair_remote(store: &Store, damaged: &[(String, u64)]) {
    let Some(session) = store.session.clone() else {
        return;
    };
    for (id, remote_version) in damaged {
        // as stored now: edited or deleted during the pull counts
        let Some(local) = with_kv(|kv| ledgerline_core::store::load_invoice(kv, &store.ns, id))
        else {
            continue;
        };
        let mut base = local.clone();
        base.version = base.version.max(*remote_version);
        let record = ledgerline_core::store::next_record(
            id,
            local.content.clone(),
            Some(&base),
            &crate::platform::now_rfc3339(),
        );
        if with_kv(|kv| ledgerline_core::store::put_invoice(kv, &store.ns, &record)).is_err() {
            continue;
        }
        crate::oplog::local(
            store,
            "integrity.repairRemote",
            Some(id),
            Ok(format!(
                "invoice {} was damaged in DynamoDB: this browser's copy goes up again",
                record.content.number
            )),
            js_sys::Date::now(),
        );
        store.dispatch(Action::PutInvoice(record.clone()));
        enqueue(store, &session, id, OpKind::Put(Box::new(record)));
    }
}

/// One replay at a time from this page: a request while one runs asks for one more round
/// after it (changes queued meanwhile), never for a pile of them.
async fn replay_now(store: &Store) {
    if REPLAYING.with(|r| r.replace(true)) {
        AGAIN.with(|a| a.set(true));
        return;
    }
    loop {
        replay_once(store).await;
        if !AGAIN.with(|a| a.replace(false)) {
            break;
        }
    }
    REPLAYING.with(|r| r.set(false));
}

async fn replay_once(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let reply = call(Request::Replay {
        target: store.config.target.clone(),
        user: sub.clone(),
    })
    .await;
    // whatever happened, no replay of this page runs now: no progress bar left behind
    store.dispatch(Action::Progress(None));
    if !still(store, &sub) {
        return;
    }
    let dispatcher = store.dispatcher();
    match reply {
        Reply::Replayed {
            sent,
            pending,
            conflicts,
            failed,
            refused,
        } => {
            dispatcher.dispatch(Action::SetPending(pending));
            // only what went over the network says something about the connection: an
            // empty queue sends nothing, and must not mark an offline browser connected
            match failed {
                Some(class) => {
                    dispatcher.dispatch(Action::SetConnection(Connection::Failed { class }))
                }
                None if sent > 0 => {
                    dispatcher.dispatch(Action::SetConnection(Connection::Connected { ms: 0.0 }))
                }
                None => {}
            }
            if !conflicts.is_empty() {
                let (items, removed) = split(&conflicts);
                apply_remote(store, &sub, items, removed, conflicts.len()).await;
            }
            match failed {
                Some(class) if class.retryable() && pending > 0 => retry_later(store),
                _ => RETRIES.with(|r| r.set(0)),
            }
            let new_refusal = REFUSED.with(|r| {
                let changed = *r.borrow() != refused;
                r.borrow_mut().clone_from(&refused);
                changed
            });
            if !refused.is_empty() && new_refusal {
                let numbers: Vec<String> = refused
                    .iter()
                    .map(|id| {
                        store
                            .invoice(id)
                            .map(|i| i.content.number.clone())
                            .unwrap_or_else(|| id.clone())
                    })
                    .collect();
                dispatcher.dispatch(Action::Toast(format!(
                    "DynamoDB refused invoice {} (too large, over 400 KB, or invalid): it stays in this browser only. Shorten its notes or lines and save it again; the other invoices are sent as usual.",
                    numbers.join(", ")
                )));
            }
        }
        other => {
            if let Some(c) = connection_of(&other) {
                dispatcher.dispatch(Action::SetConnection(c));
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
        let reply = call(Request::Check { target }).await;
        if !still(&store, &sub) {
            return;
        }
        let ok = matches!(reply, Reply::Ok { .. });
        if let Some(c) = connection_of(&reply) {
            store.dispatch(Action::SetConnection(c));
        }
        match reply {
            Reply::Failed { class, .. } if class.retryable() => recheck_later(&store),
            _ => CHECK_RETRIES.with(|r| r.set(0)),
        }
        // DynamoDB answers: send whatever waits (a no-op when the queue is empty)
        if ok {
            pull_then_replay(&store).await;
        }
    });
}

/// Renews the Cognito session at start-up; an expired one asks to sign in again.
pub fn refresh_session(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let cognito = store.config.cognito.clone();
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Reply::SessionExpired { message } = call(Request::RefreshSession { cognito }).await {
            if still(&store, &sub) {
                store.dispatch(Action::SessionExpired(message));
            }
        }
    });
}
