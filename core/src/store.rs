//! The local store: a schema-versioned key layout over any string key-value store
//! (localStorage in the browser, a map in tests), namespaced by user context.
//!
//! Layout (schema 1), one key per record so that one damaged entry never hides others:
//! ```text
//! ledgerline/v1/<user>/profile
//! ledgerline/v1/<user>/settings
//! ledgerline/v1/<user>/client/<id>
//! ledgerline/v1/<user>/invoice/<id>
//! ```
//! `<user>` is `anonymous` or (with accounts) the Cognito `sub`.

use crate::checksum::{content_checksum, verify};
use crate::model::{Client, Invoice, InvoiceContent, Profile, Settings};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const SCHEMA: u32 = 1;
pub const ROOT: &str = "ledgerline/v1/";
pub const ANONYMOUS: &str = "anonymous";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The store is full (`QuotaExceededError`).
    Quota,
    /// Anything else the store reported (storage disabled, security error, ...).
    Other(String),
}

/// A string key-value store.
pub trait Kv {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), KvError>;
    fn remove(&mut self, key: &str);
    fn keys(&self) -> Vec<String>;
}

/// An in-memory [`Kv`] with an optional byte quota, for tests and benchmarks.
#[derive(Debug, Default, Clone)]
pub struct MemKv {
    pub map: std::collections::BTreeMap<String, String>,
    pub quota: Option<usize>,
}

impl MemKv {
    fn used(&self) -> usize {
        self.map.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl Kv for MemKv {
    fn get(&self, key: &str) -> Option<String> {
        self.map.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), KvError> {
        if let Some(q) = self.quota {
            let old = self.map.get(key).map(|v| key.len() + v.len()).unwrap_or(0);
            if self.used() - old + key.len() + value.len() > q {
                return Err(KvError::Quota);
            }
        }
        self.map.insert(key.to_string(), value.to_string());
        Ok(())
    }
    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }
    fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }
}

/// The keys of one user context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    pub fn new(user: &str) -> Self {
        Namespace {
            prefix: format!("{ROOT}{user}/"),
        }
    }
    pub fn anonymous() -> Self {
        Self::new(ANONYMOUS)
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn profile(&self) -> String {
        format!("{}profile", self.prefix)
    }
    pub fn settings(&self) -> String {
        format!("{}settings", self.prefix)
    }
    pub fn client(&self, id: &str) -> String {
        format!("{}client/{id}", self.prefix)
    }
    pub fn invoice(&self, id: &str) -> String {
        format!("{}invoice/{id}", self.prefix)
    }
}

/// An entry that could not be read. The raw text is kept so the user can export it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub key: String,
    pub reason: String,
    pub raw: String,
}

/// Everything of one user context, as read at start-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub profile: Profile,
    pub settings: Settings,
    pub clients: Vec<Client>,
    pub invoices: Vec<Invoice>,
    pub damaged: Vec<Damaged>,
}

fn read<T: DeserializeOwned>(key: &str, raw: String) -> Result<T, Damaged> {
    serde_json::from_str(&raw).map_err(|e| Damaged {
        key: key.to_string(),
        reason: format!("not a valid record ({e})"),
        raw,
    })
}

/// Reads every record of a namespace. Never fails: unreadable entries are reported in
/// `damaged` and everything else is returned.
pub fn load(kv: &dyn Kv, ns: &Namespace) -> Snapshot {
    let mut snap = Snapshot::default();
    for key in kv.keys() {
        let Some(rest) = key.strip_prefix(ns.prefix()) else {
            continue;
        };
        let Some(raw) = kv.get(&key) else { continue };
        if rest == "profile" {
            match read::<Profile>(&key, raw) {
                Ok(p) => snap.profile = p,
                Err(d) => snap.damaged.push(d),
            }
        } else if rest == "settings" {
            match read::<Settings>(&key, raw) {
                Ok(s) => snap.settings = s,
                Err(d) => snap.damaged.push(d),
            }
        } else if let Some(id) = rest.strip_prefix("client/") {
            match read::<Client>(&key, raw) {
                Ok(c) if c.id == id => snap.clients.push(c),
                Ok(_) => snap.damaged.push(Damaged {
                    key: key.clone(),
                    reason: "its id does not match its key".into(),
                    raw: kv.get(&key).unwrap_or_default(),
                }),
                Err(d) => snap.damaged.push(d),
            }
        } else if let Some(id) = rest.strip_prefix("invoice/") {
            match read::<Invoice>(&key, raw.clone()) {
                Ok(inv) if inv.id != id => snap.damaged.push(Damaged {
                    key: key.clone(),
                    reason: "its id does not match its key".into(),
                    raw,
                }),
                Ok(inv) if !verify(&inv) => snap.damaged.push(Damaged {
                    key: key.clone(),
                    reason: format!(
                        "checksum mismatch: invoice {} was changed outside Ledgerline or damaged",
                        inv.content.number
                    ),
                    raw,
                }),
                Ok(inv) => snap.invoices.push(inv),
                Err(d) => snap.damaged.push(d),
            }
        }
    }
    sort_clients(&mut snap.clients);
    snap
}

/// Clients in name order, case-insensitively (the one place that sorts them).
pub fn sort_clients(clients: &mut [Client]) {
    clients.sort_by_cached_key(|c| c.name.to_lowercase());
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Plain data with string keys: serialization cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// Writes several keys all-or-nothing: on any failure the keys already written are put
/// back as they were.
pub fn write_all(kv: &mut dyn Kv, writes: &[(String, Option<String>)]) -> Result<(), KvError> {
    let mut undo: Vec<(String, Option<String>)> = Vec::new();
    for (key, value) in writes {
        let before = kv.get(key);
        let r = match value {
            Some(v) => kv.set(key, v),
            None => {
                kv.remove(key);
                Ok(())
            }
        };
        if let Err(e) = r {
            for (k, old) in undo.into_iter().rev() {
                match old {
                    // restoring a value that fitted before frees or reuses space: it fits
                    Some(v) => {
                        let _ = kv.set(&k, &v);
                    }
                    None => kv.remove(&k),
                }
            }
            return Err(e);
        }
        undo.push((key.clone(), before));
    }
    Ok(())
}

/// The record to store for `content`: version +1 over `previous`, new time and checksum.
pub fn next_record(
    id: &str,
    content: InvoiceContent,
    previous: Option<&Invoice>,
    now_rfc3339: &str,
) -> Invoice {
    let checksum = content_checksum(&content);
    Invoice {
        id: id.to_string(),
        content,
        version: previous.map(|p| p.version.saturating_add(1)).unwrap_or(1),
        updated_at: now_rfc3339.to_string(),
        checksum,
    }
}

/// Bringing the invoices back to a backup's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub writes: Vec<(String, Option<String>)>,
    pub merged: Snapshot,
    /// Invoices written as a new version (to be queued for DynamoDB).
    pub put: Vec<Invoice>,
}

/// Brings back the invoices of `backup`: each one that differs now (or is gone) is written
/// as the next version after the current one, so that it reaches DynamoDB as a normal
/// change. Nothing is removed: invoices made since the backup (or missing from it because
/// they were damaged when it was taken) stay. The backup's clients are put back (others
/// are kept); profile, settings and numbering stay as they are now, so numbers already
/// used are never handed out again.
pub fn plan_restore(ns: &Namespace, current: &Snapshot, backup: &Snapshot, now: &str) -> Restore {
    let mut merged = current.clone();
    let mut writes = Vec::new();
    let mut put = Vec::new();
    for b in &backup.invoices {
        let now_there = current.invoices.iter().find(|i| i.id == b.id);
        if now_there.map(|i| &i.content) == Some(&b.content) {
            continue;
        }
        // never a lower version than any this device knows of (a damaged or deleted
        // copy here may have had a higher one than the backup's)
        let mut base = now_there.cloned().unwrap_or_else(|| b.clone());
        base.version = base.version.max(b.version);
        let record = next_record(&b.id, b.content.clone(), Some(&base), now);
        writes.push((ns.invoice(&b.id), Some(to_json(&record))));
        match merged.invoices.iter_mut().find(|i| i.id == b.id) {
            Some(x) => *x = record.clone(),
            None => merged.invoices.push(record.clone()),
        }
        put.push(record);
    }
    for c in &backup.clients {
        if current.clients.iter().any(|x| x == c) {
            continue;
        }
        writes.push((ns.client(&c.id), Some(to_json(c))));
        match merged.clients.iter_mut().find(|x| x.id == c.id) {
            Some(x) => *x = c.clone(),
            None => merged.clients.push(c.clone()),
        }
    }
    sort_clients(&mut merged.clients);
    Restore {
        writes,
        merged,
        put,
    }
}

/// One invoice as stored, if it is there and intact (its id and checksum match).
pub fn load_invoice(kv: &dyn Kv, ns: &Namespace, id: &str) -> Option<Invoice> {
    let raw = kv.get(&ns.invoice(id))?;
    let inv: Invoice = serde_json::from_str(&raw).ok()?;
    (inv.id == id && verify(&inv)).then_some(inv)
}

pub fn put_invoice(kv: &mut dyn Kv, ns: &Namespace, inv: &Invoice) -> Result<(), KvError> {
    kv.set(&ns.invoice(&inv.id), &to_json(inv))
}

pub fn remove_invoice(kv: &mut dyn Kv, ns: &Namespace, id: &str) {
    kv.remove(&ns.invoice(id));
}

pub fn put_client(kv: &mut dyn Kv, ns: &Namespace, c: &Client) -> Result<(), KvError> {
    kv.set(&ns.client(&c.id), &to_json(c))
}

pub fn remove_client(kv: &mut dyn Kv, ns: &Namespace, id: &str) {
    kv.remove(&ns.client(id));
}

pub fn put_profile(kv: &mut dyn Kv, ns: &Namespace, p: &Profile) -> Result<(), KvError> {
    kv.set(&ns.profile(), &to_json(p))
}

pub fn put_settings(kv: &mut dyn Kv, ns: &Namespace, s: &Settings) -> Result<(), KvError> {
    kv.set(&ns.settings(), &to_json(s))
}

/// Removes every key of a namespace (and nothing else).
pub fn clear(kv: &mut dyn Kv, ns: &Namespace) {
    for k in kv.keys() {
        if k.starts_with(ns.prefix()) {
            kv.remove(&k);
        }
    }
}

/// The writes that store a whole snapshot (used by import).
pub fn snapshot_writes(ns: &Namespace, s: &Snapshot) -> Vec<(String, Option<String>)> {
    let mut w = vec![
        (ns.profile(), Some(to_json(&s.profile))),
        (ns.settings(), Some(to_json(&s.settings))),
    ];
    w.extend(
        s.clients
            .iter()
            .map(|c| (ns.client(&c.id), Some(to_json(c)))),
    );
    w.extend(
        s.invoices
            .iter()
            .map(|i| (ns.invoice(&i.id), Some(to_json(i)))),
    );
    w
}

/// Key of this browser's connection settings (not per user, not secret).
pub const CONFIG_KEY: &str = "ledgerline/v1/config";

pub fn load_config(kv: &dyn Kv) -> crate::protocol::CloudConfig {
    kv.get(CONFIG_KEY)
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default()
}

pub fn put_config(kv: &mut dyn Kv, c: &crate::protocol::CloudConfig) -> Result<(), KvError> {
    kv.set(CONFIG_KEY, &to_json(c))
}

/// The next free invoice number and the counter after it.
pub fn next_number(settings: &Settings, invoices: &[Invoice]) -> (String, u64) {
    let mut n = settings.next_number.max(1);
    loop {
        let candidate = settings.format_number(n);
        if !invoices.iter().any(|i| i.content.number == candidate) {
            return (candidate, n + 1);
        }
        n += 1;
    }
}

/// Anonymous data moved into an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// The account's data afterwards.
    pub merged: Snapshot,
    /// The invoices that moved (to be uploaded).
    pub moved: Vec<Invoice>,
    /// Invoices whose number was taken in the account: (old, new).
    pub renumbered: Vec<(String, String)>,
    /// Clients that were in both (the same name, and the same email where both have
    /// one): the account's record is kept and the moved invoices name it. Their names.
    pub merged_clients: Vec<String>,
    /// The anonymous business profile and numbering, when the account has its own that
    /// differs: the account's stays, and this one is to be kept for review (never
    /// dropped) before the move is written.
    pub profile_aside: Option<(Profile, Settings)>,
    /// Apply with [`write_all`]: the account's new records and the anonymous keys removed.
    pub writes: Vec<(String, Option<String>)>,
}

/// Plans moving every anonymous record into an account. Nothing is dropped: clients are
/// copied unless the account has the same id, invoices whose number the account already
/// uses get the next free number (as a new version), and the anonymous profile and
/// numbering are taken only where the account has none of its own; where it has a
/// different one, the anonymous one is handed back in [`Move::profile_aside`].
pub fn plan_move(
    from: &Namespace,
    anon: &Snapshot,
    to: &Namespace,
    account: &Snapshot,
    now_rfc3339: &str,
) -> Move {
    let mut merged = account.clone();
    if merged.profile == Profile::default() {
        merged.profile = anon.profile.clone();
    }
    if merged.settings == Settings::default() {
        merged.settings = anon.settings.clone();
    }
    // what describes the business: the profile record's content
    use crate::sync::records::{is_default_profile, profile_value};
    let profile_aside = (!is_default_profile(&anon.profile, &anon.settings)
        && profile_value(&anon.profile, &anon.settings)
            != profile_value(&merged.profile, &merged.settings))
    .then(|| (anon.profile.clone(), anon.settings.clone()));
    merged.settings.next_number = merged.settings.next_number.max(anon.settings.next_number);
    // the same client entered in both: the account's record stays, the invoices follow it
    let mut same_as: std::collections::BTreeMap<&str, String> = Default::default();
    let mut merged_clients = Vec::new();
    for c in &anon.clients {
        if merged.clients.iter().any(|x| x.id == c.id) {
            continue;
        }
        match merged.clients.iter().find(|x| same_client(x, c)) {
            Some(x) => {
                same_as.insert(c.id.as_str(), x.id.clone());
                merged_clients.push(x.name.clone());
            }
            None => merged.clients.push(c.clone()),
        }
    }
    let mut moved = Vec::new();
    let mut renumbered = Vec::new();
    for inv in &anon.invoices {
        if merged.invoices.iter().any(|x| x.id == inv.id) {
            continue;
        }
        let mut content = inv.content.clone();
        let mut changed = false;
        if let Some(to) = same_as.get(inv.content.client_id.as_str()) {
            content.client_id = to.clone();
            changed = true;
        }
        if merged
            .invoices
            .iter()
            .any(|x| x.content.number == inv.content.number)
        {
            // free in the account and among the invoices still to move
            let taken: Vec<Invoice> = merged
                .invoices
                .iter()
                .chain(&anon.invoices)
                .cloned()
                .collect();
            let (number, next) = next_number(&merged.settings, &taken);
            content.number = number.clone();
            merged.settings.next_number = next;
            renumbered.push((inv.content.number.clone(), number));
            changed = true;
        }
        let rec = if changed {
            next_record(&inv.id, content, Some(inv), now_rfc3339)
        } else {
            inv.clone()
        };
        merged.invoices.push(rec.clone());
        moved.push(rec);
    }
    let mut writes = vec![
        (to.profile(), Some(to_json(&merged.profile))),
        (to.settings(), Some(to_json(&merged.settings))),
    ];
    writes.extend(
        merged
            .clients
            .iter()
            .map(|c| (to.client(&c.id), Some(to_json(c)))),
    );
    writes.extend(moved.iter().map(|i| (to.invoice(&i.id), Some(to_json(i)))));
    writes.push((from.profile(), None));
    writes.push((from.settings(), None));
    writes.extend(anon.clients.iter().map(|c| (from.client(&c.id), None)));
    writes.extend(anon.invoices.iter().map(|i| (from.invoice(&i.id), None)));
    Move {
        merged,
        moved,
        renumbered,
        merged_clients,
        profile_aside,
        writes,
    }
}

/// Two records of the same client: the same name (ignoring case and spaces around it),
/// and the same email where both have one.
fn same_client(a: &Client, b: &Client) -> bool {
    let norm = |s: &str| s.trim().to_lowercase();
    norm(&a.name) == norm(&b.name)
        && (a.email.trim().is_empty()
            || b.email.trim().is_empty()
            || norm(&a.email) == norm(&b.email))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{client, invoice};

    #[test]
    fn namespaces_do_not_see_each_other() {
        let mut kv = MemKv::default();
        let a = Namespace::anonymous();
        let b = Namespace::new("sub-123");
        put_invoice(&mut kv, &a, &invoice("i1", "INV-0001", "c1")).unwrap();
        put_invoice(&mut kv, &b, &invoice("i2", "INV-0001", "c1")).unwrap();
        assert_eq!(load(&kv, &a).invoices.len(), 1);
        assert_eq!(load(&kv, &b).invoices[0].id, "i2");
        assert_eq!(a.invoice("x"), "ledgerline/v1/anonymous/invoice/x");
        clear(&mut kv, &a);
        assert!(load(&kv, &a).invoices.is_empty());
        assert_eq!(load(&kv, &b).invoices.len(), 1);
    }

    #[test]
    fn damaged_entries_are_named_and_others_still_load() {
        let mut kv = MemKv::default();
        let ns = Namespace::anonymous();
        put_client(&mut kv, &ns, &client("c1", "Acme")).unwrap();
        put_invoice(&mut kv, &ns, &invoice("good", "INV-0001", "c1")).unwrap();
        kv.set(&ns.invoice("bad"), "{not json").unwrap();
        let mut tampered = invoice("tampered", "INV-0003", "c1");
        tampered.content.notes = "edited by hand".into();
        put_invoice(&mut kv, &ns, &tampered).unwrap();
        let mut moved = invoice("other", "INV-0004", "c1");
        moved.id = "elsewhere".into();
        kv.set(
            &ns.invoice("other"),
            &serde_json::to_string(&moved).unwrap(),
        )
        .unwrap();
        kv.set(&ns.profile(), "42").unwrap();

        let s = load(&kv, &ns);
        assert_eq!(s.invoices.len(), 1);
        assert_eq!(s.clients.len(), 1);
        assert_eq!(s.profile, Profile::default());
        let mut keys: Vec<_> = s.damaged.iter().map(|d| d.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "ledgerline/v1/anonymous/invoice/bad",
                "ledgerline/v1/anonymous/invoice/other",
                "ledgerline/v1/anonymous/invoice/tampered",
                "ledgerline/v1/anonymous/profile",
            ]
        );
        let bad = s.damaged.iter().find(|d| d.key.ends_with("/bad")).unwrap();
        assert_eq!(bad.raw, "{not json");
        assert!(s
            .damaged
            .iter()
            .any(|d| d.reason.contains("checksum mismatch")));
        // one invoice at a time: only an intact one under its own key
        assert_eq!(load_invoice(&kv, &ns, "good").unwrap().id, "good");
        for id in ["bad", "tampered", "other", "missing"] {
            assert!(load_invoice(&kv, &ns, id).is_none(), "{id}");
        }
    }

    #[test]
    fn a_restore_brings_back_the_backup_as_new_versions() {
        let ns = Namespace::new("u");
        let kept = invoice("kept", "INV-0001", "c1");
        let mut edited = invoice("edited", "INV-0002", "c1");
        let gone = invoice("gone", "INV-0003", "c1");
        let added = invoice("added", "INV-0004", "c1");
        let backup = Snapshot {
            invoices: vec![kept.clone(), edited.clone(), gone.clone()],
            clients: vec![client("c1", "Acme")],
            ..Default::default()
        };
        edited.content.notes = "changed after the backup".into();
        edited.version = 5;
        let current = Snapshot {
            invoices: vec![kept.clone(), edited.clone(), added.clone()],
            ..Default::default()
        };
        let r = plan_restore(&ns, &current, &backup, "2026-11-29T00:00:00Z");
        let ids: Vec<&str> = r.put.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["edited", "gone"]);
        assert_eq!(
            r.put[0].version, 6,
            "the next version after the current one"
        );
        assert_eq!(r.put[0].content.notes, "");
        assert!(verify(&r.put[0]));
        assert_eq!(r.put[1].version, 2, "after the backup's own version");

        let mut kv = MemKv::default();
        for inv in &current.invoices {
            put_invoice(&mut kv, &ns, inv).unwrap();
        }
        write_all(&mut kv, &r.writes).unwrap();
        let after = load(&kv, &ns);
        assert_eq!(after.clients, backup.clients);
        let mut contents: Vec<_> = after.invoices.iter().map(|i| i.content.clone()).collect();
        contents.sort_by(|a, b| a.number.cmp(&b.number));
        let mut want: Vec<_> = backup.invoices.iter().map(|i| i.content.clone()).collect();
        want.push(added.content.clone());
        assert_eq!(
            contents, want,
            "the backup's invoices, and the one made since kept"
        );
        let mut merged = r.merged.invoices.clone();
        merged.sort_by(|a, b| a.id.cmp(&b.id));
        let mut loaded = after.invoices.clone();
        loaded.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(merged, loaded, "the view matches what was stored");
    }

    #[test]
    fn versions_increase_and_checksums_are_set() {
        let first = invoice("i1", "INV-0001", "c1");
        let r1 = next_record("i1", first.content.clone(), None, "t1");
        assert_eq!(r1.version, 1);
        assert!(verify(&r1));
        let r2 = next_record("i1", first.content, Some(&r1), "t2");
        assert_eq!(r2.version, 2);
        assert_eq!(r2.updated_at, "t2");
    }

    #[test]
    fn quota_failure_leaves_the_previous_record_and_write_all_rolls_back() {
        let ns = Namespace::anonymous();
        let mut kv = MemKv::default();
        let inv = invoice("i1", "INV-0001", "c1");
        put_invoice(&mut kv, &ns, &inv).unwrap();
        kv.quota = Some(kv.used() + 10);
        let mut bigger = inv.clone();
        bigger.content.notes = "x".repeat(100);
        assert_eq!(put_invoice(&mut kv, &ns, &bigger), Err(KvError::Quota));
        assert_eq!(load(&kv, &ns).invoices, vec![inv.clone()]);

        kv.quota = Some(kv.used() + 300);
        let writes = vec![
            (
                ns.client("c1"),
                Some("{\"id\":\"c1\",\"name\":\"A\"}".to_string()),
            ),
            (ns.invoice("i1"), None),
            (ns.invoice("i2"), Some("y".repeat(1000))),
        ];
        assert_eq!(write_all(&mut kv, &writes), Err(KvError::Quota));
        let s = load(&kv, &ns);
        assert_eq!(s.invoices, vec![inv]);
        assert!(s.clients.is_empty());
    }

    #[test]
    fn moving_anonymous_data_into_an_account_drops_nothing() {
        let anon_ns = Namespace::anonymous();
        let acct_ns = Namespace::new("sub-1");
        let mut kv = MemKv::default();
        put_client(&mut kv, &anon_ns, &client("c1", "Acme")).unwrap();
        put_invoice(&mut kv, &anon_ns, &invoice("a1", "INV-0001", "c1")).unwrap();
        put_invoice(&mut kv, &anon_ns, &invoice("a2", "INV-0002", "c1")).unwrap();
        put_client(&mut kv, &acct_ns, &client("c9", "Globex")).unwrap();
        put_invoice(&mut kv, &acct_ns, &invoice("b1", "INV-0001", "c9")).unwrap();
        let anon = load(&kv, &anon_ns);
        let acct = load(&kv, &acct_ns);
        let m = plan_move(&anon_ns, &anon, &acct_ns, &acct, "now");
        write_all(&mut kv, &m.writes).unwrap();

        assert!(load(&kv, &anon_ns).invoices.is_empty());
        assert!(load(&kv, &anon_ns).clients.is_empty());
        let after = load(&kv, &acct_ns);
        assert!(after.damaged.is_empty());
        assert_eq!(after.invoices.len(), 3);
        assert_eq!(after.clients.len(), 2);
        let mut numbers: Vec<_> = after
            .invoices
            .iter()
            .map(|i| i.content.number.clone())
            .collect();
        numbers.sort();
        assert_eq!(numbers, vec!["INV-0001", "INV-0002", "INV-0003"]);
        assert_eq!(
            m.renumbered,
            vec![("INV-0001".to_string(), "INV-0003".to_string())]
        );
        let moved_a1 = after.invoices.iter().find(|i| i.id == "a1").unwrap();
        assert_eq!(moved_a1.version, 2);
        assert_eq!(m.moved.len(), 2);
    }

    #[test]
    fn the_same_client_in_both_is_kept_once_and_the_moved_invoices_name_it() {
        let anon_ns = Namespace::anonymous();
        let acct_ns = Namespace::new("sub-1");
        let mut anon = Snapshot::default();
        let mut acct = Snapshot::default();
        let mut mine = client("c1", " acme ");
        mine.email = "billing@acme.test".into();
        anon.clients = vec![mine, client("c2", "Initech")];
        anon.invoices = vec![
            invoice("a1", "INV-0007", "c1"),
            invoice("a2", "INV-0008", "c2"),
        ];
        acct.clients = vec![client("c9", "Acme")];
        let m = plan_move(&anon_ns, &anon, &acct_ns, &acct, "now");
        assert_eq!(m.merged_clients, vec!["Acme".to_string()]);
        let ids: Vec<&str> = m.merged.clients.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["c9", "c2"],
            "Acme once (the account's), Initech moved"
        );
        let a1 = m.moved.iter().find(|i| i.id == "a1").unwrap();
        assert_eq!(a1.content.client_id, "c9");
        assert_eq!(a1.version, 2, "a new version naming the account's client");
        assert!(crate::checksum::verify(a1));
        let a2 = m.moved.iter().find(|i| i.id == "a2").unwrap();
        assert_eq!((a2.content.client_id.as_str(), a2.version), ("c2", 1));
        // another email: another client
        let mut other = client("c3", "Acme");
        other.email = "x@elsewhere.test".into();
        let mut acct2 = Snapshot::default();
        let mut theirs = client("c9", "Acme");
        theirs.email = "billing@acme.test".into();
        acct2.clients = vec![theirs];
        anon.clients = vec![other];
        anon.invoices.clear();
        assert!(plan_move(&anon_ns, &anon, &acct_ns, &acct2, "now")
            .merged_clients
            .is_empty());
    }

    #[test]
    fn an_anonymous_profile_is_taken_where_the_account_has_none_and_set_aside_where_it_differs() {
        let anon_ns = Namespace::anonymous();
        let acct_ns = Namespace::new("sub-1");
        let mut anon = Snapshot::default();
        anon.profile.name = "Anon Studio".into();
        anon.settings.number_prefix = "A-".into();
        // the account has none: taken, nothing set aside
        let m = plan_move(&anon_ns, &anon, &acct_ns, &Snapshot::default(), "now");
        assert_eq!(m.merged.profile.name, "Anon Studio");
        assert_eq!(m.merged.settings.number_prefix, "A-");
        assert_eq!(m.profile_aside, None);
        // the account has the same: nothing set aside
        let m = plan_move(&anon_ns, &anon, &acct_ns, &m.merged, "now");
        assert_eq!(m.profile_aside, None);
        // the account has its own: it stays, the anonymous one is handed back whole
        let mut acct = Snapshot::default();
        acct.profile.name = "Account Ltd".into();
        let m = plan_move(&anon_ns, &anon, &acct_ns, &acct, "now");
        assert_eq!(m.merged.profile.name, "Account Ltd");
        let (p, s) = m.profile_aside.expect("the anonymous profile is kept");
        assert_eq!(
            (p.name.as_str(), s.number_prefix.as_str()),
            ("Anon Studio", "A-")
        );
        // only the numbering differs: still handed back
        let mut acct = Snapshot {
            profile: anon.profile.clone(),
            ..Default::default()
        };
        acct.settings.number_prefix = "B-".into();
        let m = plan_move(&anon_ns, &anon, &acct_ns, &acct, "now");
        assert!(m.profile_aside.is_some());
        // an anonymous mode never set up: nothing to keep
        let m = plan_move(&anon_ns, &Snapshot::default(), &acct_ns, &acct, "now");
        assert_eq!(m.profile_aside, None);
    }

    #[test]
    fn next_number_skips_used_numbers() {
        let s = Settings::default();
        let used = vec![invoice("a", "INV-0001", "c"), invoice("b", "INV-0002", "c")];
        assert_eq!(next_number(&s, &used), ("INV-0003".to_string(), 4));
        assert_eq!(next_number(&s, &[]), ("INV-0001".to_string(), 2));
    }
}
