use crate::state::{delete_client, save_client, Store};
use crate::widgets::{area, field, setter, Form};
use ledgerline_core::model::Client;
use yew::prelude::*;

/// A client with nothing filled in yet (the "New client" form).
fn blank() -> Client {
    Client {
        id: String::new(),
        name: String::new(),
        email: String::new(),
        address: String::new(),
        tax_id: String::new(),
        updated_at: String::new(),
        extra: Default::default(),
    }
}

#[function_component(ClientsPage)]
pub fn clients_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let editing = use_state(|| None::<Client>);
    let form = use_reducer(|| Form(blank()));
    let error = use_state(|| None::<String>);

    let start = |c: Option<Client>| {
        let editing = editing.clone();
        let form = form.clone();
        let error = error.clone();
        Callback::from(move |_| {
            let c = c.clone().unwrap_or_else(blank);
            let c2 = c.clone();
            form.dispatch(std::rc::Rc::new(move |f: &mut Client| *f = c2.clone()));
            editing.set(Some(c));
            error.set(None);
        })
    };
    let cancel = {
        let e = editing.clone();
        Callback::from(move |_| e.set(None))
    };
    let on_save = {
        let store = store.clone();
        let form = form.clone();
        let editing = editing.clone();
        let error = error.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut c = form.0.clone();
            c.name = c.name.trim().to_string();
            c.email = c.email.trim().to_string();
            if c.name.is_empty() {
                error.set(Some("Enter the client's name.".into()));
                return;
            }
            if !c.email.is_empty() && (!c.email.contains('@') || c.email.contains(' ')) {
                error.set(Some(format!(
                    "'{}' does not look like an email address.",
                    c.email
                )));
                return;
            }
            if c.id.is_empty() {
                c.id = crate::platform::new_id();
            }
            c.updated_at = crate::platform::now_rfc3339();
            match save_client(&store, c) {
                Ok(()) => {
                    crate::records::sync_soon(&store);
                    editing.set(None);
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message())),
            }
        })
    };

    html! {
        <section class="page">
            <div class="page-head">
                <h1>{ "Clients" }</h1>
                <button class="primary" data-testid="client-new" onclick={start(None)}>{ "New client" }</button>
            </div>
            if editing.is_some() {
                <form class="card" onsubmit={on_save} data-testid="client-form" novalidate=true>
                    if let Some(e) = &*error { <div class="banner banner-error" data-testid="client-error" role="alert">{ e }</div> }
                    <div class="grid">
                        { field("Name", "client-name", "text", &form.0.name, setter(&form, |c: &mut Client, v| c.name = v), None) }
                        { field("Email", "client-email", "email", &form.0.email, setter(&form, |c: &mut Client, v| c.email = v), None) }
                        { field("Tax ID", "client-tax-id", "text", &form.0.tax_id, setter(&form, |c: &mut Client, v| c.tax_id = v), None) }
                        { area("Address", "client-address", &form.0.address, setter(&form, |c: &mut Client, v| c.address = v)) }
                    </div>
                    <div class="form-actions">
                        <button type="submit" class="primary" data-testid="client-save">{ "Save client" }</button>
                        <button type="button" onclick={cancel}>{ "Cancel" }</button>
                    </div>
                </form>
            } else if let Some(e) = &*error {
                <div class="banner banner-error" data-testid="client-error" role="alert">{ e }</div>
            }
            if store.snap.clients.is_empty() {
                <p class="empty">{ "No clients yet. Add the people or companies you bill." }</p>
            } else {
                <table class="list">
                    <thead><tr><th>{ "Name" }</th><th>{ "Email" }</th><th>{ "Invoices" }</th><th></th></tr></thead>
                    <tbody>
                        { for store.snap.clients.iter().map(|c| {
                            let n = store.snap.invoices.iter().filter(|i| i.content.client_id == c.id).count();
                            let del = { let store = store.clone(); let error = error.clone(); let id = c.id.clone();
                                Callback::from(move |_| if let Err(m) = delete_client(&store, &id) { error.set(Some(m)) } else { crate::records::sync_soon(&store); error.set(None) }) };
                            html! {
                                <tr data-testid="client-row" key={c.id.clone()}>
                                    <td class="client-name">{ &c.name }</td>
                                    <td>{ &c.email }</td>
                                    <td>{ n }</td>
                                    <td class="actions">
                                        <button data-testid="client-edit" onclick={start(Some(c.clone()))}>{ "Edit" }</button>
                                        <button data-testid="client-delete" onclick={del}>{ "Delete" }</button>
                                    </td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}
