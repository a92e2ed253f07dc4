//! Replay of the queue into DynamoDB: TransactWriteItems (up to 100 conditional writes a
//! round trip), or single conditional writes where the endpoint has no transactions
//! (dynalite). A delete is written as a tombstone. The decisions are
//! `ledgerline_core::sync`'s (batches, a failed condition); this module does the I/O.

use crate::dynamo::failure;
use crate::error::{service_apart, CloudResult};
use crate::item;
use crate::store::{self, all_of, count, open, update, update_many, QUEUE};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use futures_util::StreamExt;
use ledgerline_core::errors::{classify, ErrorClass, Failure};
use ledgerline_core::protocol::Take;
use ledgerline_core::sync::replay::{landed, loser, on_failed_condition, AfterFailedCondition};
use ledgerline_core::sync::{
    plan_batches, seen_of, sent_mark, tombstone_version, written_mark, Conflict, OpKind, QueueOp,
    RemoteItem, Window,
};
use rexie::Rexie;
use wasm_bindgen::JsValue;

/// What one replay did.
#[derive(Debug, Default)]
pub struct Replayed {
    pub sent: usize,
    pub pending: usize,
    pub conflicts: Vec<Conflict>,
    /// DynamoDB's versions the page is to store (and acknowledge): where DynamoDB won,
    /// or already held our content under another version.
    pub take: Vec<Take>,
    /// Why it stopped early, if it did.
    pub failed: Option<ErrorClass>,
    /// Operations refused for good (an item over 400 KB, refused as invalid).
    pub refused: Vec<String>,
    /// The service's message of the failure that stopped it (never a secret).
    pub detail: Option<String>,
}

/// The item `op` writes: the invoice, or its tombstone after the base version.
fn written(user: &str, op: &QueueOp) -> item::Item {
    match &op.kind {
        OpKind::Put(inv) => item::live(user, inv, op.parent.as_ref()),
        // DynamoDB's time, as far as this device knows it: a clock months off must not
        // write a tombstone that TTL removes at once
        OpKind::Delete => item::tombstone(
            user,
            &op.invoice_id,
            tombstone_version(op.base_version),
            js_sys::Date::now() + crate::http::clock_offset_ms(),
        ),
    }
}

fn action(table: &str, user: &str, op: &QueueOp) -> Option<TransactWriteItem> {
    let (cond, values) = item::condition(op.base_version, op.base_checksum.as_deref());
    let mut p = Put::builder()
        .table_name(table)
        .set_item(Some(written(user, op)))
        .condition_expression(cond);
    for (k, v) in values {
        p = p.expression_attribute_values(k, v);
    }
    Some(TransactWriteItem::builder().put(p.build().ok()?).build())
}

/// One conditional write (where TransactWriteItems is not available, as on dynalite):
/// the same condition as in a transaction, one round trip per item.
async fn write_one(client: &Client, table: &str, user: &str, op: &QueueOp) -> Result<(), Failure> {
    let (cond, values) = item::condition(op.base_version, op.base_checksum.as_deref());
    let mut p = client
        .put_item()
        .table_name(table)
        .set_item(Some(written(user, op)))
        .condition_expression(cond);
    for (k, v) in values {
        p = p.expression_attribute_values(k, v);
    }
    p.send().await.map(|_| ()).map_err(|e| failure(&e))
}

/// How many single writes run at once in the fallback.
const PARALLEL: usize = 8;
/// Successful single writes are marked done in IndexedDB this many at a time.
const DONE_GROUP: usize = 25;

thread_local! {
    /// The endpoint answered TransactWriteItems with UnknownOperation (dynalite): later
    /// replays go straight to single writes instead of asking again each time.
    static NO_TRANSACTIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// How many actions the next transaction carries (adapted to DynamoDB's answers).
    static WINDOW: std::cell::Cell<Window> = std::cell::Cell::new(Window::default());
}

/// A new client (another endpoint or credentials): ask about transactions again.
pub fn forget_endpoint_features() {
    NO_TRANSACTIONS.with(|c| c.set(false));
}

/// DynamoDB's copy of one invoice, read back after a failed condition, with the item's
/// raw text when it cannot be read (kept before anything overwrites it).
pub async fn remote_copy(
    client: &Client,
    table: &str,
    user: &str,
    id: &str,
) -> Result<(RemoteItem, Option<String>), Failure> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(item::key(user, id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let remote = item::decode(out.item());
    let raw = match remote {
        RemoteItem::Damaged(_) => out.item().map(item::raw),
        _ => None,
    };
    Ok((remote, raw))
}

/// Marks a batch done in one IndexedDB transaction: DynamoDB now has what each op
/// wrote. A newer change queued meanwhile stays, now based on the version just written.
async fn done_all(db: &Rexie, scope: &str, ops: &[&QueueOp]) -> CloudResult<()> {
    update_many(db, scope, ops, |op, current| {
        let mark = written_mark(op);
        let seen = (mark.0, Some(mark.1.clone()));
        match current {
            Some(c) if c.kind != op.kind => {
                let mut newer = c;
                newer.base_version = Some(mark.0);
                newer.base_checksum = Some(mark.1.clone());
                newer.parent = Some(mark);
                newer.sent = None;
                (Some(newer), Some(Some(seen)))
            }
            _ => (None, Some(Some(seen))),
        }
    })
    .await
}

/// Records, before they go, what the operations of a batch send (see [`QueueOp::sent`]);
/// an earlier unconfirmed mark stays (that write may have landed unanswered). Returns the
/// operations still queued as they are: one cancelled meanwhile is not sent at all.
async fn mark_sent<'a>(
    db: &Rexie,
    scope: &str,
    ops: &[&'a QueueOp],
) -> CloudResult<Vec<&'a QueueOp>> {
    let still = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let keep = still.clone();
    update_many(db, scope, ops, |op, current| {
        let Some(mut c) = current else {
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

/// Counts a failed attempt on operations still queued as they were sent.
async fn failed(db: &Rexie, scope: &str, ops: &[&QueueOp], class: ErrorClass) -> CloudResult<()> {
    for op in ops {
        update(db, scope, &op.invoice_id, |current, _| match current {
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

/// What a failed condition led to, for the replay's report.
enum Outcome {
    Conflict(Box<Conflict>, Take),
    Landed(Option<Take>),
    Rebased,
    SetApart,
}

/// A failed condition: DynamoDB's item is read back and `on_failed_condition` decides.
async fn after_failed_condition(
    db: &Rexie,
    client: &Client,
    table: &str,
    user: &str,
    scope: &str,
    op: &QueueOp,
) -> CloudResult<Outcome> {
    let (remote, raw) = match remote_copy(client, table, user, &op.invoice_id).await {
        Ok(r) => r,
        Err(f) => return Err(f.into()),
    };
    match on_failed_condition(op, &remote) {
        AfterFailedCondition::Landed { version, adopt } => {
            let seen = seen_of(&remote).unwrap_or((version, None));
            update(db, scope, &op.invoice_id, |current, _| match current {
                Some(c) if c.kind != op.kind => {
                    let mut newer = c;
                    newer.base_version = Some(seen.0);
                    newer.base_checksum = seen.1.clone();
                    if let Some(sum) = seen.1.clone().filter(|s| !s.is_empty()) {
                        newer.parent = Some((seen.0, sum));
                    }
                    newer.sent = None;
                    (Some(newer), Some(Some(seen)))
                }
                _ => (None, Some(Some(seen))),
            })
            .await?;
            let take = adopt.map(|a| Take {
                invoice_id: op.invoice_id.clone(),
                version: a.version,
                remote: Some(*a),
                seen: None,
                expected: Some(sent_mark(&op.kind)),
                keep_local: false,
            });
            Ok(Outcome::Landed(take))
        }
        AfterFailedCondition::Rebase(base) => {
            // what DynamoDB has at the new base (its checksum, when readable)
            let seen = seen_of(&remote).filter(|s| Some(s.0) == base);
            let parent = match &remote {
                RemoteItem::Live(r) => Some((r.version, r.checksum.clone())),
                _ => None,
            };
            // a damaged item the next attempt overwrites is kept first, as it was, in
            // the same transaction as the new base
            let kept = raw.map(|raw| Conflict {
                invoice_id: op.invoice_id.clone(),
                local: None,
                remote: None,
                remote_version: base,
                damaged_remote: Some(raw),
                record: None,
                at: js_sys::Date::now() as u64,
            });
            store::update_keeping(db, scope, &op.invoice_id, move |current, _| {
                let next = current.map(|mut c| {
                    c.base_version = base;
                    c.base_checksum = seen.as_ref().and_then(|s| s.1.clone());
                    if parent.is_some() {
                        c.parent = parent;
                    }
                    c.sent = None;
                    c
                });
                let synced = base.map(|b| seen.unwrap_or((b, None)));
                ((next, Some(synced)), kept)
            })
            .await?;
            Ok(Outcome::Rebased)
        }
        AfterFailedCondition::SetApart => {
            failed(db, scope, &[op], ErrorClass::RequestInvalid).await?;
            Ok(Outcome::SetApart)
        }
        AfterFailedCondition::Conflict => {
            let (remote_inv, remote_version) = match &remote {
                RemoteItem::Live(r) => (Some(r.clone()), r.version),
                RemoteItem::Tombstone(v) => (None, *v),
                _ => (None, 0),
            };
            let sent = op.kind.clone();
            let id = op.invoice_id.clone();
            let theirs = remote_inv.clone();
            // the queue entry goes and the conflict is kept in one transaction; the synced
            // version waits for the page's acknowledgement
            let kept = store::update_keeping(db, scope, &op.invoice_id, move |current, _| {
                let kind = current.map(|c| c.kind).unwrap_or(sent);
                let c = Conflict {
                    invoice_id: id,
                    local: loser(&kind),
                    remote_version: theirs.is_none().then_some(remote_version),
                    damaged_remote: None,
                    record: None,
                    remote: theirs,
                    at: js_sys::Date::now() as u64,
                };
                ((None, None), Some(c))
            })
            .await?;
            let Some(c) = kept else {
                return Err("the conflict could not be kept".into());
            };
            let kind = match &c.local {
                Some(inv) => OpKind::Put(Box::new(inv.clone())),
                None => OpKind::Delete,
            };
            let take = Take {
                invoice_id: op.invoice_id.clone(),
                version: remote_version,
                remote: remote_inv,
                seen: None,
                expected: match &kind {
                    OpKind::Put(inv) => Some((inv.version, inv.checksum.clone())),
                    OpKind::Delete => None,
                },
                keep_local: false,
            };
            Ok(Outcome::Conflict(Box::new(c), take))
        }
    }
}

/// Sends everything queued in `scope` (DynamoDB partition `user`). A failed condition
/// is decided by `on_failed_condition`; items of a cancelled transaction that were not
/// at fault go again in the next round. Stops at the first failure of another kind
/// (network, credentials, clock, ...), leaving the rest queued.
pub async fn replay(
    client: &Client,
    table: &str,
    user: &str,
    scope: &str,
    worked: bool,
) -> CloudResult<Replayed> {
    let db = open().await?;
    let mut out = Replayed::default();
    let mut transactions = !NO_TRANSACTIONS.with(|c| c.get());
    let total = count(&db, scope).await?;
    let progress = Progress::new(user, total);
    let stop_with = |out: &mut Replayed, f: &Failure| {
        out.failed = Some(classify(f, worked));
        out.detail = f.message.clone();
    };
    let adapt = |f: &dyn Fn(&mut Window)| {
        WINDOW.with(|w| {
            let mut x = w.get();
            f(&mut x);
            w.set(x);
        })
    };
    // timeouts in a row: a slow server gets smaller transactions at once; a network
    // that hangs on every call stops the replay after a few
    let mut timeouts = 0;
    // each round makes progress or stops; bounded anyway
    for _round in 0..1000 {
        let mut ops: Vec<QueueOp> = all_of(&db, QUEUE, scope).await?;
        ops.sort_by_key(|o| o.queued_at);
        let (batches, apart) = plan_batches(&ops);
        out.refused = apart.iter().map(|i| ops[*i].invoice_id.clone()).collect();
        let Some(batch) = batches.first() else { break };
        let limit = if transactions {
            WINDOW.with(|w| w.get().size)
        } else {
            usize::MAX
        };
        let batch: Vec<&QueueOp> = batch.iter().take(limit).map(|i| &ops[*i]).collect();
        let batch = mark_sent(&db, scope, &batch).await?;
        if batch.is_empty() {
            continue;
        }
        let mut conflicted_ops: Vec<&QueueOp> = Vec::new();
        if transactions {
            let actions: Vec<TransactWriteItem> = batch
                .iter()
                .filter_map(|op| action(table, user, op))
                .collect();
            let sent = client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await;
            match sent {
                Ok(_) => {
                    timeouts = 0;
                    adapt(&|w| w.on_success(batch.len()));
                    done_all(&db, scope, &batch).await?;
                    out.sent += batch.len();
                    progress.tell(out.sent + out.conflicts.len());
                    continue;
                }
                Err(e) => {
                    let f = failure(&e);
                    let timed_out = matches!(e, SdkError::TimeoutError(_));
                    if timed_out || classify(&f, worked) == ErrorClass::Throttled {
                        adapt(&|w| w.on_slow(batch.len()));
                    }
                    if timed_out && batch.len() > 1 && timeouts < 2 {
                        // too slow for this size: smaller at once. The transaction may still
                        // land: a moment later one item says whether it did (all or nothing),
                        // instead of each one failing its condition when sent again
                        timeouts += 1;
                        gloo_timers::future::sleep(std::time::Duration::from_secs(3)).await;
                        if let Ok((remote, _)) =
                            remote_copy(client, table, user, &batch[0].invoice_id).await
                        {
                            if landed(batch[0], &remote) {
                                done_all(&db, scope, &batch).await?;
                                out.sent += batch.len();
                                progress.tell(out.sent + out.conflicts.len());
                            }
                        }
                        continue;
                    }
                    if f.code.as_deref() == Some("UnknownOperationException") {
                        transactions = false; // fall through to single writes
                        NO_TRANSACTIONS.with(|c| c.set(true));
                    } else if let Some(reasons) = cancellation_reasons(&e) {
                        let mut at_fault = 0;
                        for (pos, op) in batch.iter().enumerate() {
                            match reasons.get(pos).and_then(|r| r.as_deref()) {
                                Some("ConditionalCheckFailed") => {
                                    at_fault += 1;
                                    conflicted_ops.push(op);
                                }
                                Some("ValidationError") => {
                                    failed(&db, scope, &[*op], ErrorClass::RequestInvalid).await?;
                                    at_fault += 1;
                                }
                                _ => {}
                            }
                        }
                        if at_fault == 0 {
                            adapt(&|w| w.on_slow(batch.len()));
                            // cancelled for another reason (a concurrent transaction): later
                            failed(&db, scope, &batch, ErrorClass::Throttled).await?;
                            out.failed = Some(ErrorClass::Throttled);
                            break;
                        }
                        if conflicted_ops.is_empty() {
                            continue;
                        }
                    } else if f.code.as_deref() == Some("ValidationException") {
                        // refused as a whole without saying which item: the single writes
                        // below find it, and the others still go
                    } else {
                        let class = classify(&f, worked);
                        if class != ErrorClass::RequestInvalid {
                            failed(&db, scope, &batch, class).await?;
                        }
                        stop_with(&mut out, &f);
                        break;
                    }
                }
            }
        }
        if !conflicted_ops.is_empty() {
            for op in conflicted_ops {
                let outcome = service_apart(
                    after_failed_condition(&db, client, table, user, scope, op).await,
                )?;
                if let Some(f) = record(&mut out, op, outcome) {
                    stop_with(&mut out, &f);
                    break;
                }
            }
            if out.failed.is_some() {
                break;
            }
            continue;
        }
        // single conditional writes, PARALLEL in flight at any time (a sliding window: a
        // slow one never holds the others back); successes are marked done in groups
        let mut stop: Option<Failure> = None;
        let mut done: Vec<&QueueOp> = Vec::new();
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
                        done.push(op);
                        if done.len() >= DONE_GROUP {
                            done_all(&db, scope, &done).await?;
                            out.sent += done.len();
                            done.clear();
                            progress.tell(out.sent + out.conflicts.len());
                        }
                    }
                    Err(f) if f.code.as_deref() == Some("ConditionalCheckFailedException") => {
                        if stop.is_some() {
                            continue; // looked at again next time
                        }
                        let outcome = service_apart(
                            after_failed_condition(&db, client, table, user, scope, op).await,
                        )?;
                        if let Some(f) = record(&mut out, op, outcome) {
                            stop = Some(f);
                            halt.set(true);
                        }
                    }
                    Err(f) => {
                        if f.code.as_deref() == Some("ValidationException") {
                            // this item only: set apart (see plan_batches), the rest go on
                            failed(&db, scope, &[op], ErrorClass::RequestInvalid).await?;
                            out.refused.push(op.invoice_id.clone());
                            continue;
                        }
                        // about the request, not this item (a bare 400, an expired
                        // signature, a wrong clock ...): stop, mark nothing aside
                        let class = classify(&f, worked);
                        if class != ErrorClass::RequestInvalid {
                            failed(&db, scope, &[op], class).await?;
                        }
                        stop.get_or_insert(f);
                        halt.set(true);
                    }
                }
            }
        }
        done_all(&db, scope, &done).await?;
        out.sent += done.len();
        progress.tell(out.sent + out.conflicts.len());
        if let Some(f) = stop {
            stop_with(&mut out, &f);
            break;
        }
    }
    out.refused.sort();
    out.refused.dedup();
    out.pending = count(&db, scope).await?;
    drop(progress);
    Ok(out)
}

/// Adds what a failed condition led to to the report; the failure if the replay must
/// stop (DynamoDB could not be read back).
fn record(out: &mut Replayed, op: &QueueOp, outcome: Result<Outcome, Failure>) -> Option<Failure> {
    match outcome {
        Ok(Outcome::Conflict(c, take)) => {
            out.conflicts.push(*c);
            out.take.push(take);
        }
        Ok(Outcome::Landed(take)) => {
            out.sent += 1;
            out.take.extend(take);
        }
        Ok(Outcome::Rebased) => {}
        Ok(Outcome::SetApart) => out.refused.push(op.invoice_id.clone()),
        Err(f) => return Some(f),
    }
    None
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
}

impl Drop for Progress {
    /// However the replay ends (an IndexedDB error returns early too), every tab is told
    /// it is over: no "Syncing" bar is left behind.
    fn drop(&mut self) {
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
