//! The durable sync queue in IndexedDB and its replay into DynamoDB with
//! TransactWriteItems. The decisions (coalescing, batches, conflicts) are
//! `ledgerline_core::sync`'s; this module does the I/O.
//!
//! Stores (keys are `<user>|<invoiceId>`, values JSON):
//! - `queue`: one pending [`QueueOp`] per invoice;
//! - `synced`: the version DynamoDB had when this device last wrote or read the item;
//! - `conflicts`: local versions set aside when DynamoDB won.

use crate::dynamo::failure;
use crate::idb::user_range;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use futures_util::StreamExt;
use ledgerline_core::checksum::verify;
use ledgerline_core::errors::{classify, ErrorClass, Failure};
use ledgerline_core::model::Invoice;
use ledgerline_core::sync::{
    base_for, enqueue, plan_batches, sent_mark, Conflict, OpKind, QueueOp,
};
use rexie::{Rexie, TransactionMode};
use serde::Serialize;
use std::collections::HashMap;
use wasm_bindgen::JsValue;

const DB: &str = "ledgerline-sync";
const QUEUE: &str = "queue";
const SYNCED: &str = "synced";
const CONFLICTS: &str = "conflicts";

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

fn key(user: &str, id: &str) -> JsValue {
    JsValue::from_str(&format!("{user}|{id}"))
}

async fn open() -> Result<std::rc::Rc<Rexie>, String> {
    crate::idb::open(DB, &[(QUEUE, false), (SYNCED, false), (CONFLICTS, false)]).await
}

/// How many operations wait for `user` (counted by IndexedDB, nothing parsed).
async fn count(db: &Rexie, user: &str) -> Result<usize, String> {
    let range = user_range(user)?;
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

async fn put_json<T: Serialize>(
    db: &Rexie,
    store: &str,
    k: &JsValue,
    v: Option<&T>,
) -> Result<(), String> {
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

async fn all_of<T: serde::de::DeserializeOwned>(
    db: &Rexie,
    store: &str,
    user: &str,
) -> Result<Vec<T>, String> {
    let range = user_range(user)?;
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

/// Reads and rewrites one invoice's queue entry (and optionally its synced version) in
/// a single IndexedDB transaction, so a replay finishing and a new save can never
/// overwrite each other's changes.
async fn update<F>(db: &Rexie, user: &str, id: &str, f: F) -> Result<(), String>
where
    F: FnOnce(Option<QueueOp>, Option<u64>) -> (Option<QueueOp>, Option<Option<u64>>),
{
    let tx = db
        .transaction(&[QUEUE, SYNCED], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    update_in(&queue, &synced, user, id, f).await?;
    tx.done().await.map_err(err)?;
    Ok(())
}

/// [`update`] inside a transaction the caller holds (several invoices, one transaction).
async fn update_in<F>(
    queue: &rexie::Store,
    synced: &rexie::Store,
    user: &str,
    id: &str,
    f: F,
) -> Result<(), String>
where
    F: FnOnce(Option<QueueOp>, Option<u64>) -> (Option<QueueOp>, Option<Option<u64>>),
{
    let k = key(user, id);
    let parse = |v: Option<JsValue>| v.and_then(|v| v.as_string());
    let current: Option<QueueOp> =
        parse(queue.get(k.clone()).await.map_err(err)?).and_then(|s| serde_json::from_str(&s).ok());
    let base: Option<u64> =
        parse(synced.get(k.clone()).await.map_err(err)?).and_then(|s| s.parse().ok());
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
                .put(&JsValue::from_str(&v.to_string()), Some(&k))
                .await
                .map_err(err)?;
        }
        Some(None) => synced.delete(k).await.map_err(err)?,
        None => {}
    }
    Ok(())
}

/// Queues a change of one invoice for `user`, coalesced with what is already queued.
pub async fn add(user: &str, invoice_id: &str, kind: OpKind) -> Result<usize, String> {
    let db = open().await?;
    let id = invoice_id.to_string();
    update(&db, user, invoice_id, move |current, synced| {
        let mut one: Vec<QueueOp> = current.into_iter().collect();
        enqueue(
            &mut one,
            QueueOp {
                invoice_id: id,
                base_version: base_for(&kind, synced),
                kind,
                queued_at: js_sys::Date::now() as u64,
                attempts: 0,
                last_error: None,
                sent: None,
            },
        );
        (one.pop(), None)
    })
    .await?;
    count(&db, user).await
}

pub async fn pending(user: &str) -> Result<usize, String> {
    let db = open().await?;
    count(&db, user).await
}

pub async fn conflicts(user: &str) -> Result<Vec<Conflict>, String> {
    let db = open().await?;
    all_of(&db, CONFLICTS, user).await
}

pub async fn drop_conflict(user: &str, invoice_id: &str, at: u64) -> Result<(), String> {
    let db = open().await?;
    let c = Conflict {
        invoice_id: invoice_id.to_string(),
        local: None,
        remote: None,
        at,
    };
    put_json::<Conflict>(&db, CONFLICTS, &conflict_key(user, &c), None).await
}

/// What one replay did.
#[derive(Debug, Default)]
pub struct Replayed {
    pub sent: usize,
    pub pending: usize,
    pub conflicts: Vec<Conflict>,
    /// Why it stopped early, if it did.
    pub failed: Option<ErrorClass>,
    /// Operations refused for good (an item over 400 KB).
    pub refused: Vec<String>,
}

fn item(user: &str, inv: &Invoice) -> HashMap<String, AttributeValue> {
    let content = serde_json::to_string(&inv.content).unwrap_or_default();
    HashMap::from([
        ("userId".to_string(), AttributeValue::S(user.to_string())),
        ("invoiceId".to_string(), AttributeValue::S(inv.id.clone())),
        (
            "version".to_string(),
            AttributeValue::N(inv.version.to_string()),
        ),
        (
            "updatedAt".to_string(),
            AttributeValue::S(inv.updated_at.clone()),
        ),
        (
            "checksum".to_string(),
            AttributeValue::S(inv.checksum.clone()),
        ),
        (
            "number".to_string(),
            AttributeValue::S(inv.content.number.clone()),
        ),
        ("content".to_string(), AttributeValue::S(content)),
    ])
}

/// Reads DynamoDB's invoice back into a record; None if missing or damaged.
pub fn decode(it: &HashMap<String, AttributeValue>) -> Option<Invoice> {
    let s = |k: &str| it.get(k).and_then(|v| v.as_s().ok()).cloned();
    let version = it
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())?;
    let inv = Invoice {
        id: s("invoiceId")?,
        content: serde_json::from_str(&s("content")?).ok()?,
        version,
        updated_at: s("updatedAt").unwrap_or_default(),
        checksum: s("checksum").unwrap_or_default(),
    };
    verify(&inv).then_some(inv)
}

fn condition(base: Option<u64>) -> (String, Option<(String, AttributeValue)>) {
    match base {
        None => ("attribute_not_exists(invoiceId)".into(), None),
        Some(v) => (
            "version = :base".into(),
            Some((":base".into(), AttributeValue::N(v.to_string()))),
        ),
    }
}

fn action(table: &str, user: &str, op: &QueueOp) -> Option<TransactWriteItem> {
    let (cond, value) = condition(op.base_version);
    match &op.kind {
        OpKind::Put(inv) => {
            let mut p = Put::builder()
                .table_name(table)
                .set_item(Some(item(user, inv)))
                .condition_expression(cond);
            if let Some((k, v)) = value {
                p = p.expression_attribute_values(k, v);
            }
            Some(TransactWriteItem::builder().put(p.build().ok()?).build())
        }
        OpKind::Delete => {
            let mut d = Delete::builder()
                .table_name(table)
                .key("userId", AttributeValue::S(user.to_string()))
                .key("invoiceId", AttributeValue::S(op.invoice_id.clone()))
                .condition_expression(cond);
            if let Some((k, v)) = value {
                d = d.expression_attribute_values(k, v);
            }
            Some(TransactWriteItem::builder().delete(d.build().ok()?).build())
        }
    }
}

/// One conditional write (the fallback where TransactWriteItems is not available, as on
/// dynalite): the same condition as in a transaction, one round trip per item.
async fn write_one(client: &Client, table: &str, user: &str, op: &QueueOp) -> Result<(), Failure> {
    let (cond, value) = condition(op.base_version);
    match &op.kind {
        OpKind::Put(inv) => {
            let mut p = client
                .put_item()
                .table_name(table)
                .set_item(Some(item(user, inv)))
                .condition_expression(cond);
            if let Some((k, v)) = value {
                p = p.expression_attribute_values(k, v);
            }
            p.send().await.map(|_| ()).map_err(|e| failure(&e))
        }
        OpKind::Delete => {
            let mut d = client
                .delete_item()
                .table_name(table)
                .key("userId", AttributeValue::S(user.to_string()))
                .key("invoiceId", AttributeValue::S(op.invoice_id.clone()))
                .condition_expression(cond);
            if let Some((k, v)) = value {
                d = d.expression_attribute_values(k, v);
            }
            d.send().await.map(|_| ()).map_err(|e| failure(&e))
        }
    }
}

/// How many single writes run at once in the fallback.
const PARALLEL: usize = 8;
/// Successful single writes are marked done in IndexedDB this many at a time.
const DONE_GROUP: usize = 25;

thread_local! {
    /// The endpoint answered TransactWriteItems with UnknownOperation (dynalite): later
    /// replays go straight to single writes instead of asking again each time.
    static NO_TRANSACTIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A new client (another endpoint or credentials): ask about transactions again.
pub fn forget_endpoint_features() {
    NO_TRANSACTIONS.with(|c| c.set(false));
}

/// DynamoDB's copy of one invoice, read back after a failed condition.
enum Remote {
    Absent,
    Intact(Invoice),
    /// There, but failing its checksum (or unreadable): its version, if readable.
    Damaged(Option<u64>),
}

async fn remote_copy(
    client: &Client,
    table: &str,
    user: &str,
    id: &str,
) -> Result<Remote, Failure> {
    let out = client
        .get_item()
        .table_name(table)
        .key("userId", AttributeValue::S(user.to_string()))
        .key("invoiceId", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    Ok(match out.item() {
        None => Remote::Absent,
        Some(it) => match decode(it) {
            Some(inv) => Remote::Intact(inv),
            None => Remote::Damaged(
                it.get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok()),
            ),
        },
    })
}

/// Marks one operation done: DynamoDB now has `op` (or, for a delete, nothing). A newer
/// change queued meanwhile stays queued, now based on the version just written.
async fn done(db: &Rexie, user: &str, op: &QueueOp) -> Result<(), String> {
    done_all(db, user, &[op]).await
}

/// Rewrites the queue entries of a batch (and optionally their synced versions) in one
/// IndexedDB transaction, with every read issued at once and then every write at once
/// (one request after the other costs an event-loop turn each: a 100-action batch paid
/// hundreds of them). `f(op, current)` gives the entry's new state and synced change.
async fn update_many<F>(db: &Rexie, user: &str, ops: &[&QueueOp], f: F) -> Result<(), String>
where
    F: Fn(&QueueOp, Option<QueueOp>) -> (Option<QueueOp>, Option<Option<u64>>),
{
    if ops.is_empty() {
        return Ok(());
    }
    let tx = db
        .transaction(&[QUEUE, SYNCED], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    let keys: Vec<JsValue> = ops.iter().map(|op| key(user, &op.invoice_id)).collect();
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
        let (queue, synced, k) = (&queue, &synced, k.clone());
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
        match new_synced {
            Some(Some(v)) => writes.push(Box::pin(async move {
                synced
                    .put(&JsValue::from_str(&v.to_string()), Some(&k))
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

/// [`done`] for a whole batch, in one IndexedDB transaction.
async fn done_all(db: &Rexie, user: &str, ops: &[&QueueOp]) -> Result<(), String> {
    update_many(db, user, ops, |op, current| {
        let written = match &op.kind {
            OpKind::Put(inv) => Some(inv.version),
            OpKind::Delete => None,
        };
        match current {
            Some(c) if c.kind != op.kind => {
                let mut newer = c;
                newer.base_version = written;
                newer.sent = None;
                (Some(newer), Some(written))
            }
            _ => (None, Some(written)),
        }
    })
    .await
}

/// Records, before they go, what the operations of a batch send (see [`QueueOp::sent`]);
/// an earlier unconfirmed mark stays (that write may have landed unanswered). Returns the
/// operations still queued as they are: one cancelled meanwhile (a delete of a put never
/// sent) is not sent at all.
async fn mark_sent<'a>(
    db: &Rexie,
    user: &str,
    ops: &[&'a QueueOp],
) -> Result<Vec<&'a QueueOp>, String> {
    let still = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let keep = still.clone();
    update_many(db, user, ops, |op, current| {
        let Some(mut c) = current else {
            // gone meanwhile: nothing to mark, nothing to send
            return (None, None);
        };
        if c.kind == op.kind {
            keep.borrow_mut().push(op.invoice_id.clone());
            if c.sent.is_none() {
                c.sent = Some(sent_mark(&op.kind));
            }
        }
        (Some(c), None)
    })
    .await?;
    let still = still.borrow();
    Ok(ops
        .iter()
        .copied()
        .filter(|op| still.contains(&op.invoice_id))
        .collect())
}

/// Whether DynamoDB already holds exactly what `op` wanted: an earlier attempt landed but
/// its answer was lost (the connection or the server died on the way back). Not a conflict.
fn landed(op: &QueueOp, remote: Option<&Invoice>) -> bool {
    match (&op.kind, remote) {
        (OpKind::Put(mine), Some(r)) => r.version == mine.version && r.checksum == mine.checksum,
        (OpKind::Delete, None) => true,
        _ => false,
    }
}

/// What a failed condition turned out to be.
enum Outcome {
    /// DynamoDB moved on: its copy becomes the local one, ours is kept for review.
    Conflict(Box<Conflict>),
    /// DynamoDB already had exactly this write (an answer lost on the way back): done.
    Landed,
    /// DynamoDB's item is damaged: the operation stays queued, now based on the damaged
    /// item's version, so that the next round overwrites (or deletes) it with ours.
    Rebased,
    /// DynamoDB's item is damaged beyond that: the operation is set apart.
    SetApart,
}

/// A failed condition: see [`Outcome`]. The local version kept aside is the newest
/// queued state of the invoice (a save made while the write was in flight included).
async fn conflict(
    db: &Rexie,
    client: &Client,
    table: &str,
    user: &str,
    op: &QueueOp,
) -> Result<Result<Outcome, Failure>, String> {
    let remote = match remote_copy(client, table, user, &op.invoice_id).await {
        Ok(Remote::Damaged(version)) if version.is_none() || version == op.base_version => {
            // no usable version, or a write based on it failed already: set apart (see
            // plan_batches) instead of trying forever; the user is told
            failed(db, user, &[op], ErrorClass::RequestInvalid).await?;
            return Ok(Ok(Outcome::SetApart));
        }
        Ok(Remote::Damaged(version)) => {
            let version = version.unwrap_or_default();
            update(db, user, &op.invoice_id, move |current, _| {
                let next = current.map(|mut c| {
                    c.base_version = Some(version);
                    c
                });
                (next, Some(Some(version)))
            })
            .await?;
            return Ok(Ok(Outcome::Rebased));
        }
        Ok(Remote::Intact(r)) => Some(r),
        Ok(Remote::Absent) => None,
        Err(f) => return Ok(Err(f)),
    };
    if landed(op, remote.as_ref()) {
        done(db, user, op).await?;
        return Ok(Ok(Outcome::Landed));
    }
    // an earlier send of this entry landed unanswered, and a newer save replaced what the
    // entry sends since: DynamoDB has our own previous write, so the newer one goes on top
    if let Some(r) = &remote {
        let mine = (r.version, r.checksum.clone());
        let rebased = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = rebased.clone();
        update(db, user, &op.invoice_id, move |current, _| match current {
            Some(mut c) if c.sent.as_ref() == Some(&mine) => {
                flag.set(true);
                c.base_version = Some(mine.0);
                c.sent = None;
                (Some(c), Some(Some(mine.0)))
            }
            other => (other, None),
        })
        .await?;
        if rebased.get() {
            return Ok(Ok(Outcome::Rebased));
        }
    }
    let remote_version = remote.as_ref().map(|r| r.version);
    let sent = op.kind.clone();
    let local = std::rc::Rc::new(std::cell::RefCell::new(None));
    let keep = local.clone();
    // the queue entry goes and the conflict is recorded in one transaction: never the one
    // without the other
    let tx = db
        .transaction(&[QUEUE, SYNCED, CONFLICTS], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    let conflicts = tx.store(CONFLICTS).map_err(err)?;
    update_in(&queue, &synced, user, &op.invoice_id, move |current, _| {
        let kind = current.map(|c| c.kind).unwrap_or(sent);
        *keep.borrow_mut() = match kind {
            OpKind::Put(inv) => Some(*inv),
            OpKind::Delete => None,
        };
        (None, Some(remote_version))
    })
    .await?;
    let c = Conflict {
        invoice_id: op.invoice_id.clone(),
        local: local.borrow_mut().take(),
        remote,
        at: js_sys::Date::now() as u64,
    };
    let text = serde_json::to_string(&c).map_err(err)?;
    conflicts
        .put(&JsValue::from_str(&text), Some(&conflict_key(user, &c)))
        .await
        .map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(Ok(Outcome::Conflict(Box::new(c))))
}

/// Conflicts are kept per invoice and time: a second conflict on the same invoice never
/// overwrites a first one the user has not reviewed yet.
fn conflict_key(user: &str, c: &Conflict) -> JsValue {
    JsValue::from_str(&format!("{user}|{}|{:015}", c.invoice_id, c.at))
}

/// The user's queued operations and synced versions, by invoice id.
pub async fn queued_and_synced(
    user: &str,
) -> Result<(HashMap<String, QueueOp>, HashMap<String, u64>), String> {
    let db = open().await?;
    let queued: Vec<QueueOp> = all_of(&db, QUEUE, user).await?;
    let prefix = format!("{user}|");
    let synced = crate::idb::user_entries(&db, SYNCED, user)
        .await?
        .into_iter()
        .filter_map(|(k, v)| {
            let id = k.as_string()?.strip_prefix(&prefix)?.to_string();
            let v = v.as_string()?.parse().ok()?;
            Some((id, v))
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

/// Records DynamoDB's version of an invoice (None: gone there) and drops its queued
/// operation if it is still `seen` (what the pull read at its start). A change queued
/// since (the user saved during the pull) stays queued on its old base: its write fails
/// the condition and takes the conflict path, so it is kept, never dropped.
pub async fn forget_queued_and_set_synced(
    user: &str,
    id: &str,
    version: Option<u64>,
    seen: Option<&QueueOp>,
) -> Result<(), String> {
    let db = open().await?;
    let seen = seen.cloned();
    update(&db, user, id, move |current, _| {
        let keep = match (&current, &seen) {
            (Some(c), Some(s)) => c.kind != s.kind,
            (Some(_), None) => true,
            (None, _) => false,
        };
        (current.filter(|_| keep), Some(version))
    })
    .await
}

/// Keeps a local version aside because DynamoDB's won.
pub async fn record_conflict(
    user: &str,
    id: &str,
    local: Option<Invoice>,
    remote: Option<Invoice>,
) -> Result<Conflict, String> {
    let db = open().await?;
    let c = Conflict {
        invoice_id: id.to_string(),
        local,
        remote,
        at: js_sys::Date::now() as u64,
    };
    put_json(&db, CONFLICTS, &conflict_key(user, &c), Some(&c)).await?;
    Ok(c)
}

/// Counts a failed attempt on operations still queued as they were sent.
async fn failed(db: &Rexie, user: &str, ops: &[&QueueOp], class: ErrorClass) -> Result<(), String> {
    for op in ops {
        update(db, user, &op.invoice_id, |current, _| match current {
            Some(mut c) if c.kind == op.kind => {
                c.attempts += 1;
                c.last_error = Some(class);
                (Some(c), None)
            }
            other => (other, None),
        })
        .await?;
    }
    Ok(())
}

/// Sends everything queued for `user`, in transactions of up to 100 conditional writes
/// (TransactWriteItems: one round trip per 100). A failed condition is a conflict:
/// DynamoDB's version is returned to become the local one and the local version is kept
/// in the conflicts store. Items of a cancelled transaction that were not at fault go
/// again in the next round. Where the endpoint has no transactions (dynalite), the same
/// conditional writes go one by one, `PARALLEL` at a time. Stops at the first failure of
/// another kind (network, credentials, ...), leaving the rest queued.
pub async fn replay(
    client: &Client,
    table: &str,
    user: &str,
    worked: bool,
) -> Result<Replayed, String> {
    let db = open().await?;
    let mut out = Replayed::default();
    let mut transactions = !NO_TRANSACTIONS.with(|c| c.get());
    let total = count(&db, user).await?;
    let progress = Progress::new(user, total);
    // each round makes progress or stops; bounded anyway
    for _round in 0..1000 {
        let mut ops: Vec<QueueOp> = all_of(&db, QUEUE, user).await?;
        ops.sort_by_key(|o| o.queued_at);
        let (batches, too_big) = plan_batches(&ops);
        out.refused = too_big.iter().map(|i| ops[*i].invoice_id.clone()).collect();
        let Some(batch) = batches.first() else { break };
        let batch: Vec<&QueueOp> = batch.iter().map(|i| &ops[*i]).collect();
        // a newer save of an invoice since the queue was read is sent in a later round
        let batch = mark_sent(&db, user, &batch).await?;
        if batch.is_empty() {
            continue;
        }
        if transactions {
            let actions: Vec<TransactWriteItem> = batch
                .iter()
                .filter_map(|op| action(table, user, op))
                .collect();
            match client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await
            {
                Ok(_) => {
                    done_all(&db, user, &batch).await?;
                    out.sent += batch.len();
                    progress.tell(out.sent + out.conflicts.len());
                    continue;
                }
                Err(e) => {
                    let f = failure(&e);
                    if f.code.as_deref() == Some("UnknownOperationException") {
                        transactions = false; // fall through to single writes
                        NO_TRANSACTIONS.with(|c| c.set(true));
                    } else if let Some(reasons) = cancellation_reasons(&e) {
                        let mut conflicted = 0;
                        for (pos, op) in batch.iter().enumerate() {
                            match reasons.get(pos).and_then(|r| r.as_deref()) {
                                Some("ConditionalCheckFailed") => {}
                                Some("ValidationError") => {
                                    // this item is refused; set apart, the rest go on
                                    failed(&db, user, &[*op], ErrorClass::RequestInvalid).await?;
                                    conflicted += 1;
                                    continue;
                                }
                                _ => continue,
                            }
                            conflicted += 1;
                            match conflict(&db, client, table, user, op).await? {
                                Ok(Outcome::Conflict(c)) => out.conflicts.push(*c),
                                Ok(Outcome::Landed) => out.sent += 1,
                                Ok(Outcome::Rebased) => {}
                                Ok(Outcome::SetApart) => out.refused.push(op.invoice_id.clone()),
                                Err(f) => {
                                    out.failed = Some(classify(&f, worked));
                                    break;
                                }
                            }
                        }
                        if out.failed.is_some() {
                            break;
                        }
                        if conflicted == 0 {
                            // cancelled for another reason (a concurrent transaction): later
                            failed(&db, user, &batch, ErrorClass::Throttled).await?;
                            out.failed = Some(ErrorClass::Throttled);
                            break;
                        }
                        continue;
                    } else if f.code.as_deref() == Some("ValidationException") {
                        // refused as a whole without saying which item: the single writes
                        // below find it, and the others still go
                    } else {
                        let class = classify(&f, worked);
                        // a request-level refusal must not set the whole batch apart
                        if class != ErrorClass::RequestInvalid {
                            failed(&db, user, &batch, class).await?;
                        }
                        out.failed = Some(class);
                        break;
                    }
                }
            }
        }
        // single conditional writes, PARALLEL in flight at any time (a sliding window: a
        // slow one never holds the others back); successes are marked done in groups
        let mut stop: Option<ErrorClass> = None;
        let mut written: Vec<&QueueOp> = Vec::new();
        // after a failure no new write starts, but those in flight are still awaited (each
        // bounded by the client's timeout), so what they did is recorded now
        let halt = std::rc::Rc::new(std::cell::Cell::new(false));
        {
            let halted = halt.clone();
            let mut results = futures_util::stream::iter(batch.iter().copied())
                .take_while(move |_| std::future::ready(!halted.get()))
                .map(|op| async move { (op, write_one(client, table, user, op).await) })
                .buffer_unordered(PARALLEL);
            while let Some((op, r)) = results.next().await {
                match r {
                    Ok(()) => {
                        written.push(op);
                        if written.len() >= DONE_GROUP {
                            done_all(&db, user, &written).await?;
                            out.sent += written.len();
                            written.clear();
                            progress.tell(out.sent + out.conflicts.len());
                        }
                    }
                    Err(f) if f.code.as_deref() == Some("ConditionalCheckFailedException") => {
                        if stop.is_some() {
                            continue; // looked at again next time
                        }
                        match conflict(&db, client, table, user, op).await? {
                            Ok(Outcome::Conflict(c)) => out.conflicts.push(*c),
                            Ok(Outcome::Landed) => out.sent += 1,
                            Ok(Outcome::Rebased) => {}
                            Ok(Outcome::SetApart) => out.refused.push(op.invoice_id.clone()),
                            Err(f) => {
                                stop = Some(classify(&f, worked));
                                halt.set(true);
                            }
                        }
                    }
                    Err(f) => {
                        let class = classify(&f, worked);
                        if f.code.as_deref() == Some("ValidationException") {
                            // this item only: set apart (see plan_batches), the rest go on
                            failed(&db, user, &[op], ErrorClass::RequestInvalid).await?;
                            out.refused.push(op.invoice_id.clone());
                            continue;
                        }
                        // about the request, not this item (a bare 400, an expired
                        // signature, ...): stop, mark nothing aside
                        if class != ErrorClass::RequestInvalid {
                            failed(&db, user, &[op], class).await?;
                        }
                        stop.get_or_insert(class);
                        halt.set(true);
                    }
                }
            }
        }
        done_all(&db, user, &written).await?;
        out.sent += written.len();
        progress.tell(out.sent + out.conflicts.len());
        if let Some(class) = stop {
            out.failed = Some(class);
            break;
        }
    }
    out.refused.sort();
    out.refused.dedup();
    out.pending = count(&db, user).await?;
    drop(progress);
    Ok(out)
}

/// "Syncing 37 of 200": told to every tab of this origin on the BroadcastChannel
/// `ledgerline-sync` as `{"user", "done", "total"}` (total 0: finished).
struct Progress {
    channel: Option<web_sys::BroadcastChannel>,
    user: String,
    total: usize,
}

impl Progress {
    fn new(user: &str, total: usize) -> Self {
        Progress {
            channel: web_sys::BroadcastChannel::new("ledgerline-sync").ok(),
            user: user.to_string(),
            total,
        }
    }
    fn post(&self, done: usize, total: usize) {
        if let Some(c) = &self.channel {
            let msg = ledgerline_core::protocol::SyncProgress {
                user: self.user.clone(),
                done: done as u32,
                total: total as u32,
            };
            let text = serde_json::to_string(&msg).unwrap_or_default();
            let _ = c.post_message(&JsValue::from_str(&text));
        }
    }
    fn tell(&self, done: usize) {
        if self.total > 0 {
            self.post(done.min(self.total), self.total);
        }
    }
    fn finish(&self) {
        self.post(0, 0);
    }
}

impl Drop for Progress {
    /// However the replay ends (an IndexedDB error returns early too), every tab is told
    /// it is over: no "Syncing" bar is left behind.
    fn drop(&mut self) {
        self.finish();
        if let Some(c) = &self.channel {
            c.close();
        }
    }
}

fn cancellation_reasons<R>(
    e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<Option<String>>> {
    match e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Some(
                c.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}
