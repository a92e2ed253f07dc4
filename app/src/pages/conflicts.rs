//! Conflicts review: local versions set aside because DynamoDB's version won. Each shows
//! the fields that differ side by side; the user keeps DynamoDB's version or restores
//! theirs as a new version (which is queued for DynamoDB like any save).

use crate::state::{delete_invoice, restore_invoice, Action, Store};
use ledgerline_core::diff::{diff, FieldDiff};
use ledgerline_core::sync::Conflict;
use yew::prelude::*;

/// What the user chose for one conflict.
#[derive(Clone, Copy, PartialEq)]
enum Choice {
    /// DynamoDB's version stays (the conflict is dismissed).
    KeepRemote,
    /// This device's version comes back as a new version (or its delete is done again).
    RestoreMine,
    /// A damaged DynamoDB item, already replaced: its kept text is let go.
    Dismiss,
}

#[derive(Clone, PartialEq)]
enum Loaded {
    Loading,
    Failed(String),
    List(Vec<Conflict>),
}

#[function_component(ConflictsPage)]
pub fn conflicts_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let list = use_state(|| Loaded::Loading);
    let note = use_state(|| None::<String>);
    // conflicts belong to (user, target); anonymous mode has its own (stale editors)
    let user = crate::oplog::user_of(&store);
    let target = store.config.target.clone();
    {
        let list = list.clone();
        let store = store.clone();
        use_effect_with((user.clone(), target), move |(user, target)| {
            let (user, target) = (user.clone(), target.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match crate::service::conflicts(&target, &user).await {
                    Ok(mut items) => {
                        items.sort_by_key(|c| std::cmp::Reverse(c.at));
                        store.dispatch(Action::SetConflicts(items.len() as u32));
                        list.set(Loaded::List(items));
                    }
                    Err(e) => list.set(Loaded::Failed(e.message())),
                }
            });
        });
    }
    let number_of = {
        let store = store.clone();
        move |c: &Conflict| {
            c.local
                .as_ref()
                .or(c.remote.as_ref())
                .or_else(|| store.invoice(&c.invoice_id))
                .map(|i| i.content.number.clone())
                .unwrap_or_else(|| c.invoice_id.clone())
        }
    };
    let decide = {
        let store = store.clone();
        let list = list.clone();
        let note = note.clone();
        let number_of = number_of.clone();
        move |c: Conflict, choice: Choice| {
            let store = store.clone();
            let list = list.clone();
            let note = note.clone();
            let number_of = number_of.clone();
            Callback::from(move |_| {
                let user = crate::oplog::user_of(&store);
                let number = number_of(&c);
                let text = if let Some(rc) = &c.record {
                    match record_choice(&store, rc, choice) {
                        Ok(t) => {
                            if choice == Choice::RestoreMine {
                                crate::records::sync_soon(&store);
                            }
                            t
                        }
                        Err(e) => {
                            note.set(Some(e));
                            return;
                        }
                    }
                } else if choice == Choice::Dismiss {
                    format!("Let go of the damaged DynamoDB copy of {number}.")
                } else if choice == Choice::KeepRemote {
                    format!("Kept DynamoDB's version of {number}.")
                } else if let Some(mine) = &c.local {
                    // a new version after both this copy and DynamoDB's (a tombstone's
                    // version included), queued like any save: never a version another
                    // device could take for the one it replaces
                    let theirs = c.remote.as_ref().map(|r| r.version).or(c.remote_version);
                    let after = ledgerline_core::sync::restored_version(mine.version, theirs) - 1;
                    match restore_invoice(&store, &c.invoice_id, mine.content.clone(), after) {
                        Ok(r) => format!(
                            "Restored your version of {number} as version {}; it is on its way to DynamoDB.",
                            r.version
                        ),
                        Err(e) => {
                            note.set(Some(e.message()));
                            return;
                        }
                    }
                } else {
                    delete_invoice(&store, &c.invoice_id);
                    format!("Deleted {number} again, as you had.")
                };
                let id = c.invoice_id.clone();
                let at = c.at;
                let store = store.clone();
                let list = list.clone();
                let note = note.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let target = store.config.target.clone();
                    if let Err(e) = crate::service::drop_conflict(&target, &user, &id, at).await {
                        note.set(Some(format!(
                            "{text} The conflict could not be removed from the list ({}); you can dismiss it again.",
                            e.message()
                        )));
                        return;
                    }
                    if let Loaded::List(items) = &*list {
                        let rest: Vec<Conflict> = items
                            .iter()
                            .filter(|x| x.invoice_id != id || x.at != at)
                            .cloned()
                            .collect();
                        store.dispatch(Action::SetConflicts(rest.len() as u32));
                        list.set(Loaded::List(rest));
                    }
                    note.set(Some(text));
                });
            })
        }
    };
    let client_name = {
        let clients = store.snap.clients.clone();
        move |id: &str| {
            clients
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| format!("(unknown client {id})"))
        }
    };
    let body = match &*list {
        Loaded::Loading => {
            html! { <p class="loading" data-testid="conflicts-loading">{ "Loading conflicts…" }</p> }
        }
        Loaded::Failed(m) => html! {
            <div class="banner banner-error" role="alert" data-testid="conflicts-error">
                { format!("The conflicts could not be read ({m}). Nothing is lost: reload the page to try again.") }
            </div>
        },
        Loaded::List(items) if items.is_empty() => html! {
            <p data-testid="conflicts-empty">{ "No conflicts: every invoice here matches DynamoDB or is on its way there." }</p>
        },
        Loaded::List(items) => html! {
            { for items.iter().map(|c| {
                let number = number_of(c);
                let when = String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(c.at as f64)).to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED));
                if let Some(rc) = &c.record {
                    let rows = record_rows(rc.local.as_ref(), rc.remote.as_ref(), rc.unsent);
                    let what = match (&rc.local, &rc.remote) {
                        _ if rc.moved => "This browser's business profile from anonymous mode. Your account had its own when the anonymous data moved in, so the account's is used; \"Restore mine\" makes this one your profile instead (it goes to DynamoDB a moment later), \"Keep the account's\" forgets it.",
                        _ if rc.unsent => "Not in DynamoDB yet when all local data in this browser was deleted, so it was kept here instead of lost. \"Restore mine\" brings it back (it goes to DynamoDB a moment later); \"Discard\" forgets it.",
                        (Some(_), None) => "Deleted in DynamoDB (on another device) while you changed it here. It is deleted here too; \"Restore mine\" brings yours back.",
                        (None, _) => "Changed in DynamoDB while you deleted it here. DynamoDB's version is back; \"Delete it anyway\" deletes it again.",
                        _ => "Changed in DynamoDB while you changed it here. DynamoDB's version is the one used now; yours is kept below.",
                    };
                    let mine_label = if rc.local.is_some() { "Restore mine" } else { "Delete it anyway" };
                    let theirs_label = match () {
                        _ if rc.unsent => "Discard",
                        _ if rc.moved => "Keep the account's",
                        _ => "Keep DynamoDB's",
                    };
                    return html! {
                        <div class="card" data-testid="conflict" data-kind="record" data-id={c.invoice_id.clone()} key={format!("{}|{}", c.invoice_id, c.at)}>
                            <h2>{ record_title(rc) }</h2>
                            <p>{ what }<span class="muted">{ format!(" Found {when}.") }</span></p>
                            { diff_table(&rows) }
                            <button data-testid="conflict-keep-remote" onclick={decide(c.clone(), Choice::KeepRemote)}>{ theirs_label }</button>
                            <button class="primary" data-testid="conflict-restore-mine" onclick={decide(c.clone(), Choice::RestoreMine)}>{ mine_label }</button>
                        </div>
                    };
                }
                if let Some(raw) = &c.damaged_remote {
                    let version = c.remote_version.map(|v| format!(" (version {v})")).unwrap_or_default();
                    let download = {
                        let (raw, note, name) = (raw.clone(), note.clone(), format!("ledgerline-damaged-{}.json", c.invoice_id));
                        Callback::from(move |_| {
                            if let Err(e) = crate::platform::download(&name, "application/json", &raw) {
                                note.set(Some(format!("The damaged copy could not be downloaded ({e}). It is still kept here; copy the text below instead.")));
                            }
                        })
                    };
                    return html! {
                        <div class="card" data-testid="conflict" data-kind="damaged" data-id={c.invoice_id.clone()} key={format!("{}|{}", c.invoice_id, c.at)}>
                            <h2>{ format!("Invoice {number}") }</h2>
                            <p>
                                { format!("DynamoDB's copy{version} could not be read: it does not match its checksum or is not an invoice, so it was changed outside Ledgerline or damaged. Your copy from this browser replaced it; DynamoDB's copy is kept below exactly as it was.") }
                                <span class="muted">{ format!(" Found {when}.") }</span>
                            </p>
                            <pre class="raw" data-testid="conflict-damaged-raw">{ raw.clone() }</pre>
                            <button data-testid="conflict-download-raw" onclick={download}>{ "Download damaged copy" }</button>
                            <button class="primary" data-testid="conflict-dismiss" onclick={decide(c.clone(), Choice::Dismiss)}>{ "Dismiss" }</button>
                        </div>
                    };
                }
                let rows = diff(c.local.as_ref(), c.remote.as_ref(), &client_name);
                let what = match (&c.local, &c.remote) {
                    (Some(_), None) => "Deleted in DynamoDB (by another device or person) while you edited it here. It is deleted here too; \"Restore mine\" brings your version back.",
                    (None, Some(_)) => "Changed in DynamoDB while you deleted it here. DynamoDB's version is back here; \"Delete it anyway\" deletes it again.",
                    _ => "Changed in DynamoDB while you edited it here. DynamoDB's version is the one shown now; yours is kept below.",
                };
                let mine_label = if c.local.is_some() { "Restore mine" } else { "Delete it anyway" };
                html! {
                    <div class="card" data-testid="conflict" data-id={c.invoice_id.clone()} key={format!("{}|{}", c.invoice_id, c.at)}>
                        <h2>{ format!("Invoice {number}") }</h2>
                        <p>{ what }<span class="muted">{ format!(" Found {when}.") }</span></p>
                        if rows.is_empty() {
                            <p class="muted">{ "Both versions have the same content." }</p>
                        } else {
                            { diff_table(&rows) }
                        }
                        <button data-testid="conflict-keep-remote" onclick={decide(c.clone(), Choice::KeepRemote)}>{ "Keep DynamoDB's" }</button>
                        <button class="primary" data-testid="conflict-restore-mine" onclick={decide(c.clone(), Choice::RestoreMine)}>{ mine_label }</button>
                    </div>
                }
            }) }
        },
    };
    html! {
        <section class="page">
            <div class="page-head"><h1>{ "Conflicts" }</h1></div>
            <p class="muted">{ "When an invoice changed in DynamoDB and here at the same time, DynamoDB's version wins and yours is kept here until you decide. A copy in DynamoDB that cannot be read is replaced by yours and kept here." }</p>
            if let Some(n) = &*note { <div class="banner banner-info" role="status" data-testid="conflicts-note">{ n.clone() }</div> }
            { body }
        </section>
    }
}

/// "Client Acme" or "Business profile".
fn record_title(rc: &ledgerline_core::sync::RecordConflict) -> String {
    if rc.key == ledgerline_core::sync::records::PROFILE_KEY {
        return "Business profile".into();
    }
    let name = rc
        .local
        .as_ref()
        .or(rc.remote.as_ref())
        .and_then(|v| v["name"].as_str())
        .unwrap_or("(no name)");
    format!("Client {name}")
}

/// The fields of a client or profile record, in words: (label, value).
fn record_fields(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |k: &str, x: &serde_json::Value| {
        if k == "id" || k == "updatedAt" {
            return;
        }
        let text = match (k, x) {
            ("logo", serde_json::Value::String(s)) => format!("(image, {} KB)", s.len() / 1024),
            (_, serde_json::Value::String(s)) => s.clone(),
            (_, serde_json::Value::Null) => String::new(),
            (_, other) => other.to_string(),
        };
        out.push((k.to_string(), text));
    };
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            match x.as_object() {
                Some(inner) if k == "profile" => {
                    for (k, x) in inner {
                        add(k, x);
                    }
                }
                _ => add(k, x),
            }
        }
    }
    out
}

/// The fields that differ, side by side.
fn diff_table(rows: &[FieldDiff]) -> Html {
    html! {
        <table class="list" data-testid="conflict-diff">
            <thead><tr><th>{ "Field" }</th><th>{ "Yours (this browser)" }</th><th>{ "DynamoDB's (kept)" }</th></tr></thead>
            <tbody>
                { for rows.iter().map(|r| html! {
                    <tr data-testid="conflict-field" data-field={r.field.clone()}>
                        <th>{ &r.field }</th><td class="mine">{ &r.mine }</td><td class="theirs">{ &r.theirs }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

/// The fields of a client or profile record that differ; a missing side reads "(deleted)",
/// or "(not in DynamoDB)" for a change kept at a local wipe (`unsent`).
fn record_rows(
    mine: Option<&serde_json::Value>,
    theirs: Option<&serde_json::Value>,
    unsent: bool,
) -> Vec<FieldDiff> {
    let a = mine.map(record_fields);
    let b = theirs.map(record_fields);
    let mut labels: Vec<String> = Vec::new();
    for (l, _) in a.iter().chain(b.iter()).flatten() {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    let value = |side: &Option<Vec<(String, String)>>, l: &str| match side {
        None if unsent => "(not in DynamoDB)".to_string(),
        None => "(deleted)".to_string(),
        Some(f) => f
            .iter()
            .find(|(k, _)| k == l)
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    };
    labels
        .into_iter()
        .filter_map(|l| {
            let (mine, theirs) = (value(&a, &l), value(&b, &l));
            (mine != theirs).then_some(FieldDiff {
                field: l,
                mine,
                theirs,
            })
        })
        .collect()
}

/// Carries out the user's choice on a client or profile conflict; the text to show.
fn record_choice(
    store: &Store,
    rc: &ledgerline_core::sync::RecordConflict,
    choice: Choice,
) -> Result<String, String> {
    let title = record_title(rc);
    if choice != Choice::RestoreMine {
        return Ok(if rc.moved {
            "Kept your account's business profile; this browser's is discarded.".to_string()
        } else if rc.unsent {
            format!("Discarded your unsent version of {title}.")
        } else {
            format!("Kept DynamoDB's version of {title}.")
        });
    }
    let client_id = ledgerline_core::sync::records::client_id_of(&rc.key);
    match (&rc.local, client_id) {
        (Some(v), Some(_)) => {
            let mut c: ledgerline_core::model::Client =
                serde_json::from_value(v.clone()).map_err(|e| {
                    format!("Your version of {title} cannot be read ({e}); it stays listed here.")
                })?;
            c.updated_at = crate::platform::now_rfc3339();
            crate::state::save_client(store, c).map_err(|e| e.message())?;
            if rc.unsent {
                crate::records::note_restored(store, &rc.key, rc.base.clone());
            }
            Ok(format!(
                "Restored your version of {title}; it goes to DynamoDB in a moment."
            ))
        }
        (None, Some(id)) => {
            crate::state::delete_client(store, id)?;
            Ok(format!("Deleted {title} again, as you had."))
        }
        (Some(v), None) => {
            let p: ledgerline_core::model::Profile = serde_json::from_value(v["profile"].clone())
                .map_err(|e| {
                format!("Your version of the profile cannot be read ({e}); it stays listed here.")
            })?;
            let mut s = store.snap.settings.clone();
            crate::records::numbering_from(v, &mut s);
            crate::state::save_profile(store, p, s).map_err(|e| e.message())?;
            if rc.unsent {
                crate::records::note_restored(store, &rc.key, rc.base.clone());
            }
            Ok("Restored your business profile; it goes to DynamoDB in a moment.".into())
        }
        (None, None) => Ok(format!("Kept DynamoDB's version of {title}.")),
    }
}
