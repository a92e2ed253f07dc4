//! Who is signed in, as a Cognito ID token proves it (R8.1, R8.4). The token is a JWT
//! signed by the user pool (RS256); this module parses it and checks its claims
//! (`iss` = the pool's issuer, `aud` = the app client, `token_use` = "id", `exp` with a
//! small leeway). The signature itself is checked with WebCrypto by the cloud crate,
//! against the pool's JWKS ([`jwks_url`]), over [`Jwt::signed`].

use crate::protocol::CognitoConfig;
use serde::{Deserialize, Serialize};

/// How far a device clock may be off before a token counts as expired (or not yet valid).
pub const LEEWAY_SECS: i64 = 300;

/// A JWT's header fields that matter here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: String,
}

/// An ID token's claims that matter here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(rename = "cognito:username", default)]
    pub username: Option<String>,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub aud: String,
    #[serde(default)]
    pub token_use: String,
    #[serde(default)]
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
}

impl Claims {
    /// The email to show (the username where the pool has no email attribute).
    pub fn email(&self) -> String {
        self.email
            .clone()
            .or_else(|| self.username.clone())
            .unwrap_or_default()
    }
}

/// A parsed JWT: its header, claims, the text the signature covers and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    pub header: Header,
    pub claims: Claims,
    /// `<header>.<payload>` as sent: what the signature signs.
    pub signed: String,
    pub signature: Vec<u8>,
}

/// Why a token is not accepted, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a JWT with the claims of an ID token.
    Malformed(String),
    /// Signed with something else than RS256.
    Algorithm(String),
    /// The pool's keys do not include the token's key id.
    UnknownKey(String),
    /// The signature does not match: the token was altered or not made by this pool.
    BadSignature,
    WrongIssuer {
        found: String,
        expected: String,
    },
    WrongAudience,
    NotAnIdToken(String),
    Expired {
        exp: i64,
        now: i64,
    },
    NotYetValid {
        iat: i64,
        now: i64,
    },
    /// The pool's keys could not be fetched, and none are cached.
    NoKeys(String),
}

impl TokenProblem {
    pub fn message(&self) -> String {
        let refused = "Ledgerline did not accept the sign-in from Cognito";
        match self {
            TokenProblem::Malformed(why) => format!("{refused}: its ID token could not be read ({why})."),
            TokenProblem::Algorithm(alg) => format!("{refused}: its ID token is signed with '{alg}', not RS256."),
            TokenProblem::UnknownKey(kid) => format!("{refused}: its ID token is signed with a key ('{kid}') the user pool does not publish."),
            TokenProblem::BadSignature => format!("{refused}: the ID token's signature is not valid (the token was altered, or does not come from this user pool)."),
            TokenProblem::WrongIssuer { found, expected } => format!("{refused}: the ID token was issued by '{found}', not by the configured user pool ('{expected}'). Check the pool id, region and endpoint on the Account page."),
            TokenProblem::WrongAudience => format!("{refused}: the ID token was issued for another app client. Check the app client id on the Account page."),
            TokenProblem::NotAnIdToken(used) => format!("{refused}: the token is a '{used}' token, not an ID token."),
            TokenProblem::Expired { .. } => format!("{refused}: the ID token has expired. If this device's clock is wrong, set it right; then sign in again."),
            TokenProblem::NotYetValid { .. } => format!("{refused}: the ID token is not valid yet: this device's clock is behind. Set it right, then sign in again."),
            TokenProblem::NoKeys(why) => format!("The user pool's signing keys could not be fetched ({why}), so the sign-in cannot be checked. Connect to the network and sign in again."),
        }
    }
}

/// The issuer an ID token of `c`'s pool names: `https://cognito-idp.<region>.amazonaws.com/<pool>`,
/// or `<endpoint>/<pool>` for a stand-in.
pub fn issuer(c: &CognitoConfig) -> String {
    let endpoint = c.endpoint.trim().trim_end_matches('/');
    let base = if endpoint.is_empty() {
        format!("https://cognito-idp.{}.amazonaws.com", c.region.trim())
    } else {
        endpoint.to_string()
    };
    format!("{base}/{}", c.user_pool_id.trim())
}

/// Where `c`'s pool publishes its signing keys.
pub fn jwks_url(c: &CognitoConfig) -> String {
    format!("{}/.well-known/jwks.json", issuer(c))
}

/// Decodes base64url (with or without padding; standard base64 accepted too).
pub fn base64url(s: &str) -> Option<Vec<u8>> {
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

/// Parses a JWT (nothing is checked but its shape).
pub fn parse(token: &str) -> Result<Jwt, TokenProblem> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Malformed("not three parts".into()));
    };
    let part = |what: &str, text: &str| {
        base64url(text)
            .ok_or_else(|| TokenProblem::Malformed(format!("its {what} is not base64url")))
    };
    let header: Header = serde_json::from_slice(&part("header", h)?)
        .map_err(|e| TokenProblem::Malformed(format!("header: {e}")))?;
    let claims: Claims = serde_json::from_slice(&part("payload", p)?)
        .map_err(|e| TokenProblem::Malformed(format!("claims: {e}")))?;
    Ok(Jwt {
        header,
        claims,
        signed: format!("{h}.{p}"),
        signature: part("signature", s)?,
    })
}

/// Checks an ID token's claims for `c`'s pool and app client at `now` (seconds since
/// the epoch). `fresh`: the token must not have expired (at sign-in and refresh); a
/// stored session's token proves who signed in even after it expired, as long as it is
/// the pool's and the client's.
pub fn check(jwt: &Jwt, c: &CognitoConfig, now: i64, fresh: bool) -> Result<(), TokenProblem> {
    if jwt.header.alg != "RS256" {
        return Err(TokenProblem::Algorithm(jwt.header.alg.clone()));
    }
    let claims = &jwt.claims;
    let expected = issuer(c);
    if claims.iss != expected {
        return Err(TokenProblem::WrongIssuer {
            found: claims.iss.chars().take(120).collect(),
            expected,
        });
    }
    if claims.aud != c.client_id.trim() {
        return Err(TokenProblem::WrongAudience);
    }
    if claims.token_use != "id" {
        return Err(TokenProblem::NotAnIdToken(
            claims.token_use.chars().take(20).collect(),
        ));
    }
    if claims.sub.trim().is_empty() {
        return Err(TokenProblem::Malformed("no sub claim".into()));
    }
    if fresh {
        if claims.exp.saturating_add(LEEWAY_SECS) < now {
            return Err(TokenProblem::Expired {
                exp: claims.exp,
                now,
            });
        }
        if claims.iat.saturating_sub(LEEWAY_SECS) > now {
            return Err(TokenProblem::NotYetValid {
                iat: claims.iat,
                now,
            });
        }
    }
    Ok(())
}

/// Why `jwks` is not a key set (`{"keys": [...]}`), if it is not.
pub fn key_set_problem(jwks: &str) -> Result<(), TokenProblem> {
    let doc: serde_json::Value = serde_json::from_str(jwks)
        .map_err(|e| TokenProblem::NoKeys(format!("the key set is not JSON: {e}")))?;
    match doc.get("keys").and_then(|k| k.as_array()) {
        Some(keys) if !keys.is_empty() => Ok(()),
        _ => Err(TokenProblem::NoKeys("the key set has no keys".into())),
    }
}

/// The key `kid` from a JWKS document (`{"keys": [...]}`), as its JSON text for WebCrypto's
/// `importKey("jwk", …)`.
pub fn key_of(jwks: &str, kid: &str) -> Result<String, TokenProblem> {
    key_set_problem(jwks)?;
    let doc: serde_json::Value = serde_json::from_str(jwks).unwrap_or_default();
    let keys = doc["keys"].as_array().cloned().unwrap_or_default();
    keys.iter()
        .find(|k| {
            k.get("kid").and_then(|v| v.as_str()) == Some(kid)
                && k.get("kty").and_then(|v| v.as_str()) == Some("RSA")
        })
        .map(|k| {
            // only what WebCrypto needs: an RSA public key
            serde_json::json!({"kty": "RSA", "n": k.get("n"), "e": k.get("e"), "alg": "RS256", "ext": true})
                .to_string()
        })
        .ok_or_else(|| TokenProblem::UnknownKey(kid.chars().take(60).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn pool() -> CognitoConfig {
        CognitoConfig {
            region: "eu-west-1".into(),
            endpoint: String::new(),
            user_pool_id: "eu-west-1_AbC".into(),
            client_id: "client123".into(),
            ..Default::default()
        }
    }

    fn token(claims: serde_json::Value) -> String {
        format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","kid":"k1"}"#),
            b64(claims.to_string().as_bytes()),
            b64(b"sig")
        )
    }

    fn good() -> serde_json::Value {
        serde_json::json!({"sub": "u-1", "email": "a@b.c", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
            "aud": "client123", "token_use": "id", "exp": 2_000, "iat": 1_000})
    }

    #[test]
    fn base64url_round_trips() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"\xff\xfe\x00\x10"] {
            assert_eq!(base64url(&b64(s)).unwrap(), s);
        }
        assert_eq!(base64url("a b"), None);
    }

    #[test]
    fn issuer_is_aws_or_the_endpoint() {
        assert_eq!(
            issuer(&pool()),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
        );
        let mut local = pool();
        local.endpoint = "http://127.0.0.1:9229/".into();
        assert_eq!(issuer(&local), "http://127.0.0.1:9229/eu-west-1_AbC");
        assert_eq!(
            jwks_url(&local),
            "http://127.0.0.1:9229/eu-west-1_AbC/.well-known/jwks.json"
        );
    }

    #[test]
    fn a_good_id_token_passes_and_each_wrong_claim_is_named() {
        let jwt = parse(&token(good())).unwrap();
        assert_eq!(jwt.claims.sub, "u-1");
        assert_eq!(jwt.claims.email(), "a@b.c");
        assert_eq!(jwt.signature, b"sig");
        assert!(jwt.signed.starts_with("eyJ"));
        assert_eq!(check(&jwt, &pool(), 1_500, true), Ok(()));
        // within the leeway either side
        assert_eq!(check(&jwt, &pool(), 2_000 + LEEWAY_SECS, true), Ok(()));
        assert_eq!(check(&jwt, &pool(), 1_000 - LEEWAY_SECS, true), Ok(()));
        assert!(matches!(
            check(&jwt, &pool(), 2_001 + LEEWAY_SECS, true),
            Err(TokenProblem::Expired { .. })
        ));
        assert!(matches!(
            check(&jwt, &pool(), 999 - LEEWAY_SECS, true),
            Err(TokenProblem::NotYetValid { .. })
        ));
        // a stored session's token: who signed in, even once expired
        assert_eq!(check(&jwt, &pool(), 99_999, false), Ok(()));

        let with = |k: &str, v: serde_json::Value| {
            let mut c = good();
            c[k] = v;
            check(&parse(&token(c)).unwrap(), &pool(), 1_500, true)
        };
        assert!(matches!(
            with("iss", "https://evil.example/eu-west-1_AbC".into()),
            Err(TokenProblem::WrongIssuer { .. })
        ));
        assert_eq!(
            with("aud", "other".into()),
            Err(TokenProblem::WrongAudience)
        );
        assert_eq!(
            with("token_use", "access".into()),
            Err(TokenProblem::NotAnIdToken("access".into()))
        );
        assert!(matches!(
            with("sub", "".into()),
            Err(TokenProblem::Malformed(_))
        ));
        let hs = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"HS256"}"#),
            b64(good().to_string().as_bytes()),
            b64(b"s")
        );
        assert_eq!(
            check(&parse(&hs).unwrap(), &pool(), 1_500, true),
            Err(TokenProblem::Algorithm("HS256".into()))
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.e30"] {
            assert!(
                matches!(parse(bad), Err(TokenProblem::Malformed(_))),
                "{bad}"
            );
        }
        for p in [
            TokenProblem::BadSignature,
            TokenProblem::WrongAudience,
            TokenProblem::Expired { exp: 1, now: 2 },
        ] {
            assert!(p
                .message()
                .starts_with("Ledgerline did not accept the sign-in"));
        }
    }

    #[test]
    fn the_signing_key_is_found_by_its_id() {
        let jwks = r#"{"keys":[{"kty":"RSA","kid":"a","n":"nA","e":"AQAB","use":"sig"},{"kty":"RSA","kid":"b","n":"nB","e":"AQAB"}]}"#;
        let k: serde_json::Value = serde_json::from_str(&key_of(jwks, "b").unwrap()).unwrap();
        assert_eq!(k["n"], "nB");
        assert_eq!(k["alg"], "RS256");
        assert_eq!(key_of(jwks, "c"), Err(TokenProblem::UnknownKey("c".into())));
        assert!(matches!(
            key_of("<html>", "a"),
            Err(TokenProblem::NoKeys(_))
        ));
    }
}
