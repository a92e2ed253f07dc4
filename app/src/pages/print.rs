use super::editor::totals_table;
use super::money;
use crate::app::Route;
use crate::state::Store;
use ledgerline_core::model::logo_problem;
use ledgerline_core::totals::compute;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PrintProps {
    pub id: String,
}

/// The invoice as a document: no app chrome; the print stylesheet hides the toolbar.
#[function_component(PrintPage)]
pub fn print_page(p: &PrintProps) -> Html {
    let store = use_context::<Store>().expect("store context");
    let Some(inv) = store.invoice(&p.id).cloned() else {
        return html! {
            <section class="page">
                <h1>{ "Invoice not found" }</h1>
                <Link<Route> to={Route::Invoices}>{ "Back to invoices" }</Link<Route>>
            </section>
        };
    };
    let c = &inv.content;
    let profile = &store.snap.profile;
    // an issued invoice shows the client as it was issued to; a draft, the client now
    let live = store
        .snap
        .clients
        .iter()
        .find(|x| x.id == c.client_id)
        .map(ledgerline_core::model::BillTo::of);
    let client = match (&c.bill_to, live) {
        (Some(b), _) if c.status != ledgerline_core::model::Status::Draft => Some(b.clone()),
        (_, Some(l)) => Some(l),
        (b, None) => b.clone(),
    };
    let t = compute(c);
    let print = Callback::from(|_| {
        if let Some(w) = web_sys::window() {
            let _ = w.print();
        }
    });
    let status = inv.display_status(crate::platform::today());
    html! {
        <div class="print-page">
            <div class="print-toolbar no-print">
                <Link<Route> to={Route::EditInvoice { id: inv.id.clone() }} classes="button">{ "← Back" }</Link<Route>>
                <button class="primary" data-testid="print-button" onclick={print}>{ "Print / Save as PDF" }</button>
                <span class="muted">{ "Choose A4 or Letter in the print dialog; margins are set for both." }</span>
            </div>
            <article class="document" data-testid="print-view">
                <header class="doc-head">
                    <div class="from">
                        // a logo that could load something from elsewhere is never shown
                        if let Some(logo) = profile.logo.as_ref().filter(|l| logo_problem(l).is_none()) {
                            <img class="logo" src={logo.clone()} alt="Logo" />
                        }
                        if profile.name.is_empty() {
                            <em class="no-print muted">{ "Your business name and address go here: set them in Settings." }</em>
                        } else {
                            <strong>{ &profile.name }</strong>
                        }
                        <div class="pre">{ &profile.address }</div>
                        if !profile.tax_id.is_empty() { <div>{ format!("Tax ID: {}", profile.tax_id) }</div> }
                        if !profile.email.is_empty() { <div>{ &profile.email }</div> }
                    </div>
                    <div class="meta">
                        <h1>{ "INVOICE" }</h1>
                        <div data-testid="print-number">{ &c.number }</div>
                        <div>{ format!("Issued {}", c.issue_date) }</div>
                        <div>{ format!("Due {}", c.due_date) }</div>
                        <div class={format!("badge st-{}", status.as_str())}>{ status.as_str().to_uppercase() }</div>
                    </div>
                </header>
                <section class="bill-to">
                    <h2>{ "Bill to" }</h2>
                    if let Some(cl) = &client {
                        <strong>{ &cl.name }</strong>
                        <div class="pre">{ &cl.address }</div>
                        if !cl.tax_id.is_empty() { <div>{ format!("Tax ID: {}", cl.tax_id) }</div> }
                        if !cl.email.is_empty() { <div>{ &cl.email }</div> }
                    } else {
                        <em>{ "(client removed)" }</em>
                    }
                </section>
                <table class="items">
                    <thead><tr><th>{ "Description" }</th><th class="num">{ "Qty" }</th><th class="num">{ "Unit price" }</th><th class="num">{ "Disc." }</th><th class="num">{ "Tax" }</th><th class="num">{ "Amount" }</th></tr></thead>
                    <tbody>
                        { for c.lines.iter().zip(&t.lines).map(|(l, lt)| html! {
                            <tr>
                                <td>{ &l.description }</td>
                                <td class="num">{ l.quantity.to_string() }</td>
                                <td class="num">{ money(i128::from(l.unit_price), &c.currency) }</td>
                                <td class="num">{ if l.discount.is_zero() { String::new() } else { format!("{} %", l.discount) } }</td>
                                <td class="num">{ l.tax_rates.iter().map(|r| format!("{r} %")).collect::<Vec<_>>().join(", ") }</td>
                                <td class="num">{ money(lt.net, &c.currency) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                { totals_table(&t, &c.currency) }
                if !c.notes.is_empty() { <section><h2>{ "Notes" }</h2><div class="pre">{ &c.notes }</div></section> }
                if !c.terms.is_empty() { <section><h2>{ "Terms" }</h2><div class="pre">{ &c.terms }</div></section> }
            </article>
        </div>
    }
}
