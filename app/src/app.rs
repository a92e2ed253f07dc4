use crate::pages::{
    clients::ClientsPage, data::DataPage, editor::EditorPage, invoices::InvoicesPage,
    print::PrintPage, settings::SettingsPage,
};
use crate::platform;
use crate::state::{undo_delete, Action, AppState, Store};
use ledgerline_core::store::{load as load_snapshot, Namespace};
use wasm_bindgen::JsCast;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Routable, Clone, PartialEq, Debug)]
pub enum Route {
    #[at("/")]
    Invoices,
    #[at("/invoices/new")]
    NewInvoice,
    #[at("/invoices/:id")]
    EditInvoice { id: String },
    #[at("/invoices/:id/print")]
    PrintInvoice { id: String },
    #[at("/clients")]
    Clients,
    #[at("/settings")]
    Settings,
    #[at("/data")]
    Data,
    #[not_found]
    #[at("/404")]
    NotFound,
}

#[function_component(App)]
pub fn app() -> Html {
    let store = use_reducer(|| {
        platform::mark("ll-start");
        let s = AppState::load(Namespace::anonymous());
        platform::mark("ll-loaded");
        s
    });
    {
        let store = store.clone();
        use_effect_with((), move |_| {
            let dispatcher = store.dispatcher();
            platform::register_service_worker(move || dispatcher.dispatch(Action::UpdateReady));
            // a marker for tests and the benchmark: the first render is done
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-ready", "1");
            }
            // another tab changed this user's data: show it here too
            let dispatcher = store.dispatcher();
            let ns = store.ns.clone();
            let listener = web_sys::window().map(|w| {
                gloo::events::EventListener::new(&w, "storage", move |e| {
                    let key = e.dyn_ref::<web_sys::StorageEvent>().and_then(|e| e.key());
                    if key.is_none_or(|k| k.starts_with(ns.prefix())) {
                        let snap = platform::with_kv(|kv| load_snapshot(kv, &ns));
                        dispatcher.dispatch(Action::Replace(snap));
                    }
                })
            });
            move || drop(listener)
        });
    }
    html! {
        <ContextProvider<Store> context={store}>
            <BrowserRouter>
                <Switch<Route> render={switch} />
            </BrowserRouter>
        </ContextProvider<Store>>
    }
}

fn switch(route: Route) -> Html {
    match route {
        Route::PrintInvoice { id } => html! { <PrintPage {id} /> },
        other => html! { <Layout route={other} /> },
    }
}

#[derive(Properties, PartialEq)]
struct LayoutProps {
    route: Route,
}

#[function_component(Layout)]
fn layout(props: &LayoutProps) -> Html {
    let page = match &props.route {
        Route::Invoices => html! { <InvoicesPage /> },
        Route::NewInvoice => html! { <EditorPage id={None::<String>} /> },
        Route::EditInvoice { id } => html! { <EditorPage id={Some(id.clone())} /> },
        Route::Clients => html! { <ClientsPage /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::Data => html! { <DataPage /> },
        Route::PrintInvoice { .. } | Route::NotFound => html! {
            <section class="page">
                <h1>{ "Page not found" }</h1>
                <p><Link<Route> to={Route::Invoices}>{ "Back to invoices" }</Link<Route>></p>
            </section>
        },
    };
    let active = |r: Route| {
        if std::mem::discriminant(&r) == std::mem::discriminant(&props.route) {
            "active"
        } else {
            ""
        }
    };
    html! {
        <div class="shell">
            <header class="topbar no-print" data-testid="nav">
                <span class="brand">{ "Ledgerline" }</span>
                <nav>
                    <Link<Route> to={Route::Invoices} classes={active(Route::Invoices)}>{ "Invoices" }</Link<Route>>
                    <Link<Route> to={Route::Clients} classes={active(Route::Clients)}>{ "Clients" }</Link<Route>>
                    <Link<Route> to={Route::Settings} classes={active(Route::Settings)}>{ "Settings" }</Link<Route>>
                    <Link<Route> to={Route::Data} classes={active(Route::Data)}>{ "Data" }</Link<Route>>
                </nav>
                <StorageStatus />
            </header>
            <Banners />
            <main>{ page }</main>
            <ToastView />
        </div>
    }
}

/// Where the data is: always visible. In anonymous mode it is this browser only.
#[function_component(StorageStatus)]
fn storage_status() -> Html {
    let store = use_context::<Store>().expect("store context");
    let (class, text, title) = if store.storage_problem.is_some() {
        (
            "status status-error",
            "Memory only",
            "Browser storage is unavailable: nothing survives closing this tab. Export your data.",
        )
    } else {
        (
            "status status-local",
            "Anonymous · this browser only",
            "Signed out: invoices are kept in this browser's storage only.",
        )
    };
    html! { <span class={class} data-testid="storage-status" title={title}>{ text }</span> }
}

#[function_component(Banners)]
fn banners() -> Html {
    let store = use_context::<Store>().expect("store context");
    let reload = Callback::from(|_| platform::apply_update());
    html! {
        <>
            if store.update_ready {
                <div class="banner banner-info no-print" data-testid="update-banner">
                    { "A new version of Ledgerline is ready. " }
                    <button data-testid="update-reload" onclick={reload}>{ "Reload" }</button>
                </div>
            }
            if let Some(problem) = &store.storage_problem {
                <div class="banner banner-error no-print" data-testid="storage-problem">
                    { format!("Browser storage cannot be used ({problem}). Your work is kept in memory only \
                               and is lost when this tab closes: use Data → Export JSON to keep it.") }
                </div>
            }
            if !store.snap.damaged.is_empty() {
                <crate::pages::data::DamagedList />
            }
        </>
    }
}

#[function_component(ToastView)]
fn toast_view() -> Html {
    let store = use_context::<Store>().expect("store context");
    {
        let store = store.clone();
        let id = store.toast.as_ref().map(|t| t.id);
        use_effect_with(id, move |id| {
            let timer = id.map(|id| {
                gloo::timers::callback::Timeout::new(10_000, move || {
                    store.dispatch(Action::ClearToast(id))
                })
            });
            move || drop(timer)
        });
    }
    let Some(toast) = store.toast.clone() else {
        return html! {};
    };
    let close = {
        let store = store.clone();
        Callback::from(move |_| store.dispatch(Action::ClearToast(toast.id)))
    };
    let undo = toast.undo.clone().map(|inv| {
        let store = store.clone();
        let id = toast.id;
        Callback::from(move |_| undo_delete(&store, inv.clone(), id))
    });
    html! {
        <div class="toast no-print" role="status" data-testid="toast">
            <span>{ &toast.text }</span>
            if let Some(undo) = undo {
                <button data-testid="undo" onclick={undo}>{ "Undo" }</button>
            }
            <button class="link" aria-label="Dismiss" onclick={close}>{ "×" }</button>
        </div>
    }
}
