//! Clients and the business profile in DynamoDB (`ledgerline_core::sync::records`): one
//! round after each pull while DynamoDB answers. The synced marks and the clients deleted
//! here are kept per (user, target) in localStorage (`<ns>records`). "Delete all local
//! data" keeps that state (a deletion not yet sent still goes; an absent record is never
//! a deletion) and keeps every change DynamoDB lacks for review first ([`keep_unsent`]).

use crate::platform::with_kv;
use crate::scoped;
use crate::service::{self, Answer, CallError, Written};
use crate::state::{Action, Store};
use ledgerline_core::model::{Client, Profile, Settings};
use ledgerline_core::sync::records::{
    at_wipe, client_id_of, client_key, decide, is_default_profile, lineage_after, missing_clients,
    profile_value, record_checksum, AtWipe, LocalRecord, Mark, RecordStep, RemoteRecord,
    PROFILE_KEY,
};
use ledgerline_core::sync::{Conflict, RecordConflict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What this device knows of one (user, target).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ScopeState {
    synced: BTreeMap<String, Mark>,
    /// Clients the user deleted here whose tombstone DynamoDB does not have yet.
    deleted: Vec<String>,
    /// Clients made here from an invoice's details (stand-ins for DynamoDB's records).
    #[serde(default)]
    placeholders: Vec<String>,
    /// Writes sent and not yet answered: if DynamoDB has exactly this, it landed.
    #[serde(default)]
    writing: BTreeMap<String, Mark>,
}

const NAME: &str = "records";

fn load(store: &Store) -> BTreeMap<String, ScopeState> {
    scoped::load(store, NAME)
}

/// Changes the state of `scope` as it is in localStorage now (read, changed, written at
/// once: a deletion noted or a local wipe made meanwhile is never written over).
fn update(store: &Store, scope: &str, f: impl FnOnce(&mut ScopeState)) -> bool {
    let mut all = load(store);
    f(all.entry(scope.to_string()).or_default());
    let (key, text) = scoped::write(store, NAME, &all);
    with_kv(|kv| kv.set(&key, &text.unwrap_or_default())).is_ok()
}

/// Applies a profile record's numbering fields to `s`.
pub fn numbering_from(v: &Value, s: &mut Settings) {
    if let Some(prefix) = v["numberPrefix"].as_str() {
        s.number_prefix = prefix.to_string();
    }
    if let Some(d) = v["numberDigits"]
        .as_u64()
        .and_then(|d| u8::try_from(d).ok())
    {
        s.number_digits = d;
    }
}

/// This device's records: clients, and the profile once it was set.
fn local_values(store: &Store) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = store
        .snap
        .clients
        .iter()
        .filter_map(|c| Some((client_key(&c.id), serde_json::to_value(c).ok()?)))
        .collect();
    if !is_default_profile(&store.snap.profile, &store.snap.settings) {
        out.insert(
            PROFILE_KEY.to_string(),
            profile_value(&store.snap.profile, &store.snap.settings),
        );
    }
    out
}

fn local_state(values: &BTreeMap<String, Value>, st: &ScopeState, key: &str) -> LocalRecord {
    match values.get(key) {
        Some(v) if st.placeholders.iter().any(|k| k == key) => {
            LocalRecord::Placeholder(record_checksum(v))
        }
        Some(v) => LocalRecord::Present(record_checksum(v)),
        None if st.deleted.iter().any(|k| k == key) => LocalRecord::Deleted,
        None => LocalRecord::Absent,
    }
}

/// Before "Delete all local data": every client and profile change of the current
/// (user, target) that DynamoDB does not have yet is kept in the conflicts store (it
/// outlives the wipe, as the invoices' queue does). Returns how many were kept, or None
/// when they could not be (then nothing may be deleted).
pub async fn keep_unsent(store: &Store) -> Option<usize> {
    let Some(scope) = scoped::scope_of(store) else {
        return Some(0);
    };
    let st = load(store).remove(&scope).unwrap_or_default();
    let values = local_values(store);
    let now = js_sys::Date::now() as u64;
    let kept: Vec<Conflict> = values
        .iter()
        .filter(|(key, _)| {
            at_wipe(&local_state(&values, &st, key), st.synced.get(*key)) == AtWipe::Keep
        })
        .map(|(key, v)| Conflict {
            invoice_id: key.clone(),
            local: None,
            remote: None,
            remote_version: None,
            damaged_remote: None,
            record: Some(RecordConflict {
                key: key.clone(),
                local: Some(v.clone()),
                remote: None,
                unsent: true,
                base: st.synced.get(key).cloned(),
                moved: false,
            }),
            at: now,
        })
        .collect();
    let n = kept.len();
    if n == 0 {
        return Some(0);
    }
    crate::sync::keep_conflicts(store, kept).await.then_some(n)
}

/// Anonymous mode's business profile, set aside when it moved into an account that has
/// its own (`account`, which stays): kept for review, "Restore mine" makes it the profile.
pub fn moved_profile(anon: (&Profile, &Settings), account: (&Profile, &Settings)) -> Conflict {
    Conflict {
        invoice_id: PROFILE_KEY.to_string(),
        local: None,
        remote: None,
        remote_version: None,
        damaged_remote: None,
        record: Some(RecordConflict {
            key: PROFILE_KEY.to_string(),
            local: Some(profile_value(anon.0, anon.1)),
            remote: Some(profile_value(account.0, account.1)),
            unsent: false,
            base: None,
            moved: true,
        }),
        at: js_sys::Date::now() as u64,
    }
}

/// The state to write back after "Delete all local data" cleared the namespace: every
/// scope's deletions not yet sent, with the synced marks they are based on. No other mark
/// stays: an edit made after the wipe, on what this browser no longer shows, must not
/// replace DynamoDB's record unseen (without a mark it is a conflict, kept for review).
pub fn state_after_wipe(store: &Store) -> Option<(String, String)> {
    let mut all = load(store);
    // a deletion undone since (the client is here again: restored, imported) is no longer
    // one: after the wipe it would read as the user's and send a tombstone
    let here = local_values(store);
    for st in all.values_mut() {
        st.deleted.retain(|k| !here.contains_key(k));
    }
    all.retain(|_, st| !st.deleted.is_empty());
    if all.is_empty() {
        return None;
    }
    for st in all.values_mut() {
        let deleted = std::mem::take(&mut st.deleted);
        st.synced.retain(|k, _| deleted.contains(k));
        *st = ScopeState {
            synced: std::mem::take(&mut st.synced),
            deleted,
            ..ScopeState::default()
        };
    }
    let (key, text) = scoped::write(store, NAME, &all);
    Some((key, text?))
}

/// Makes the clients `stored` invoices name but this device lacks (made, or deleted, on
/// another device) from the details the invoice carries, and tells the user: no invoice
/// here ever names a client that is missing.
pub fn stand_ins(store: &Store, stored: &[ledgerline_core::model::Invoice]) {
    let now = crate::platform::now_rfc3339();
    let missing = missing_clients(stored, |id| store.snap.clients.iter().any(|c| c.id == id));
    let mut added: Vec<Client> = Vec::new();
    for inv in missing {
        let Some(c) = inv.content.client_from_bill_to(&now) else {
            continue;
        };
        if with_kv(|kv| ledgerline_core::store::put_client(kv, &store.ns, &c)).is_ok() {
            // a stand-in: DynamoDB's own record of the client replaces it
            note_placeholder(store, &c.id);
            store.dispatch(Action::PutClient(c.clone()));
            added.push(c);
        }
    }
    if !added.is_empty() {
        let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
        store.dispatch(Action::Toast(format!(
            "Added {} from the client details on your invoices: {}.",
            if added.len() == 1 {
                "a client"
            } else {
                "clients"
            },
            names.join(", ")
        )));
    }
}

/// Notes that the user deleted client `id` here (its tombstone goes to DynamoDB at the
/// next round). Without an account, nothing.
pub fn note_deleted(store: &Store, id: &str) {
    let Some(scope) = scoped::scope_of(store) else {
        return;
    };
    let key = client_key(id);
    update(store, &scope, |st| {
        st.placeholders.retain(|k| k != &key);
        if !st.deleted.contains(&key) {
            st.deleted.push(key);
        }
    });
}

/// Notes that client `id` was made here from an invoice's details: DynamoDB's own record
/// of it, if any, replaces it without a conflict.
pub fn note_placeholder(store: &Store, id: &str) {
    let Some(scope) = scoped::scope_of(store) else {
        return;
    };
    let key = client_key(id);
    update(store, &scope, |st| {
        if !st.placeholders.contains(&key) {
            st.placeholders.push(key);
        }
    });
}

/// Notes that the user saved client `id` here: it is theirs now, not a stand-in, and no
/// longer deleted.
pub fn note_edited(store: &Store, id: &str) {
    let Some(scope) = scoped::scope_of(store) else {
        return;
    };
    let key = client_key(id);
    if load(store)
        .get(&scope)
        .is_some_and(|st| st.placeholders.contains(&key) || st.deleted.contains(&key))
    {
        update(store, &scope, |st| {
            st.placeholders.retain(|k| k != &key);
            st.deleted.retain(|k| k != &key);
        });
    }
}

/// Notes that the user restored their unsent version of `key` (kept at a local wipe):
/// unless this device has agreed on a version with DynamoDB since, it goes on top of
/// `base`, the version agreed on before the wipe (a conflict if DynamoDB changed since).
pub fn note_restored(store: &Store, key: &str, base: Option<Mark>) {
    let Some(scope) = scoped::scope_of(store) else {
        return;
    };
    update(store, &scope, |st| {
        st.placeholders.retain(|k| k != key);
        st.deleted.retain(|k| k != key);
        if let (false, Some(b)) = (st.synced.contains_key(key), base) {
            st.synced.insert(key.to_string(), b);
        }
    });
}

thread_local! {
    static BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One records round (or local wipe) at a time in this tab: held while it runs.
pub struct Busy(());

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.with(|b| b.set(false));
    }
}

fn try_busy() -> Option<Busy> {
    BUSY.with(|b| (!b.replace(true)).then_some(Busy(())))
}

/// Waits until no records round runs, then holds them off (a local wipe: a round's late
/// answer must not write marks into the state the wipe leaves).
pub async fn hold() -> Busy {
    loop {
        if let Some(b) = try_busy() {
            return b;
        }
        gloo::timers::future::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Stores DynamoDB's content of `key` here (None: deleted there). Returns what changed,
/// for the message.
fn store_remote(store: &Store, key: &str, content: Option<&Value>) -> Result<&'static str, String> {
    if let Some(id) = client_id_of(key) {
        match content {
            Some(v) => {
                let c: Client = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
                if c.id != id {
                    return Err("its id does not match its key".into());
                }
                let added = !store.snap.clients.iter().any(|x| x.id == id);
                with_kv(|kv| ledgerline_core::store::put_client(kv, &store.ns, &c))
                    .map_err(|e| format!("{e:?}"))?;
                store.dispatch(Action::PutClient(c));
                Ok(if added { "added" } else { "updated" })
            }
            None => {
                with_kv(|kv| ledgerline_core::store::remove_client(kv, &store.ns, id));
                store.dispatch(Action::RemoveClient(id.to_string()));
                Ok("removed")
            }
        }
    } else if key == PROFILE_KEY {
        let Some(v) = content else {
            return Ok("kept");
        };
        let p: Profile = serde_json::from_value(v["profile"].clone()).map_err(|e| e.to_string())?;
        let mut s = store.snap.settings.clone();
        numbering_from(v, &mut s);
        crate::state::save_profile(store, p, s).map_err(|e| e.message())?;
        Ok("profile")
    } else {
        Err("not a record this version knows".into())
    }
}

/// How long after the user's last change of a client or the profile its round starts
/// (a burst of changes is one round).
pub const SOON_MS: u32 = 800;

thread_local! {
    static SOON: std::cell::RefCell<Option<gloo::timers::callback::Timeout>> =
        const { std::cell::RefCell::new(None) };
}

/// A client or profile changed here by the user goes to DynamoDB a moment later, as an
/// invoice does, not at the next connection check (which may be minutes away, or never
/// if the tab closes first). A round already running is waited for. Offline, the round
/// fails quietly and the next check sends it.
pub fn sync_soon(store: &Store) {
    if store.session.is_none() {
        return;
    }
    let store = store.clone();
    let timer = gloo::timers::callback::Timeout::new(SOON_MS, move || {
        wasm_bindgen_futures::spawn_local(async move {
            // the handle reads the state as it is now; a round running still holds it
            drop(hold().await);
            sync(&store).await;
        });
    });
    // a newer change replaces the waiting round (dropping a Timeout cancels it)
    SOON.with(|s| *s.borrow_mut() = Some(timer));
}

/// One round: DynamoDB's records read, each decided, stored here or written there.
pub async fn sync(store: &Store) {
    let (Some(session), Some(scope)) = (store.session.clone(), scoped::scope_of(store)) else {
        return;
    };
    let target = store.config.target.clone();
    let user = session.sub.clone();
    // one round at a time (two checks answered together would both write)
    let Some(_busy) = try_busy() else { return };
    let Ok(items) = service::records(&target, &user).await else {
        return;
    };
    let still = |store: &Store| crate::sync::still_on(store, &user, &target);
    if !still(store) {
        return;
    }
    let remote: BTreeMap<String, RemoteRecord> =
        items.into_iter().map(|r| (r.key.clone(), r)).collect();
    // writes whose answer was lost: those DynamoDB holds exactly did land
    update(store, &scope, |st| {
        for (key, m) in std::mem::take(&mut st.writing) {
            if remote
                .get(&key)
                .is_some_and(|r| (r.version, r.checksum.clone()) == m)
            {
                st.synced.insert(key, m);
            }
        }
    });
    let values = local_values(store);
    // a client deleted here and back since (restored, imported) is no longer deleted
    update(store, &scope, |st| {
        st.deleted.retain(|k| !values.contains_key(k))
    });
    let st = load(store).remove(&scope).unwrap_or_default();
    let mut keys: Vec<String> = values
        .keys()
        .chain(st.deleted.iter())
        .chain(remote.keys())
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    let mut told: Vec<String> = Vec::new();
    let mut kept = 0usize;
    for key in keys {
        let local = local_state(&values, &st, &key);
        let r = remote.get(&key);
        let needed = client_id_of(&key).is_some_and(|id| {
            store
                .snap
                .invoices
                .iter()
                .any(|i| i.content.client_id == id)
        });
        match decide(&local, st.synced.get(&key), r, needed) {
            RecordStep::Keep => continue,
            RecordStep::Synced(m) => {
                update(store, &scope, |st| {
                    st.placeholders.retain(|k| k != &key);
                    st.synced.insert(key.clone(), m);
                });
            }
            step @ (RecordStep::Take(_) | RecordStep::TakeKeepLocal(_)) => {
                let (m, keep) = match step {
                    RecordStep::TakeKeepLocal(m) => (m, true),
                    RecordStep::Take(m) => (m, false),
                    _ => continue,
                };
                // the copy here may have changed (or been deleted) since it was read: then
                // the next round decides
                let now = load(store).remove(&scope).unwrap_or_default();
                if local_state(&local_values(store), &now, &key) != local {
                    continue;
                }
                let theirs: Option<Value> = r
                    .and_then(|r| r.content.as_deref())
                    .and_then(|t| serde_json::from_str(t).ok());
                if r.is_some_and(|r| r.checksum.is_some()) && theirs.is_none() {
                    // DynamoDB's copy cannot be read: nothing here is replaced by it
                    continue;
                }
                if keep {
                    let c = Conflict {
                        invoice_id: key.clone(),
                        local: None,
                        remote: None,
                        remote_version: Some(m.0),
                        damaged_remote: None,
                        record: Some(RecordConflict {
                            key: key.clone(),
                            local: values.get(&key).cloned(),
                            remote: theirs.clone(),
                            unsent: false,
                            base: None,
                            moved: false,
                        }),
                        at: js_sys::Date::now() as u64,
                    };
                    // kept first; if it cannot be, nothing here changes
                    if !crate::sync::keep_conflicts(store, vec![c]).await || !still(store) {
                        break;
                    }
                    kept += 1;
                }
                match store_remote(store, &key, theirs.as_ref()) {
                    Ok(what) => {
                        told.push(describe(what, &key, theirs.as_ref(), &values));
                        update(store, &scope, |st| {
                            st.deleted.retain(|k| k != &key);
                            st.placeholders.retain(|k| k != &key);
                            st.synced.insert(key.clone(), m);
                        });
                    }
                    Err(e) => {
                        store.dispatch(Action::Toast(format!(
                            "A client or profile from DynamoDB could not be stored here ({e}); nothing here was changed. Free some browser storage (Data → Export JSON, then delete old invoices); the app tries again at the next sync."
                        )));
                        break;
                    }
                }
            }
            RecordStep::Upload { version, base } => {
                let Some(v) = values.get(&key) else { continue };
                let sum = record_checksum(v);
                let write = Write {
                    key: &key,
                    version,
                    content: Some((v, &sum)),
                    base,
                };
                let mark = (version, Some(sum.clone()));
                update(store, &scope, |st| {
                    st.writing.insert(key.clone(), mark.clone());
                });
                let answer = put(&target, &user, write, r).await;
                if !matches!(answer, Ok(_) | Err(CallError::Failed(_))) {
                    // no answer: the next round reads what DynamoDB has
                    break;
                }
                update(store, &scope, |st| {
                    st.writing.remove(&key);
                    if answer == Ok(Written::Done) {
                        st.placeholders.retain(|k| k != &key);
                        st.synced.insert(key.clone(), mark);
                    }
                });
                match answer {
                    Ok(Written::Done) => {
                        if r.is_some_and(|r| r.checksum.is_none()) {
                            told.push(format!(
                                "client {} was deleted on another device, but invoices here name it: kept, and back in DynamoDB",
                                v["name"].as_str().unwrap_or_default()
                            ));
                        }
                    }
                    Ok(Written::Stale) => {}
                    Err(CallError::Failed(ledgerline_core::errors::ErrorClass::RequestInvalid)) => {
                        // refused as it is (too large, most likely): said, and the rest goes on
                        let what = if key == PROFILE_KEY {
                            "The business profile".to_string()
                        } else {
                            format!("Client {}", v["name"].as_str().unwrap_or_default())
                        };
                        store.dispatch(Action::Toast(format!(
                            "{what} could not be stored in DynamoDB: it refused it as it is (an item holds at most 400 KB). It stays here; choose a smaller logo or shorten it, then save again."
                        )));
                    }
                    _ => break,
                }
            }
            RecordStep::Tombstone { version, base } => {
                let write = Write {
                    key: &key,
                    version,
                    content: None,
                    base: Some(base),
                };
                update(store, &scope, |st| {
                    st.writing.insert(key.clone(), (version, None));
                });
                match put(&target, &user, write, r).await {
                    Ok(Written::Done) => update(store, &scope, |st| {
                        st.writing.remove(&key);
                        st.deleted.retain(|k| k != &key);
                        st.synced.insert(key.clone(), (version, None));
                    }),
                    Ok(Written::Stale) => update(store, &scope, |st| {
                        st.writing.remove(&key);
                    }),
                    _ => break,
                };
            }
            RecordStep::Forget => {
                update(store, &scope, |st| {
                    st.deleted.retain(|k| k != &key);
                    st.synced.remove(&key);
                });
            }
        }
        if !still(store) {
            return;
        }
    }
    told.retain(|t| !t.is_empty());
    if !told.is_empty() || kept > 0 {
        let mut text = format!("From another device: {}.", told.join("; "));
        if kept > 0 {
            text.push_str(&format!(
                " {kept} of your own changes lost to it and {} kept under Conflicts.",
                if kept == 1 { "is" } else { "are" }
            ));
        }
        store.dispatch(Action::Toast(text));
    }
}

/// One record write: `content` (with its checksum) or None for a tombstone.
struct Write<'a> {
    key: &'a str,
    version: u64,
    content: Option<(&'a Value, &'a str)>,
    base: Option<Mark>,
}

/// Writes `w` to DynamoDB, conditional on its base, with the lineage after it (`r`: what
/// DynamoDB had, as read).
async fn put(
    target: &ledgerline_core::protocol::Target,
    user: &str,
    w: Write<'_>,
    r: Option<&RemoteRecord>,
) -> Answer<Written> {
    let lineage = lineage_after(
        w.base.as_ref(),
        r.map(|r| r.lineage.as_slice()).unwrap_or_default(),
    );
    service::put_record(
        target,
        user,
        w.key,
        w.version,
        w.content
            .map(|(v, _)| serde_json::to_string(v).unwrap_or_default()),
        w.content.map(|(_, sum)| sum.to_string()),
        w.base,
        lineage,
    )
    .await
}

fn describe(
    what: &str,
    key: &str,
    theirs: Option<&Value>,
    before: &BTreeMap<String, Value>,
) -> String {
    let name = |v: Option<&Value>| {
        v.and_then(|v| v["name"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    match what {
        "added" => format!("client {} added", name(theirs)),
        "updated" => format!("client {} updated", name(theirs)),
        "removed" => {
            let n = name(before.get(key));
            if n.is_empty() {
                String::new()
            } else {
                format!("client {n} deleted (invoices keep its details)")
            }
        }
        "profile" => "business profile updated".into(),
        _ => String::new(),
    }
}
