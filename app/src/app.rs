use crate::pages::{
    clients::ClientsPage, data::DataPage, editor::EditorPage, invoices::InvoicesPage,
    print::PrintPage, settings::SettingsPage,
};
use crate::platform;
use crate::state::{undo_delete, Action, AppState, Connection, Store};
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::store::load as load_snapshot;
use ledgerline_core::sync::{refused_status, Refusal};
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
    #[at("/account")]
    Account,
    #[at("/conflicts")]
    Conflicts,
    #[not_found]
    #[at("/404")]
    NotFound,
}

#[function_component(App)]
pub fn app() -> Html {
    let store = use_reducer(|| {
        platform::mark("ll-start");
        let s = AppState::load();
        platform::mark("ll-loaded");
        s
    });
    {
        let store = store.clone();
        use_effect_with((), move |_| {
            let dispatcher = store.dispatcher();
            platform::register_service_worker(move || dispatcher.dispatch(Action::UpdateReady));
            // the periodic sync, where the browser allows it (an installed app)
            wasm_bindgen_futures::spawn_local(async {
                crate::background::ensure_periodic().await;
            });
            // a marker for tests and the benchmark: the first render is done
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-ready", "1");
            }
        });
    }
    // Another tab changed this user's data, or signed in or out: follow it here.
    {
        let store = store.clone();
        use_effect_with(store.ns.clone(), move |ns| {
            let ns = ns.clone();
            let listener = web_sys::window().map(|w| {
                gloo::events::EventListener::new(&w, "storage", move |e| {
                    let key = e.dyn_ref::<web_sys::StorageEvent>().and_then(|e| e.key());
                    if key.as_deref() == Some(crate::state::SESSION_KEY) {
                        let session = platform::with_kv(|kv| {
                            kv.get(crate::state::SESSION_KEY)
                                .and_then(|raw| serde_json::from_str(&raw).ok())
                        });
                        let _ = crate::state::switch_user(&store, session);
                    } else if key.is_none_or(|k| k.starts_with(ns.prefix())) {
                        let snap = platform::with_kv(|kv| load_snapshot(kv, &ns));
                        store.dispatch(Action::Replace(snap));
                    }
                })
            });
            move || drop(listener)
        });
    }
    // The counts of waiting changes and conflicts, from IndexedDB: at start, for each
    // user and table, and whenever any tab's request changed them (online or not).
    {
        let deps = (crate::oplog::user_of(&store), store.config.target.clone());
        let store = store.clone();
        use_effect_with(deps, move |(user, target)| {
            let scope = ledgerline_core::sync::scope(user, target);
            let listener = counts_listener(&store, scope);
            let now = store.clone();
            wasm_bindgen_futures::spawn_local(async move { crate::sync::count(&now).await });
            move || drop(listener)
        });
    }
    // Automatic exports (R7.3): looked at now and every few minutes while open, for the
    // user of the moment, signed in or not.
    {
        let deps = (
            crate::oplog::user_of(&store),
            store.config.auto_export,
            store.config.auto_exports_kept,
        );
        let store = store.clone();
        use_effect_with(deps, move |_| {
            {
                let store = store.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    crate::autoexport::set_plan(&store).await;
                });
            }
            let run = std::rc::Rc::new(move || {
                let store = store.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    crate::autoexport::run_if_due(&store).await;
                    // its export, and any the service worker made, to the chosen folder
                    crate::folder::write_new_and_tell(&store).await;
                });
            });
            // a moment after start, not during it
            let first = gloo::timers::callback::Timeout::new(crate::autoexport::FIRST_MS, {
                let run = run.clone();
                move || run()
            });
            let tick =
                gloo::timers::callback::Interval::new(crate::autoexport::TICK_MS, move || run());
            move || drop((first, tick))
        });
    }
    // The latest copy of the data in IndexedDB, a moment after the last change (and
    // after start-up): the service worker exports from it, a damaged localStorage is
    // restored from it.
    {
        let deps = (
            crate::oplog::user_of(&store),
            std::rc::Rc::as_ptr(&store.snap) as usize,
        );
        let store = store.clone();
        use_effect_with(deps, move |_| crate::autoexport::latest_changed(&store));
    }
    // The connection manager: a check now, every interval, on online/offline and when
    // the tab becomes visible; only while signed in.
    {
        let deps = (
            store.session.clone(),
            store.config.check_interval_secs,
            store.config.target.clone(),
        );
        let store = store.clone();
        use_effect_with(deps, move |(session, interval, _)| {
            let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
            if let Some(s) = session {
                keep.push(Box::new(progress_listener(&store, s.sub.clone())));
                keep.push(Box::new(inbox_listener(&store)));
            }
            // whom the service worker syncs for; then what it learned meanwhile
            let context = session
                .as_ref()
                .map(|s| ledgerline_core::protocol::SyncContext {
                    user: s.sub.clone(),
                    target: store.config.target.clone(),
                });
            {
                let store = store.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let signed_in = context.is_some();
                    crate::sync::set_context(context).await;
                    if signed_in {
                        crate::sync::apply_inbox(&store).await;
                    }
                });
            }
            if session.is_some() {
                let run = {
                    let store = store.clone();
                    // the handle reads the state as it is when the check runs
                    std::rc::Rc::new(move || crate::sync::check(&store))
                };
                run();
                crate::sync::refresh_session(&store);
                let r = run.clone();
                keep.push(Box::new(gloo::timers::callback::Interval::new(
                    interval.saturating_mul(1000),
                    move || r(),
                )));
                if let Some(w) = web_sys::window() {
                    // the tab going away with changes left: the service worker sends them
                    let s = store.clone();
                    keep.push(Box::new(gloo::events::EventListener::new(
                        &w,
                        "pagehide",
                        move |_| {
                            if s.pending > 0 {
                                crate::background::request_replay_now();
                            }
                        },
                    )));
                    for ev in ["online", "offline"] {
                        let r = run.clone();
                        keep.push(Box::new(gloo::events::EventListener::new(
                            &w,
                            ev,
                            move |_| r(),
                        )));
                    }
                    if let Some(doc) = w.document() {
                        let r = run.clone();
                        let d = doc.clone();
                        keep.push(Box::new(gloo::events::EventListener::new(
                            &doc,
                            "visibilitychange",
                            move |_| {
                                if !d.hidden() {
                                    r();
                                }
                            },
                        )));
                    }
                }
            }
            move || drop(keep)
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

/// A listener on the BroadcastChannel `ledgerline-sync` for messages of type `T` (JSON
/// text; other messages on the channel are not `T` and are passed over).
fn sync_channel<T: serde::de::DeserializeOwned + 'static>(
    on: impl Fn(T) + 'static,
) -> Option<(web_sys::BroadcastChannel, gloo::events::EventListener)> {
    let channel = web_sys::BroadcastChannel::new("ledgerline-sync").ok()?;
    let listener = gloo::events::EventListener::new(&channel, "message", move |e| {
        let message = e
            .dyn_ref::<web_sys::MessageEvent>()
            .and_then(|m| m.data().as_string())
            .and_then(|text| serde_json::from_str::<T>(&text).ok());
        if let Some(m) = message {
            on(m);
        }
    });
    Some((channel, listener))
}

/// The counts of `scope` as the cloud worker tells every tab after a change
/// (`SyncCounts`).
fn counts_listener(
    store: &Store,
    scope: String,
) -> Option<(web_sys::BroadcastChannel, gloo::events::EventListener)> {
    let dispatcher = store.dispatcher();
    let signed_in = store.session.is_some();
    sync_channel(move |c: ledgerline_core::protocol::SyncCounts| {
        if c.scope == scope {
            dispatcher.dispatch(Action::SetConflicts(c.conflicts));
            if signed_in {
                dispatcher.dispatch(Action::SetPending(c.pending));
            }
        }
    })
}

/// What the service worker learned in the background, stored as soon as it says so
/// (`SyncInbox`, for the current user and table).
fn inbox_listener(
    store: &Store,
) -> Option<(web_sys::BroadcastChannel, gloo::events::EventListener)> {
    let store = store.clone();
    sync_channel(move |m: ledgerline_core::protocol::SyncInbox| {
        let user = crate::oplog::user_of(&store);
        if m.inbox == ledgerline_core::sync::scope(&user, &store.config.target) {
            let store = store.clone();
            wasm_bindgen_futures::spawn_local(async move {
                crate::sync::apply_inbox(&store).await;
            });
        }
    })
}

/// "Syncing 37 of 200" from whichever worker replays (this tab's or another's): the
/// cloud worker tells every tab (`SyncProgress`).
fn progress_listener(
    store: &Store,
    user: String,
) -> Option<(web_sys::BroadcastChannel, gloo::events::EventListener)> {
    let dispatcher = store.dispatcher();
    sync_channel(move |p: ledgerline_core::protocol::SyncProgress| {
        if p.user == user {
            let now = (p.total > 0).then_some((p.done, p.total));
            dispatcher.dispatch(Action::Progress(now));
        }
    })
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
    let store = use_context::<Store>().expect("store context");
    let page = match &props.route {
        Route::Invoices => html! { <InvoicesPage /> },
        Route::NewInvoice => html! { <EditorPage id={None::<String>} /> },
        Route::EditInvoice { id } => html! { <EditorPage id={Some(id.clone())} /> },
        Route::Clients => html! { <ClientsPage /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::Data => html! { <DataPage /> },
        Route::Account => html! { <crate::pages::account::AccountPage /> },
        Route::Conflicts => html! { <crate::pages::conflicts::ConflictsPage /> },
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
                    <Link<Route> to={Route::Account} classes={active(Route::Account)}>{ "Account" }</Link<Route>>
                    if store.conflicts > 0 {
                        <Link<Route> to={Route::Conflicts} classes={classes!("nav-conflicts", active(Route::Conflicts))}>{ format!("Conflicts ({})", store.conflicts) }</Link<Route>>
                    }
                </nav>
                { storage_status(&store) }
                if let Some((done, total)) = store.progress {
                    <span class="sync-progress" data-testid="sync-progress" role="status">
                        { format!("Syncing {done} of {total}") }
                        <progress max={total.to_string()} value={done.to_string()}></progress>
                    </span>
                }
            </header>
            { banners(&store) }
            { cloud_banner(&store) }
            <main>{ page }</main>
            <ToastView />
        </div>
    }
}

/// Queued changes that can still go (the refused ones wait for a new save).
fn sendable(store: &Store) -> u32 {
    store.pending.saturating_sub(store.refused.len() as u32)
}

/// Where the data is: always visible.
// Plain functions rather than components where no hook is needed: every component
// costs the page's first load its own lifecycle code.
fn storage_status(store: &Store) -> Html {
    let (state, text, title): (&str, String, String) = if store.storage_problem.is_some() {
        (
            "memory",
            "Memory only".into(),
            "Browser storage is unavailable: nothing survives closing this tab. Export your data."
                .into(),
        )
    } else if store.session.is_none() {
        (
            "anonymous",
            "Anonymous · this browser only".into(),
            "Signed out: invoices are kept in this browser's storage only.".into(),
        )
    } else if store.session_expired.is_some() {
        (
            "signed-out",
            "Sign-in expired · local only".into(),
            "Sign in again (Account); your invoices here are kept.".into(),
        )
    } else {
        match &store.connection {
            Connection::Unknown => ("checking", "Checking DynamoDB…".into(), String::new()),
            // connected means nothing waits: queued changes are pending, and a change
            // DynamoDB refused is said as such, not as pending
            Connection::Connected { .. } if sendable(store) > 0 => (
                "hybrid",
                format!(
                    "Hybrid · {} change{} pending",
                    sendable(store),
                    if sendable(store) == 1 { "" } else { "s" }
                ),
                "Connected to DynamoDB; these changes are being sent.".into(),
            ),
            Connection::Connected { .. } if !store.refused.is_empty() => {
                let id = store.refused[0].clone();
                let causes: Vec<Refusal> = store
                    .refused
                    .iter()
                    .map(|id| crate::sync::refusal_here(store, id).1)
                    .collect();
                let (line, tip) = refused_status(&causes);
                return html! {
                    <span class="status status-refused" data-testid="storage-status" data-state="refused"
                        title={tip}>
                        <Link<Route> to={Route::EditInvoice { id }}>
                            { line }
                        </Link<Route>>
                    </span>
                };
            }
            Connection::Connected { .. } => (
                "connected",
                "DynamoDB · connected".into(),
                format!("Table {}", store.config.target.table),
            ),
            Connection::NoCredentials => (
                "local",
                "Local only · no AWS credentials".into(),
                "Add AWS credentials in Settings → DynamoDB.".into(),
            ),
            Connection::Failed {
                class: ErrorClass::CredentialsExpired,
            } => (
                "expired",
                "Credentials expired".into(),
                ErrorClass::CredentialsExpired.message().into(),
            ),
            Connection::Failed { class } => (
                "local",
                format!("Local only · {}", class.label()),
                class.message().into(),
            ),
        }
    };
    html! { <span class={format!("status status-{state}")} data-testid="storage-status" data-state={state} title={title}>{ text }</span> }
}

/// While signed in but not connected: what it means and what to do (R4.2, R4.4).
fn cloud_banner(store: &Store) -> Html {
    if store.session.is_none() {
        return html! {};
    }
    if let Some(m) = &store.session_expired {
        return html! {
            <div class="banner banner-error no-print" data-testid="session-expired" role="alert">
                { m.clone() }{ " " }<Link<Route> to={Route::Account}>{ "Sign in again" }</Link<Route>>
            </div>
        };
    }
    let backup = html! { <Link<Route> to={Route::Data}>{ "Export a backup" }</Link<Route>> };
    match &store.connection {
        Connection::Failed {
            class: ErrorClass::CredentialsExpired,
        } => html! {
            <div class="banner banner-error no-print" data-testid="renew-prompt" role="alert">
                <strong>{ "Your AWS credentials have expired. " }</strong>
                { "Your work is saved in this browser and is not lost. To renew: start the lab in AWS Academy if it is stopped, open AWS Details → Show next to AWS CLI, copy the [default] block and paste it in " }
                <Link<Route> to={Route::Settings}>{ "Settings → DynamoDB" }</Link<Route>>{ ". Meanwhile you can " }{ backup }{ "." }
            </div>
        },
        Connection::Failed { class } => html! {
            <div class="banner banner-warn no-print" data-testid="local-only-banner" role="status">
                <strong>{ "Working locally: " }</strong>{ class.message() }{ " " }{ class.action() }
                <p>{ "Until DynamoDB is back, your invoices exist only in this browser. You can: restart the lab, renew the credentials in " }
                    <Link<Route> to={Route::Settings}>{ "Settings" }</Link<Route>>{ ", or " }{ backup }{ "." }</p>
            </div>
        },
        Connection::NoCredentials => html! {
            <div class="banner banner-warn no-print" data-testid="local-only-banner" role="status">
                { "Signed in, but no AWS credentials are stored: invoices stay in this browser only. Add them in " }
                <Link<Route> to={Route::Settings}>{ "Settings → DynamoDB" }</Link<Route>>{ "." }
            </div>
        },
        _ => html! {},
    }
}

fn banners(store: &Store) -> Html {
    let reload = Callback::from(|_| platform::apply_update());
    let emergency = {
        let store = store.clone();
        Callback::from(move |_| crate::pages::data::emergency_export(&store, None))
    };
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
                               and is lost when this tab closes: download it to keep it.") }
                    { " " }<button data-testid="emergency-export" onclick={emergency}>{ "Emergency export (download everything in memory)" }</button>
                </div>
            }
            if !store.snap.damaged.is_empty() {
                { crate::pages::data::damaged_list(store) }
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
