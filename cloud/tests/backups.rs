//! The backups store in a real browser (IndexedDB): pruning and listing read each copy's
//! head only, and copies an older version stored (no size in their head) still count.

use ledgerline_cloud::backup;
use ledgerline_core::backups::{AUTOMATIC, LATEST};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const USER: &str = "backups-test-user";

fn bundle(n: usize) -> String {
    format!(
        "{{\"invoices\":[{}]}}",
        vec![r#"{"notes":"\"quoted\", \"bundle\": inside, and ünïcode"}"#; n].join(",")
    )
}

/// Stores a copy as a version before sizes were written stored it.
async fn put_old_format(at: u64, reason: &str, text_bundle: &str) {
    let db = ledgerline_cloud::idb::open("ledgerline-backups", &[("backups", false)])
        .await
        .unwrap();
    let tx = db
        .transaction(&["backups"], rexie::TransactionMode::ReadWrite)
        .unwrap();
    let value = serde_json::json!({"at": at as f64, "reason": reason, "invoices": 1, "bundle": text_bundle});
    tx.store("backups")
        .unwrap()
        .put(
            &JsValue::from_str(&value.to_string()),
            Some(&JsValue::from_str(&format!("{USER}|{at:015}"))),
        )
        .await
        .unwrap();
    tx.done().await.unwrap();
}

#[wasm_bindgen_test]
async fn copies_are_listed_and_pruned_from_their_heads_old_ones_included() {
    backup::remove_user(USER).await.unwrap();
    let old = bundle(3);
    put_old_format(1_000, "before pull", &old).await;
    // three more of the same kind, three kept: the old-format one goes first
    let big = bundle(2_000);
    for _ in 0..3 {
        backup::add(USER, "before pull", 2_000, big.clone(), 3)
            .await
            .unwrap();
    }
    backup::add(USER, LATEST, 2_000, big.clone(), 1)
        .await
        .unwrap();
    backup::add(USER, AUTOMATIC, 2_000, big.clone(), 2)
        .await
        .unwrap();
    let list = backup::list(USER).await.unwrap();
    let reasons: Vec<&str> = list.iter().map(|b| b.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            AUTOMATIC,
            LATEST,
            "before pull",
            "before pull",
            "before pull"
        ]
    );
    assert!(list
        .iter()
        .all(|b| b.bytes == big.len() as u64 && b.invoices == 2_000));
    assert!(list.windows(2).all(|w| w[0].at > w[1].at), "newest first");
    // the copy read whole is the one stored
    assert_eq!(
        backup::read(USER, list[0].at).await.unwrap().as_deref(),
        Some(big.as_str())
    );

    // an old-format copy is listed with its size (read whole) and pruned like the others
    backup::remove_user(USER).await.unwrap();
    put_old_format(2_000, "before pull", &old).await;
    let list = backup::list(USER).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].bytes, old.len() as u64);
    backup::add(USER, "before pull", 1, bundle(1), 1)
        .await
        .unwrap();
    let list = backup::list(USER).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].at > 2_000.0, "the old copy was pruned: {list:?}");
    backup::remove_user(USER).await.unwrap();
}
