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

const A: &str = "user-a";

#[wasm_bindgen_test]
async fn store_load_mark_forget() {
    let creds = parse_block(&block()).unwrap();
    vault::forget(A).await.unwrap();
    assert_eq!(vault::info(A).await.unwrap(), None);
    assert!(vault::load(A).await.unwrap().is_none());

    let info = vault::store(A, &creds).await.unwrap();
    assert_eq!(info.masked_key_id, "ASIA…MPLE");
    assert!(info.temporary);
    assert!(!info.worked);
    let (loaded, worked, generation) = vault::load(A).await.unwrap().unwrap();
    assert_eq!(loaded, creds);
    assert!(!worked);
    assert_eq!(generation.entered_at, info.entered_at);
    assert_eq!(generation.owner, A);

    // refused as expired: held until a call works again
    vault::mark_refused(ErrorClass::CredentialsExpired, &generation)
        .await
        .unwrap();
    assert_eq!(
        vault::refused(A).await.unwrap(),
        Some(ErrorClass::CredentialsExpired)
    );
    // a passing failure is no refusal
    vault::mark_refused(ErrorClass::NetworkUnreachable, &generation)
        .await
        .unwrap();
    assert_eq!(
        vault::refused(A).await.unwrap(),
        Some(ErrorClass::CredentialsExpired)
    );
    vault::mark_worked(&generation).await.unwrap();
    assert!(vault::info(A).await.unwrap().unwrap().worked);
    assert!(vault::load(A).await.unwrap().unwrap().1);
    assert_eq!(vault::refused(A).await.unwrap(), None);

    // storing again replaces, resets "worked" and makes a new generation, even for the
    // very same credentials (a worker's cached client is keyed by it)
    gloo_timers::future::sleep(std::time::Duration::from_millis(5)).await;
    let info2 = vault::store(A, &creds).await.unwrap();
    assert!(!info2.worked);
    let (loaded2, _, generation2) = vault::load(A).await.unwrap().unwrap();
    assert!(generation2.entered_at > generation.entered_at);
    // what the old generation's calls say never touches the new credentials
    vault::mark_refused(ErrorClass::CredentialsExpired, &generation)
        .await
        .unwrap();
    vault::mark_worked(&generation).await.unwrap();
    let now = vault::info(A).await.unwrap().unwrap();
    assert_eq!(now.refused, None);
    assert!(!now.worked);
    assert_eq!(
        vault::load(A).await.unwrap().unwrap().0,
        loaded2,
        "still the new ones"
    );

    vault::forget(A).await.unwrap();
    assert!(vault::load(A).await.unwrap().is_none());
}

#[wasm_bindgen_test]
async fn credentials_belong_to_one_user() {
    let creds = parse_block(&block()).unwrap();
    for u in ["user-b", "user-c", "anonymous"] {
        vault::forget(u).await.unwrap();
    }
    vault::store("user-b", &creds).await.unwrap();
    // another user of this browser neither uses nor sees them
    assert!(vault::load("user-c").await.unwrap().is_none());
    assert_eq!(vault::info("user-c").await.unwrap(), None);
    // pasted while signed out: the next user to sign in takes them (replacing older ones)
    gloo_timers::future::sleep(std::time::Duration::from_millis(5)).await;
    let b_own = vault::info("user-b").await.unwrap().unwrap();
    vault::store("anonymous", &creds).await.unwrap();
    assert!(vault::claim_anonymous("user-b").await.unwrap());
    assert!(vault::info("user-b").await.unwrap().unwrap().entered_at > b_own.entered_at);
    assert!(vault::load("anonymous").await.unwrap().is_none());
    // nothing pasted: nothing taken, the user's own stay
    assert!(!vault::claim_anonymous("user-c").await.unwrap());
    assert!(vault::load("user-b").await.unwrap().is_some());
    // older than the user's own: the user's stay, the anonymous ones wait
    vault::store("anonymous", &creds).await.unwrap();
    gloo_timers::future::sleep(std::time::Duration::from_millis(5)).await;
    vault::store("user-c", &creds).await.unwrap();
    assert!(!vault::claim_anonymous("user-c").await.unwrap());
    assert!(vault::load("anonymous").await.unwrap().is_some());
    for u in ["user-b", "user-c", "anonymous"] {
        vault::forget(u).await.unwrap();
    }
}
