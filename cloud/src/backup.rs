//! Backups of the local data in IndexedDB (`ledgerline-backups`), taken before a sync
//! changes local data and before a restore. Each is an export bundle (the same JSON as
//! Data → Export), keyed `<user>|<at>` so a user's backups sort oldest first; only the
//! newest N are kept.

use crate::error::CloudResult;
use ledgerline_core::backups::{head_of, to_prune, Head, Kept, StoredCopy, HEAD_CHARS};
use ledgerline_core::protocol::BackupInfo;
use rexie::{Rexie, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};

const DB: &str = "ledgerline-backups";
const STORE: &str = "backups";

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// Zero-padded so that keys sort by time.
fn key(user: &str, at: f64) -> JsValue {
    JsValue::from_str(&format!("{user}|{:015}", at.max(0.0) as u64))
}

async fn open() -> CloudResult<std::rc::Rc<Rexie>> {
    crate::idb::open(DB, &[(STORE, false)]).await
}

/// A stored copy's head, read from the first characters of its text (a bundle of
/// megabytes is neither copied out of JavaScript nor decoded); a copy an older version
/// stored (no size in its head) is read whole.
fn head(v: &JsValue) -> Option<Head> {
    let text: &js_sys::JsString = v.dyn_ref()?;
    let prefix: String = text.slice(0, HEAD_CHARS).into();
    head_of(&prefix).or_else(|| {
        let copy: StoredCopy = serde_json::from_str(&v.as_string()?).ok()?;
        Some(copy.head())
    })
}

async fn heads(db: &Rexie, user: &str) -> CloudResult<Vec<(JsValue, Head)>> {
    Ok(crate::idb::user_entries(db, STORE, user)
        .await?
        .into_iter()
        .filter_map(|(k, v)| Some((k, head(&v)?)))
        .collect())
}

/// Forgets every backup and automatic export of `user` here.
pub async fn remove_user(user: &str) -> CloudResult<usize> {
    crate::idb::delete_user(&*open().await?, &[STORE], user).await
}

/// Stores one backup and drops the oldest of its kind beyond `keep` (at least one is
/// kept; automatic exports and other backups are counted apart).
pub async fn add(
    user: &str,
    reason: &str,
    invoices: u32,
    bundle: String,
    keep: u32,
) -> CloudResult<()> {
    let db = open().await?;
    // one transaction: two copies stored at once (the latest copy and an export in the
    // same millisecond) neither take the same key nor prune from a stale list
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let range = crate::idb::user_range(user)?;
    let keys = store
        .get_all_keys(Some(range.clone()), None)
        .await
        .map_err(err)?;
    let values = store.get_all(Some(range), None).await.map_err(err)?;
    let existing: Vec<(JsValue, Head)> = keys
        .into_iter()
        .zip(values)
        .filter_map(|(k, v)| Some((k, head(&v)?)))
        .collect();
    let mut at = js_sys::Date::now();
    while existing.iter().any(|(_, s)| s.at as u64 == at as u64) {
        at += 1.0;
    }
    let value = StoredCopy::new(at, reason, invoices, bundle);
    let text = serde_json::to_string(&value).map_err(err)?;
    let kept: Vec<Kept> = existing
        .iter()
        .map(|(_, s)| Kept {
            at: s.at,
            reason: &s.reason,
        })
        .collect();
    let drop = to_prune(&kept, reason, keep);
    store
        .put(&JsValue::from_str(&text), Some(&key(user, at)))
        .await
        .map_err(err)?;
    for (k, s) in &existing {
        if drop.contains(&s.at) {
            store.delete(k.clone()).await.map_err(err)?;
        }
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

/// The user's backups, newest first, without their content.
pub async fn list(user: &str) -> CloudResult<Vec<BackupInfo>> {
    let db = open().await?;
    Ok(heads(&db, user)
        .await?
        .into_iter()
        .rev()
        .map(|(_, h)| BackupInfo {
            at: h.at,
            reason: h.reason,
            invoices: h.invoices,
            bytes: h.bytes.unwrap_or(0),
        })
        .collect())
}

/// The bundle of the backup taken at `at`.
pub async fn read(user: &str, at: f64) -> CloudResult<Option<String>> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let v = tx
        .store(STORE)
        .map_err(err)?
        .get(key(user, at))
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(v.and_then(|v| v.as_string())
        .and_then(|s| serde_json::from_str::<StoredCopy>(&s).ok())
        .map(|s| s.bundle))
}
