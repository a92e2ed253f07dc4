//! Cognito user pools through their JSON API (SignUp, ConfirmSignUp, InitiateAuth with
//! USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH): unsigned calls, so a plain fetch.

use crate::vault::Session;
use ledgerline_core::protocol::CognitoConfig;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
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
    /// Cognito answered, but its ID token does not prove the sign-in.
    Refused(ledgerline_core::identity::TokenProblem),
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
            AuthError::Refused(p) => p.message(),
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
    post(
        &endpoint(c),
        &format!("AWSCognitoIdentityProviderService.{op}"),
        body,
    )
    .await
}

/// One unsigned call of Cognito's JSON API (user pools, identity pools).
async fn post(url: &str, target: &str, body: Value) -> Result<Value, AuthError> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|_| AuthError::Unreachable)?;
    let _ = headers.append("Content-Type", "application/x-amz-json-1.1");
    let _ = headers.append("X-Amz-Target", target);
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body.to_string()));
    let req =
        web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| AuthError::Unreachable)?;
    let resp = crate::http::fetch(&req)
        .await
        .map_err(|_| AuthError::Unreachable)?;
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

/// The session Cognito's answer holds, once its ID token proves itself: signed by the
/// pool, for this app client, not expired (see `crate::identity`).
async fn session_from(
    c: &CognitoConfig,
    result: &Value,
    refresh_fallback: Option<&str>,
) -> Result<Session, AuthError> {
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
    let claims = crate::identity::verify(
        c,
        &id_token,
        true,
        js_sys::Date::now() + crate::http::clock_offset_ms(),
    )
    .await
    .map_err(AuthError::Refused)?;
    Ok(Session {
        email: claims.email(),
        sub: claims.sub,
        id_token,
        refresh_token: refresh,
        cognito: Some(c.clone()),
        ended: false,
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
    session_from(c, &r, None).await
}

pub async fn refresh(c: &CognitoConfig, s: &Session) -> Result<Session, AuthError> {
    let r = call(
        c,
        "InitiateAuth",
        json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": c.client_id, "AuthParameters": {"REFRESH_TOKEN": s.refresh_token}}),
    )
    .await?;
    session_from(c, &r, Some(&s.refresh_token)).await
}

/// Revokes the session's refresh token with Cognito (and the tokens issued with it), so
/// that a copy of it left anywhere signs nobody in. The app client must allow token
/// revocation (AWS's default for new clients).
pub async fn revoke(c: &CognitoConfig, s: &Session) -> Result<(), AuthError> {
    if s.refresh_token.is_empty() {
        return Ok(());
    }
    call(
        c,
        "RevokeToken",
        json!({"Token": s.refresh_token, "ClientId": c.client_id}),
    )
    .await
    .map(|_| ())
}

/// Where the identity pool answers: `https://cognito-identity.<region>.amazonaws.com/`,
/// or the configured stand-in.
fn identity_endpoint(c: &CognitoConfig) -> String {
    let e = c.identity_endpoint.trim();
    if e.is_empty() {
        format!(
            "https://cognito-identity.{}.amazonaws.com/",
            c.region.trim()
        )
    } else {
        e.to_string()
    }
}

/// Temporary AWS credentials of the identity pool for the user `id_token` proves (GetId,
/// then GetCredentialsForIdentity with the token as the login), and when they expire (ms
/// since the epoch). The pool's authenticated role decides what they may do: with the
/// deploy's role, the user's own partition only.
pub async fn pool_credentials(
    c: &CognitoConfig,
    id_token: &str,
) -> Result<(ledgerline_core::credentials::Credentials, f64), AuthError> {
    use ledgerline_core::credentials::{Credentials, Secret};
    // the login names the user pool as its issuer does, without the scheme
    let issuer = ledgerline_core::identity::issuer(c);
    let provider = issuer
        .split_once("://")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(issuer);
    let logins = json!({ provider: id_token });
    let url = identity_endpoint(c);
    let id = post(
        &url,
        "AWSCognitoIdentityService.GetId",
        json!({"IdentityPoolId": c.identity_pool_id.trim(), "Logins": logins}),
    )
    .await?;
    let identity = id
        .get("IdentityId")
        .and_then(Value::as_str)
        .ok_or_else(|| AuthError::Other("the identity pool gave no identity".into()))?;
    let r = post(
        &url,
        "AWSCognitoIdentityService.GetCredentialsForIdentity",
        json!({"IdentityId": identity, "Logins": logins}),
    )
    .await?;
    let creds = r
        .get("Credentials")
        .ok_or_else(|| AuthError::Other("the identity pool gave no credentials".into()))?;
    let text = |k: &str| creds.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(key), Some(secret), Some(token)) =
        (text("AccessKeyId"), text("SecretKey"), text("SessionToken"))
    else {
        return Err(AuthError::Other(
            "the identity pool's credentials are incomplete".into(),
        ));
    };
    // epoch seconds (AWS's JSON); an hour when it is not said
    let expires = creds
        .get("Expiration")
        .and_then(Value::as_f64)
        .map(|s| s * 1000.0)
        .unwrap_or_else(|| js_sys::Date::now() + 3_600_000.0);
    Ok((
        Credentials {
            access_key_id: key,
            secret_access_key: Secret::new(secret),
            session_token: Some(Secret::new(token)),
        },
        expires,
    ))
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
