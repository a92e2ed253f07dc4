//! Content checksums: FNV-1a 64 over the canonical JSON of an invoice's content.
//! Serde writes struct fields in declaration order, so the encoding is canonical: the
//! fields this version knows in their order, then any field it does not know (written by
//! a newer version, kept in `extra`) in key order. A newer version that adds fields
//! writes them after the known ones in key order too, so every version computes the
//! same checksum of the same item and none takes another's items for damaged ones.

use crate::model::{Invoice, InvoiceContent};

const PREFIX: &str = "fnv1a64:";

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn content_checksum(content: &InvoiceContent) -> String {
    // Serializing plain data with string keys cannot fail.
    let json = serde_json::to_vec(content).unwrap_or_default();
    format!("{PREFIX}{:016x}", fnv1a64(&json))
}

/// True when the stored checksum matches the content.
pub fn verify(inv: &Invoice) -> bool {
    inv.checksum == content_checksum(&inv.content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    /// An item a newer version wrote: a field at the invoice level and one in a line,
    /// each after the fields this version knows, in key order, sealed by that version.
    const NEWER: &str = r#"{"number":"INV-0009","clientId":"c1","issueDate":"2026-01-10","dueDate":"2026-02-09","status":"sent","currency":"USD","lines":[{"description":"Work","quantity":"1","unitPrice":10000,"taxRates":["10"],"discount":"0","sku":"A-1"}],"discount":{"kind":"none"},"shipping":0,"notes":"","terms":"","paymentLink":{"provider":"x","url":"https://pay.example/1"},"poNumber":"PO-7"}"#;

    #[test]
    fn a_newer_versions_fields_are_kept_and_its_checksum_holds() {
        let sum = format!("{PREFIX}{:016x}", fnv1a64(NEWER.as_bytes()));
        let content: InvoiceContent = serde_json::from_str(NEWER).unwrap();
        assert_eq!(content.extra.len(), 2);
        assert_eq!(content.lines[0].extra["sku"], serde_json::json!("A-1"));
        // written back exactly as it came: the same bytes, so the same checksum
        assert_eq!(serde_json::to_string(&content).unwrap(), NEWER);
        assert_eq!(content_checksum(&content), sum);
        // stored here (an invoice record is flat) and read back, nothing is lost
        let inv = Invoice {
            id: "i9".into(),
            content,
            version: 3,
            updated_at: "2026-01-10T00:00:00Z".into(),
            checksum: sum,
        };
        let text = serde_json::to_string(&inv).unwrap();
        let back: Invoice = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inv);
        assert!(verify(&back));
    }

    #[test]
    fn content_without_unknown_fields_keeps_its_checksum() {
        // the checksum of this version's content is what every earlier version wrote
        let inv = crate::testing::invoice("i1", "INV-0001", "c1");
        let json = serde_json::to_string(&inv.content).unwrap();
        assert!(json.ends_with(r#""notes":"","terms":""}"#), "{json}");
        assert_eq!(
            inv.checksum,
            format!("{PREFIX}{:016x}", fnv1a64(json.as_bytes()))
        );
    }

    #[test]
    fn any_content_change_changes_the_checksum() {
        let mut inv = crate::testing::invoice("i1", "INV-0001", "c1");
        assert!(verify(&inv));
        inv.content.notes.push('x');
        assert!(!verify(&inv));
        inv.checksum = content_checksum(&inv.content);
        assert!(verify(&inv));
        // bookkeeping fields are not part of the content
        inv.version += 1;
        inv.updated_at = "2030-01-01T00:00:00Z".into();
        assert!(verify(&inv));
    }
}
