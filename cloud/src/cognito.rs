//! Cognito user pools through their JSON API (SignUp, ConfirmSignUp, InitiateAuth with
//! USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH): unsigned calls, so a plain fetch.

use crate::vault::Session;
use ledgerline_core::protocol::CognitoConfig;
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a Cognito call failed, in words for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    /// Wrong password, unknown user, or an expired refresh token (Cognito does not say which).
    NotAuthorized(String),
    NotConfirmed,
    Exists,
    BadPassword(String),
    BadCode,
    Unreachable,
    Other(String),
}

/// What an ended session (refresh token expired, revoked, or the user removed) tells the user.
pub const SESSION_ENDED: &str =
    "Your sign-in has expired: sign in again. Your invoices in this browser are untouched.";

impl AuthError {
    pub fn message(&self) -> String {
        match self {
            AuthError::NotAuthorized(_) => "Wrong email or password.".into(),
            AuthError::NotConfirmed => "This account is not confirmed yet: enter the code sent to your email.".into(),
            AuthError::Exists => "An account with this email already exists: sign in instead.".into(),
            AuthError::BadPassword(m) => format!("The password does not meet the pool's rules: {m}"),
            AuthError::BadCode => "That confirmation code is wrong or expired.".into(),
            AuthError::Unreachable => "Cognito could not be reached: check the network and the user pool settings (region, endpoint).".into(),
            AuthError::Other(m) => format!("Cognito refused the request: {m}"),
        }
    }
}

fn endpoint(c: &CognitoConfig) -> String {
    let e = c.endpoint.trim();
    if e.is_empty() {
        format!("https://cognito-idp.{}.amazonaws.com/", c.region.trim())
    } else {
        e.to_string()
    }
}

async fn call(c: &CognitoConfig, op: &str, body: Value) -> Result<Value, AuthError> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|_| AuthError::Unreachable)?;
    let _ = headers.append("Content-Type", "application/x-amz-json-1.1");
    let _ = headers.append(
        "X-Amz-Target",
        &format!("AWSCognitoIdentityProviderService.{op}"),
    );
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body.to_string()));
    let req = web_sys::Request::new_with_str_and_init(&endpoint(c), &init)
        .map_err(|_| AuthError::Unreachable)?;
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &JsValue::from_str("fetch"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or(AuthError::Unreachable)?;
    let promise: js_sys::Promise = fetch
        .call1(&global, &req)
        .map_err(|_| AuthError::Unreachable)?
        .unchecked_into();
    let resp: web_sys::Response = JsFuture::from(promise)
        .await
        .map_err(|_| AuthError::Unreachable)?
        .unchecked_into();
    let text = JsFuture::from(resp.text().map_err(|_| AuthError::Unreachable)?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if resp.ok() {
        return Ok(v);
    }
    let kind = v
        .get("__type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .rsplit('#')
        .next()
        .unwrap_or("")
        .to_string();
    let msg = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Err(match kind.as_str() {
        "NotAuthorizedException" | "UserNotFoundException" => AuthError::NotAuthorized(msg),
        "UserNotConfirmedException" => AuthError::NotConfirmed,
        "UsernameExistsException" => AuthError::Exists,
        "InvalidPasswordException" => AuthError::BadPassword(msg),
        "CodeMismatchException" | "ExpiredCodeException" => AuthError::BadCode,
        _ => AuthError::Other(if msg.is_empty() { kind } else { msg }),
    })
}

/// The `sub` and `email` claims of an ID token (no signature check: it came straight from
/// Cognito over TLS and only names the partition; DynamoDB access uses the AWS credentials).
pub fn claims(id_token: &str) -> Option<(String, String)> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64url(payload)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let sub = v.get("sub")?.as_str()?.to_string();
    let email = v
        .get("email")
        .and_then(Value::as_str)
        .or_else(|| v.get("cognito:username").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    Some((sub, email))
}

fn base64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn session_from(result: &Value, refresh_fallback: Option<&str>) -> Result<Session, AuthError> {
    let r = result.get("AuthenticationResult").ok_or_else(|| {
        AuthError::Other(
            "no tokens in the answer (is USER_PASSWORD_AUTH enabled for this app client?)".into(),
        )
    })?;
    let id_token = r
        .get("IdToken")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let refresh = r
        .get("RefreshToken")
        .and_then(Value::as_str)
        .or(refresh_fallback)
        .unwrap_or("")
        .to_string();
    let (sub, email) = claims(&id_token)
        .ok_or_else(|| AuthError::Other("the ID token could not be read".into()))?;
    Ok(Session {
        sub,
        email,
        id_token,
        refresh_token: refresh,
    })
}

pub async fn sign_in(c: &CognitoConfig, email: &str, password: &str) -> Result<Session, AuthError> {
    let r = call(
        c,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": c.client_id, "AuthParameters": {"USERNAME": email, "PASSWORD": password}}),
    )
    .await
    // cognito-local answers a wrong password with InvalidPasswordException; AWS with
    // NotAuthorizedException: both mean "wrong email or password" here
    .map_err(|e| match e {
        AuthError::BadPassword(m) => AuthError::NotAuthorized(m),
        e => e,
    })?;
    session_from(&r, None)
}

pub async fn refresh(c: &CognitoConfig, s: &Session) -> Result<Session, AuthError> {
    let r = call(
        c,
        "InitiateAuth",
        json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": c.client_id, "AuthParameters": {"REFRESH_TOKEN": s.refresh_token}}),
    )
    .await?;
    session_from(&r, Some(&s.refresh_token))
}

pub async fn sign_up(c: &CognitoConfig, email: &str, password: &str) -> Result<bool, AuthError> {
    let r = call(
        c,
        "SignUp",
        json!({"ClientId": c.client_id, "Username": email, "Password": password, "UserAttributes": [{"Name": "email", "Value": email}]}),
    )
    .await?;
    Ok(r.get("UserConfirmed")
        .and_then(Value::as_bool)
        .unwrap_or(false))
}

pub async fn confirm(c: &CognitoConfig, email: &str, code: &str) -> Result<(), AuthError> {
    call(
        c,
        "ConfirmSignUp",
        json!({"ClientId": c.client_id, "Username": email, "ConfirmationCode": code.trim()}),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn reads_claims() {
        // {"sub":"1234-abcd","email":"a@b.test"}
        let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0LWFiY2QiLCJlbWFpbCI6ImFAYi50ZXN0In0.sig";
        assert_eq!(claims(token), Some(("1234-abcd".into(), "a@b.test".into())));
        assert_eq!(claims("garbage"), None);
        assert_eq!(claims("a.!!!.c"), None);
    }
}
