use super::money;
use crate::app::Route;
use crate::platform::today;
use crate::state::{delete_invoice, duplicate_invoice, Action, Store};
use crate::widgets::{on_input, on_select};
use ledgerline_core::list::{rows, totals_by_currency, Query, Sort};
use yew::prelude::*;
use yew_router::prelude::*;

/// Rows rendered at once; "Show more" adds this many.
const PAGE: usize = 100;

#[function_component(InvoicesPage)]
pub fn invoices_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let search = use_state(String::new);
    let status = use_state(|| "all".to_string());
    let sort = use_state(|| "date-desc".to_string());
    let shown = use_state(|| PAGE);
    let confirm = use_state(|| None::<String>);
    let nav = use_navigator();

    use_effect(|| crate::platform::mark("ll-list-rendered"));
    let q = Query {
        text: &search,
        status: &status,
        sort: Sort::parse(&sort),
        today: today(),
    };
    let list = rows(&store.snap.invoices, &store.snap.clients, &q);
    let sums = totals_by_currency(&list);
    let total_count = list.len();

    let set_search = {
        let s = search.clone();
        let n = shown.clone();
        Callback::from(move |v| {
            s.set(v);
            n.set(PAGE);
        })
    };
    let set_status = {
        let s = status.clone();
        let n = shown.clone();
        Callback::from(move |v| {
            s.set(v);
            n.set(PAGE);
        })
    };
    let set_sort = {
        let s = sort.clone();
        Callback::from(move |v| s.set(v))
    };
    let more = {
        let n = shown.clone();
        Callback::from(move |_| n.set(*n + PAGE))
    };

    let row_html = list.iter().take(*shown).map(|r| {
        let inv = r.invoice;
        let id = inv.id.clone();
        let on_dup = {
            let store = store.clone();
            let id = id.clone();
            Callback::from(move |_| match duplicate_invoice(&store, &id) {
                Ok(copy) => store.dispatch(Action::Toast(format!("Duplicated as {} (draft).", copy.content.number))),
                Err(e) => store.dispatch(Action::Toast(e.message())),
            })
        };
        let on_delete = { let c = confirm.clone(); let id = id.clone(); Callback::from(move |_| c.set(Some(id.clone()))) };
        let on_edit = { let nav = nav.clone(); let id = id.clone(); Callback::from(move |_| if let Some(n) = &nav { n.push(&Route::EditInvoice { id: id.clone() }) }) };
        let confirming = confirm.as_deref() == Some(id.as_str());
        let do_delete = { let store = store.clone(); let c = confirm.clone(); let id = id.clone(); Callback::from(move |_| { delete_invoice(&store, &id); c.set(None); }) };
        let cancel = { let c = confirm.clone(); Callback::from(move |_| c.set(None)) };
        html! {
            <tr key={id.clone()} data-testid="invoice-row" data-id={id.clone()} class={format!("st-{}", r.status.as_str())}>
                <td class="inv-number"><a href={format!("/invoices/{id}")} onclick={Callback::from(move |e: MouseEvent| { e.prevent_default(); on_edit.emit(()); })}>{ &inv.content.number }</a></td>
                <td class="inv-client">{ r.client_name }</td>
                <td class="inv-date">{ inv.content.issue_date.to_string() }</td>
                <td class="inv-due">{ inv.content.due_date.to_string() }</td>
                <td><span class={format!("badge inv-status st-{}", r.status.as_str())}>{ r.status.as_str() }</span></td>
                <td class="inv-total num">{ money(r.total, &inv.content.currency) }</td>
                <td class="actions">
                    if confirming {
                        <span class="confirm">{ "Delete this invoice? " }
                            <button class="danger" data-testid="invoice-delete-confirm" onclick={do_delete}>{ "Delete" }</button>
                            <button data-testid="invoice-delete-cancel" onclick={cancel}>{ "Keep" }</button>
                        </span>
                    } else {
                        <Link<Route> to={Route::PrintInvoice { id: id.clone() }} classes="button">{ "Print" }</Link<Route>>
                        <button data-testid="invoice-duplicate" onclick={on_dup}>{ "Duplicate" }</button>
                        <button data-testid="invoice-delete" onclick={on_delete}>{ "Delete" }</button>
                    }
                </td>
            </tr>
        }
    });

    html! {
        <section class="page">
            <div class="page-head">
                <h1>{ "Invoices" }</h1>
                <Link<Route> to={Route::NewInvoice} classes="button primary">{ "New invoice" }</Link<Route>>
            </div>
            { crate::pages::data::local_only_note(&store) }
            { numbers_banner(&store) }
            <div class="toolbar">
                <input type="search" placeholder="Search number or client" aria-label="Search invoices"
                    data-testid="invoice-search" value={(*search).clone()} oninput={on_input(set_search)} />
                <select data-testid="invoice-status-filter" aria-label="Status" onchange={on_select(set_status)}>
                    { for ["all", "draft", "sent", "overdue", "paid", "void"].iter().map(|s| html! {
                        <option value={*s} selected={*status == *s}>{ if *s == "all" { "All statuses" } else { s } }</option>
                    }) }
                </select>
                <select data-testid="invoice-sort" aria-label="Sort" onchange={on_select(set_sort)}>
                    { for [("date-desc", "Newest first"), ("date-asc", "Oldest first"), ("amount-desc", "Largest amount"), ("amount-asc", "Smallest amount")].iter().map(|(v, l)| html! {
                        <option value={*v} selected={*sort == *v}>{ *l }</option>
                    }) }
                </select>
            </div>
            if store.snap.invoices.is_empty() {
                <p class="empty" data-testid="invoices-empty">{ "No invoices yet. Add a client, then create your first invoice." }</p>
            } else {
                <ul class="currency-totals" data-testid="currency-totals" title="Totals of the listed invoices, void ones left out">
                    { for sums.iter().map(|(code, v)| html! { <li data-currency={code.clone()}>{ money(*v, code) }</li> }) }
                </ul>
                <table class="list" data-testid="invoice-table">
                    <thead><tr><th>{ "Number" }</th><th>{ "Client" }</th><th>{ "Issued" }</th><th>{ "Due" }</th><th>{ "Status" }</th><th class="num">{ "Total" }</th><th></th></tr></thead>
                    <tbody>{ for row_html }</tbody>
                </table>
                <p class="muted" data-testid="invoice-count">{ format!("Showing {} of {} invoices", total_count.min(*shown), total_count) }</p>
                if total_count > *shown {
                    <button data-testid="show-more" onclick={more}>{ format!("Show {} more", PAGE.min(total_count - *shown)) }</button>
                }
            }
        </section>
    }
}

/// Numbers used by more than one invoice (made before numbers were leased, or typed by
/// hand on two devices), with one click to give the drafts among them new numbers; and
/// the invoices still waiting for a number.
fn numbers_banner(store: &Store) -> Html {
    use ledgerline_core::numbers::{duplicates, waiting_for_numbers};
    let dups = duplicates(&store.snap.invoices);
    let waiting = waiting_for_numbers(&store.snap.invoices).len();
    let waiting_note = (waiting > 0).then(|| html! {
        <div class="banner banner-info" role="status" data-testid="numbers-waiting">
            { format!(
                "{waiting} draft invoice{} wait{} for a number: this device had none left while DynamoDB could not be reached. They are numbered as soon as DynamoDB answers; until then they can be edited but not issued.",
                if waiting == 1 { "" } else { "s" },
                if waiting == 1 { "s" } else { "" },
            ) }
        </div>
    });
    if dups.is_empty() {
        return html! { { for waiting_note } };
    }
    let drafts: Vec<String> = dups.iter().flat_map(|d| d.renumber.clone()).collect();
    let renumber = {
        let store = store.clone();
        let drafts = drafts.clone();
        Callback::from(move |_| {
            let mut done = Vec::new();
            for id in &drafts {
                let Some(inv) = store.invoice(id).cloned() else {
                    continue;
                };
                let mut content = inv.content.clone();
                content.number = crate::numbers::suggest(&store);
                let new = content.number.clone();
                match crate::state::save_invoice(&store, Some(id), content) {
                    Ok(_) => done.push(format!("{} → {new}", inv.content.number)),
                    Err(e) => {
                        store.dispatch(Action::Toast(e.message()));
                        return;
                    }
                }
            }
            store.dispatch(Action::Toast(format!("Renumbered: {}.", done.join(", "))));
        })
    };
    let issued: Vec<&str> = dups
        .iter()
        .filter(|d| d.ids.len() - d.renumber.len() > 1)
        .map(|d| d.number.as_str())
        .collect();
    html! {
        <>
        { for waiting_note }
        <div class="banner banner-error" role="alert" data-testid="numbers-duplicate">
            { format!(
                "Invoice numbers used more than once: {}. Each invoice needs its own number.",
                dups.iter().map(|d| format!("{} ({} invoices)", d.number, d.ids.len())).collect::<Vec<_>>().join(", ")
            ) }
            if !drafts.is_empty() {
                { " " }
                <button data-testid="numbers-renumber" onclick={renumber}>
                    { format!("Give the {} draft{} new numbers", drafts.len(), if drafts.len() == 1 { "" } else { "s" }) }
                </button>
            }
            if !issued.is_empty() {
                <p>{ format!(
                    "{} {} on more than one issued invoice: issued invoices keep their numbers here; void all but one and issue it again under a new number.",
                    issued.join(", "),
                    if issued.len() == 1 { "is" } else { "are" }
                ) }</p>
            }
        </div>
        </>
    }
}
