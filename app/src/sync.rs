//! The page's side of staying connected: the connection manager's checks and uploading
//! saved invoices of a signed-in user. Anonymous mode never calls DynamoDB.

use crate::cloud::call;
use crate::state::{Action, AppState, Connection, Store};
use ledgerline_core::model::Invoice;
use ledgerline_core::protocol::{Reply, Request, SessionInfo};
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

/// Writes a saved invoice to DynamoDB in the background; the save itself is already done.
pub fn upload(store: &Store, session: &SessionInfo, invoice: Invoice) {
    let dispatcher = store.dispatcher();
    let target = store.config.target.clone();
    let user_id = session.sub.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let reply = call(Request::PutInvoice {
            target,
            user_id,
            invoice: Box::new(invoice),
        })
        .await;
        if let Some(c) = connection_of(&reply) {
            dispatcher.dispatch(Action::SetConnection(c));
        }
    });
}

/// One connection check (DescribeTable), only for a signed-in user.
pub fn check(state: &AppState, dispatcher: UseReducerDispatcher<AppState>) {
    if state.session.is_none() {
        return;
    }
    let target = state.config.target.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let reply = call(Request::Check { target }).await;
        if let Some(c) = connection_of(&reply) {
            dispatcher.dispatch(Action::SetConnection(c));
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
