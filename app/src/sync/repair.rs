//! Repairing an item damaged in DynamoDB from this browser's intact copy.

use super::enqueue;
use crate::platform::with_kv;
use crate::state::{Action, Store};
use ledgerline_core::sync::OpKind;

/// Items damaged in DynamoDB that this device has intact: the local copy goes up as the
/// next version after DynamoDB's (so the conditional write accepts it).
pub fn repair_remote(store: &Store, damaged: &[(String, u64)]) {
    let Some(session) = store.session.clone() else {
        return;
    };
    for (id, remote_version) in damaged {
        // as stored now: edited or deleted during the pull counts
        let Some(local) = with_kv(|kv| ledgerline_core::store::load_invoice(kv, &store.ns, id))
        else {
            continue;
        };
        let mut base = local.clone();
        base.version = base.version.max(*remote_version);
        let record = ledgerline_core::store::next_record(
            id,
            local.content.clone(),
            Some(&base),
            &crate::platform::now_rfc3339(),
        );
        if with_kv(|kv| ledgerline_core::store::put_invoice(kv, &store.ns, &record)).is_err() {
            continue;
        }
        crate::oplog::local(
            store,
            "integrity.repairRemote",
            Some(id),
            Ok(format!(
                "invoice {} was damaged in DynamoDB: this browser's copy goes up again",
                record.content.number
            )),
            js_sys::Date::now(),
        );
        store.dispatch(Action::PutInvoice(record.clone()));
        let parent = super::parent_of(Some(&local));
        enqueue(store, &session, id, OpKind::Put(Box::new(record)), parent);
    }
}
