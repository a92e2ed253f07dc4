//! The credential vault in a real browser (IndexedDB + WebCrypto).

use ledgerline_cloud::vault;
use ledgerline_core::credentials::parse_block;
use ledgerline_core::errors::ErrorClass;
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
    let (loaded, worked, generation) = vault::load().await.unwrap().unwrap();
    assert_eq!(loaded, creds);
    assert!(!worked);
    assert_eq!(generation, info.entered_at);

    // refused as expired: held until a call works again
    vault::mark_refused(ErrorClass::CredentialsExpired, generation)
        .await
        .unwrap();
    assert_eq!(
        vault::refused().await.unwrap(),
        Some(ErrorClass::CredentialsExpired)
    );
    // a passing failure is no refusal
    vault::mark_refused(ErrorClass::NetworkUnreachable, generation)
        .await
        .unwrap();
    assert_eq!(
        vault::refused().await.unwrap(),
        Some(ErrorClass::CredentialsExpired)
    );
    vault::mark_worked(generation).await.unwrap();
    assert!(vault::info().await.unwrap().unwrap().worked);
    assert!(vault::load().await.unwrap().unwrap().1);
    assert_eq!(vault::refused().await.unwrap(), None);

    // storing again replaces, resets "worked" and makes a new generation, even for the
    // very same credentials (a worker's cached client is keyed by it)
    gloo_timers::future::sleep(std::time::Duration::from_millis(5)).await;
    let info2 = vault::store(&creds).await.unwrap();
    assert!(!info2.worked);
    let (loaded2, _, generation2) = vault::load().await.unwrap().unwrap();
    assert!(generation2 > generation);
    // what the old generation's calls say never touches the new credentials
    vault::mark_refused(ErrorClass::CredentialsExpired, generation)
        .await
        .unwrap();
    vault::mark_worked(generation).await.unwrap();
    let now = vault::info().await.unwrap().unwrap();
    assert_eq!(now.refused, None);
    assert!(!now.worked);
    assert_eq!(
        vault::load().await.unwrap().unwrap().0,
        loaded2,
        "still the new ones"
    );

    vault::forget().await.unwrap();
    assert!(vault::load().await.unwrap().is_none());
}
