//! The credential vault in a real browser (IndexedDB + WebCrypto).

use ledgerline_cloud::vault;
use ledgerline_core::credentials::parse_block;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn block() -> String {
    let token = "IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+".repeat(12) + "==";
    format!("[default]\naws_access_key_id=ASIAIOSFODNN7EXAMPLE\naws_secret_access_key={SECRET}\naws_session_token={token}\n")
}

#[wasm_bindgen_test]
async fn store_load_mark_forget() {
    let creds = parse_block(&block()).unwrap();
    vault::forget().await.unwrap();
    assert_eq!(vault::info().await.unwrap(), None);
    assert!(vault::load().await.unwrap().is_none());

    let info = vault::store(&creds).await.unwrap();
    assert_eq!(info.masked_key_id, "ASIA…MPLE");
    assert!(info.temporary);
    assert!(!info.worked);
    let (loaded, worked) = vault::load().await.unwrap().unwrap();
    assert_eq!(loaded, creds);
    assert!(!worked);

    vault::mark_worked().await.unwrap();
    assert!(vault::info().await.unwrap().unwrap().worked);
    assert!(vault::load().await.unwrap().unwrap().1);

    // storing again replaces, and resets "worked"
    let info2 = vault::store(&creds).await.unwrap();
    assert!(!info2.worked);

    vault::forget().await.unwrap();
    assert!(vault::load().await.unwrap().is_none());
}
