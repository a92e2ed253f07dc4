//! The page's side of staying connected: the connection manager's checks and uploading
//! saved invoices of a signed-in user. Anonymous mode never calls DynamoDB.

use crate::cloud::call;
use crate::state::{Action, AppState, Connection, Store};
use ledgerline_core::protocol::{Reply, Request, SessionInfo};
use ledgerline_core::sync::OpKind;
use yew::prelude::*;

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
    let state = (**store).clone();
    let dispatcher = store.dispatcher();
    wasm_bindgen_futures::spawn_local(async move {
        if let Reply::Queued { pending } = call(Request::Enqueue {
            user,
            invoice_id: id,
            kind,
        })
        .await
        {
            dispatcher.dispatch(Action::SetPending(pending));
        }
        replay_now(&state, dispatcher).await;
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

/// Brings DynamoDB's changes once per start-up or sign-in (local data is already on
/// screen: this only enhances it), then sends the queue.
async fn pull_then_replay(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    let Some(session) = &state.session else {
        return;
    };
    if !state.pulled {
        let local = state
            .snap
            .invoices
            .iter()
            .map(|i| (i.id.clone(), i.version))
            .collect();
        let reply = call(Request::Pull {
            target: state.config.target.clone(),
            user: session.sub.clone(),
            local,
        })
        .await;
        match reply {
            Reply::Pulled {
                items,
                removed,
                conflicts,
                unsynced,
                deleted_here,
                ..
            } => {
                dispatcher.dispatch(Action::Pulled);
                // changes saved here whose queued operation was lost (a tab closed before
                // it was stored) are queued again: the queue heals itself at each start
                for id in unsynced {
                    if let Some(inv) = state.invoice(&id) {
                        let kind = OpKind::Put(Box::new(inv.clone()));
                        let _ = call(Request::Enqueue {
                            user: session.sub.clone(),
                            invoice_id: id,
                            kind,
                        })
                        .await;
                    }
                }
                for id in deleted_here {
                    let _ = call(Request::Enqueue {
                        user: session.sub.clone(),
                        invoice_id: id,
                        kind: OpKind::Delete,
                    })
                    .await;
                }
                if !items.is_empty() || !removed.is_empty() {
                    dispatcher.dispatch(Action::ApplyRemote {
                        items,
                        removed,
                        conflicts: conflicts.len(),
                    });
                }
            }
            other => {
                if let Some(c) = connection_of(&other) {
                    dispatcher.dispatch(Action::SetConnection(c));
                }
                return;
            }
        }
    }
    replay_now(state, dispatcher).await;
}

/// Sends what is queued for the signed-in user (if any) and applies the outcome.
pub fn replay(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    let state = state.clone();
    wasm_bindgen_futures::spawn_local(async move { replay_now(&state, dispatcher).await });
}

async fn replay_now(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    let Some(session) = &state.session else {
        return;
    };
    let reply = call(Request::Replay {
        target: state.config.target.clone(),
        user: session.sub.clone(),
    })
    .await;
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
                dispatcher.dispatch(Action::ApplyRemote {
                    items,
                    removed,
                    conflicts: conflicts.len(),
                });
            }
            if !refused.is_empty() {
                dispatcher.dispatch(Action::Toast(format!(
                    "{} invoice(s) are too large for DynamoDB (over 400 KB) and stay in this browser only: shorten their notes or lines.",
                    refused.len()
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
pub fn check(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    if state.session.is_none() {
        return;
    }
    let target = state.config.target.clone();
    let state = state.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let reply = call(Request::Check { target }).await;
        let ok = matches!(reply, Reply::Ok { .. });
        if let Some(c) = connection_of(&reply) {
            dispatcher.dispatch(Action::SetConnection(c));
        }
        // DynamoDB answers: send whatever waits (a no-op when the queue is empty)
        if ok {
            pull_then_replay(&state, dispatcher).await;
        }
    });
}

/// Renews the Cognito session at start-up; an expired one asks to sign in again.
pub fn refresh_session(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    if state.session.is_none() {
        return;
    }
    let cognito = state.config.cognito.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Reply::SessionExpired { message } = call(Request::RefreshSession { cognito }).await {
            dispatcher.dispatch(Action::SessionExpired(message));
        }
    });
}
