//! AWS credentials as pasted by the user: the whole `[default]` block from AWS Academy
//! "AWS Details", or three separate fields. Secrets never appear in `Debug` output.

use std::fmt;

/// Longest paste accepted (an Academy block is about 1.5 KB).
pub const MAX_INPUT: usize = 16 * 1024;

/// A secret string: `Debug` and `Display` print a redaction, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for signing requests only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Sent between the page and its worker as the plain string (serde), never printed.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} chars redacted>)", self.0.chars().count())
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl Credentials {
    /// "ASIA…WXYZ": enough to recognise the key, nothing to misuse.
    pub fn masked_key_id(&self) -> String {
        let id = &self.access_key_id;
        let tail: String = id
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{}…{}", id.chars().take(4).collect::<String>(), tail)
    }
    /// Temporary (session) credentials, as AWS Academy gives.
    pub fn is_temporary(&self) -> bool {
        self.access_key_id.starts_with("ASIA")
    }
}

/// AWS Academy sessions last about four hours.
pub const ACADEMY_SESSION_MS: f64 = 4.0 * 3600.0 * 1000.0;

/// "12 min ago" for credentials entered at `entered_at` (ms), and, for temporary ones, a
/// warning in the last 30 minutes of the usual Academy session or after it.
pub fn age_and_warning(entered_at: f64, now: f64, temporary: bool) -> (String, Option<String>) {
    let mins = ((now - entered_at) / 60_000.0).max(0.0).floor() as i64;
    let age = if mins < 60 {
        format!("{mins} min ago")
    } else {
        format!("{} h {} min ago", mins / 60, mins % 60)
    };
    let left = ACADEMY_SESSION_MS - (now - entered_at);
    let warning = if !temporary {
        None
    } else if left <= 0.0 {
        Some("These AWS Academy credentials are probably expired (sessions last about 4 hours): paste new ones.".to_string())
    } else if left < 30.0 * 60_000.0 {
        Some(format!(
            "The AWS Academy session ends in about {} min: get new credentials from AWS Details soon.",
            (left / 60_000.0).ceil() as i64
        ))
    } else {
        None
    };
    (age, warning)
}

/// What is wrong with the input, specifically.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CredentialError {
    Empty,
    TooLong,
    MissingKeyId,
    MissingSecret,
    MissingSessionToken,
    UnexpectedSessionToken,
    /// Nothing of what was typed is kept: a secret pasted into the wrong field must not
    /// be echoed (on screen, or in the storage log).
    KeyIdShape {
        len: usize,
        known_prefix: bool,
    },
    SecretTruncated {
        len: usize,
    },
    SecretShape,
    SessionTokenTruncated {
        len: usize,
    },
    SessionTokenShape,
    Duplicate {
        key: String,
    },
    UnreadableLine {
        line: usize,
    },
}

const ACADEMY_STEPS: &str =
    "In AWS Academy: open the lab, press \"AWS Details\", then \"Show\" next to \
     \"AWS CLI\", and copy the whole block starting with [default].";

impl CredentialError {
    /// A specific message with what to do.
    pub fn message(&self) -> String {
        match self {
            CredentialError::Empty => format!("Nothing was pasted. {ACADEMY_STEPS}"),
            CredentialError::TooLong => "That is far longer than AWS credentials: paste only the [default] block.".into(),
            CredentialError::MissingKeyId => format!("The aws_access_key_id line is missing. {ACADEMY_STEPS}"),
            CredentialError::MissingSecret => format!("The aws_secret_access_key line is missing. {ACADEMY_STEPS}"),
            CredentialError::MissingSessionToken => format!(
                "The session token is missing: AWS Academy keys (starting with ASIA) only work together with the \
                 aws_session_token line. {ACADEMY_STEPS}"
            ),
            CredentialError::UnexpectedSessionToken => "A session token was given with a long-term key (AKIA…). Long-term keys take no \
                 session token: remove it, or use the temporary ASIA… key that belongs to this token."
                .into(),
            CredentialError::KeyIdShape { len, known_prefix } => format!(
                "The access key id you entered ({len} characters, {}) does not look like an AWS key id: it should be 20 capital letters and \
                 digits starting with ASIA (AWS Academy) or AKIA. Check that the secret was not pasted into the key id field.",
                if *known_prefix { "starting with ASIA or AKIA" } else { "not starting with ASIA or AKIA" }
            ),
            CredentialError::SecretTruncated { len } => format!(
                "The secret access key has {len} characters; AWS secret keys have 40. It looks truncated: copy it again, whole."
            ),
            CredentialError::SecretShape => "The secret access key contains characters AWS keys never have (only letters, digits, '/' and '+'). \
                 Copy it again without quotes or extra text."
                .into(),
            CredentialError::SessionTokenTruncated { len } => format!(
                "The session token has only {len} characters; AWS Academy tokens are several hundred. It looks \
                 truncated: copy the whole aws_session_token line again."
            ),
            CredentialError::SessionTokenShape => "The session token contains characters AWS tokens never have (only letters, digits, '/', '+' and '='). \
                 Copy it again without extra text."
                .into(),
            CredentialError::Duplicate { key } => format!(
                "{key} appears twice with different values: paste one block only."
            ),
            CredentialError::UnreadableLine { line } => format!(
                "Line {line} is not a 'name = value' line. Paste the [default] block exactly as AWS Academy shows it."
            ),
        }
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Parses a pasted credentials block: `[profile]` headers, `name = value` lines in any
/// order, CRLF, stray spaces, quotes, comments and `export AWS_...=` lines are tolerated;
/// other names (region, output) are ignored.
pub fn parse_block(text: &str) -> Result<Credentials, CredentialError> {
    if text.len() > MAX_INPUT {
        return Err(CredentialError::TooLong);
    }
    if text.trim().is_empty() {
        return Err(CredentialError::Empty);
    }
    let mut id: Option<String> = None;
    let mut secret: Option<String> = None;
    let mut token: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || (line.starts_with('[') && line.ends_with(']'))
        {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let Some((name, value)) = line.split_once('=') else {
            return Err(CredentialError::UnreadableLine { line: n + 1 });
        };
        let name = name.trim().to_ascii_lowercase();
        let value = unquote(value).to_string();
        let slot = match name.as_str() {
            "aws_access_key_id" => &mut id,
            "aws_secret_access_key" => &mut secret,
            "aws_session_token" | "aws_security_token" => &mut token,
            _ => continue,
        };
        match slot {
            Some(old) if *old != value => return Err(CredentialError::Duplicate { key: name }),
            _ => *slot = Some(value),
        }
    }
    from_fields(
        id.as_deref().unwrap_or(""),
        secret.as_deref().unwrap_or(""),
        token.as_deref().unwrap_or(""),
    )
}

/// Validates three separately entered fields (the token may be empty for AKIA keys).
pub fn from_fields(id: &str, secret: &str, token: &str) -> Result<Credentials, CredentialError> {
    let id = unquote(id).trim();
    let secret = unquote(secret).trim();
    let token = unquote(token).trim();
    if id.len() + secret.len() + token.len() > MAX_INPUT {
        return Err(CredentialError::TooLong);
    }
    if id.is_empty() {
        return Err(CredentialError::MissingKeyId);
    }
    let id_ok = id.len() == 20
        && (id.starts_with("ASIA") || id.starts_with("AKIA"))
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !id_ok {
        return Err(CredentialError::KeyIdShape {
            len: id.chars().count(),
            known_prefix: id.starts_with("ASIA") || id.starts_with("AKIA"),
        });
    }
    if secret.is_empty() {
        return Err(CredentialError::MissingSecret);
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    {
        return Err(CredentialError::SecretShape);
    }
    if secret.len() != 40 {
        return Err(CredentialError::SecretTruncated {
            len: secret.chars().count(),
        });
    }
    let temporary = id.starts_with("ASIA");
    let session_token = if token.is_empty() {
        if temporary {
            return Err(CredentialError::MissingSessionToken);
        }
        None
    } else {
        if !temporary {
            return Err(CredentialError::UnexpectedSessionToken);
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'=')
        {
            return Err(CredentialError::SessionTokenShape);
        }
        if token.len() < 100 {
            return Err(CredentialError::SessionTokenTruncated { len: token.len() });
        }
        Some(Secret::new(token))
    };
    Ok(Credentials {
        access_key_id: id.to_string(),
        secret_access_key: Secret::new(secret),
        session_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Shaped like real keys, but fake (the documented AWS example values).
    const ID: &str = "ASIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn token() -> String {
        "IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+".repeat(12) + "=="
    }

    fn block() -> String {
        format!("[default]\naws_access_key_id={ID}\naws_secret_access_key={SECRET}\naws_session_token={}\n", token())
    }

    #[test]
    fn academy_block_parses() {
        let c = parse_block(&block()).unwrap();
        assert_eq!(c.access_key_id, ID);
        assert_eq!(c.secret_access_key.expose(), SECRET);
        assert_eq!(c.session_token.as_ref().unwrap().expose(), token());
        assert!(c.is_temporary());
        assert_eq!(c.masked_key_id(), "ASIA…MPLE");
    }

    #[test]
    fn any_order_crlf_spaces_quotes_comments_and_exports() {
        let text = format!(
            "\u{feff}  # from AWS Details\r\n[default]\r\n  aws_session_token = \"{}\"  \r\nregion=us-east-1\r\n\r\nexport AWS_SECRET_ACCESS_KEY='{SECRET}'\r\n AWS_ACCESS_KEY_ID = {ID}\r\n",
            token()
        );
        let c = parse_block(&text).unwrap();
        assert_eq!(c.access_key_id, ID);
        assert_eq!(c.secret_access_key.expose(), SECRET);
    }

    #[test]
    fn specific_errors() {
        let t = token();
        assert_eq!(parse_block("  \n "), Err(CredentialError::Empty));
        assert_eq!(
            parse_block(&format!(
                "aws_access_key_id={ID}\naws_secret_access_key={SECRET}\n"
            )),
            Err(CredentialError::MissingSessionToken)
        );
        assert_eq!(
            parse_block(&format!(
                "aws_secret_access_key={SECRET}\naws_session_token={t}"
            )),
            Err(CredentialError::MissingKeyId)
        );
        assert!(matches!(
            parse_block(&format!(
                "aws_access_key_id=XYZ123\naws_secret_access_key={SECRET}\naws_session_token={t}"
            )),
            Err(CredentialError::KeyIdShape { .. })
        ));
        // the secret pasted into the key id field: nothing of it is said back
        let e = from_fields(SECRET, SECRET, &t).unwrap_err();
        assert_eq!(
            e,
            CredentialError::KeyIdShape {
                len: SECRET.len(),
                known_prefix: false
            }
        );
        let said = e.message();
        assert!(
            said.contains("40 characters, not starting with ASIA or AKIA"),
            "{said}"
        );
        for w in SECRET.as_bytes().windows(3) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(
                !said.contains(w) || "ASIAKIA".contains(w),
                "'{w}' of the secret in: {said}"
            );
        }
        assert_eq!(
            parse_block(&format!(
                "aws_access_key_id={ID}\naws_secret_access_key={}\naws_session_token={t}",
                &SECRET[..31]
            )),
            Err(CredentialError::SecretTruncated { len: 31 })
        );
        assert_eq!(
            parse_block(&format!(
                "aws_access_key_id={ID}\naws_secret_access_key={SECRET}\naws_session_token={}",
                &t[..50]
            )),
            Err(CredentialError::SessionTokenTruncated { len: 50 })
        );
        assert_eq!(
            from_fields("AKIAIOSFODNN7EXAMPLE", SECRET, &t),
            Err(CredentialError::UnexpectedSessionToken)
        );
        assert!(from_fields("AKIAIOSFODNN7EXAMPLE", SECRET, "").is_ok());
        assert_eq!(
            parse_block(&format!(
                "{}\naws_access_key_id=ASIAIOSFODNN8EXAMPLE",
                block()
            )),
            Err(CredentialError::Duplicate {
                key: "aws_access_key_id".into()
            })
        );
        assert_eq!(
            parse_block("hello world"),
            Err(CredentialError::UnreadableLine { line: 1 })
        );
        let swapped = from_fields(SECRET, ID, &t).unwrap_err();
        assert!(!swapped.message().contains("wJal"));
        assert_eq!(
            parse_block(&"a".repeat(MAX_INPUT + 1)),
            Err(CredentialError::TooLong)
        );
        assert_eq!(
            from_fields(ID, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE!EY", &t),
            Err(CredentialError::SecretShape)
        );
    }

    #[test]
    fn messages_are_specific_and_never_echo_secrets() {
        let e = parse_block(&format!(
            "aws_access_key_id={ID}\naws_secret_access_key={}",
            &SECRET[..20]
        ))
        .unwrap_err();
        let m = e.message();
        assert!(m.contains("20 characters"));
        assert!(!m.contains(&SECRET[..20]));
        assert!(CredentialError::MissingSessionToken
            .message()
            .contains("AWS Details"));
        let c = parse_block(&block()).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(SECRET));
        assert!(!dbg.contains(&token()));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn session_age_and_expiry_warning() {
        let min = 60_000.0;
        assert_eq!(
            age_and_warning(0.0, 12.0 * min, true),
            ("12 min ago".to_string(), None)
        );
        let (age, w) = age_and_warning(0.0, 215.0 * min, true);
        assert_eq!(age, "3 h 35 min ago");
        assert!(w.unwrap().contains("ends in about 25 min"));
        assert!(age_and_warning(0.0, 241.0 * min, true)
            .1
            .unwrap()
            .contains("probably expired"));
        assert_eq!(age_and_warning(0.0, 500.0 * min, false).1, None);
        assert_eq!(age_and_warning(10.0, 0.0, true).0, "0 min ago");
    }

    proptest! {
        #[test]
        fn hostile_input_never_panics(s in "\\PC{0,400}") {
            let _ = parse_block(&s);
            let _ = from_fields(&s, &s, &s);
        }

        #[test]
        fn mangled_blocks_never_panic(cut in 0usize..600, junk in "[\\x00-\\x7f\u{80}-\u{10ffff}]{0,20}") {
            let b = block();
            let mut cut = cut.min(b.len());
            while !b.is_char_boundary(cut) { cut -= 1; }
            let text = format!("{}{}{}", &b[..cut], junk, &b[cut..]);
            if let Err(e) = parse_block(&text) {
                prop_assert!(!e.message().contains(SECRET));
            }
        }
    }
}
