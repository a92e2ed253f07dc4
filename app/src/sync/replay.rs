//! Sending the queue: one replay at a time from this page; a request while one runs asks
//! for one more round after it (changes queued meanwhile), never for a pile of them.

use super::apply::apply;
use super::runner::{after_backoff, with_state, RETRY_REPLAY};
use super::{connection_of, still};
use crate::state::{Action, Connection, Store};
use ledgerline_core::sync::{refused_toast, Refusal};

pub async fn replay_now(store: &Store) {
    if with_state(|s| std::mem::replace(&mut s.replaying, true)) {
        with_state(|s| s.again = true);
        return;
    }
    loop {
        replay_once(store).await;
        if !with_state(|s| std::mem::replace(&mut s.again, false)) {
            break;
        }
    }
    with_state(|s| s.replaying = false);
}

/// Throttled, 5xx or network: the replay runs again by itself after a capped exponential
/// backoff with full jitter (1 s doubling up to 60 s), besides the connection manager's
/// regular checks. Expired or invalid credentials and a wrong clock are not retried:
/// they wait for the user.
fn retry_later(store: &Store) {
    let store = store.clone();
    after_backoff(RETRY_REPLAY, move || {
        wasm_bindgen_futures::spawn_local(async move { replay_now(&store).await })
    });
}

async fn replay_once(store: &Store) {
    let Some(sub) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    let target = store.config.target.clone();
    let answer = crate::service::replay(&target, &sub).await;
    // whatever happened, no replay of this page runs now: no progress bar left behind
    store.dispatch(Action::Progress(None));
    if !still(store, &sub) {
        return;
    }
    let crate::service::Replayed {
        sent,
        pending,
        conflicts,
        take,
        failed,
        refused,
    } = match answer {
        Ok(r) => r,
        Err(e) => {
            if let Some(c) = connection_of(&e) {
                store.dispatch(Action::SetConnection(c));
            }
            return;
        }
    };
    store.dispatch(Action::SetPending(pending));
    store.dispatch(Action::SetRefused(refused.clone()));
    // only what went over the network says something about the connection: an empty
    // queue sends nothing, and must not mark an offline browser connected
    match failed {
        Some(class) => store.dispatch(Action::SetConnection(Connection::Failed { class })),
        None if sent > 0 || !take.is_empty() => {
            store.dispatch(Action::SetConnection(Connection::Connected { ms: 0.0 }))
        }
        None => {}
    }
    if !take.is_empty() {
        apply(store, &sub, &target, take, conflicts.len(), None).await;
    }
    match failed {
        Some(class) if class.retryable() && pending > 0 => {
            retry_later(store);
            // and should this tab close first, the service worker sends them
            crate::background::request_replay();
        }
        _ => with_state(|s| s.reset_retries(RETRY_REPLAY)),
    }
    let new_refusal = with_state(|s| {
        let changed = s.refused != refused;
        s.refused.clone_from(&refused);
        changed
    });
    if !refused.is_empty() && new_refusal {
        let said: Vec<(String, Refusal)> = refused
            .iter()
            .map(|id| super::refusal_here(store, id))
            .collect();
        store.dispatch(Action::Toast(refused_toast(&said)));
    }
}
