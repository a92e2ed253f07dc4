//! Content checksums: FNV-1a 64 over the canonical JSON of an invoice's content.
//! Serde writes struct fields in declaration order, so the encoding is canonical.

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
