//! Scheduled automatic exports (R7.3): every day or week (Settings → Backups), a whole
//! export bundle of this browser's data is kept in IndexedDB with the backups, the newest
//! N of them kept. The page runs it at start-up and every few minutes while open; the
//! rules (`ledgerline_core::backups`) say when one is due and which go. The time of the
//! last one is kept per user (`<ns>auto-export`) and claimed before the export starts,
//! so two tabs do not both export. The service worker exports too (on a periodic sync,
//! with no page open), from the latest copy this page keeps with every save
//! ([`keep_latest`]); an export it made counts here as the last one.

use crate::platform::with_kv;
use crate::service::{self, CallError};
use crate::state::{Action, Store};
use ledgerline_core::backups::{due, worth_exporting, AUTOMATIC, LATEST};

/// How often an open page looks whether an export is due.
pub const TICK_MS: u32 = 10 * 60 * 1000;

/// The first look, after start-up.
pub const FIRST_MS: u32 = 3000;

/// The latest copy is written this long after the last change (a burst of saves is one).
pub const LATEST_AFTER_MS: u32 = 2000;

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
    // the service worker may have exported since this page last did
    let theirs = newest_stored(store).await;
    if last(store) != before {
        // another tab claimed this one meanwhile
        return;
    }
    if let Some(theirs) = theirs {
        if before.is_none_or(|b| theirs > b) && !due(store.config.auto_export, Some(theirs), now) {
            set_last(store, Some(theirs));
            return;
        }
    }
    // claimed first: another tab looking now finds it done (if the claim cannot be
    // written, storage is full: exporting matters all the more, so it goes ahead)
    let claimed = set_last(store, Some(now));
    let invoices = store.snap.invoices.len();
    let (reply, bytes) =
        crate::sync::keep_copy(store, AUTOMATIC, store.config.auto_exports_kept).await;
    let stored = match &reply {
        Ok(()) => true,
        Err(CallError::Worker(_)) => false,
        // no answer in time: the worker may still have stored it (a slow database)
        Err(_) => stored_since(store, now).await,
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
                Err(CallError::Worker(message)) => message,
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

/// When the copies kept for `reason` were made (None: the list could not be read).
async fn stored_at(store: &Store, reason: &str) -> Option<Vec<f64>> {
    let user = crate::oplog::user_of(store);
    let list = service::backups(&user).await.ok()?;
    Some(
        list.iter()
            .filter(|b| b.reason == reason)
            .map(|b| b.at)
            .collect(),
    )
}

/// When the newest automatic export the service worker made was made (a page's own are
/// noted in localStorage).
async fn newest_stored(store: &Store) -> Option<f64> {
    stored_at(store, ledgerline_core::backups::AUTOMATIC_SW)
        .await?
        .into_iter()
        .max_by(|a, b| a.total_cmp(b))
}

/// Tells the engine how often this user wants automatic exports (for the service
/// worker's).
pub async fn set_plan(store: &Store) {
    let user = crate::oplog::user_of(store);
    let _ = service::set_export_plan(
        &user,
        store.config.auto_export,
        store.config.auto_exports_kept,
    )
    .await;
}

/// The latest copy's state in this page: (user, fingerprint) written last, and the one a
/// waiting timer will write.
#[derive(Default)]
struct Latest {
    written: Option<(String, u64)>,
    waiting: Option<((String, u64), gloo::timers::callback::Timeout)>,
}

thread_local! {
    static LATEST_COPY: std::cell::RefCell<Latest> = std::cell::RefCell::new(Latest::default());
}

/// Drops a latest copy waiting to be written (the user's data is being removed).
pub fn cancel_latest() {
    LATEST_COPY.with(|l| *l.borrow_mut() = Latest::default());
}

/// The data (or the user) may have changed: the latest copy is written
/// [`LATEST_AFTER_MS`] after the last change of content (a burst of saves is one write;
/// a re-render that changed nothing writes nothing).
pub fn latest_changed(store: &Store) {
    // entries that cannot be read are not in the snapshot: the copy made before they
    // were damaged is the one to keep
    if !store.snap.damaged.is_empty() {
        return;
    }
    let now = (
        crate::oplog::user_of(store),
        ledgerline_core::backups::fingerprint(&store.snap),
    );
    LATEST_COPY.with(|l| {
        let mut l = l.borrow_mut();
        if l.written.as_ref() == Some(&now) {
            l.waiting = None;
            return;
        }
        if l.waiting.as_ref().map(|(w, _)| w) == Some(&now) {
            return;
        }
        let store = store.clone();
        let what = now.clone();
        let timer = gloo::timers::callback::Timeout::new(LATEST_AFTER_MS, move || {
            wasm_bindgen_futures::spawn_local(async move {
                let kept = keep_latest(&store).await;
                LATEST_COPY.with(|l| {
                    let mut l = l.borrow_mut();
                    if kept {
                        l.written = Some(what.clone());
                    }
                    // kept or not, this timer is done: the next change (or render) tries again
                    if l.waiting.as_ref().map(|(w, _)| w) == Some(&what) {
                        l.waiting = None;
                    }
                });
            });
        });
        l.waiting = Some((now, timer));
    });
}

/// Keeps the latest copy of this browser's data in IndexedDB (one per user, replaced at
/// each call): what the service worker exports from, and the freshest copy to restore
/// from when localStorage is damaged (Data → Backups). Returns whether it was kept.
async fn keep_latest(store: &Store) -> bool {
    if !store.snap.damaged.is_empty() {
        return false;
    }
    let started = js_sys::Date::now();
    match crate::sync::keep_copy(store, LATEST, 1).await.0 {
        Ok(()) => true,
        Err(e) => {
            crate::oplog::local(store, "local.latestCopy", None, Err(e.message()), started);
            false
        }
    }
}

/// Whether an automatic export taken at `since` or later is among the backups.
async fn stored_since(store: &Store, since: f64) -> bool {
    stored_at(store, AUTOMATIC)
        .await
        .is_some_and(|at| at.iter().any(|a| *a >= since - 60_000.0))
}
