//! Pulling DynamoDB's changes of one partition: versions first (a Query with a
//! projection, paginated: ids, versions, tombstones, checksums), then only the items to
//! take (BatchGetItem, 100 keys a call). Each invoice is decided by
//! `ledgerline_core::sync::pull::plan`; nothing here takes an absence for a deletion.
//! What changes localStorage goes back to the page as [`Take`]s, marked synced only
//! when the page acknowledges them (`store::ack`).

use crate::dynamo::failure;
use crate::error::CloudResult;
use crate::item;
use crate::store::{self, WorkerStep};
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::Client;
use ledgerline_core::errors::Failure;
use ledgerline_core::protocol::Take;
use ledgerline_core::sync::pull::{plan, LocalCopy, Loser, PullCase, PullStep};
use ledgerline_core::sync::replay::loser;
use ledgerline_core::sync::{
    seen_of_meta, sent_mark, Conflict, RemoteItem, RemoteMeta, Seen, TOMBSTONE_LIFETIME_SECS,
};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Pulled {
    /// DynamoDB's versions to store here (or tombstones: remove here), then acknowledge.
    pub take: Vec<Take>,
    /// Conflicts the worker kept (queued changes that lost).
    pub conflicts: Vec<Conflict>,
    pub round_trips: u32,
    /// Local invoices to queue again (DynamoDB lacks them or has them older).
    pub upload: Vec<String>,
    /// How many of those DynamoDB had before and lacks now (a lab reset, a new table).
    pub reuploaded: u32,
    /// Missing in DynamoDB after a pull gap longer than a tombstone lives: kept for review.
    pub review: Vec<String>,
    /// Damaged local invoices for which DynamoDB's intact copy is in `take`.
    pub repaired: Vec<String>,
    /// Items damaged in DynamoDB that this device has intact: the page uploads its copy
    /// as the next version after DynamoDB's (the synced version is DynamoDB's).
    pub damaged_remote: Vec<(String, u64)>,
    /// When this pull read DynamoDB (milliseconds), for the page's final acknowledgement.
    pub started_at: f64,
}

/// Every (id, state) in the partition.
async fn versions(
    client: &Client,
    table: &str,
    user: &str,
    trips: &mut u32,
) -> Result<Vec<(String, RemoteMeta)>, Failure> {
    let mut out = Vec::new();
    let mut start: Option<item::Item> = None;
    loop {
        let mut q = client
            .query()
            .table_name(table)
            .key_condition_expression("userId = :u")
            .expression_attribute_values(
                ":u",
                aws_sdk_dynamodb::types::AttributeValue::S(user.to_string()),
            )
            .projection_expression(item::META_PROJECTION)
            .consistent_read(true)
            .set_exclusive_start_key(start.take());
        for (k, v) in item::META_NAMES {
            q = q.expression_attribute_names(k, v);
        }
        let page = q.send().await.map_err(|e| failure(&e))?;
        *trips += 1;
        out.extend(page.items().iter().filter_map(item::meta));
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// The full items of `ids`, 100 keys per call, unprocessed keys retried.
async fn fetch(
    client: &Client,
    table: &str,
    user: &str,
    ids: &[String],
    trips: &mut u32,
) -> Result<HashMap<String, item::Item>, Failure> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(100) {
        let mut keys: Vec<item::Item> = chunk.iter().map(|id| item::key(user, id)).collect();
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
                    if let Some(id) = item::id_of(it) {
                        out.insert(id, it.clone());
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
    Ok(out)
}

/// `local`: this device's intact invoices (id, version, checksum); `damaged`: ids of
/// local invoices failing their checksum (DynamoDB's copy repairs them, if it has one).
pub async fn pull(
    client: &Client,
    table: &str,
    user: &str,
    scope: &str,
    local: &[(String, u64, String)],
    damaged: &[String],
) -> CloudResult<Pulled> {
    store::migrate_legacy(user, scope).await?;
    let mut out = Pulled {
        // DynamoDB's time as far as this device knows it (a wrong clock corrected)
        started_at: js_sys::Date::now() + crate::http::clock_offset_ms(),
        ..Default::default()
    };
    let remote = match versions(client, table, user, &mut out.round_trips).await {
        Ok(v) => v,
        Err(f) => return Err(f.into()),
    };
    let (queued, synced) = store::queued_and_synced(scope).await?;
    let stale = store::last_pull(scope)
        .await?
        .is_some_and(|at| out.started_at - at > (TOMBSTONE_LIFETIME_SECS * 1000) as f64);
    let local: HashMap<&str, LocalCopy> = local
        .iter()
        .map(|(id, v, sum)| {
            (
                id.as_str(),
                LocalCopy {
                    version: *v,
                    checksum: sum.clone(),
                },
            )
        })
        .collect();
    let remote: HashMap<&str, &RemoteMeta> =
        remote.iter().map(|(id, m)| (id.as_str(), m)).collect();
    let mut ids: BTreeSet<&str> = local.keys().copied().collect();
    ids.extend(remote.keys().copied());
    ids.extend(queued.keys().map(String::as_str));
    ids.extend(damaged.iter().map(String::as_str));
    let mut worker: Vec<(String, Option<Seen>, WorkerStep)> = Vec::new();
    let mut takes: Vec<(String, Loser)> = Vec::new();
    for id in ids {
        let q = queued.get(id);
        // what DynamoDB has at version v, as this Query read it
        let seen = |v: u64| {
            remote
                .get(id)
                .map(|m| seen_of_meta(m))
                .filter(|s| s.0 == v)
                .unwrap_or((v, None))
        };
        let step = plan(PullCase {
            local: local.get(id),
            damaged_local: damaged.iter().any(|d| d == id),
            queued: q,
            synced: synced.get(id).map(|s| s.0),
            remote: remote.get(id).copied(),
            stale,
        });
        match step {
            PullStep::Keep => {}
            PullStep::Synced(v) => worker.push((id.to_string(), Some(seen(v)), WorkerStep::Record)),
            PullStep::Rebase(v) => worker.push((id.to_string(), Some(seen(v)), WorkerStep::Rebase)),
            PullStep::Done(v) => {
                if let Some(q) = q {
                    worker.push((
                        id.to_string(),
                        Some(seen(v)),
                        WorkerStep::Drop(sent_mark(&q.kind)),
                    ));
                }
            }
            PullStep::Upload { missing } => {
                out.upload.push(id.to_string());
                if missing {
                    out.reuploaded += 1;
                    // DynamoDB has nothing: the upload is conditional on that
                    worker.push((id.to_string(), None, WorkerStep::Record));
                }
            }
            PullStep::Review => out.review.push(id.to_string()),
            PullStep::Take(l) | PullStep::Remove(l) => takes.push((id.to_string(), l)),
        }
    }
    store::apply_worker_steps(scope, &worker).await?;
    let wanted: Vec<String> = takes
        .iter()
        .filter(|(id, _)| remote.get(id.as_str()).is_some_and(|m| !m.deleted))
        .map(|(id, _)| id.clone())
        .collect();
    let fetched = match fetch(client, table, user, &wanted, &mut out.round_trips).await {
        Ok(f) => f,
        Err(f) => return Err(f.into()),
    };
    let mut lost: Vec<Conflict> = Vec::new();
    let mut rebased: Vec<(String, Option<Seen>, WorkerStep)> = Vec::new();
    for (id, l) in takes {
        let Some(meta) = remote.get(id.as_str()) else {
            continue;
        };
        let state = if meta.deleted {
            RemoteItem::Tombstone(meta.version)
        } else {
            item::decode(fetched.get(&id))
        };
        let (remote_inv, version) = match state {
            RemoteItem::Live(inv) => (Some(inv.clone()), inv.version),
            RemoteItem::Tombstone(v) => (None, v),
            RemoteItem::Damaged(v) => {
                // never stored here: this device's intact copy goes up over it, and
                // the damaged item is kept as it was (a conflict) before anything does
                if local.contains_key(id.as_str()) {
                    if let Some(v) = v {
                        rebased.push((id.clone(), Some((v, None)), WorkerStep::Rebase));
                        out.damaged_remote.push((id.clone(), v));
                        lost.push(Conflict {
                            invoice_id: id.clone(),
                            local: None,
                            remote: None,
                            remote_version: Some(v),
                            damaged_remote: fetched.get(&id).map(item::raw),
                            record: None,
                            at: js_sys::Date::now() as u64,
                        });
                    }
                }
                continue;
            }
            // deleted meanwhile by hand: the next pull decides again
            RemoteItem::Absent => continue,
        };
        let q = queued.get(&id);
        if l == Loser::Queued {
            if let Some(q) = q {
                lost.push(Conflict {
                    invoice_id: id.clone(),
                    local: loser(&q.kind),
                    remote: remote_inv.clone(),
                    remote_version: remote_inv.is_none().then_some(version),
                    damaged_remote: None,
                    record: None,
                    at: js_sys::Date::now() as u64,
                });
            }
        }
        if damaged.contains(&id) && remote_inv.is_some() {
            out.repaired.push(id.clone());
        }
        out.take.push(Take {
            invoice_id: id.clone(),
            version,
            remote: remote_inv,
            seen: q.map(|q| sent_mark(&q.kind)),
            expected: local
                .get(id.as_str())
                .map(|l| (l.version, l.checksum.clone())),
            keep_local: l == Loser::Local,
        });
    }
    // the losers (and damaged items) are kept before anything overwrites them
    out.conflicts = store::keep_conflicts(scope, lost).await?;
    store::apply_worker_steps(scope, &rebased).await?;
    Ok(out)
}
