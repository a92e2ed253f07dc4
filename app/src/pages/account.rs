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
                let _ = service::sign_out().await;
                match switch_user(&store, None) {
                    Ok(()) => msg.set(Some(Msg::Ok(
                        "Signed out: anonymous mode, this browser only.".into(),
                    ))),
                    Err(e) => msg.set(Some(Msg::Err(e.message()))),
                }
            });
        })
    };
    let accept = {
        let store = store.clone();
        Callback::from(move |_| match move_anonymous(&store) {
            Ok(text) => store.dispatch(Action::Toast(text)),
            Err(e) => store.dispatch(Action::Toast(e.message())),
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
                    <div class="card" data-testid="account-info">
                        <p>{ "Signed in as " }<strong data-testid="account-email">{ &s.email }</strong></p>
                        <p class="muted">{ format!("User id (DynamoDB partition): {}", s.sub) }</p>
                        <button data-testid="auth-signout" onclick={sign_out}>{ "Sign out" }</button>
                    </div>
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
                </div>
                <button type="submit" data-testid="cognito-save">{ "Save user pool" }</button>
            </form>
        </section>
    }
}
