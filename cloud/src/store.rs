//! The sync state in IndexedDB (`ledgerline-sync`), per (user, target): every key starts
//! with the scope `<user>|<endpoint>~<region>~<table>` (`ledgerline_core::sync::scope`).
//! - `queue`: one pending [`QueueOp`] per invoice (`<scope>|<id>`);
//! - `synced`: DynamoDB's version when this device last knew it (`<scope>|<id>`), and
//!   the time of the last complete pull (`<scope>#lastPull`);
//! - `conflicts`: local versions set aside when DynamoDB won (`<scope>|<id>|<at>`).
//!
//! Every change of one invoice's entries is one IndexedDB transaction, so a replay
//! finishing, a pull being acknowledged and a new save never overwrite each other.

use crate::error::CloudResult;
use crate::idb::user_range;
use ledgerline_core::sync::{
    base_of, enqueue, on_ack, Ack, Conflict, Enqueued, OpKind, QueueOp, Seen,
};
use rexie::{Rexie, TransactionMode};
use serde::Serialize;
use std::collections::HashMap;
use wasm_bindgen::JsValue;

pub(crate) const DB: &str = "ledgerline-sync";
pub(crate) const QUEUE: &str = "queue";
pub(crate) const SYNCED: &str = "synced";
pub(crate) const CONFLICTS: &str = "conflicts";

pub(crate) fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

pub(crate) fn key(scope: &str, id: &str) -> JsValue {
    JsValue::from_str(&format!("{scope}|{id}"))
}

pub(crate) async fn open() -> CloudResult<std::rc::Rc<Rexie>> {
    crate::idb::open(DB, &[(QUEUE, false), (SYNCED, false), (CONFLICTS, false)]).await
}

/// Forgets everything of `user` here, on every table: queue, synced versions, conflicts.
pub async fn remove_user(user: &str) -> CloudResult<usize> {
    crate::idb::delete_user(&*open().await?, &[QUEUE, SYNCED, CONFLICTS], user).await
}

/// How many operations wait in `scope` (counted by IndexedDB, nothing parsed).
pub(crate) async fn count(db: &Rexie, scope: &str) -> CloudResult<usize> {
    let range = user_range(scope)?;
    let tx = db
        .transaction(&[QUEUE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let n = tx
        .store(QUEUE)
        .map_err(err)?
        .count(Some(range))
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(n as usize)
}

pub(crate) async fn put_json<T: Serialize>(
    db: &Rexie,
    store: &str,
    k: &JsValue,
    v: Option<&T>,
) -> CloudResult<()> {
    let tx = db
        .transaction(&[store], TransactionMode::ReadWrite)
        .map_err(err)?;
    let s = tx.store(store).map_err(err)?;
    match v {
        Some(v) => {
            let text = serde_json::to_string(v).map_err(err)?;
            s.put(&JsValue::from_str(&text), Some(k))
                .await
                .map_err(err)?;
        }
        None => s.delete(k.clone()).await.map_err(err)?,
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

pub(crate) async fn all_of<T: serde::de::DeserializeOwned>(
    db: &Rexie,
    store: &str,
    scope: &str,
) -> CloudResult<Vec<T>> {
    let range = user_range(scope)?;
    let tx = db
        .transaction(&[store], TransactionMode::ReadOnly)
        .map_err(err)?;
    let all = tx
        .store(store)
        .map_err(err)?
        .get_all(Some(range), None)
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(all
        .into_iter()
        .filter_map(|v| v.as_string())
        .filter_map(|s| serde_json::from_str(&s).ok())
        .collect())
}

/// A change of one invoice's queue entry and synced version, decided from their current
/// values: (new entry, Some(new synced version) or None to leave it).
pub(crate) type Change = (Option<QueueOp>, Option<Option<Seen>>);

/// A synced value: `<version>` (older versions of the app) or `<version>:<checksum>`
/// ("" for a tombstone).
pub(crate) fn parse_seen(s: &str) -> Option<Seen> {
    match s.split_once(':') {
        Some((v, sum)) => Some((v.parse().ok()?, Some(sum.to_string()))),
        None => Some((s.parse().ok()?, None)),
    }
}

pub(crate) fn format_seen(s: &Seen) -> String {
    match &s.1 {
        Some(sum) => format!("{}:{sum}", s.0),
        None => s.0.to_string(),
    }
}

/// Reads and rewrites one invoice's queue entry (and optionally its synced version) in
/// a single IndexedDB transaction.
pub(crate) async fn update<F>(db: &Rexie, scope: &str, id: &str, f: F) -> CloudResult<()>
where
    F: FnOnce(Option<QueueOp>, Option<Seen>) -> Change,
{
    let tx = db
        .transaction(&[QUEUE, SYNCED], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    update_in(&queue, &synced, scope, id, f).await?;
    tx.done().await.map_err(err)?;
    Ok(())
}

/// [`update`] inside a transaction the caller holds.
pub(crate) async fn update_in<F>(
    queue: &rexie::Store,
    synced: &rexie::Store,
    scope: &str,
    id: &str,
    f: F,
) -> CloudResult<()>
where
    F: FnOnce(Option<QueueOp>, Option<Seen>) -> Change,
{
    let k = key(scope, id);
    let parse = |v: Option<JsValue>| v.and_then(|v| v.as_string());
    let current: Option<QueueOp> =
        parse(queue.get(k.clone()).await.map_err(err)?).and_then(|s| serde_json::from_str(&s).ok());
    let base: Option<Seen> =
        parse(synced.get(k.clone()).await.map_err(err)?).and_then(|s| parse_seen(&s));
    let (next, new_synced) = f(current, base);
    match next {
        Some(op) => {
            let text = serde_json::to_string(&op).map_err(err)?;
            queue
                .put(&JsValue::from_str(&text), Some(&k))
                .await
                .map_err(err)?;
        }
        None => queue.delete(k.clone()).await.map_err(err)?,
    }
    match new_synced {
        Some(Some(v)) => {
            synced
                .put(&JsValue::from_str(&format_seen(&v)), Some(&k))
                .await
                .map_err(err)?;
        }
        Some(None) => synced.delete(k).await.map_err(err)?,
        None => {}
    }
    Ok(())
}

/// Rewrites the entries of many invoices in one IndexedDB transaction, with every read
/// issued at once and then every write at once (one request after the other costs an
/// event-loop turn each: a 100-action batch paid hundreds of them). `f(op, current)`
/// gives the entry's new state and synced change.
pub(crate) async fn update_many<F>(
    db: &Rexie,
    scope: &str,
    ops: &[&QueueOp],
    f: F,
) -> CloudResult<()>
where
    F: Fn(&QueueOp, Option<QueueOp>) -> Change,
{
    if ops.is_empty() {
        return Ok(());
    }
    let tx = db
        .transaction(&[QUEUE, SYNCED], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    let keys: Vec<JsValue> = ops.iter().map(|op| key(scope, &op.invoice_id)).collect();
    let currents = futures_util::future::join_all(keys.iter().map(|k| queue.get(k.clone()))).await;
    type Write<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), rexie::Error>> + 'a>>;
    let mut writes: Vec<Write> = Vec::new();
    for ((op, k), current) in ops.iter().zip(&keys).zip(currents) {
        let current: Option<QueueOp> = current
            .map_err(err)?
            .and_then(|v| v.as_string())
            .and_then(|s| serde_json::from_str(&s).ok());
        let (next, new_synced) = f(op, current);
        let (queue, synced) = (&queue, &synced);
        match next {
            Some(next) => {
                let text = serde_json::to_string(&next).map_err(err)?;
                let k = k.clone();
                writes.push(Box::pin(async move {
                    queue
                        .put(&JsValue::from_str(&text), Some(&k))
                        .await
                        .map(|_| ())
                }));
            }
            None => {
                let k = k.clone();
                writes.push(Box::pin(async move { queue.delete(k).await }));
            }
        }
        let k = k.clone();
        match new_synced {
            Some(Some(v)) => writes.push(Box::pin(async move {
                synced
                    .put(&JsValue::from_str(&format_seen(&v)), Some(&k))
                    .await
                    .map(|_| ())
            })),
            Some(None) => writes.push(Box::pin(async move { synced.delete(k).await })),
            None => {}
        }
    }
    for r in futures_util::future::join_all(writes).await {
        r.map_err(err)?;
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

/// Rewrites one invoice's queue entry and synced version ([`update_in`]) and, in the same
/// IndexedDB transaction, keeps the conflict `f` hands back, if any: never the one
/// without the other. Returns that conflict.
pub(crate) async fn update_keeping<F>(
    db: &Rexie,
    scope: &str,
    id: &str,
    f: F,
) -> CloudResult<Option<Conflict>>
where
    F: FnOnce(Option<QueueOp>, Option<Seen>) -> (Change, Option<Conflict>),
{
    let kept = std::rc::Rc::new(std::cell::RefCell::new(None));
    let slot = kept.clone();
    let tx = db
        .transaction(&[QUEUE, SYNCED, CONFLICTS], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    let conflicts = tx.store(CONFLICTS).map_err(err)?;
    update_in(&queue, &synced, scope, id, move |current, seen| {
        let (change, conflict) = f(current, seen);
        *slot.borrow_mut() = conflict;
        change
    })
    .await?;
    let conflict = kept.borrow_mut().take();
    if let Some(c) = &conflict {
        keep_in(&conflicts, scope, vec![c.clone()]).await?;
    }
    tx.done().await.map_err(err)?;
    Ok(conflict)
}

/// Queues a change of one invoice in `scope`, coalesced with what is already queued
/// (`enqueue`'s rules). A save that neither descends from the queued one nor is
/// superseded by it is kept as a conflict, in the same IndexedDB transaction.
/// `parent`: the copy the change was built on. Returns how many changes wait.
pub async fn add(
    scope: &str,
    invoice_id: &str,
    kind: OpKind,
    parent: Option<(u64, String)>,
) -> CloudResult<usize> {
    let db = open().await?;
    let id = invoice_id.to_string();
    update_keeping(&db, scope, invoice_id, move |current, synced| {
        let mut one: Vec<QueueOp> = current.into_iter().collect();
        let (base_version, base_checksum) = base_of(&kind, synced.as_ref());
        let outcome = enqueue(
            &mut one,
            QueueOp {
                invoice_id: id.clone(),
                base_version,
                base_checksum,
                kind,
                queued_at: js_sys::Date::now() as u64,
                attempts: 0,
                last_error: None,
                sent: None,
                parent,
                superseded: Vec::new(),
            },
        );
        let conflict = match outcome {
            Enqueued::Displaced(other) => Some(Conflict {
                invoice_id: id,
                local: Some(*other),
                remote: None,
                remote_version: None,
                damaged_remote: None,
                record: None,
                at: js_sys::Date::now() as u64,
            }),
            _ => None,
        };
        ((one.pop(), None), conflict)
    })
    .await?;
    count(&db, scope).await
}

pub async fn pending(scope: &str) -> CloudResult<usize> {
    let db = open().await?;
    count(&db, scope).await
}

pub async fn conflicts(scope: &str) -> CloudResult<Vec<Conflict>> {
    let db = open().await?;
    all_of(&db, CONFLICTS, scope).await
}

/// Conflicts are kept per invoice and time: a second conflict on the same invoice never
/// overwrites a first one the user has not reviewed yet.
pub(crate) fn conflict_key(scope: &str, c: &Conflict) -> JsValue {
    JsValue::from_str(&format!("{scope}|{}|{:015}", c.invoice_id, c.at))
}

pub async fn drop_conflict(scope: &str, invoice_id: &str, at: u64) -> CloudResult<()> {
    let db = open().await?;
    let c = Conflict {
        invoice_id: invoice_id.to_string(),
        local: None,
        remote: None,
        remote_version: None,
        damaged_remote: None,
        record: None,
        at,
    };
    put_json::<Conflict>(&db, CONFLICTS, &conflict_key(scope, &c), None).await
}

/// Keeps local versions aside (DynamoDB's won, or a stale editor's draft), unless the
/// same loss is already kept (a pull or replay interrupted and run again). Returns the
/// ones newly kept.
pub async fn keep_conflicts(scope: &str, items: Vec<Conflict>) -> CloudResult<Vec<Conflict>> {
    if items.is_empty() {
        return Ok(items);
    }
    let db = open().await?;
    let tx = db
        .transaction(&[CONFLICTS], TransactionMode::ReadWrite)
        .map_err(err)?;
    let kept = keep_in(&tx.store(CONFLICTS).map_err(err)?, scope, items).await?;
    tx.done().await.map_err(err)?;
    Ok(kept)
}

/// Stores in `conflicts` (a store of a read-write transaction) the losses not already
/// there, and returns them. Read and written in the caller's one transaction: IndexedDB
/// runs read-write transactions on a store one after another, so two keeps of the same
/// loss (a replay's and a pull's, racing) never both miss each other and store it twice.
async fn keep_in(
    conflicts: &rexie::Store,
    scope: &str,
    items: Vec<Conflict>,
) -> CloudResult<Vec<Conflict>> {
    let existing: Vec<Conflict> = conflicts
        .get_all(Some(user_range(scope)?), None)
        .await
        .map_err(err)?
        .into_iter()
        .filter_map(|v| v.as_string())
        .filter_map(|s| serde_json::from_str(&s).ok())
        .collect();
    let mut kept: Vec<Conflict> = Vec::new();
    for c in items {
        if !existing.iter().chain(kept.iter()).any(|k| k.same_as(&c)) {
            kept.push(c);
        }
    }
    let mut writes = Vec::new();
    for c in &kept {
        let text = serde_json::to_string(c).map_err(err)?;
        let k = conflict_key(scope, c);
        writes.push(async move { conflicts.put(&JsValue::from_str(&text), Some(&k)).await });
    }
    for r in futures_util::future::join_all(writes).await {
        r.map_err(err)?;
    }
    Ok(kept)
}

/// A stand-in entry naming one invoice, for [`update_many`] over ids.
fn naming(id: &str) -> QueueOp {
    QueueOp {
        invoice_id: id.to_string(),
        kind: OpKind::Delete,
        base_version: None,
        base_checksum: None,
        queued_at: 0,
        attempts: 0,
        last_error: None,
        sent: None,
        parent: None,
        superseded: Vec::new(),
    }
}

/// The page's acknowledgements: localStorage holds DynamoDB's versions now (or no longer
/// holds the deleted invoices). Only now are they marked synced, and the queued changes
/// the decisions saw dropped. `pulled_at`: a complete pull that started then.
pub async fn ack(scope: &str, acks: &[Ack], pulled_at: Option<f64>) -> CloudResult<usize> {
    let db = open().await?;
    let ops: Vec<QueueOp> = acks.iter().map(|a| naming(&a.invoice_id)).collect();
    let refs: Vec<&QueueOp> = ops.iter().collect();
    update_many(&db, scope, &refs, |op, current| {
        match acks.iter().find(|a| a.invoice_id == op.invoice_id) {
            Some(a) => {
                let (next, synced) = on_ack(current, a);
                (next, Some(Some(synced)))
            }
            None => (current, None),
        }
    })
    .await?;
    if let Some(at) = pulled_at {
        put_json(&db, SYNCED, &last_pull_key(scope), Some(&at)).await?;
    }
    count(&db, scope).await
}

fn last_pull_key(scope: &str) -> JsValue {
    JsValue::from_str(&format!("{scope}#lastPull"))
}

/// When this device last completed a pull of `scope` (milliseconds since the epoch).
pub async fn last_pull(scope: &str) -> CloudResult<Option<f64>> {
    let db = open().await?;
    let tx = db
        .transaction(&[SYNCED], TransactionMode::ReadOnly)
        .map_err(err)?;
    let v = tx
        .store(SYNCED)
        .map_err(err)?
        .get(last_pull_key(scope))
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(v.and_then(|v| v.as_string())
        .and_then(|s| serde_json::from_str(&s).ok()))
}

/// The queued operations and synced versions of `scope`, by invoice id.
pub async fn queued_and_synced(
    scope: &str,
) -> CloudResult<(HashMap<String, QueueOp>, HashMap<String, Seen>)> {
    let db = open().await?;
    let queued: Vec<QueueOp> = all_of(&db, QUEUE, scope).await?;
    let prefix = format!("{scope}|");
    let synced = crate::idb::user_entries(&db, SYNCED, scope)
        .await?
        .into_iter()
        .filter_map(|(k, v)| {
            let id = k.as_string()?.strip_prefix(&prefix)?.to_string();
            Some((id, parse_seen(&v.as_string()?)?))
        })
        .collect();
    Ok((
        queued
            .into_iter()
            .map(|q| (q.invoice_id.clone(), q))
            .collect(),
        synced,
    ))
}

/// Records what DynamoDB has for some invoices (`synced`: Some(seen), or None: nothing)
/// and applies `step` to their queue entries, for the pull's decisions that do not wait
/// for the page (this device already holds DynamoDB's version, or only the queued
/// change's base moves).
pub async fn apply_worker_steps(
    scope: &str,
    steps: &[(String, Option<Seen>, WorkerStep)],
) -> CloudResult<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let db = open().await?;
    let ops: Vec<QueueOp> = steps.iter().map(|(id, _, _)| naming(id)).collect();
    let refs: Vec<&QueueOp> = ops.iter().collect();
    update_many(&db, scope, &refs, |op, current| {
        let Some((_, synced, step)) = steps.iter().find(|(id, _, _)| *id == op.invoice_id) else {
            return (current, None);
        };
        let next = match step {
            WorkerStep::Record => current,
            WorkerStep::Rebase => current.map(|mut c| {
                if let Some((v, sum)) = synced {
                    c.base_version = Some(*v);
                    c.base_checksum = sum.clone();
                    if let Some(sum) = sum.as_ref().filter(|s| !s.is_empty()) {
                        c.parent = Some((*v, sum.clone()));
                    }
                }
                c.sent = None;
                c
            }),
            WorkerStep::Drop(seen) => {
                current.filter(|c| ledgerline_core::sync::sent_mark(&c.kind) != *seen)
            }
        };
        (next, Some(synced.clone()))
    })
    .await
}

/// What [`apply_worker_steps`] does to a queue entry.
#[derive(Debug, Clone)]
pub enum WorkerStep {
    /// Leave it; only the synced version changes.
    Record,
    /// Its base becomes DynamoDB's version (our own earlier write landed, or the copy it
    /// was built on is there, or a damaged item is to be overwritten).
    Rebase,
    /// Drop it if it is still this change (its sent mark): DynamoDB has it already.
    Drop((u64, String)),
}

thread_local! {
    static MIGRATED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Sync state written before it was kept per target (keys `<user>|<id>`, conflicts
/// `<user>|<id>|<at>`) moves under `scope`, once per user and worker, before anything
/// else touches that user's state: nothing queued or kept for review by an older version
/// of the app is left behind. A legacy queue entry and a newer one of the same invoice
/// are merged by the queue's own rules (the legacy entry's base and sent mark stay).
pub async fn migrate_legacy(user: &str, scope: &str) -> CloudResult<()> {
    if MIGRATED.with(|m| m.borrow().iter().any(|u| u == user)) {
        return Ok(());
    }
    let db = open().await?;
    let prefix = format!("{user}|");
    for store in [QUEUE, SYNCED, CONFLICTS] {
        let entries = crate::idb::user_entries(&db, store, user).await?;
        let legacy: Vec<(JsValue, String, JsValue)> = entries
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.as_string()?.strip_prefix(&prefix)?.to_string();
                // scoped keys always hold the target's '~'
                (!rest.contains('~')).then_some((k, rest, v))
            })
            .collect();
        if legacy.is_empty() {
            continue;
        }
        let tx = db
            .transaction(&[store], TransactionMode::ReadWrite)
            .map_err(err)?;
        let s = tx.store(store).map_err(err)?;
        for (old, rest, v) in legacy {
            let new = JsValue::from_str(&format!("{scope}|{rest}"));
            let existing = s.get(new.clone()).await.map_err(err)?;
            match (store, existing) {
                (_, None) => s.put(&v, Some(&new)).await.map(|_| ()).map_err(err)?,
                (QUEUE, Some(newer)) => match merge_queued(&v, &newer) {
                    Some(Some(m)) => s.put(&m, Some(&new)).await.map(|_| ()).map_err(err)?,
                    // a delete of a put never sent: nothing left to send
                    Some(None) => s.delete(new).await.map_err(err)?,
                    None => {}
                },
                // a newer synced version or conflict under the scope wins
                (_, Some(_)) => {}
            }
            s.delete(old).await.map_err(err)?;
        }
        tx.done().await.map_err(err)?;
    }
    MIGRATED.with(|m| m.borrow_mut().push(user.to_string()));
    Ok(())
}

/// A legacy queue entry with a newer one of the same invoice on top (`enqueue`'s rules):
/// Some(the merged entry, or None if they cancel out); None when either cannot be read
/// (the newer one then stays as it is).
fn merge_queued(legacy: &JsValue, newer: &JsValue) -> Option<Option<JsValue>> {
    let old: QueueOp = serde_json::from_str(&legacy.as_string()?).ok()?;
    let new: QueueOp = serde_json::from_str(&newer.as_string()?).ok()?;
    let mut one = vec![old];
    let _ = enqueue(&mut one, new);
    Some(match one.pop() {
        Some(op) => Some(JsValue::from_str(&serde_json::to_string(&op).ok()?)),
        None => None,
    })
}
