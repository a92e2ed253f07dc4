//! One IndexedDB connection per database and worker, opened on first use and reused:
//! opening one per call made a burst of saves open hundreds of connections.

use crate::error::CloudResult;
use rexie::{KeyRange, ObjectStore, Rexie, TransactionMode};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;

thread_local! {
    static OPEN: RefCell<Vec<(&'static str, Rc<Rexie>)>> = const { RefCell::new(Vec::new()) };
}

/// Forgets the cached connection to `name`: the next [`open`] opens a new one. Called
/// when a transaction cannot start (the browser closed the connection: site data cleared,
/// or a newer version of the database opened elsewhere).
pub fn forget(name: &str) {
    OPEN.with(|o| o.borrow_mut().retain(|(n, _)| *n != name));
}

/// The database `name` (version 1) with `stores` (name, auto-increment keys).
pub async fn open(name: &'static str, stores: &[(&str, bool)]) -> CloudResult<Rc<Rexie>> {
    let cached = OPEN.with(|o| {
        o.borrow()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, db)| db.clone())
    });
    if let Some(db) = cached {
        // a connection the browser closed (site data cleared, a newer version of the
        // database opened elsewhere) cannot start transactions: open a new one
        let alive = stores
            .first()
            .map(|(s, _)| {
                db.transaction(&[*s], rexie::TransactionMode::ReadOnly)
                    .is_ok()
            })
            .unwrap_or(true);
        if alive {
            return Ok(db);
        }
        forget(name);
    }
    let mut b = Rexie::builder(name).version(1);
    for (store, auto) in stores {
        b = b.add_object_store(ObjectStore::new(store).auto_increment(*auto));
    }
    let db = Rc::new(b.build().await.map_err(|e| format!("{e:?}"))?);
    OPEN.with(|o| o.borrow_mut().push((name, db.clone())));
    Ok(db)
}

/// Every key of one user in stores keyed `<user>|...`: `<user>|` up to `<user>|\u{ffff}`.
pub fn user_range(user: &str) -> CloudResult<KeyRange> {
    KeyRange::bound(
        &JsValue::from_str(&format!("{user}|")),
        &JsValue::from_str(&format!("{user}|\u{ffff}")),
        Some(false),
        Some(false),
    )
    .map_err(|e| format!("{e:?}").into())
}

/// Deletes every entry of `user` (keys `<user>|…`: every table's scope, backups) from
/// `stores` of `db` in one transaction; returns how many went.
pub async fn delete_user(db: &Rexie, stores: &[&str], user: &str) -> CloudResult<usize> {
    let err = |e: rexie::Error| format!("{e:?}");
    let tx = db
        .transaction(stores, TransactionMode::ReadWrite)
        .map_err(err)?;
    let mut n = 0;
    for name in stores {
        let s = tx.store(name).map_err(err)?;
        for k in s
            .get_all_keys(Some(user_range(user)?), None)
            .await
            .map_err(err)?
        {
            s.delete(k).await.map_err(err)?;
            n += 1;
        }
    }
    tx.done().await.map_err(err)?;
    Ok(n)
}

/// The keys and values of one user's entries in `store`, in key order.
pub async fn user_entries(
    db: &Rexie,
    store: &str,
    user: &str,
) -> CloudResult<Vec<(JsValue, JsValue)>> {
    let err = |e: rexie::Error| format!("{e:?}");
    let range = user_range(user)?;
    let tx = db
        .transaction(&[store], TransactionMode::ReadOnly)
        .map_err(err)?;
    let s = tx.store(store).map_err(err)?;
    let keys = s
        .get_all_keys(Some(range.clone()), None)
        .await
        .map_err(err)?;
    let values = s.get_all(Some(range), None).await.map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(keys.into_iter().zip(values).collect())
}
