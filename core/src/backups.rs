//! Copies of the local data kept in this browser (IndexedDB): backups taken before a sync
//! changes local data or before a restore, and scheduled automatic exports (R7.3). Each
//! is a whole export bundle. The rules here decide when an automatic export is due and
//! which copies go when there are too many; the app and the worker only do the I/O.

use serde::{Deserialize, Serialize};

/// The reason recorded for a scheduled automatic export.
pub const AUTOMATIC: &str = "automatic export";

/// The reason recorded for an automatic export the service worker made (no page open):
/// an automatic export in every respect, named apart so the user and the page see who
/// made it.
pub const AUTOMATIC_SW: &str = "automatic export (service worker)";

/// Whether a copy is an automatic export (made by a page or the service worker).
pub fn is_automatic(reason: &str) -> bool {
    reason == AUTOMATIC || reason == AUTOMATIC_SW
}

/// The reason recorded for the copy of the local data the page keeps up to date with
/// every save (one per user): what the service worker exports from, since it cannot read
/// localStorage, and the freshest copy to recover from when localStorage is damaged.
pub const LATEST: &str = "latest copy";

/// How many automatic exports are kept unless the user chose otherwise.
pub const DEFAULT_KEPT: u32 = 14;

const DAY_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// How often the automatic export runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Every {
    #[default]
    Day,
    Week,
    Off,
}

impl Every {
    /// The period in milliseconds (None: never).
    pub fn period_ms(self) -> Option<f64> {
        match self {
            Every::Day => Some(DAY_MS),
            Every::Week => Some(7.0 * DAY_MS),
            Every::Off => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Every::Day => "every day",
            Every::Week => "every week",
            Every::Off => "off",
        }
    }

    /// From a form value ("day", "week", "off").
    pub fn parse(s: &str) -> Option<Every> {
        match s {
            "day" => Some(Every::Day),
            "week" => Some(Every::Week),
            "off" => Some(Every::Off),
            _ => None,
        }
    }

    pub fn value(self) -> &'static str {
        match self {
            Every::Day => "day",
            Every::Week => "week",
            Every::Off => "off",
        }
    }
}

/// When the newest automatic export among `kept` was made.
pub fn last_automatic(kept: &[Kept]) -> Option<f64> {
    kept.iter()
        .filter(|k| is_automatic(k.reason))
        .map(|k| k.at)
        .max_by(|a, b| a.total_cmp(b))
}

/// Whether an automatic export is due at `now` (milliseconds since the epoch) when the
/// last one was made at `last`. A few minutes early counts (the check runs on a timer),
/// and a last export dated more than a day in the future means the clock was wrong then
/// (or is now): exporting is the safe side.
pub fn due(every: Every, last: Option<f64>, now: f64) -> bool {
    let Some(period) = every.period_ms() else {
        return false;
    };
    match last {
        None => true,
        Some(l) if l > now + DAY_MS => true,
        Some(l) => now - l >= period - 5.0 * 60.0 * 1000.0,
    }
}

/// Whether there is anything worth exporting automatically: an empty browser (fresh, or
/// just cleared) would only push a real copy out of the ones kept.
pub fn worth_exporting(s: &crate::store::Snapshot) -> bool {
    !s.invoices.is_empty() || !s.clients.is_empty() || s.profile != crate::model::Profile::default()
}

/// What the latest copy holds, in 64 bits: equal for equal data (so a re-render that
/// changed nothing writes no copy), different once an invoice, a client, the profile or
/// the settings changed. Invoices count by id, version and checksum (their content's).
pub fn fingerprint(s: &crate::store::Snapshot) -> u64 {
    let mut text = String::with_capacity(64 * s.invoices.len() + 256);
    for inv in &s.invoices {
        text.push_str(&inv.id);
        text.push('|');
        text.push_str(&inv.version.to_string());
        text.push('|');
        text.push_str(&inv.checksum);
        text.push('\n');
    }
    text.push_str(&serde_json::to_string(&s.clients).unwrap_or_default());
    text.push_str(&serde_json::to_string(&s.profile).unwrap_or_default());
    text.push_str(&serde_json::to_string(&s.settings).unwrap_or_default());
    text.push_str(&s.damaged.len().to_string());
    crate::checksum::fnv1a64(text.as_bytes())
}

/// One kept copy, as far as pruning needs: when, and why it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept<'a> {
    pub at: f64,
    pub reason: &'a str,
}

/// Which kind of copy a reason names: automatic exports, the latest copy, the other
/// backups.
fn kind(reason: &str) -> u8 {
    match reason {
        r if is_automatic(r) => 0,
        LATEST => 1,
        _ => 2,
    }
}

/// The copies (their `at`) to drop once a new one with `reason` is stored, so that the
/// newest `keep` of its kind remain (at least one): automatic exports, the latest copy
/// and the other backups are counted apart, so a day of syncing never pushes out the
/// weekly exports, nor the latest copy a backup.
/// `existing` may be in any order and does not include the new copy.
pub fn to_prune(existing: &[Kept], reason: &str, keep: u32) -> Vec<f64> {
    let mut same: Vec<f64> = existing
        .iter()
        .filter(|k| kind(k.reason) == kind(reason))
        .map(|k| k.at)
        .collect();
    same.sort_by(|a, b| a.total_cmp(b));
    let keep = keep.max(1) as usize;
    let drop = (same.len() + 1).saturating_sub(keep);
    same.into_iter().take(drop).collect()
}

/// A copy as it is stored (JSON text): its head first, then the bundle, in this order, so
/// that the head can be read from the text's first characters ([`head_of`]) without
/// decoding bundles of megabytes (pruning and listing read every copy's head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCopy {
    pub at: f64,
    pub reason: String,
    pub invoices: u32,
    /// The bundle's length in bytes (None: stored by a version that did not write it).
    #[serde(default)]
    pub bytes: Option<u64>,
    pub bundle: String,
}

/// What a stored copy says of itself, without its bundle.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    pub at: f64,
    pub reason: String,
    pub invoices: u32,
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// How many characters of a stored copy's text are read for its head: reasons are
/// short, so the head always fits.
pub const HEAD_CHARS: u32 = 512;

impl StoredCopy {
    pub fn new(at: f64, reason: &str, invoices: u32, bundle: String) -> Self {
        StoredCopy {
            at,
            reason: reason.to_string(),
            invoices,
            bytes: Some(bundle.len() as u64),
            bundle,
        }
    }

    pub fn head(&self) -> Head {
        Head {
            at: self.at,
            reason: self.reason.clone(),
            invoices: self.invoices,
            bytes: Some(self.bytes.unwrap_or(self.bundle.len() as u64)),
        }
    }
}

/// The head of a stored copy from the first characters of its text (None: they do not
/// hold a whole head, or it was stored without its size: then the whole text is read).
/// Inside a JSON string every quote is escaped, so `,"bundle":` is the field itself.
pub fn head_of(prefix: &str) -> Option<Head> {
    let end = prefix.find(",\"bundle\":")?;
    let head: Head = serde_json::from_str(&format!("{}}}", &prefix[..end])).ok()?;
    head.bytes.is_some().then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000_000.0;

    #[test]
    fn due_once_a_period_has_passed() {
        assert!(due(Every::Day, None, NOW), "never exported: now");
        assert!(!due(Every::Day, Some(NOW - DAY_MS / 2.0), NOW));
        assert!(due(Every::Day, Some(NOW - DAY_MS), NOW));
        assert!(
            due(Every::Day, Some(NOW - DAY_MS + 60_000.0), NOW),
            "a minute early counts"
        );
        assert!(!due(Every::Week, Some(NOW - 3.0 * DAY_MS), NOW));
        assert!(due(Every::Week, Some(NOW - 7.0 * DAY_MS), NOW));
        assert!(!due(Every::Off, None, NOW));
        assert!(!due(Every::Off, Some(0.0), NOW));
        // the last one dated in the future: the clock was wrong
        assert!(due(Every::Week, Some(NOW + 3.0 * DAY_MS), NOW));
        assert!(!due(Every::Day, Some(NOW + 60_000.0), NOW));
    }

    #[test]
    fn the_schedule_reads_back() {
        for e in [Every::Day, Every::Week, Every::Off] {
            assert_eq!(Every::parse(e.value()), Some(e));
        }
        assert_eq!(Every::parse("hourly"), None);
        let json = serde_json::to_string(&Every::Week).unwrap_or_default();
        assert_eq!(json, "\"week\"");
    }

    #[test]
    fn pruning_counts_each_kind_apart() {
        let kept = |at: f64, reason: &'static str| Kept { at, reason };
        let existing = [
            kept(5.0, AUTOMATIC),
            kept(1.0, AUTOMATIC),
            kept(2.0, "before a sync"),
            kept(3.0, AUTOMATIC),
            kept(4.0, "before a sync"),
        ];
        // a new automatic export, 3 kept: the oldest automatic one goes
        assert_eq!(to_prune(&existing, AUTOMATIC, 3), vec![1.0]);
        assert_eq!(to_prune(&existing, AUTOMATIC, 2), vec![1.0, 3.0]);
        assert_eq!(to_prune(&existing, AUTOMATIC, 14), Vec::<f64>::new());
        // a sync backup, 1 kept: only the other sync backups go
        assert_eq!(to_prune(&existing, "before a sync", 1), vec![2.0, 4.0]);
        // the service worker's exports are automatic exports
        let mixed = [
            kept(1.0, AUTOMATIC),
            kept(2.0, AUTOMATIC_SW),
            kept(3.0, "before a sync"),
        ];
        assert_eq!(to_prune(&mixed, AUTOMATIC, 2), vec![1.0]);
        assert_eq!(to_prune(&mixed, AUTOMATIC_SW, 1), vec![1.0, 2.0]);
        assert_eq!(last_automatic(&mixed), Some(2.0));
        assert_eq!(last_automatic(&mixed[2..]), None);
        // the latest copy replaces only the previous latest copy
        let with_latest = [kept(0.5, LATEST), existing[0].clone(), existing[1].clone()];
        assert_eq!(to_prune(&with_latest, LATEST, 1), vec![0.5]);
        assert_eq!(to_prune(&with_latest, AUTOMATIC, 1), vec![1.0, 5.0]);
        assert_eq!(
            to_prune(&with_latest, "before a sync", 1),
            Vec::<f64>::new()
        );
        assert_eq!(
            to_prune(&existing, "before a sync", 0),
            vec![2.0, 4.0],
            "at least the new one stays"
        );
    }

    #[test]
    fn the_fingerprint_follows_the_data_only() {
        let mut s = crate::store::Snapshot::default();
        let empty = fingerprint(&s);
        assert_eq!(empty, fingerprint(&s.clone()));
        s.profile.name = "Me".into();
        let named = fingerprint(&s);
        assert_ne!(named, empty);
        let mut inv = crate::testing::invoice("a", "INV-1", "c");
        inv.version = 1;
        inv.checksum = "fnv1a64:1".into();
        s.invoices.push(inv.clone());
        let one = fingerprint(&s);
        assert_ne!(one, named);
        s.invoices[0].version = 2;
        s.invoices[0].checksum = "fnv1a64:2".into();
        assert_ne!(fingerprint(&s), one, "an edit changes it");
        s.invoices[0] = inv;
        assert_eq!(fingerprint(&s), one, "the same data, the same fingerprint");
    }

    #[test]
    fn an_empty_browser_is_not_exported() {
        let mut s = crate::store::Snapshot::default();
        assert!(!worth_exporting(&s));
        s.profile.name = "Me".into();
        assert!(worth_exporting(&s));
    }

    #[test]
    fn a_stored_copy_s_head_is_read_from_its_first_characters() {
        let bundle = format!(
            "{{\"invoices\":[{}]}}",
            vec![r#"{"notes":"a \"quoted\", \"bundle\": here"}"#; 2000].join(",")
        );
        for reason in [
            LATEST,
            AUTOMATIC_SW,
            "before a restore: \"odd\", \"bundle\":x",
        ] {
            let copy = StoredCopy::new(1_700_000_000_123.0, reason, 2000, bundle.clone());
            let text = serde_json::to_string(&copy).unwrap();
            let prefix: String = text.chars().take(HEAD_CHARS as usize).collect();
            let head = head_of(&prefix).expect("the head fits in the prefix");
            assert_eq!(head, copy.head());
            assert_eq!(head.bytes, Some(bundle.len() as u64));
            assert_eq!(head.reason, reason);
            // and the whole text reads back as it was
            assert_eq!(serde_json::from_str::<StoredCopy>(&text).unwrap(), copy);
        }
        // stored by an older version (no size): the whole text is read instead
        let old = r#"{"at":5.0,"reason":"latest copy","invoices":1,"bundle":"{}"}"#;
        assert_eq!(head_of(old), None);
        let copy: StoredCopy = serde_json::from_str(old).unwrap();
        assert_eq!(copy.head().bytes, Some(2));
        // a prefix cut before the bundle field
        let text = serde_json::to_string(&StoredCopy::new(1.0, LATEST, 1, "{}".into())).unwrap();
        assert_eq!(head_of(&text[..20]), None);
    }
}
