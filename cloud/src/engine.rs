//! What the sync engine keeps for its hosts beside the queue (IndexedDB
//! `ledgerline-engine`): whom to sync for, as the page last said (the service worker cannot
//! read localStorage), and the inbox of what a service worker's job learned from DynamoDB
//! for the page to store (two-phase: an entry goes only once the page has stored and
//! acknowledged it).
//!
//! `context` holds one value under the key `current`: the page's [`SyncContext`] and how
//! many changes wait in its queue (`pending`), which the service worker's loader reads
//! with plain IndexedDB at start-up to decide whether to load the engine at all.

use crate::error::CloudResult;
use crate::store::{all_of, err, put_json};
use ledgerline_core::protocol::{InboxItem, SyncContext, Take};
use rexie::{Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

const DB: &str = "ledgerline-engine";
const CONTEXT: &str = "context";
const INBOX: &str = "inbox";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Current {
    #[serde(flatten)]
    context: SyncContext,
    scope: String,
    #[serde(default)]
    pending: u32,
}

async fn open() -> CloudResult<std::rc::Rc<Rexie>> {
    crate::idb::open(DB, &[(CONTEXT, false), (INBOX, false)]).await
}

fn current_key() -> JsValue {
    JsValue::from_str("current")
}

/// The value under `key` in the context store, parsed (None: missing or unreadable).
async fn get_json<T: serde::de::DeserializeOwned>(
    db: &Rexie,
    key: &JsValue,
) -> CloudResult<Option<T>> {
    let tx = db
        .transaction(&[CONTEXT], TransactionMode::ReadOnly)
        .map_err(err)?;
    let v = tx
        .store(CONTEXT)
        .map_err(err)?
        .get(key.clone())
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(v.and_then(|v| v.as_string())
        .and_then(|s| serde_json::from_str(&s).ok()))
}

async fn read_current(db: &Rexie) -> CloudResult<Option<Current>> {
    get_json(db, &current_key()).await
}

/// Whom the page syncs for now (None: nobody signed in); `pending` as the queue holds.
pub async fn set_context(context: Option<SyncContext>, pending: u32) -> CloudResult<()> {
    let db = open().await?;
    let value = context.map(|c| Current {
        scope: ledgerline_core::sync::scope(&c.user, &c.target),
        context: c,
        pending,
    });
    put_json(&db, CONTEXT, &current_key(), value.as_ref()).await
}

/// Whom to sync for, as the page last said.
pub async fn context() -> CloudResult<Option<SyncContext>> {
    Ok(read_current(&*open().await?).await?.map(|c| c.context))
}

/// Notes how many changes wait in `scope`, if it is the current one.
pub async fn note_pending(scope: &str, pending: u32) -> CloudResult<()> {
    let db = open().await?;
    match read_current(&db).await? {
        Some(mut c) if c.scope == scope && c.pending != pending => {
            c.pending = pending;
            put_json(&db, CONTEXT, &current_key(), Some(&c)).await
        }
        _ => Ok(()),
    }
}

/// How often the user of the moment wants automatic exports (`Request::SetExportPlan`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportPlan {
    pub user: String,
    pub every: ledgerline_core::backups::Every,
    pub kept: u32,
}

fn plan_key() -> JsValue {
    JsValue::from_str("exports")
}

pub async fn set_export_plan(plan: &ExportPlan) -> CloudResult<()> {
    put_json(&*open().await?, CONTEXT, &plan_key(), Some(plan)).await
}

pub async fn export_plan() -> CloudResult<Option<ExportPlan>> {
    get_json(&*open().await?, &plan_key()).await
}

/// Forgets everything of `user` the service worker would use: its inbox, and the
/// context and export plan if they are its.
pub async fn remove_user(user: &str) -> CloudResult<usize> {
    let db = open().await?;
    let mut n = crate::idb::delete_user(&db, &[INBOX], user).await?;
    if read_current(&db)
        .await?
        .is_some_and(|c| c.context.user == user)
    {
        put_json::<Current>(&db, CONTEXT, &current_key(), None).await?;
        n += 1;
    }
    if get_json::<ExportPlan>(&db, &plan_key())
        .await?
        .is_some_and(|p| p.user == user)
    {
        put_json::<ExportPlan>(&db, CONTEXT, &plan_key(), None).await?;
        n += 1;
    }
    Ok(n)
}

fn inbox_key(scope: &str, at: f64) -> JsValue {
    JsValue::from_str(&format!("{scope}|{:015}", at.max(0.0) as u64))
}

/// Keeps what a job learned for `scope`; returns the entry's time.
pub async fn inbox_add(scope: &str, take: Vec<Take>, kept: u32) -> CloudResult<f64> {
    let db = open().await?;
    let mut at = js_sys::Date::now();
    // two jobs in the same millisecond keep two entries
    while all_of::<InboxItem>(&db, INBOX, scope)
        .await?
        .iter()
        .any(|i| i.at as u64 == at as u64)
    {
        at += 1.0;
    }
    let item = InboxItem { at, take, kept };
    put_json(&db, INBOX, &inbox_key(scope, at), Some(&item)).await?;
    Ok(at)
}

/// What waits in the inbox of `scope`, oldest first.
pub async fn inbox(scope: &str) -> CloudResult<Vec<InboxItem>> {
    all_of(&*open().await?, INBOX, scope).await
}

/// The page stored and acknowledged these entries.
pub async fn inbox_done(scope: &str, at: &[f64]) -> CloudResult<()> {
    let db = open().await?;
    for a in at {
        put_json::<InboxItem>(&db, INBOX, &inbox_key(scope, *a), None).await?;
    }
    Ok(())
}
