use crate::platform::{download, now_rfc3339, read_text, today};
use crate::service;
use crate::state::{clear_all, import, remove_damaged, restore_backup, Store};
use ledgerline_core::exchange::{export_csv, export_json};
use ledgerline_core::protocol::BackupInfo;
use ledgerline_core::store::Damaged;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// The warning shown while data lives only in this browser.
pub fn local_only_note(store: &Store) -> Html {
    if store.session.is_some() {
        // signed in: the status indicator and its banner say where the data is
        return html! {};
    }
    html! {
        <p class="note no-print" data-testid="local-only-warning">
            { "Your invoices are stored only in this browser. Clearing site data, a different browser or a lost \
               device loses them: export a backup regularly (Data → Export JSON)." }
        </p>
    }
}

#[derive(Clone, PartialEq)]
enum ImportResult {
    Done(String),
    Rejected(Vec<(String, String)>),
}

#[function_component(DataPage)]
pub fn data_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let result = use_state(|| None::<ImportResult>);
    let busy = use_state(|| false);
    let confirm_clear = use_state(|| false);

    let export = {
        let store = store.clone();
        Callback::from(move |_| {
            if let Err(e) = crate::platform::download_export(&store.snap) {
                store.dispatch(crate::state::Action::Toast(format!(
                    "The export could not be downloaded ({e})."
                )));
            }
        })
    };
    let csv = {
        let store = store.clone();
        Callback::from(move |_| {
            let text = export_csv(&store.snap.invoices, &store.snap.clients);
            if let Err(e) = download(
                &format!("ledgerline-invoices-{}.csv", today()),
                "text/csv",
                &text,
            ) {
                store.dispatch(crate::state::Action::Toast(format!(
                    "The CSV could not be downloaded ({e})."
                )));
            }
        })
    };
    let on_file = {
        let store = store.clone();
        let result = result.clone();
        let busy = busy.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            input.set_value("");
            let store = store.clone();
            let result = result.clone();
            let busy = busy.clone();
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let r = match read_text(&file).await {
                    Err(e) => ImportResult::Rejected(vec![(
                        "file".into(),
                        format!("could not be read ({e})"),
                    )]),
                    Ok(text) => match import(&store, &text) {
                        Ok(plan) => ImportResult::Done({
                            // its clients and profile go up with its invoices
                            crate::records::sync_soon(&store);
                            format!(
                                "Imported {} invoices and {} clients from {}.",
                                plan.invoices,
                                plan.clients,
                                file.name()
                            )
                        }),
                        Err(rej) => ImportResult::Rejected(
                            rej.into_iter().map(|r| (r.record, r.reason)).collect(),
                        ),
                    },
                };
                result.set(Some(r));
                busy.set(false);
            });
        })
    };
    let ask_clear = {
        let c = confirm_clear.clone();
        Callback::from(move |_| c.set(true))
    };
    let keep = {
        let c = confirm_clear.clone();
        Callback::from(move |_| c.set(false))
    };
    let do_clear = {
        let store = store.clone();
        let c = confirm_clear.clone();
        Callback::from(move |_| {
            clear_all(&store);
            c.set(false);
        })
    };

    html! {
        <section class="page">
            <div class="page-head"><h1>{ "Data" }</h1></div>
            { local_only_note(&store) }
            <div class="card">
                <h2>{ "Export" }</h2>
                <p>{ format!("{} invoices, {} clients in this browser.", store.snap.invoices.len(), store.snap.clients.len()) }</p>
                <button class="primary" data-testid="export-json" onclick={export}>{ "Export JSON (everything, re-importable)" }</button>
                <button data-testid="export-csv" onclick={csv}>{ "Export invoices as CSV" }</button>
            </div>
            <div class="card">
                <h2>{ "Import" }</h2>
                <p>{ "Choose a file made by Export JSON. Every record is checked first: if any is rejected, nothing is imported. Records with the same id are replaced." }</p>
                <input type="file" accept=".json,application/json" data-testid="import-file" onchange={on_file} disabled={*busy} />
                if *busy { <p class="loading" data-testid="import-busy">{ "Importing…" }</p> }
                { match &*result {
                    Some(ImportResult::Done(t)) => html! { <div class="banner banner-info" data-testid="import-result">{ t }</div> },
                    Some(ImportResult::Rejected(list)) => html! {
                        <div class="banner banner-error" data-testid="import-result" role="alert">
                            <strong>{ format!("Nothing was imported: {} problem{} found.", list.len(), if list.len() == 1 { "" } else { "s" }) }</strong>
                            <ul>{ for list.iter().map(|(rec, why)| html! { <li data-testid="import-error">{ format!("{rec}: {why}") }</li> }) }</ul>
                        </div>
                    },
                    None => html! {},
                } }
            </div>
            <BackupsView />
            if store.session.is_some() {
                <div class="card">
                    <h2>{ "Conflicts" }</h2>
                    <p>{ format!("{} local version(s) set aside because DynamoDB's version won.", store.conflicts) }</p>
                    <yew_router::prelude::Link<crate::app::Route> to={crate::app::Route::Conflicts}>{ "Review conflicts" }</yew_router::prelude::Link<crate::app::Route>>
                </div>
            }
            <LogView />
            <div class="card danger-zone">
                <h2>{ "Delete local data" }</h2>
                if *confirm_clear {
                    <p data-testid="clear-explain">{ if store.session.is_some() {
                        "This removes every invoice, client and setting from this browser only. Invoices, clients and the profile already in DynamoDB stay there and come back here at the next sync; invoice changes and deletions waiting to be uploaded still go, and client or profile changes DynamoDB does not have yet are kept under Conflicts. Export first if you may need them."
                    } else {
                        "This removes every invoice, client and setting from this browser. Export first if you may need them."
                    } }</p>
                    <button class="danger" data-testid="clear-confirm" onclick={do_clear}>{ "Delete everything" }</button>
                    <button onclick={keep}>{ "Keep my data" }</button>
                } else {
                    <button class="danger" data-testid="clear-all" onclick={ask_clear}>{ "Delete all local data…" }</button>
                }
            </div>
        </section>
    }
}

/// Downloads everything in memory (plus an invoice that could not be saved), for when
/// both browser storage and DynamoDB fail: the one copy left is this tab's.
pub fn emergency_export(store: &Store, unsaved: Option<ledgerline_core::model::Invoice>) {
    let mut snap = (*store.snap).clone();
    if let Some(inv) = unsaved {
        match snap.invoices.iter_mut().find(|i| i.id == inv.id) {
            Some(x) => *x = inv,
            None => snap.invoices.push(inv),
        }
    }
    let text = export_json(&snap, &now_rfc3339());
    if let Err(e) = download(
        &format!("ledgerline-emergency-export-{}.json", today()),
        "application/json",
        &text,
    ) {
        store.dispatch(crate::state::Action::Toast(format!(
            "The emergency export could not be downloaded ({e}). Keep this tab open and copy your invoices by hand."
        )));
    }
}

/// Entries that could not be read: named, with their raw text exportable and removable.
pub fn damaged_list(store: &Store) -> Html {
    html! {
        <div class="banner banner-error no-print" data-testid="damaged-banner" role="alert">
            <strong>{ format!("{} stored entr{} could not be read; everything else loaded normally.", store.snap.damaged.len(), if store.snap.damaged.len() == 1 { "y" } else { "ies" }) }</strong>
            <ul>
                { for store.snap.damaged.iter().map(|d: &Damaged| {
                    let raw = d.raw.clone();
                    let name = d.key.rsplit('/').next().unwrap_or("entry").to_string();
                    let export = Callback::from(move |_| { let _ = download(&format!("damaged-{name}.txt"), "text/plain", &raw); });
                    let remove = { let store = store.clone(); let d = d.clone(); Callback::from(move |_| remove_damaged(&store, &d)) };
                    html! {
                        <li data-testid="damaged-entry" data-key={d.key.clone()}>
                            <code>{ &d.key }</code>{ format!(": {}. ", d.reason) }
                            <button data-testid="damaged-export" onclick={export}>{ "Export raw text" }</button>
                            <button class="danger" data-testid="damaged-remove" onclick={remove}>{ "Remove" }</button>
                        </li>
                    }
                }) }
            </ul>
            <p>
                { "The latest copy of your data in this browser (kept with every save, Data → Backups) may still hold them. " }
                <button data-testid="damaged-restore-latest" onclick={restore_latest(store)}>{ "Restore from the latest copy" }</button>
            </p>
        </div>
    }
}

/// Restores the latest copy (`ledgerline_core::backups::LATEST`): what is damaged here
/// comes back from it; what is intact and newer stays (a restore adds, never removes).
fn restore_latest(store: &Store) -> Callback<MouseEvent> {
    let store = store.clone();
    Callback::from(move |_| {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let user = crate::oplog::user_of(&store);
            let latest = service::backups(&user).await.ok().and_then(|list| {
                list.into_iter()
                    .find(|b| b.reason == ledgerline_core::backups::LATEST)
            });
            let outcome = match latest {
                None => Err("there is no latest copy in this browser yet (it is made a moment after each save). Export the damaged entries' raw text to keep them.".to_string()),
                Some(b) => match service::read_backup(&user, b.at).await {
                    Ok(bundle) => restore_backup(&store, &bundle).await,
                    Err(e) => Err(format!("the latest copy could not be read ({})", e.message())),
                },
            };
            if outcome.is_ok() {
                crate::records::sync_soon(&store);
                // read back from localStorage: the entries written over are no longer damaged
                let snap =
                    crate::platform::with_kv(|kv| ledgerline_core::store::load(kv, &store.ns));
                store.dispatch(crate::state::Action::Replace(snap));
            }
            store.dispatch(crate::state::Action::Toast(match outcome {
                Ok(text) => text,
                Err(m) => format!("Nothing was restored: {m}"),
            }));
        });
    })
}

/// Backups of this user's local data kept in this browser (IndexedDB): taken before each
/// sync that changes local data, before a restore, and on demand; restorable.
#[function_component(BackupsView)]
fn backups_view() -> Html {
    let store = use_context::<Store>().expect("store context");
    let list = use_state(|| None::<Result<Vec<BackupInfo>, String>>);
    let busy = use_state(|| false);
    let note = use_state(|| None::<(bool, String)>);
    let reload = {
        let store = store.clone();
        let list = list.clone();
        move || {
            let user = crate::oplog::user_of(&store);
            let list = list.clone();
            wasm_bindgen_futures::spawn_local(async move {
                list.set(Some(service::backups(&user).await.map_err(|e| e.message())));
            });
        }
    };
    {
        let reload = reload.clone();
        use_effect_with(store.ns.clone(), move |_| reload());
    }
    let now = {
        let store = store.clone();
        let busy = busy.clone();
        let note = note.clone();
        let reload = reload.clone();
        Callback::from(move |_| {
            let store = store.clone();
            let busy = busy.clone();
            let note = note.clone();
            let reload = reload.clone();
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                note.set(Some(if crate::sync::backup(&store, "taken by you").await {
                    (true, "Backup taken.".to_string())
                } else {
                    (false, "The backup could not be stored in this browser (its storage may be full or blocked). Use Export JSON instead.".to_string())
                }));
                busy.set(false);
                reload();
            });
        })
    };
    let restore = {
        let store = store.clone();
        let busy = busy.clone();
        let note = note.clone();
        let reload = reload.clone();
        move |at: f64| {
            let store = store.clone();
            let busy = busy.clone();
            let note = note.clone();
            let reload = reload.clone();
            Callback::from(move |_| {
                let store = store.clone();
                let busy = busy.clone();
                let note = note.clone();
                let reload = reload.clone();
                busy.set(true);
                wasm_bindgen_futures::spawn_local(async move {
                    let user = crate::oplog::user_of(&store);
                    let outcome = match service::read_backup(&user, at).await {
                        Ok(bundle) => restore_backup(&store, &bundle).await,
                        Err(e) => Err(format!("the backup could not be read ({})", e.message())),
                    };
                    if outcome.is_ok() {
                        crate::records::sync_soon(&store);
                    }
                    note.set(Some(match outcome {
                        Ok(t) => (true, t),
                        Err(m) => (false, format!("Nothing was restored: {m}")),
                    }));
                    busy.set(false);
                    reload();
                });
            })
        }
    };
    let download = {
        let note = note.clone();
        let store = store.clone();
        move |at: f64| {
            let note = note.clone();
            let store = store.clone();
            Callback::from(move |_| {
                let note = note.clone();
                let user = crate::oplog::user_of(&store);
                wasm_bindgen_futures::spawn_local(async move {
                    let day: String = String::from(
                        js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at)).to_iso_string(),
                    )
                    .chars()
                    .take(10)
                    .collect();
                    let name = format!("ledgerline-export-{day}.json");
                    let outcome = match service::read_backup(&user, at).await {
                        Ok(bundle) => crate::platform::download(&name, "application/json", &bundle),
                        Err(e) => Err(e.message()),
                    };
                    if let Err(m) = outcome {
                        note.set(Some((false, format!("The copy could not be downloaded ({m}). It is still kept here; try again, or restore it and use Export JSON."))));
                    }
                });
            })
        }
    };
    html! {
        <div class="card" data-testid="backups">
            <h2>{ "Backups in this browser" }</h2>
            <p class="muted">{ format!("A copy of your invoices is kept before each sync that changes them and before a restore (the newest {} are kept, Settings → DynamoDB), and an automatic export {} (the newest {} are kept, Settings → Backups).", store.config.backups_kept, store.config.auto_export.label(), store.config.auto_exports_kept) }</p>
            <button data-testid="backup-now" onclick={now} disabled={*busy}>{ "Back up now" }</button>
            if *busy { <span class="loading" data-testid="backup-busy">{ " Working…" }</span> }
            if let Some((ok, t)) = &*note {
                <div class={if *ok { "banner banner-info" } else { "banner banner-error" }} data-testid="backup-note" role="status">{ t.clone() }</div>
            }
            { match &*list {
                None => html! { <p class="loading">{ "Loading backups…" }</p> },
                Some(Err(m)) => html! { <div class="banner banner-error" data-testid="backups-error">{ format!("Backups could not be read ({m}).") }</div> },
                Some(Ok(l)) if l.is_empty() => html! { <p data-testid="backups-empty">{ "No backups yet." }</p> },
                Some(Ok(l)) => html! {
                    <table class="list" data-testid="backup-list">
                        <thead><tr><th>{ "Taken" }</th><th>{ "Why" }</th><th class="num">{ "Invoices" }</th><th class="num">{ "Size" }</th><th></th></tr></thead>
                        <tbody>
                            { for l.iter().map(|b| html! {
                                <tr data-testid="backup-row" data-reason={b.reason.clone()}>
                                    <td>{ String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(b.at)).to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)) }</td>
                                    <td>{ &b.reason }</td>
                                    <td class="num">{ b.invoices }</td>
                                    <td class="num" data-testid="backup-size">{ size(b.bytes) }</td>
                                    <td>
                                        <button data-testid="backup-download" onclick={download(b.at)}>{ "Download" }</button>
                                        <button data-testid="backup-restore" disabled={*busy} onclick={restore(b.at)}>{ "Restore" }</button>
                                    </td>
                                </tr>
                            }) }
                        </tbody>
                    </table>
                },
            } }
        </div>
    }
}

/// The storage operation log of the current user (plus checks and credential events).
#[function_component(LogView)]
fn log_view() -> Html {
    let store = use_context::<Store>().expect("store context");
    let log = use_state(|| None::<Result<(Vec<Vec<String>>, String), String>>);
    let load = {
        let store = store.clone();
        let log = log.clone();
        Callback::from(move |_| {
            let user = crate::oplog::user_of(&store);
            let log = log.clone();
            wasm_bindgen_futures::spawn_local(async move {
                log.set(Some(
                    service::read_log(&user).await.map_err(|e| e.message()),
                ));
            });
        })
    };
    let export = {
        let log = log.clone();
        let store = store.clone();
        Callback::from(move |_| {
            if let Some(Ok((_, json))) = &*log {
                if let Err(e) = download(
                    &format!("ledgerline-log-{}.json", today()),
                    "application/json",
                    json,
                ) {
                    store.dispatch(crate::state::Action::Toast(format!(
                        "The log could not be downloaded ({e})."
                    )));
                }
            }
        })
    };
    html! {
        <div class="card">
            <h2>{ "Storage log" }</h2>
            <p class="muted">{ "Every local and remote storage operation (time, kind, invoice, outcome, duration, error class). The last 1,000 are kept in this browser; they never hold credentials or invoice content." }</p>
            <button data-testid="log-show" onclick={load}>{ "Show the log" }</button>
            { match &*log {
                None => html! {},
                Some(Err(m)) => html! { <div class="banner banner-error" data-testid="log-error">{ format!("The log could not be read ({m}).") }</div> },
                Some(Ok((rows, _))) => html! {
                    <>
                        <button data-testid="log-export" onclick={export}>{ "Export the log (JSON)" }</button>
                        <table class="list" data-testid="log-table">
                            <thead><tr><th>{ "Time" }</th><th>{ "Operation" }</th><th>{ "Invoice" }</th><th>{ "Outcome" }</th><th class="num">{ "ms" }</th><th>{ "Class / detail" }</th></tr></thead>
                            <tbody>
                                { for rows.iter().map(|r| html! {
                                    <tr data-testid="log-row" data-kind={r.get(1).cloned()} data-outcome={r.get(3).cloned()}>
                                        { for r.iter().map(|c| html! { <td>{ c }</td> }) }
                                    </tr>
                                }) }
                            </tbody>
                        </table>
                    </>
                },
            } }
        </div>
    }
}

/// "12 KB", "1.4 MB".
fn size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}
