use super::money;
use crate::app::Route;
use crate::platform::today;
use crate::state::{save_invoice, Action, SaveError, Store};
use crate::widgets::{area, edit, field, on_input, on_select, setter, Form};
use ledgerline_core::currency::CURRENCIES;
use ledgerline_core::draft::{Context, FieldError, InvoiceDraft, LineDraft};
use ledgerline_core::totals::compute;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct EditorProps {
    pub id: Option<String>,
}

#[function_component(EditorPage)]
pub fn editor_page(props: &EditorProps) -> Html {
    let store = use_context::<Store>().expect("store context");
    let nav = use_navigator();
    let existing = props.id.as_ref().and_then(|id| store.invoice(id).cloned());
    let initial = {
        let store = store.clone();
        let existing = existing.clone();
        move || {
            Form(match &existing {
                Some(inv) => InvoiceDraft::from_invoice(inv),
                None => InvoiceDraft::new(
                    &store.snap.profile,
                    crate::numbers::suggest(&store),
                    today(),
                ),
            })
        }
    };
    let form = use_reducer(initial);
    // the copy the draft was built on: saving over a copy that moved on since (a pull,
    // another tab) takes the conflict path instead of overwriting it
    let loaded = {
        let existing = existing.clone();
        use_state(move || existing.map(|i| (i.version, i.checksum)))
    };
    // the number it had then (a provisional one may be replaced while the editor is open)
    let loaded_number = {
        let existing = existing.clone();
        use_state(move || existing.map(|i| i.content.number))
    };
    let errors = use_state(Vec::<FieldError>::new);
    let save_error = use_state(|| None::<SaveError>);

    if props.id.is_some() && existing.is_none() {
        return html! {
            <section class="page">
                <h1>{ "Invoice not found" }</h1>
                <p>{ "This invoice does not exist in this browser (it may have been deleted)." }</p>
                <Link<Route> to={Route::Invoices}>{ "Back to invoices" }</Link<Route>>
            </section>
        };
    }

    let d = &form.0;
    let err = |f: &str| {
        errors
            .iter()
            .find(|e| e.field == f)
            .map(|e| e.message.clone())
    };
    let preview = d.preview();
    let totals = compute(&preview);
    let code = preview.currency.clone();

    let on_save = {
        let store = store.clone();
        let form = form.clone();
        let errors = errors.clone();
        let save_error = save_error.clone();
        let nav = nav.clone();
        let id = props.id.clone();
        let loaded = loaded.clone();
        let loaded_number = loaded_number.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let problem = |n: &str| crate::numbers::problem(&store, id.as_deref(), n);
            let ctx = Context {
                clients: &store.snap.clients,
                number_problem: &problem,
            };
            match form.0.parse(&ctx) {
                Err(list) => {
                    errors.set(list);
                    save_error.set(None);
                }
                Ok(mut content) => {
                    errors.set(vec![]);
                    if let Some(id) = &id {
                        let now = crate::platform::with_kv(|kv| {
                            ledgerline_core::store::load_invoice(kv, &store.ns, id)
                        });
                        let mut was = (*loaded).as_ref().map(|(v, sum)| (*v, sum.as_str()));
                        // numbered meanwhile, nothing else: the draft takes the number
                        let numbered = match (&*loaded, &*loaded_number, &now) {
                            (Some((v, sum)), Some(n), Some(now)) => {
                                ledgerline_core::numbers::only_numbered((*v, sum, n), now)
                                    .then(|| (n.clone(), now))
                            }
                            _ => None,
                        };
                        if let Some((old, now)) = numbered {
                            if content.number == old {
                                content.number = now.content.number.clone();
                            }
                            was = Some((now.version, now.checksum.as_str()));
                        }
                        if ledgerline_core::sync::edited_copy_moved_on(was, now.as_ref()) {
                            keep_stale_draft(
                                &store,
                                id,
                                content,
                                &loaded,
                                now,
                                nav.clone(),
                                save_error.clone(),
                            );
                            return;
                        }
                    }
                    crate::platform::mark("ll-save-start");
                    let saved = save_invoice(&store, id.as_deref(), content);
                    crate::platform::mark("ll-save-end");
                    match saved {
                        Ok(saved) => {
                            save_error.set(None);
                            store.dispatch(Action::Toast(format!(
                                "Saved invoice {} (version {}).",
                                saved.content.number, saved.version
                            )));
                            if let Some(n) = &nav {
                                n.push(&Route::Invoices);
                            }
                        }
                        Err(e) => save_error.set(Some(e)),
                    }
                }
            }
        })
    };

    // storage refused the save: export what is in memory, this invoice included
    let emergency = {
        let store = store.clone();
        let form = form.clone();
        let id = props.id.clone();
        Callback::from(move |_| {
            let fine = |_: &str| None;
            let ctx = Context {
                clients: &store.snap.clients,
                number_problem: &fine,
            };
            let unsaved = form.0.parse(&ctx).ok().map(|content| {
                let id = id.clone().unwrap_or_else(crate::platform::new_id);
                let previous = store.invoice(&id);
                ledgerline_core::store::next_record(
                    &id,
                    content,
                    previous,
                    &crate::platform::now_rfc3339(),
                )
            });
            crate::pages::data::emergency_export(&store, unsaved);
        })
    };

    let add_line = {
        let form = form.clone();
        Callback::from(move |_| {
            edit(&form, |d: &mut InvoiceDraft| {
                d.lines.push(LineDraft::blank())
            })
        })
    };
    let lines = d.lines.iter().enumerate().map(|(i, l)| {
        let set = |f: fn(&mut LineDraft, String)| setter(&form, move |d: &mut InvoiceDraft, v| if let Some(l) = d.lines.get_mut(i) { f(l, v) });
        let remove = { let form = form.clone(); Callback::from(move |_| edit(&form, move |d: &mut InvoiceDraft| { if i < d.lines.len() { d.lines.remove(i); } })) };
        let lerr = |name: &str| err(&format!("lines.{i}.{name}"));
        let line_total = totals.lines.get(i).map(|t| money(t.net, &code)).unwrap_or_default();
        let cell = |cls: &str, label: &str, value: &str, cb: Callback<String>, e: Option<String>| html! {
            <label class={classes!("cell", cls.to_string(), e.is_some().then_some("invalid"))}>
                <span class="label">{ label.to_string() }</span>
                <input class={cls.to_string()} value={value.to_string()} aria-invalid={e.is_some().to_string()} oninput={on_input(cb)} />
                if let Some(e) = e { <span class="field-error">{ e }</span> }
            </label>
        };
        html! {
            <div class="line" data-testid="line" key={i}>
                { cell("line-desc", "Description", &l.description, set(|l, v| l.description = v), lerr("description")) }
                { cell("line-qty", "Qty", &l.quantity, set(|l, v| l.quantity = v), lerr("quantity")) }
                { cell("line-price", "Unit price", &l.unit_price, set(|l, v| l.unit_price = v), lerr("unitPrice")) }
                { cell("line-taxes", "Tax % (comma-separated)", &l.tax_rates, set(|l, v| l.tax_rates = v), lerr("taxRates")) }
                { cell("line-discount", "Discount %", &l.discount, set(|l, v| l.discount = v), lerr("discount")) }
                <span class="line-total num" title="Line net">{ line_total }</span>
                <button type="button" class="line-remove" aria-label="Remove line" onclick={remove}>{ "Remove" }</button>
            </div>
        }
    });

    let title = match &existing {
        Some(inv) => format!("Invoice {} · version {}", inv.content.number, inv.version),
        None => "New invoice".to_string(),
    };
    html! {
        <section class="page editor">
            <div class="page-head"><h1>{ title }</h1></div>
            if let Some(e) = &*save_error {
                <div class={classes!("banner", "banner-error", matches!(e, SaveError::Quota).then_some("quota"))} data-testid="quota-warning" role="alert">
                    <strong>{ if matches!(e, SaveError::Quota) { "Storage full. " } else { "Not saved. " } }</strong>
                    { e.message() }
                    <p>
                        <button data-testid="emergency-export" onclick={emergency}>{ "Download everything now, with this unsaved invoice (emergency export)" }</button>
                        { " " }<Link<Route> to={Route::Data}>{ "Open Data to free space" }</Link<Route>>
                    </p>
                </div>
            }
            if !errors.is_empty() {
                <div class="banner banner-error" data-testid="form-errors" role="alert">
                    <strong>{ "Nothing was saved. Please fix: " }</strong>
                    <ul>{ for errors.iter().map(|e| html! { <li>{ &e.message }</li> }) }</ul>
                </div>
            }
            <form onsubmit={on_save} novalidate=true>
                <div class="grid">
                    { field("Number", "inv-number", "text", &d.number, setter(&form, |d: &mut InvoiceDraft, v| d.number = v), err("number").as_deref()) }
                    <label class={classes!("field", err("clientId").is_some().then_some("invalid"))}>
                        <span class="label">{ "Client" }</span>
                        <select data-testid="inv-client" onchange={on_select(setter(&form, |d: &mut InvoiceDraft, v| d.client_id = v))}>
                            <option value="" selected={d.client_id.is_empty()}>{ "— choose a client —" }</option>
                            { for store.snap.clients.iter().map(|c| html! {
                                <option value={c.id.clone()} selected={c.id == d.client_id}>{ &c.name }</option>
                            }) }
                        </select>
                        if let Some(e) = err("clientId") { <span class="field-error" data-testid="inv-client-error">{ e }</span> }
                        if store.snap.clients.is_empty() {
                            <span class="hint"><Link<Route> to={Route::Clients}>{ "Add a client first" }</Link<Route>></span>
                        }
                    </label>
                    { field("Issue date", "inv-issue-date", "date", &d.issue_date, setter(&form, |d: &mut InvoiceDraft, v| d.issue_date = v), err("issueDate").as_deref()) }
                    { field("Due date", "inv-due-date", "date", &d.due_date, setter(&form, |d: &mut InvoiceDraft, v| d.due_date = v), err("dueDate").as_deref()) }
                    <label class="field">
                        <span class="label">{ "Status" }</span>
                        <select data-testid="inv-status" onchange={on_select(setter(&form, |d: &mut InvoiceDraft, v| d.status = v))}>
                            { for ["draft", "sent", "paid", "void"].iter().map(|s| html! { <option value={*s} selected={d.status == *s}>{ *s }</option> }) }
                        </select>
                    </label>
                    <label class={classes!("field", err("currency").is_some().then_some("invalid"))}>
                        <span class="label">{ "Currency (ISO 4217)" }</span>
                        <input data-testid="inv-currency" list="currencies" value={d.currency.clone()} maxlength="3"
                            oninput={on_input(setter(&form, |d: &mut InvoiceDraft, v| d.currency = v))} />
                        if let Some(e) = err("currency") { <span class="field-error" data-testid="inv-currency-error">{ e }</span> }
                    </label>
                    <datalist id="currencies">{ for CURRENCIES.iter().map(|c| html! { <option value={c.code}>{ c.name }</option> }) }</datalist>
                </div>
                <h2>{ "Line items" }</h2>
                if let Some(e) = err("lines") { <p class="field-error">{ e }</p> }
                <div class="lines">{ for lines }</div>
                <button type="button" data-testid="line-add" onclick={add_line}>{ "Add line" }</button>
                <div class="grid">
                    <label class="field">
                        <span class="label">{ "Invoice discount" }</span>
                        <select data-testid="inv-discount-kind" onchange={on_select(setter(&form, |d: &mut InvoiceDraft, v| d.discount_kind = v))}>
                            { for [("none", "None"), ("percent", "Percent"), ("amount", "Amount")].iter().map(|(v, l)| html! { <option value={*v} selected={d.discount_kind == *v}>{ *l }</option> }) }
                        </select>
                    </label>
                    if d.discount_kind != "none" {
                        { field(if d.discount_kind == "percent" { "Discount %" } else { "Discount amount" }, "inv-discount-value", "text", &d.discount_value, setter(&form, |d: &mut InvoiceDraft, v| d.discount_value = v), err("discount").as_deref()) }
                    }
                    { field("Shipping (not taxed)", "inv-shipping", "text", &d.shipping, setter(&form, |d: &mut InvoiceDraft, v| d.shipping = v), err("shipping").as_deref()) }
                </div>
                <div class="grid">
                    { area("Notes", "inv-notes", &d.notes, setter(&form, |d: &mut InvoiceDraft, v| d.notes = v)) }
                    { area("Terms", "inv-terms", &d.terms, setter(&form, |d: &mut InvoiceDraft, v| d.terms = v)) }
                </div>
                { totals_table(&totals, &code) }
                <div class="form-actions">
                    <button type="submit" class="primary" data-testid="inv-save">{ "Save invoice" }</button>
                    <Link<Route> to={Route::Invoices} classes="button">{ "Cancel" }</Link<Route>>
                    if let Some(inv) = &existing {
                        <Link<Route> to={Route::PrintInvoice { id: inv.id.clone() }} classes="button">{ "Print / Save as PDF" }</Link<Route>>
                    }
                </div>
            </form>
        </section>
    }
}

pub fn totals_table(t: &ledgerline_core::totals::Totals, code: &str) -> Html {
    let m = |v: i128| money(v, code);
    html! {
        <table class="totals" data-testid="totals">
            <tr><th>{ "Subtotal" }</th><td data-testid="total-subtotal">{ m(t.subtotal) }</td></tr>
            if t.discount != 0 {
                <tr><th>{ "Discount" }</th><td data-testid="total-discount">{ format!("−{}", m(t.discount)) }</td></tr>
            }
            { for t.taxes.iter().map(|x| html! {
                <tr data-testid="tax-row"><th>{ format!("Tax {} % on {}", x.rate, m(x.base)) }</th><td>{ m(x.amount) }</td></tr>
            }) }
            if t.shipping != 0 {
                <tr><th>{ "Shipping" }</th><td data-testid="total-shipping">{ m(t.shipping) }</td></tr>
            }
            <tr class="grand"><th>{ "Total" }</th><td data-testid="total-grand">{ m(t.total) }</td></tr>
        </table>
    }
}

/// The invoice changed (or was deleted) while the editor was open: the draft is kept for
/// review as a conflict against the current version, which stays; the user is taken to
/// the conflicts screen, where both versions are side by side with both choices.
fn keep_stale_draft(
    store: &Store,
    id: &str,
    content: ledgerline_core::model::InvoiceContent,
    loaded: &UseStateHandle<Option<(u64, String)>>,
    now: Option<ledgerline_core::model::Invoice>,
    nav: Option<Navigator>,
    save_error: UseStateHandle<Option<SaveError>>,
) {
    let base = (**loaded).as_ref().map(|(v, _)| {
        let mut b = ledgerline_core::store::next_record(id, content.clone(), None, "");
        b.version = *v;
        b
    });
    let draft = ledgerline_core::store::next_record(
        id,
        content,
        base.as_ref(),
        &crate::platform::now_rfc3339(),
    );
    let number = draft.content.number.clone();
    let conflict = ledgerline_core::sync::Conflict {
        invoice_id: id.to_string(),
        local: Some(draft),
        remote_version: None,
        damaged_remote: None,
        record: None,
        remote: now,
        at: js_sys::Date::now() as u64,
    };
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if crate::sync::keep_conflicts(&store, vec![conflict]).await {
            store.dispatch(Action::Toast(format!(
                "Invoice {number} changed while you edited it (in another tab or on another device). Nothing was overwritten: your version is kept here under Conflicts, next to the current one. Choose which to keep."
            )));
            if let Some(n) = &nav {
                n.push(&Route::Conflicts);
            }
        } else {
            save_error.set(Some(SaveError::Other(
                "this invoice changed while you edited it, and your version could not be kept for review".into(),
            )));
        }
    });
}
