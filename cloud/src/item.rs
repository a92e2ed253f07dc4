//! How an invoice is written in DynamoDB and read back: a live item carries the content,
//! a tombstone (`deleted: true`, no content, `expiresAt` for DynamoDB's TTL) marks a
//! deletion at its version. Readers never take a missing item for a deleted one.

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerline_core::checksum::verify;
use ledgerline_core::model::Invoice;
use ledgerline_core::sync::{RemoteItem, RemoteMeta, TOMBSTONE_LIFETIME_SECS};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The TTL attribute of tombstones (epoch seconds). "Create table" turns TTL on for it.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The key of one invoice of one user.
pub fn key(user: &str, id: &str) -> Item {
    HashMap::from([
        ("userId".to_string(), AttributeValue::S(user.to_string())),
        ("invoiceId".to_string(), AttributeValue::S(id.to_string())),
    ])
}

/// The live item of an invoice; `built_on`: the copy the writing device built it on.
pub fn live(user: &str, inv: &Invoice, built_on: Option<&(u64, String)>) -> Item {
    let content = serde_json::to_string(&inv.content).unwrap_or_default();
    let mut it = key(user, &inv.id);
    it.extend([
        (
            "version".to_string(),
            AttributeValue::N(inv.version.to_string()),
        ),
        (
            "updatedAt".to_string(),
            AttributeValue::S(inv.updated_at.clone()),
        ),
        (
            "checksum".to_string(),
            AttributeValue::S(inv.checksum.clone()),
        ),
        (
            "number".to_string(),
            AttributeValue::S(inv.content.number.clone()),
        ),
        ("content".to_string(), AttributeValue::S(content)),
    ]);
    if let Some((v, sum)) = built_on {
        it.insert(
            "builtOn".to_string(),
            AttributeValue::S(format!("{v}:{sum}")),
        );
    }
    it
}

/// The tombstone of an invoice deleted at `version`, kept by DynamoDB until `now_ms` +
/// the tombstone lifetime (its TTL removes it then).
pub fn tombstone(user: &str, id: &str, version: u64, now_ms: f64) -> Item {
    let expires = (now_ms / 1000.0) as u64 + TOMBSTONE_LIFETIME_SECS;
    let mut it = key(user, id);
    it.extend([
        (
            "version".to_string(),
            AttributeValue::N(version.to_string()),
        ),
        ("deleted".to_string(), AttributeValue::Bool(true)),
        (
            "updatedAt".to_string(),
            AttributeValue::S(String::from(
                js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(now_ms)).to_iso_string(),
            )),
        ),
        (
            TTL_ATTRIBUTE.to_string(),
            AttributeValue::N(expires.to_string()),
        ),
    ]);
    it
}

fn version_of(it: &Item) -> Option<u64> {
    it.get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

fn is_tombstone(it: &Item) -> bool {
    it.get("deleted")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

/// The invoice id of an item, if readable.
pub fn id_of(it: &Item) -> Option<String> {
    it.get("invoiceId").and_then(|v| v.as_s().ok()).cloned()
}

/// What an item (from GetItem or BatchGetItem) is: an intact invoice, a tombstone, or
/// damaged (failing its checksum, unreadable).
pub fn decode(it: Option<&Item>) -> RemoteItem {
    let Some(it) = it else {
        return RemoteItem::Absent;
    };
    let version = version_of(it);
    if is_tombstone(it) {
        return match version {
            Some(v) => RemoteItem::Tombstone(v),
            None => RemoteItem::Damaged(None),
        };
    }
    let s = |k: &str| it.get(k).and_then(|v| v.as_s().ok()).cloned();
    let inv = (|| {
        Some(Invoice {
            id: s("invoiceId")?,
            content: serde_json::from_str(&s("content")?).ok()?,
            version: version?,
            updated_at: s("updatedAt").unwrap_or_default(),
            checksum: s("checksum").unwrap_or_default(),
        })
    })();
    match inv {
        Some(inv) if verify(&inv) => RemoteItem::Live(inv),
        _ => RemoteItem::Damaged(version),
    }
}

/// An item as DynamoDB holds it, in DynamoDB's JSON (`{"attr": {"S": "…"}}`, keys in
/// order): what is kept of an item that cannot be read before anything replaces it.
pub fn raw(it: &Item) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        it.iter().map(|(k, v)| (k.clone(), raw_value(v))).collect();
    serde_json::to_string_pretty(&serde_json::Value::Object(map)).unwrap_or_default()
}

fn raw_value(v: &AttributeValue) -> serde_json::Value {
    use serde_json::{json, Value};
    let blob = |b: &aws_sdk_dynamodb::primitives::Blob| Value::String(base64(b.as_ref()));
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::B(b) => json!({ "B": blob(b) }),
        AttributeValue::Ss(l) => json!({ "SS": l }),
        AttributeValue::Ns(l) => json!({ "NS": l }),
        AttributeValue::Bs(l) => json!({ "BS": l.iter().map(blob).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(raw_value).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            let inner: serde_json::Map<String, Value> =
                m.iter().map(|(k, v)| (k.clone(), raw_value(v))).collect();
            json!({ "M": inner })
        }
        _ => json!({ "unknown": format!("{v:?}") }),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The projection a versions Query asks for, with its attribute names.
pub const META_PROJECTION: &str = "invoiceId, #v, #d, #c, #b";
pub const META_NAMES: [(&str, &str); 4] = [
    ("#v", "version"),
    ("#d", "deleted"),
    ("#c", "checksum"),
    ("#b", "builtOn"),
];

/// One row of a versions Query: the id and what DynamoDB has (an unreadable version is
/// 0, older than anything: never mistaken for a deletion). None for an item that is not
/// an invoice (its sort key starts with '#').
pub fn meta(it: &Item) -> Option<(String, RemoteMeta)> {
    // the user's other items (the number counter: `#counter`) are not invoices
    let id = id_of(it).filter(|id| !id.starts_with('#'))?;
    let deleted = is_tombstone(it);
    Some((
        id,
        RemoteMeta {
            version: version_of(it).unwrap_or(0),
            deleted,
            checksum: if deleted {
                None
            } else {
                it.get("checksum").and_then(|v| v.as_s().ok()).cloned()
            },
            built_on: it
                .get("builtOn")
                .and_then(|v| v.as_s().ok())
                .and_then(|s| s.split_once(':'))
                .and_then(|(v, sum)| Some((v.parse().ok()?, sum.to_string()))),
        },
    ))
}

/// The condition of a write based on `base` (and DynamoDB's checksum there, when known:
/// "" for a tombstone): nothing there yet, or DynamoDB still at exactly that version.
/// The same rule as `ledgerline_core::sync::condition_holds`.
pub fn condition(base: Option<u64>, sum: Option<&str>) -> (String, Vec<(String, AttributeValue)>) {
    let Some(v) = base else {
        return ("attribute_not_exists(invoiceId)".into(), Vec::new());
    };
    let at = (":base".to_string(), AttributeValue::N(v.to_string()));
    match sum {
        None => ("version = :base".into(), vec![at]),
        Some("") => (
            "version = :base AND attribute_not_exists(checksum)".into(),
            vec![at],
        ),
        Some(sum) => (
            "version = :base AND checksum = :sum".into(),
            vec![at, (":sum".to_string(), AttributeValue::S(sum.to_string()))],
        ),
    }
}
