//! The durable sync queue in IndexedDB and its replay into DynamoDB with
//! TransactWriteItems. The decisions (coalescing, batches, conflicts) are
//! `ledgerline_core::sync`'s; this module does the I/O.
//!
//! Stores (keys are `<user>|<invoiceId>`, values JSON):
//! - `queue`: one pending [`QueueOp`] per invoice;
//! - `synced`: the version DynamoDB had when this device last wrote or read the item;
//! - `conflicts`: local versions set aside when DynamoDB won.

use crate::dynamo::failure;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use futures_util::StreamExt;
use ledgerline_core::checksum::verify;
use ledgerline_core::errors::{classify, ErrorClass, Failure};
use ledgerline_core::model::Invoice;
use ledgerline_core::sync::{enqueue, plan_batches, Conflict, OpKind, QueueOp};
use rexie::{KeyRange, Rexie, TransactionMode};
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

/// Every key of one user: `<user>|` up to `<user>|\u{ffff}`.
fn user_range(user: &str) -> Result<KeyRange, String> {
    KeyRange::bound(
        &JsValue::from_str(&format!("{user}|")),
        &JsValue::from_str(&format!("{user}|\u{ffff}")),
        Some(false),
        Some(false),
    )
    .map_err(err)
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
                kind,
                base_version: synced,
                queued_at: js_sys::Date::now() as u64,
                attempts: 0,
                last_error: None,
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

pub async fn drop_conflict(user: &str, invoice_id: &str) -> Result<(), String> {
    let db = open().await?;
    put_json::<Conflict>(&db, CONFLICTS, &key(user, invoice_id), None).await
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

async fn remote_copy(
    client: &Client,
    table: &str,
    user: &str,
    id: &str,
) -> Result<Option<Invoice>, Failure> {
    let out = client
        .get_item()
        .table_name(table)
        .key("userId", AttributeValue::S(user.to_string()))
        .key("invoiceId", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    Ok(out.item().and_then(decode))
}

/// Marks one operation done: DynamoDB now has `op` (or, for a delete, nothing). A newer
/// change queued meanwhile stays queued, now based on the version just written.
async fn done(db: &Rexie, user: &str, op: &QueueOp) -> Result<(), String> {
    done_all(db, user, &[op]).await
}

/// [`done`] for a whole batch, in one IndexedDB transaction.
async fn done_all(db: &Rexie, user: &str, ops: &[&QueueOp]) -> Result<(), String> {
    if ops.is_empty() {
        return Ok(());
    }
    let tx = db
        .transaction(&[QUEUE, SYNCED], TransactionMode::ReadWrite)
        .map_err(err)?;
    let queue = tx.store(QUEUE).map_err(err)?;
    let synced = tx.store(SYNCED).map_err(err)?;
    for op in ops {
        let written = match &op.kind {
            OpKind::Put(inv) => Some(inv.version),
            OpKind::Delete => None,
        };
        update_in(
            &queue,
            &synced,
            user,
            &op.invoice_id,
            |current, _| match current {
                Some(c) if c.kind != op.kind => {
                    let mut newer = c;
                    newer.base_version = written;
                    (Some(newer), Some(written))
                }
                _ => (None, Some(written)),
            },
        )
        .await?;
    }
    tx.done().await.map_err(err)?;
    Ok(())
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

/// A failed condition: DynamoDB's copy becomes the local one and ours (the newest queued
/// state of it) is kept aside in the conflicts store. None: it was no conflict after all
/// (DynamoDB already had exactly this write), and the operation is done.
async fn conflict(
    db: &Rexie,
    client: &Client,
    table: &str,
    user: &str,
    op: &QueueOp,
) -> Result<Result<Option<Conflict>, Failure>, String> {
    let remote = match remote_copy(client, table, user, &op.invoice_id).await {
        Ok(r) => r,
        Err(f) => return Ok(Err(f)),
    };
    if landed(op, remote.as_ref()) {
        done(db, user, op).await?;
        return Ok(Ok(None));
    }
    let remote_version = remote.as_ref().map(|r| r.version);
    let sent = op.kind.clone();
    let local = std::rc::Rc::new(std::cell::RefCell::new(None));
    let keep = local.clone();
    update(db, user, &op.invoice_id, move |current, _| {
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
    put_json(db, CONFLICTS, &key(user, &op.invoice_id), Some(&c)).await?;
    Ok(Ok(Some(c)))
}

/// The user's queued operations and synced versions, by invoice id.
pub async fn queued_and_synced(
    user: &str,
) -> Result<(HashMap<String, QueueOp>, HashMap<String, u64>), String> {
    let db = open().await?;
    let queued: Vec<QueueOp> = all_of(&db, QUEUE, user).await?;
    let range = user_range(user)?;
    let tx = db
        .transaction(&[SYNCED], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.store(SYNCED).map_err(err)?;
    let keys = store
        .get_all_keys(Some(range.clone()), None)
        .await
        .map_err(err)?;
    let values = store.get_all(Some(range), None).await.map_err(err)?;
    tx.done().await.map_err(err)?;
    let prefix = format!("{user}|");
    let synced = keys
        .into_iter()
        .zip(values)
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

/// Drops an invoice's queued operation and records DynamoDB's version (None: gone there).
pub async fn forget_queued_and_set_synced(
    user: &str,
    id: &str,
    version: Option<u64>,
) -> Result<(), String> {
    let db = open().await?;
    update(&db, user, id, |_, _| (None, Some(version))).await
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
    put_json(&db, CONFLICTS, &key(user, id), Some(&c)).await?;
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
                            if reasons.get(pos).and_then(|r| r.as_deref())
                                != Some("ConditionalCheckFailed")
                            {
                                continue;
                            }
                            conflicted += 1;
                            match conflict(&db, client, table, user, op).await? {
                                Ok(Some(c)) => out.conflicts.push(c),
                                Ok(None) => out.sent += 1,
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
                    } else {
                        let class = classify(&f, worked);
                        failed(&db, user, &batch, class).await?;
                        out.failed = Some(class);
                        break;
                    }
                }
            }
        }
        // single conditional writes, PARALLEL in flight at any time (a sliding window: a
        // slow one never holds the others back); successes are marked done in groups
        let mut stop = None;
        let mut written: Vec<&QueueOp> = Vec::new();
        {
            let mut results = futures_util::stream::iter(batch.iter().copied())
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
                        match conflict(&db, client, table, user, op).await? {
                            Ok(Some(c)) => out.conflicts.push(c),
                            Ok(None) => out.sent += 1,
                            Err(f) => {
                                stop = Some(classify(&f, worked));
                                break;
                            }
                        }
                    }
                    Err(f) => {
                        let class = classify(&f, worked);
                        failed(&db, user, &[op], class).await?;
                        stop = Some(class);
                        break;
                    }
                }
            }
        }
        // writes still in flight when it stopped are not marked: they go again next time,
        // and one that had landed is recognised then (see `landed`)
        done_all(&db, user, &written).await?;
        out.sent += written.len();
        progress.tell(out.sent + out.conflicts.len());
        if let Some(class) = stop {
            out.failed = Some(class);
            break;
        }
    }
    out.pending = count(&db, user).await?;
    progress.finish();
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
