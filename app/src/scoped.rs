//! State kept in localStorage per (user, target) under one key of the user's namespace
//! (`<ns><name>`, a JSON map scope -> state): the invoice numbers leased to this device
//! (`numbers`) and the clients' and profile's sync marks (`records`).

use crate::platform::with_kv;
use crate::state::Store;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;

/// The (user, target) the app works on now (None without an account).
pub fn scope_of(store: &Store) -> Option<String> {
    store
        .session
        .as_ref()
        .map(|s| ledgerline_core::sync::scope(&s.sub, &store.config.target))
}

/// The localStorage key of the state called `name`.
pub fn key(store: &Store, name: &str) -> String {
    format!("{}{name}", store.ns.prefix())
}

/// Every scope's state called `name`, as stored now (unreadable: none).
pub fn load<T: DeserializeOwned>(store: &Store, name: &str) -> BTreeMap<String, T> {
    with_kv(|kv| kv.get(&key(store, name)))
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default()
}

/// The write that stores `all` as the state called `name`.
pub fn write<T: Serialize>(
    store: &Store,
    name: &str,
    all: &BTreeMap<String, T>,
) -> (String, Option<String>) {
    (key(store, name), serde_json::to_string(all).ok())
}
