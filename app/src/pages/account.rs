//! Account: Cognito sign-up / confirm / sign-in / sign-out, the user pool settings, and
//! moving anonymous invoices into the account (offered with a count, never silently).

use crate::service::{self, Auth};
use crate::state::{move_anonymous, save_config, switch_user, Action, Store};
use crate::widgets::{field, field_as, setter, Form};
use ledgerline_core::protocol::Request;
use yew::prelude::*;

#[derive(Clone, PartialEq, Default)]
struct AuthForm {
    email: String,
    password: String,
    code: String,
    pool: String,
    client: String,
    region: String,
    endpoint: String,
    identity_pool: String,
    identity_endpoint: String,
}

#[derive(Clone, PartialEq)]
enum Msg {
    Busy(&'static str),
    Ok(String),
    Err(String),
}

#[function_component(AccountPage)]
pub fn account_page() -> Html {
    let store = use_context::<Store>().expect("store context");
    let form = {
        let c = store.config.cognito.clone();
        use_reducer(move || {
            Form(AuthForm {
                pool: c.user_pool_id,
                client: c.client_id,
                region: c.region,
                endpoint: c.endpoint,
                identity_pool: c.identity_pool_id,
                identity_endpoint: c.identity_endpoint,
                ..Default::default()
            })
        })
    };
    let msg = use_state(|| None::<Msg>);
    let awaiting_code = use_state(|| false);

    let save_pool = {
        let store = store.clone();
        let form = form.clone();
        let msg = msg.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = &form.0;
            let mut c = store.config.clone();
            if f.pool.trim().is_empty() || f.client.trim().is_empty() {
                msg.set(Some(Msg::Err(
                    "Enter the user pool id and the app client id (Cognito console → User pools)."
                        .into(),
                )));
                return;
            }
            c.cognito.user_pool_id = f.pool.trim().to_string();
            c.cognito.client_id = f.client.trim().to_string();
            c.cognito.region = if f.region.trim().is_empty() {
                "us-east-1".into()
            } else {
                f.region.trim().to_string()
            };
            c.cognito.endpoint = f.endpoint.trim().to_string();
            let pool = f.identity_pool.trim();
            if !pool.is_empty() && !pool.contains(':') {
                msg.set(Some(Msg::Err(format!("'{pool}' is not an identity pool id: it looks like <region>:<id> (deploy output IdentityPoolId). Leave it blank to paste AWS credentials instead."))));
                return;
            }
            c.cognito.identity_pool_id = pool.to_string();
            c.cognito.identity_endpoint = f.identity_endpoint.trim().to_string();
            match save_config(&store, c) {
                Ok(()) => msg.set(Some(Msg::Ok("User pool settings saved.".into()))),
                Err(e) => msg.set(Some(Msg::Err(e.message()))),
            }
        })
    };
    let auth = |kind: &'static str| {
        let store = store.clone();
        let form = form.clone();
        let msg = msg.clone();
        let awaiting_code = awaiting_code.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = form.0.clone();
            let cognito = store.config.cognito.clone();
            if cognito.client_id.is_empty() {
                msg.set(Some(Msg::Err("Set the user pool first (below).".into())));
                return;
            }
            if !f.email.contains('@') {
                msg.set(Some(Msg::Err("Enter your email address.".into())));
                return;
            }
            let store = store.clone();
            let msg = msg.clone();
            let awaiting_code = awaiting_code.clone();
            let form = form.clone();
            msg.set(Some(Msg::Busy("Contacting Cognito…")));
            wasm_bindgen_futures::spawn_local(async move {
                let req = match kind {
                    "signup" => Request::SignUp {
                        cognito,
                        email: f.email.clone(),
                        password: f.password.clone().into(),
                    },
                    "confirm" => Request::ConfirmSignUp {
                        cognito,
                        email: f.email.clone(),
                        code: f.code.clone().into(),
                    },
                    _ => Request::SignIn {
                        cognito,
                        email: f.email.clone(),
                        password: f.password.clone().into(),
                    },
                };
                match service::authenticate(req).await {
                    Ok(Auth::SignedIn(s)) => {
                        form.dispatch(std::rc::Rc::new(|f: &mut AuthForm| f.password.clear()));
                        let email = s.email.clone();
                        match switch_user(&store, Some(s)) {
                            Ok(()) => msg.set(Some(Msg::Ok(format!("Signed in as {email}.")))),
                            Err(e) => msg.set(Some(Msg::Err(e.message()))),
                        }
                    }
                    Ok(Auth::SignedUp { confirmed: false }) => {
                        awaiting_code.set(true);
                        msg.set(Some(Msg::Ok(
                            "Account created: enter the confirmation code sent to your email."
                                .into(),
                        )));
                    }
                    Ok(Auth::SignedUp { confirmed: true }) => {
                        awaiting_code.set(false);
                        msg.set(Some(Msg::Ok("Account confirmed: sign in.".into())));
                    }
                    Err(e) => msg.set(Some(Msg::Err(e.message()))),
                }
            });
        })
    };
    let sign_out = {
        let store = store.clone();
        let msg = msg.clone();
        Callback::from(move |_| {
            let store = store.clone();
            let msg = msg.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let not_revoked = match service::sign_out().await {
                    Ok(n) => n,
                    Err(e) => {
                        // still signed in with the worker: say so, change nothing
                        msg.set(Some(Msg::Err(format!(
                            "Could not sign out: {} Try again.",
                            e.message()
                        ))));
                        return;
                    }
                };
                match switch_user(&store, None) {
                    Ok(()) => msg.set(Some(Msg::Ok(match not_revoked {
                        None => "Signed out: anonymous mode, this browser only. Your invoices stay in this browser, shown again when you sign in.".into(),
                        Some(why) => format!("Signed out here (anonymous mode), but Cognito could not be told to end the sign-in ({why}). It ends by itself when its refresh token expires (30 days by default); nothing can use it from this browser."),
                    }))),
                    Err(e) => msg.set(Some(Msg::Err(e.message()))),
                }
            });
        })
    };
    // "Sign out and remove my data": a panel that says what would be lost, offers an
    // export first when something has not reached DynamoDB, then removes
    let removing = use_state(|| false);
    let exported = use_state(|| false);
    // what waits over every table this browser synced with (removal takes all of them)
    let everywhere = use_state(|| None::<(u32, u32)>);
    let open_remove = {
        let (removing, exported, everywhere) =
            (removing.clone(), exported.clone(), everywhere.clone());
        let user = crate::oplog::user_of(&store);
        Callback::from(move |_| {
            exported.set(false);
            everywhere.set(None);
            removing.set(true);
            let (everywhere, user) = (everywhere.clone(), user.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(counts) = crate::service::user_counts(&user).await {
                    everywhere.set(Some(counts));
                }
            });
        })
    };
    let cancel_remove = {
        let removing = removing.clone();
        Callback::from(move |_| removing.set(false))
    };
    let export_first = {
        let (store, exported) = (store.clone(), exported.clone());
        Callback::from(
            move |_| match crate::platform::download_export(&store.snap) {
                Ok(()) => exported.set(true),
                Err(e) => store.dispatch(Action::Toast(format!(
                    "The export could not be downloaded ({e}); nothing was removed."
                ))),
            },
        )
    };
    let confirm_remove = {
        let (store, msg, removing) = (store.clone(), msg.clone(), removing.clone());
        Callback::from(move |_| {
            let (store, msg, removing) = (store.clone(), msg.clone(), removing.clone());
            msg.set(Some(Msg::Busy("Removing your data from this browser…")));
            wasm_bindgen_futures::spawn_local(async move {
                match crate::state::sign_out_and_remove(&store).await {
                    Ok(said) => {
                        removing.set(false);
                        msg.set(Some(Msg::Ok(said)));
                    }
                    Err(why) => {
                        removing.set(false);
                        msg.set(Some(Msg::Err(format!(
                            "Not everything could be removed: {why}."
                        ))))
                    }
                }
            });
        })
    };
    let (unsent, conflicts) = {
        let (here, kept) = crate::state::unsent(&store);
        let (queued, kept_all) = (*everywhere).unwrap_or_default();
        (here.max(queued), kept.max(kept_all))
    };
    let remove_panel = html! {
        <div class="card" data-testid="remove-panel">
            <h2>{ "Sign out and remove my data from this browser" }</h2>
            <p>{ format!("Removes from this browser every invoice, client, backup, automatic export, queued change and log entry of {}, and the sign-in. Your data in DynamoDB stays.",
                store.session.as_ref().map(|s| s.email.as_str()).unwrap_or("this account")) }</p>
            if unsent > 0 {
                <p class="banner banner-warn" data-testid="remove-unsent">{ format!("{unsent} change{} not reached DynamoDB yet and would be lost. Download an export first: it keeps them (Data → Import brings them back).", if unsent == 1 { " has" } else { "s have" }) }</p>
            } else {
                <p class="muted" data-testid="remove-unsent">{ "Every change has reached DynamoDB." }</p>
            }
            if conflicts > 0 {
                <p class="banner banner-warn">{ format!("{conflicts} conflict{} waiting for review (Conflicts) would be removed too.", if conflicts == 1 { "" } else { "s" }) }</p>
            }
            <div class="form-actions">
                <button data-testid="remove-export" onclick={export_first}>{ if *exported { "Exported ✓ — download again" } else { "Download an export" } }</button>
                <button class="danger" data-testid="remove-confirm" disabled={unsent > 0 && !*exported} onclick={confirm_remove}>{ "Remove my data and sign out" }</button>
                <button data-testid="remove-cancel" onclick={cancel_remove}>{ "Cancel" }</button>
            </div>
        </div>
    };
    let accept = {
        let store = store.clone();
        Callback::from(move |_| {
            let store = store.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match move_anonymous(&store).await {
                    Ok(text) => {
                        // the moved clients and profile go up with the moved invoices
                        crate::records::sync_soon(&store);
                        store.dispatch(Action::Toast(text))
                    }
                    Err(e) => store.dispatch(Action::Toast(e.message())),
                }
            })
        })
    };
    let decline = {
        let store = store.clone();
        Callback::from(move |_| store.dispatch(Action::CloseMoveOffer))
    };

    let f = &form.0;
    html! {
        <section class="page">
            <div class="page-head"><h1>{ "Account" }</h1></div>
            if let Some(m) = &*msg {
                { match m {
                    Msg::Busy(t) => html! { <p class="loading" data-testid="auth-message" data-state="busy">{ *t }</p> },
                    Msg::Ok(t) => html! { <div class="banner banner-info" data-testid="auth-message" data-state="ok">{ t }</div> },
                    Msg::Err(t) => html! { <div class="banner banner-error" data-testid="auth-message" data-state="error" role="alert">{ t }</div> },
                } }
            }
            if let Some(n) = store.move_offer {
                <div class="card" data-testid="move-offer">
                    <p>{ format!("{n} invoice{} from anonymous mode {} in this browser. Move {} into your account? They will be uploaded to DynamoDB.",
                        if n == 1 { "" } else { "s" }, if n == 1 { "is" } else { "are" }, if n == 1 { "it" } else { "them" }) }</p>
                    <button class="primary" data-testid="move-accept" onclick={accept}>{ format!("Move {n} into my account") }</button>
                    <button data-testid="move-decline" onclick={decline}>{ "Keep them anonymous" }</button>
                </div>
            }
            { match &store.session {
                Some(s) => html! {
                    <>
                    <div class="card" data-testid="account-info">
                        <p>{ "Signed in as " }<strong data-testid="account-email">{ &s.email }</strong></p>
                        <p class="muted">{ format!("User id (DynamoDB partition): {}", s.sub) }</p>
                        <button data-testid="auth-signout" onclick={sign_out}>{ "Sign out" }</button>
                        <button data-testid="auth-signout-remove" onclick={open_remove.clone()}>{ "Sign out and remove my data from this browser…" }</button>
                        <p class="muted">{ "Sign out keeps your data in this browser (shown again when you sign in); on a shared computer, remove it." }</p>
                    </div>
                    if *removing {
                        { remove_panel }
                    }
                    </>
                },
                None => html! {
                    <div class="card">
                        <p class="muted">{ "Signed out: anonymous mode. Invoices stay in this browser only and never go to DynamoDB. Sign in to keep them in the cloud." }</p>
                        <form onsubmit={auth("signin")} novalidate=true>
                            <div class="grid">
                                { field_as("Email", "auth-email", "email", Some("username"), &f.email, setter(&form, |f: &mut AuthForm, v| f.email = v), None) }
                                { field_as("Password", "auth-password", "password", Some("current-password"), &f.password, setter(&form, |f: &mut AuthForm, v| f.password = v), None) }
                            </div>
                            <div class="form-actions">
                                <button type="submit" class="primary" data-testid="auth-signin">{ "Sign in" }</button>
                            </div>
                        </form>
                        <form onsubmit={auth("signup")} novalidate=true>
                            <button type="submit" data-testid="auth-signup">{ "Create an account with this email and password" }</button>
                        </form>
                        if *awaiting_code {
                            <form onsubmit={auth("confirm")} novalidate=true>
                                { field_as("Confirmation code", "auth-code", "text", Some("one-time-code"), &f.code, setter(&form, |f: &mut AuthForm, v| f.code = v), None) }
                                <button type="submit" data-testid="auth-confirm">{ "Confirm" }</button>
                            </form>
                        }
                    </div>
                },
            } }
            <form class="card" onsubmit={save_pool} novalidate=true>
                <h2>{ "Cognito user pool" }</h2>
                <div class="grid">
                    { field("User pool id", "cognito-pool", "text", &f.pool, setter(&form, |f: &mut AuthForm, v| f.pool = v), None) }
                    { field("App client id", "cognito-client", "text", &f.client, setter(&form, |f: &mut AuthForm, v| f.client = v), None) }
                    { field("Region", "cognito-region", "text", &f.region, setter(&form, |f: &mut AuthForm, v| f.region = v), None) }
                    { field("Endpoint (blank = AWS)", "cognito-endpoint", "text", &f.endpoint, setter(&form, |f: &mut AuthForm, v| f.endpoint = v), None) }
                    { field("Identity pool id (optional: AWS credentials from Cognito, nothing to paste)", "cognito-identity-pool", "text", &f.identity_pool, setter(&form, |f: &mut AuthForm, v| f.identity_pool = v), None) }
                    { field("Identity endpoint (blank = AWS)", "cognito-identity-endpoint", "text", &f.identity_endpoint, setter(&form, |f: &mut AuthForm, v| f.identity_endpoint = v), None) }
                </div>
                <p class="muted">{ "With an identity pool (deploy/ in the repository makes one), each user signs in and gets their own temporary AWS credentials, renewed by themselves, and AWS refuses any partition but theirs. The pool applies from the next sign-in." }</p>
                <button type="submit" data-testid="cognito-save">{ "Save user pool" }</button>
            </form>
        </section>
    }
}
