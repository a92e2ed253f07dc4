//! One IndexedDB connection per database and worker, opened on first use and reused:
//! opening one per call made a burst of saves open hundreds of connections.

use rexie::{ObjectStore, Rexie};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    static OPEN: RefCell<Vec<(&'static str, Rc<Rexie>)>> = const { RefCell::new(Vec::new()) };
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
        return Ok(db);
    }
    let mut b = Rexie::builder(name).version(1);
    for (store, auto) in stores {
        b = b.add_object_store(ObjectStore::new(store).auto_increment(*auto));
    }
    let db = Rc::new(b.build().await.map_err(|e| format!("{e:?}"))?);
    OPEN.with(|o| o.borrow_mut().push((name, db.clone())));
    Ok(db)
}
