//! Pulling DynamoDB's changes of one partition: versions first (a Query with a
//! projection, paginated), then only the changed items (BatchGetItem, 100 keys a call).
//! Decisions are `ledgerline_core::sync::on_pull`'s.

use crate::dynamo::failure;
use crate::queue::{decode, forget_queued_and_set_synced, queued_and_synced, record_conflict};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use ledgerline_core::errors::Failure;
use ledgerline_core::model::Invoice;
use ledgerline_core::sync::{on_pull, Conflict, OpKind, PullAction};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Pulled {
    pub items: Vec<Invoice>,
    pub removed: Vec<String>,
    pub conflicts: Vec<Conflict>,
    pub round_trips: u32,
    /// Local invoices DynamoDB lacks or has older, with nothing queued: their queued
    /// change was lost (the tab closed before it was stored). The page queues them again.
    pub unsynced: Vec<String>,
    /// Invoices deleted here whose queued delete was lost: the page queues it again.
    pub deleted_here: Vec<String>,
    /// Damaged local invoices for which DynamoDB's intact copy is in `items`.
    pub repaired: Vec<String>,
    /// Items damaged in DynamoDB (failing their checksum) that this device has intact:
    /// the page uploads its copy as a new version. Their synced version is DynamoDB's.
    pub damaged_remote: Vec<(String, u64)>,
}

fn key(user: &str, id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("userId".to_string(), AttributeValue::S(user.to_string())),
        ("invoiceId".to_string(), AttributeValue::S(id.to_string())),
    ])
}

/// Every (id, version) in the partition.
async fn versions(
    client: &Client,
    table: &str,
    user: &str,
    trips: &mut u32,
) -> Result<Vec<(String, u64)>, Failure> {
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("userId = :u")
            .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
            .projection_expression("invoiceId, version")
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        *trips += 1;
        for it in page.items() {
            let id = it.get("invoiceId").and_then(|v| v.as_s().ok()).cloned();
            let v = it
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok());
            // an item with an unreadable version is still there: counted as version 0
            // (older than anything here), never mistaken for a deletion
            if let Some(id) = id {
                out.push((id, v.unwrap_or(0)));
            }
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// The full items of `ids`, 100 keys per call, unprocessed keys retried; and the ids of
/// items that came back damaged (failing their checksum), which are never stored.
async fn fetch(
    client: &Client,
    table: &str,
    user: &str,
    ids: &[String],
    trips: &mut u32,
) -> Result<(Vec<Invoice>, Vec<String>), Failure> {
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    for chunk in ids.chunks(100) {
        let mut keys: Vec<HashMap<String, AttributeValue>> =
            chunk.iter().map(|id| key(user, id)).collect();
        for _attempt in 0..10 {
            if keys.is_empty() {
                break;
            }
            let Ok(ka) = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
            else {
                break;
            };
            let got = client
                .batch_get_item()
                .request_items(table, ka)
                .send()
                .await
                .map_err(|e| failure(&e))?;
            *trips += 1;
            if let Some(items) = got.responses().and_then(|r| r.get(table)) {
                for it in items {
                    match decode(it) {
                        Some(inv) => out.push(inv),
                        None => {
                            if let Some(id) = it.get("invoiceId").and_then(|v| v.as_s().ok()) {
                                damaged.push(id.clone());
                            }
                        }
                    }
                }
            }
            keys = got
                .unprocessed_keys()
                .and_then(|u| u.get(table))
                .map(|ka| ka.keys().to_vec())
                .unwrap_or_default();
        }
    }
    Ok((out, damaged))
}

/// `local`: this device's intact invoices and versions; `damaged`: ids of local invoices
/// that failed their checksum (DynamoDB's copy repairs them, if it has one).
pub async fn pull(
    client: &Client,
    table: &str,
    user: &str,
    local: &[(String, u64)],
    damaged: &[String],
) -> Result<Result<Pulled, Failure>, String> {
    let mut out = Pulled::default();
    let remote = match versions(client, table, user, &mut out.round_trips).await {
        Ok(v) => v,
        Err(f) => return Ok(Err(f)),
    };
    let (queued, synced) = queued_and_synced(user).await?;
    let local: HashMap<&str, u64> = local.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    let mut take: Vec<String> = Vec::new();
    let mut conflicted: Vec<String> = Vec::new();
    let remote_map: HashMap<&str, u64> = remote.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    for (id, lv) in &local {
        match queued.get(*id).map(|q| &q.kind) {
            // the queued write is older than the local copy: its newer op was lost
            Some(OpKind::Put(inv)) if inv.version < *lv => out.unsynced.push((*id).to_string()),
            // a delete is queued but the invoice exists here again (restored)
            Some(OpKind::Delete) => out.unsynced.push((*id).to_string()),
            Some(_) => {}
            None => {
                let deleted_there = !remote_map.contains_key(id) && synced.contains_key(*id);
                if !deleted_there && remote_map.get(id).is_none_or(|rv| rv < lv) {
                    out.unsynced.push((*id).to_string());
                }
            }
        }
    }
    for (id, rv) in &remote {
        let pending = queued.get(id);
        if damaged.contains(id) {
            // the local copy is unreadable: DynamoDB's repairs it; a change of it still
            // queued here (intact in IndexedDB) is kept for review, not dropped
            out.repaired.push(id.clone());
            take.push(id.clone());
            if matches!(pending.map(|p| &p.kind), Some(OpKind::Put(_))) {
                conflicted.push(id.clone());
            }
            continue;
        }
        if pending.is_none() && !local.contains_key(id.as_str()) && synced.get(id) == Some(rv) {
            // this device had exactly DynamoDB's version and deleted it
            out.deleted_here.push(id.clone());
            continue;
        }
        match on_pull(local.get(id.as_str()).copied(), pending, *rv) {
            PullAction::Keep => {}
            PullAction::TakeRemote => take.push(id.clone()),
            PullAction::TakeRemoteKeepLocalAsConflict => {
                take.push(id.clone());
                conflicted.push(id.clone());
            }
        }
    }
    // deleted in DynamoDB: this device saw it there, nothing of ours is waiting
    let remote_ids: std::collections::HashSet<&str> =
        remote.iter().map(|(id, _)| id.as_str()).collect();
    for id in local.keys() {
        if !remote_ids.contains(id) && synced.contains_key(*id) && !queued.contains_key(*id) {
            out.removed.push((*id).to_string());
            forget_queued_and_set_synced(user, id, None, None).await?;
        }
    }
    let (items, broken) = match fetch(client, table, user, &take, &mut out.round_trips).await {
        Ok(i) => i,
        Err(f) => return Ok(Err(f)),
    };
    out.repaired.retain(|id| items.iter().any(|i| &i.id == id));
    for id in broken {
        if let (Some(rv), true) = (remote_map.get(id.as_str()), local.contains_key(id.as_str())) {
            // the local copy replaces the damaged one, based on the version DynamoDB has
            forget_queued_and_set_synced(user, &id, Some(*rv), queued.get(&id)).await?;
            out.damaged_remote.push((id, *rv));
        }
    }
    for inv in &items {
        if conflicted.contains(&inv.id) {
            if let Some(op) = queued.get(&inv.id) {
                let local = match &op.kind {
                    OpKind::Put(i) => Some((**i).clone()),
                    OpKind::Delete => None,
                };
                out.conflicts
                    .push(record_conflict(user, &inv.id, local, Some(inv.clone())).await?);
            }
        }
        forget_queued_and_set_synced(user, &inv.id, Some(inv.version), queued.get(&inv.id)).await?;
    }
    out.items = items;
    Ok(Ok(out))
}
