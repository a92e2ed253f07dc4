//! The conflicts store in a real browser (IndexedDB): the same loss kept twice at once
//! (a replay's losers and a pull's, racing in the worker) is stored once.

use ledgerline_cloud::store;
use ledgerline_core::sync::Conflict;
use ledgerline_core::testing::invoice;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SCOPE: &str = "race-user|http://localhost:4567~us-east-1~Invoices";

fn loss(at: u64) -> Conflict {
    let mut mine = invoice("inv-1", "INV-1", "c1");
    mine.version = 2;
    let mut theirs = invoice("inv-1", "INV-1", "c1");
    theirs.content.notes = "their edit".into();
    theirs.checksum = ledgerline_core::checksum::content_checksum(&theirs.content);
    theirs.version = 7;
    Conflict {
        invoice_id: "inv-1".into(),
        local: Some(mine),
        remote: Some(theirs),
        remote_version: None,
        damaged_remote: None,
        record: None,
        at,
    }
}

#[wasm_bindgen_test]
async fn the_same_loss_kept_twice_at_once_is_stored_once() {
    for c in store::conflicts(SCOPE).await.unwrap() {
        store::drop_conflict(SCOPE, &c.invoice_id, c.at)
            .await
            .unwrap();
    }
    let (a, b) = futures_util::future::join(
        store::keep_conflicts(SCOPE, vec![loss(1_000)]),
        store::keep_conflicts(SCOPE, vec![loss(1_001)]),
    )
    .await;
    let kept = a.unwrap().len() + b.unwrap().len();
    assert_eq!(kept, 1, "one of the two keeps found the other's");
    assert_eq!(store::conflicts(SCOPE).await.unwrap().len(), 1);

    // a different loss of the same invoice (another local content) is kept beside it
    let mut other = loss(1_002);
    if let Some(l) = other.local.as_mut() {
        l.content.notes = "a later edit".into();
        l.checksum = ledgerline_core::checksum::content_checksum(&l.content);
    }
    assert_eq!(
        store::keep_conflicts(SCOPE, vec![other])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store::conflicts(SCOPE).await.unwrap().len(), 2);
}
