//! The storage operation log: bounded, in IndexedDB, shared by the page (through the
//! cloud worker) and the workers. Entries are JSON strings under an auto-increment key.

use crate::error::CloudResult;
use ledgerline_core::protocol::{LogEntry, LOG_CAPACITY};
use rexie::TransactionMode;
use wasm_bindgen::JsValue;

const DB: &str = "ledgerline-log";
const STORE: &str = "ops";

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

async fn open() -> CloudResult<std::rc::Rc<rexie::Rexie>> {
    crate::idb::open(DB, &[(STORE, true)]).await
}

/// Appends one entry and drops the oldest beyond [`LOG_CAPACITY`].
pub async fn append(entry: &LogEntry) -> CloudResult<()> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let text = serde_json::to_string(entry).map_err(err)?;
    store
        .add(&JsValue::from_str(&text), None)
        .await
        .map_err(err)?;
    let count = store.count(None).await.map_err(err)?;
    if count > LOG_CAPACITY {
        let old = store
            .get_all_keys(None, Some(count - LOG_CAPACITY))
            .await
            .map_err(err)?;
        for k in old {
            store.delete(k).await.map_err(err)?;
        }
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

/// Forgets every entry of `user`.
pub async fn remove_user(user: &str) -> CloudResult<usize> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let keys = store.get_all_keys(None, None).await.map_err(err)?;
    let values = store.get_all(None, None).await.map_err(err)?;
    let mut n = 0;
    for (k, v) in keys.into_iter().zip(values) {
        let theirs = v
            .as_string()
            .and_then(|t| serde_json::from_str::<LogEntry>(&t).ok())
            .is_some_and(|e| e.user == user);
        if theirs {
            store.delete(k).await.map_err(err)?;
            n += 1;
        }
    }
    tx.done().await.map_err(err)?;
    Ok(n)
}

/// Every entry of `user`, oldest first (entries of other users, and user-less ones an
/// older version wrote, are nobody's to read).
pub async fn read(user: &str) -> CloudResult<Vec<LogEntry>> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let all = store.get_all(None, None).await.map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(all
        .into_iter()
        .filter_map(|v| v.as_string())
        .filter_map(|t| serde_json::from_str::<LogEntry>(&t).ok())
        .filter(|e| e.user == user)
        .collect())
}
