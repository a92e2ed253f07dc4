//! Who is signed in, proved: an ID token's RS256 signature checked with WebCrypto
//! against the user pool's published keys (JWKS), its claims by
//! `ledgerline_core::identity`. The keys are kept in the vault's database (they are
//! public) so that an offline start can still check the sealed session.

use crate::vault::{self, Session};
use ledgerline_core::identity::{self, Claims, Jwt, TokenProblem};
use ledgerline_core::protocol::CognitoConfig;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// The last token whose signature was checked here, and its claims: a session is
    /// checked at every request, its signature once.
    static CHECKED: RefCell<Option<(String, Claims)>> = const { RefCell::new(None) };
}

fn keys_name(c: &CognitoConfig) -> String {
    format!("jwks|{}", identity::issuer(c))
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let resp = crate::http::fetch(&JsValue::from_str(url))
        .await
        .map_err(|_| "unreachable")?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    JsFuture::from(resp.text().map_err(|_| "no body")?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| "no body".to_string())
}

/// The pool's key set: the kept copy, or (`fetch`, or none kept) a fresh one, kept.
async fn key_set(c: &CognitoConfig, fetch: bool) -> Result<String, TokenProblem> {
    let name = keys_name(c);
    let kept = vault::get_plain(&name).await.ok().flatten();
    if !fetch {
        if let Some(k) = kept.clone() {
            return Ok(k);
        }
    }
    match fetch_text(&identity::jwks_url(c)).await {
        Ok(text) => {
            // only a key set is kept (a captive portal's page is not)
            identity::key_set_problem(&text)?;
            let _ = vault::put_plain(&name, &text).await;
            Ok(text)
        }
        Err(why) => kept.ok_or(TokenProblem::NoKeys(why)),
    }
}

fn object(pairs: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

/// Whether `jwt`'s signature is the one `jwk` (a public RSA key, JSON) makes.
pub async fn signature_ok(jwk: &str, jwt: &Jwt) -> Result<bool, TokenProblem> {
    let unusable = |_| TokenProblem::NoKeys("the user pool's key could not be used".into());
    let subtle = vault::subtle().map_err(|e| TokenProblem::NoKeys(e.to_string()))?;
    let key_data: js_sys::Object = js_sys::JSON::parse(jwk).map_err(unusable)?.unchecked_into();
    let algorithm = object(&[
        ("name", "RSASSA-PKCS1-v1_5".into()),
        ("hash", "SHA-256".into()),
    ]);
    let usages = js_sys::Array::of1(&"verify".into());
    let key: web_sys::CryptoKey = JsFuture::from(
        subtle
            .import_key_with_object("jwk", &key_data, &algorithm, false, &usages)
            .map_err(unusable)?,
    )
    .await
    .map_err(unusable)?
    .unchecked_into();
    let ok = JsFuture::from(
        subtle
            .verify_with_object_and_u8_array_and_u8_array(
                &algorithm,
                &key,
                &jwt.signature,
                jwt.signed.as_bytes(),
            )
            .map_err(unusable)?,
    )
    .await
    .map_err(unusable)?;
    Ok(ok.as_bool().unwrap_or(false))
}

/// Checks `token` as an ID token of `c`'s pool and app client: claims (`fresh`: not
/// expired, see `ledgerline_core::identity::check`) and signature. `now_ms`: the time
/// to check expiry against.
pub async fn verify(
    c: &CognitoConfig,
    token: &str,
    fresh: bool,
    now_ms: f64,
) -> Result<Claims, TokenProblem> {
    let jwt = identity::parse(token)?;
    identity::check(&jwt, c, (now_ms / 1000.0) as i64, fresh)?;
    if let Some(claims) = CHECKED.with(|k| {
        k.borrow()
            .as_ref()
            .filter(|(t, _)| t == token)
            .map(|(_, c)| c.clone())
    }) {
        return Ok(claims);
    }
    let jwk = match identity::key_of(&key_set(c, false).await?, &jwt.header.kid) {
        Ok(k) => k,
        // the pool rotated its keys since they were kept
        Err(TokenProblem::UnknownKey(_)) => {
            identity::key_of(&key_set(c, true).await?, &jwt.header.kid)?
        }
        Err(e) => return Err(e),
    };
    if !signature_ok(&jwk, &jwt).await? {
        return Err(TokenProblem::BadSignature);
    }
    CHECKED.with(|k| *k.borrow_mut() = Some((token.to_string(), jwt.claims.clone())));
    Ok(jwt.claims)
}

/// The user the sealed session proves, if any: its ID token is the pool's (signature,
/// issuer, audience) and names this `sub`. A session without its pool cannot be checked
/// (`Request::SignedIn` gives one kept by an older version the page's pool to try).
pub async fn proven(session: &Session) -> Option<String> {
    let c = session.cognito.as_ref()?;
    let claims = verify(c, &session.id_token, false, js_sys::Date::now())
        .await
        .ok()?;
    (claims.sub == session.sub).then_some(claims.sub)
}

/// Who is signed in in this browser, proved (None: nobody, or a session that does not
/// prove itself).
pub async fn signed_in() -> Option<String> {
    let session = vault::load_session().await.ok().flatten()?;
    proven(&session).await
}
