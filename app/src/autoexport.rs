//! Scheduled automatic exports (R7.3): every day or week (Settings → Backups), a whole
//! export bundle of this browser's data is kept in IndexedDB with the backups, the newest
//! N of them kept. The page runs it at start-up and every few minutes while open; the
//! rules (`ledgerline_core::backups`) say when one is due and which go. The time of the
//! last one is kept per user (`<ns>auto-export`) and claimed before the export starts,
//! so two tabs do not both export.

use crate::cloud::call;
use crate::platform::with_kv;
use crate::state::{Action, Store};
use ledgerline_core::backups::{due, worth_exporting, AUTOMATIC};
use ledgerline_core::protocol::{Reply, Request};

/// How often an open page looks whether an export is due.
pub const TICK_MS: u32 = 10 * 60 * 1000;

/// The first look, after start-up.
pub const FIRST_MS: u32 = 3000;

fn key(store: &Store) -> String {
    format!("{}auto-export", store.ns.prefix())
}

/// When the last automatic export of this user was made here (ms since the epoch).
pub fn last(store: &Store) -> Option<f64> {
    with_kv(|kv| kv.get(&key(store))).and_then(|raw| raw.parse::<f64>().ok())
}

fn set_last(store: &Store, at: Option<f64>) -> bool {
    with_kv(|kv| match at {
        Some(at) => kv.set(&key(store), &at.to_string()).is_ok(),
        None => {
            kv.remove(&key(store));
            true
        }
    })
}

/// Makes an automatic export if one is due; says so only when it fails.
pub async fn run_if_due(store: &Store) {
    let now = js_sys::Date::now();
    let before = last(store);
    if !due(store.config.auto_export, before, now) || !worth_exporting(&store.snap) {
        return;
    }
    // claimed first: another tab looking now finds it done (if the claim cannot be
    // written, storage is full: exporting matters all the more, so it goes ahead)
    let claimed = set_last(store, Some(now));
    let invoices = store.snap.invoices.len();
    let (reply, bytes) =
        crate::sync::keep_copy(store, AUTOMATIC, store.config.auto_exports_kept).await;
    let stored = match &reply {
        Reply::Ok { .. } => true,
        Reply::Error { .. } => false,
        // no answer in time: the worker may still have stored it (a slow database)
        _ => stored_since(store, now).await,
    };
    match reply {
        _ if stored => crate::oplog::local(
            store,
            "export.auto",
            None,
            Ok(format!(
                "{invoices} invoices, {bytes} bytes{}",
                if claimed {
                    ""
                } else {
                    " (its time could not be noted here)"
                }
            )),
            now,
        ),
        other => {
            let why = match other {
                Reply::Error { message } => message,
                _ => "no answer from the browser's database".to_string(),
            };
            // not done: the next look tries again
            set_last(store, before);
            crate::oplog::local(store, "export.auto", None, Err(why.clone()), now);
            store.dispatch(Action::Toast(format!(
                "The automatic export could not be stored in this browser ({why}). Your data is unchanged; use Data → Export JSON to keep a copy, or free some browser storage. It is tried again in a few minutes."
            )));
        }
    }
}

/// Whether an automatic export taken at `since` or later is among the backups.
async fn stored_since(store: &Store, since: f64) -> bool {
    let user = crate::oplog::user_of(store);
    match call(Request::Backups { user }).await {
        Reply::Backups { list } => list
            .iter()
            .any(|b| b.reason == AUTOMATIC && b.at >= since - 60_000.0),
        _ => false,
    }
}
