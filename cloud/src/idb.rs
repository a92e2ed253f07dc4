//! One IndexedDB connection per database and worker, opened on first use and reused:
//! opening one per call made a burst of saves open hundreds of connections.

use rexie::{ObjectStore, Rexie};
use std::cell::RefCell;
use std::rc::Rc;

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
pub async fn open(name: &'static str, stores: &[(&str, bool)]) -> Result<Rc<Rexie>, String> {
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
