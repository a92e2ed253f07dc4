//! The outbox: a synchronous, durable note in localStorage of every change that has not
//! yet reached the sync queue in IndexedDB.
//!
//! The queue lives in IndexedDB and is written by the cloud worker, asynchronously. A tab
//! that navigates away (or is closed) right after a save would lose a change that was
//! saved locally but never queued. So the page writes an outbox entry in the same
//! synchronous turn as the save, and removes it only when the worker confirms the queued
//! operation; at the next start the page queues again whatever the outbox still holds.
//!
//! Layout: `ledgerline/v1/outbox/<user>` = JSON object
//! `{ "<invoiceId>": ["p"|"d", token, [version, checksum] | null] }`: the third element
//! is the copy the change was built on (notes written by older versions have two).
//! The token tells a confirmation for an older change apart from a newer one: an entry is
//! only removed by the confirmation of the change that wrote it.

use crate::store::{Kv, KvError};
use std::collections::BTreeMap;

pub const PREFIX: &str = "ledgerline/v1/outbox/";

/// What is waiting: the invoice's current local state (put) or its deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    Put,
    Delete,
}

/// The copy a change was built on (version, checksum).
pub type Parent = Option<(u64, String)>;

/// One note: tag ("p" or "d"), token, and the parent (absent in notes written by older
/// versions: a plain tuple with a defaulted last field keeps the page's code small).
#[derive(serde::Serialize, serde::Deserialize)]
struct Note(String, u64, #[serde(default)] Parent);

impl Note {
    fn token(&self) -> u64 {
        self.1
    }
}

type Entries = BTreeMap<String, Note>;

fn key(user: &str) -> String {
    format!("{PREFIX}{user}")
}

/// Forgets every note of `user` (their data is being removed from this browser).
pub fn forget(kv: &mut dyn Kv, user: &str) {
    kv.remove(&key(user));
}

fn read(kv: &dyn Kv, user: &str) -> Entries {
    kv.get(&key(user))
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default()
}

fn write(kv: &mut dyn Kv, user: &str, entries: &Entries) -> Result<(), KvError> {
    if entries.is_empty() {
        kv.remove(&key(user));
        Ok(())
    } else {
        kv.set(
            &key(user),
            &serde_json::to_string(entries).unwrap_or_default(),
        )
    }
}

/// Notes a change of `id` (replacing any older note of it) under `token`; `parent`: the
/// copy it was built on.
pub fn add(
    kv: &mut dyn Kv,
    user: &str,
    id: &str,
    what: Pending,
    token: u64,
    parent: Parent,
) -> Result<(), KvError> {
    let mut e = read(kv, user);
    let tag = match what {
        Pending::Put => "p",
        Pending::Delete => "d",
    };
    e.insert(id.to_string(), Note(tag.to_string(), token, parent));
    write(kv, user, &e)
}

/// The change noted under `token` is in the queue now: forget it, unless a newer change
/// of the same invoice was noted meanwhile.
pub fn confirm(kv: &mut dyn Kv, user: &str, id: &str, token: u64) {
    let mut e = read(kv, user);
    if e.get(id).map(Note::token) == Some(token) {
        e.remove(id);
        // removing only shrinks the entry: a failure here cannot lose anything
        let _ = write(kv, user, &e);
    }
}

/// Everything noted and not confirmed, with its token and the copy it was built on.
pub fn pending(kv: &dyn Kv, user: &str) -> Vec<(String, Pending, u64, Parent)> {
    read(kv, user)
        .into_iter()
        .map(|(id, Note(tag, token, parent))| {
            let what = if tag == "d" {
                Pending::Delete
            } else {
                Pending::Put
            };
            (id, what, token, parent)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn a_confirmation_removes_only_its_own_change() {
        let mut kv = MemKv::default();
        add(&mut kv, "u", "a", Pending::Put, 1, None).unwrap();
        add(&mut kv, "u", "b", Pending::Delete, 2, None).unwrap();
        // a newer save of `a` before the first one was confirmed
        add(&mut kv, "u", "a", Pending::Put, 3, Some((1, "c".into()))).unwrap();
        confirm(&mut kv, "u", "a", 1);
        assert_eq!(
            pending(&kv, "u"),
            vec![
                ("a".to_string(), Pending::Put, 3, Some((1, "c".to_string()))),
                ("b".to_string(), Pending::Delete, 2, None)
            ]
        );
        confirm(&mut kv, "u", "a", 3);
        confirm(&mut kv, "u", "b", 2);
        assert!(pending(&kv, "u").is_empty());
        assert!(kv.map.is_empty(), "an empty outbox leaves no key behind");
    }

    #[test]
    fn users_are_apart_and_damage_reads_as_empty() {
        let mut kv = MemKv::default();
        add(&mut kv, "u", "a", Pending::Put, 1, None).unwrap();
        assert!(pending(&kv, "v").is_empty());
        kv.set(&key("v"), "{not json").unwrap();
        assert!(pending(&kv, "v").is_empty());
        add(&mut kv, "v", "x", Pending::Delete, 5, None).unwrap();
        assert_eq!(
            pending(&kv, "v"),
            vec![("x".to_string(), Pending::Delete, 5, None)]
        );
    }

    #[test]
    fn notes_of_older_versions_still_read() {
        let mut kv = MemKv::default();
        kv.set(&key("u"), r#"{"a":["p",7],"b":["d",8,[3,"c"]]}"#)
            .unwrap();
        assert_eq!(
            pending(&kv, "u"),
            vec![
                ("a".to_string(), Pending::Put, 7, None),
                (
                    "b".to_string(),
                    Pending::Delete,
                    8,
                    Some((3, "c".to_string()))
                )
            ]
        );
    }

    #[test]
    fn a_full_store_refuses_the_note() {
        let mut kv = MemKv {
            quota: Some(10),
            ..Default::default()
        };
        assert_eq!(
            add(&mut kv, "u", "a", Pending::Put, 1, None),
            Err(KvError::Quota)
        );
    }
}
