use crate::cloud::call;
use crate::platform::{download, now_rfc3339, read_text, today};
use crate::state::{clear_all, import, remove_damaged, Store};
use ledgerline_core::exchange::{export_csv, export_json};
use ledgerline_core::protocol::{Reply, Request};
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
            let text = export_json(&store.snap, &now_rfc3339());
            if let Err(e) = download(
                &format!("ledgerline-export-{}.json", today()),
                "application/json",
                &text,
            ) {
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
                        Ok(plan) => ImportResult::Done(format!(
                            "Imported {} invoices and {} clients from {}.",
                            plan.invoices,
                            plan.clients,
                            file.name()
                        )),
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
            <LogView />
            <div class="card danger-zone">
                <h2>{ "Delete local data" }</h2>
                if *confirm_clear {
                    <p>{ "This removes every invoice, client and setting from this browser. Export first if you may need them." }</p>
                    <button class="danger" data-testid="clear-confirm" onclick={do_clear}>{ "Delete everything" }</button>
                    <button onclick={keep}>{ "Keep my data" }</button>
                } else {
                    <button class="danger" data-testid="clear-all" onclick={ask_clear}>{ "Delete all local data…" }</button>
                }
            </div>
        </section>
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
                log.set(Some(match call(Request::ReadLog { user }).await {
                    Reply::Log { rows, json } => Ok((rows, json)),
                    Reply::Error { message } => Err(message),
                    _ => Err("unexpected answer".into()),
                }));
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
