//! Browser-level tests of the page's storage adapter, in headless Chromium
//! (`cargo test -p ledgerline-app --target wasm32-unknown-unknown`).

use ledgerline_app::platform::{new_id, with_kv, LocalKv};
use ledgerline_core::store::{self, Kv, KvError, Namespace};
use ledgerline_core::testing::{client, invoice};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn clear() {
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .clear()
        .unwrap();
}

#[wasm_bindgen_test]
fn local_kv_round_trip_and_keys() {
    clear();
    let mut kv = LocalKv::open().expect("localStorage");
    kv.set("a", "1").unwrap();
    kv.set("b", "2").unwrap();
    assert_eq!(kv.get("a").as_deref(), Some("1"));
    let mut keys = kv.keys();
    keys.sort();
    assert_eq!(keys, vec!["a".to_string(), "b".to_string()]);
    kv.remove("a");
    assert_eq!(kv.get("a"), None);
    clear();
}

#[wasm_bindgen_test]
fn store_layout_in_real_local_storage_with_a_damaged_entry() {
    clear();
    let ns = Namespace::anonymous();
    with_kv(|kv| {
        store::put_client(kv, &ns, &client("c1", "Acme")).unwrap();
        store::put_invoice(kv, &ns, &invoice("i1", "INV-0001", "c1")).unwrap();
        kv.set(&ns.invoice("broken"), "{\"id\":").unwrap();
    });
    let raw = web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item("ledgerline/v1/anonymous/invoice/i1")
        .unwrap()
        .unwrap();
    assert!(raw.contains("\"checksum\":\"fnv1a64:"));
    assert!(raw.contains("\"version\":1"));
    let snap = with_kv(|kv| store::load(kv, &ns));
    assert_eq!(snap.invoices.len(), 1);
    assert_eq!(snap.damaged.len(), 1);
    assert_eq!(
        snap.damaged[0].key,
        "ledgerline/v1/anonymous/invoice/broken"
    );
    clear();
}

#[wasm_bindgen_test]
fn a_full_local_storage_reports_quota_and_keeps_the_old_value() {
    clear();
    let mut kv = LocalKv::open().unwrap();
    kv.set("keep", "old").unwrap();
    // fill with 512 KiB chunks, then smaller ones, until the browser refuses
    let mut size = 512 * 1024;
    let mut i = 0;
    while size >= 1024 {
        match kv.set(&format!("fill{i}"), &"x".repeat(size)) {
            Ok(()) => i += 1,
            Err(KvError::Quota) => size /= 2,
            Err(KvError::Other(m)) => panic!("unexpected storage error {m}"),
        }
        assert!(i < 200, "localStorage never filled up");
    }
    assert_eq!(kv.set("keep", &"y".repeat(64 * 1024)), Err(KvError::Quota));
    assert_eq!(kv.get("keep").as_deref(), Some("old"));
    clear();
}

#[wasm_bindgen_test]
fn ids_are_unique_uuids() {
    let a = new_id();
    let b = new_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
}
