//! Settings → DynamoDB: where the table is, the AWS credentials (handed to the cloud
//! worker's vault, never kept by the page), and a connection test with its error class.

use crate::service::{self, Answer, CallError};
use crate::state::{save_config, Action, Connection, Store};
use crate::widgets::{field, field_as, on_textarea, setter, Form};
use ledgerline_core::credentials::age_and_warning;
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::protocol::CloudConfig;
use yew::prelude::*;

#[derive(Clone, PartialEq, Default)]
struct CredForm {
    block: String,
    key_id: String,
    secret: String,
    token: String,
}

#[derive(Clone, PartialEq)]
enum Outcome {
    Busy(&'static str),
    Ok(String),
    Failed(ErrorClass),
    Invalid(String),
}

/// Shows what a connection test (or a table creation) answered, and tells the status.
fn show(store: &Store, outcome: &UseStateHandle<Option<Outcome>>, answer: Answer<(String, f64)>) {
    if let Some(c) = crate::sync::connection_of_check(&answer) {
        store.dispatch(Action::SetConnection(c));
    }
    match answer {
        Ok((detail, ms)) => {
            outcome.set(Some(Outcome::Ok(format!(
                "Connected: table {} is {detail} ({} ms).",
                store.config.target.table,
                ms.round() as i64
            ))));
        }
        Err(CallError::Failed(class)) => outcome.set(Some(Outcome::Failed(class))),
        Err(CallError::NoCredentials) => outcome.set(Some(Outcome::Invalid(
            "No AWS credentials are stored yet: paste them above.".into(),
        ))),
        Err(e) => outcome.set(Some(Outcome::Invalid(e.message()))),
    }
}

/// Region, endpoint, table, check interval, backups kept: as typed.
type Conf = (String, String, String, String, String);

#[function_component(CloudSettings)]
pub fn cloud_settings() -> Html {
    let store = use_context::<Store>().expect("store context");
    let conf = {
        let c = store.config.clone();
        use_reducer(move || {
            Form((
                c.target.region.clone(),
                c.target.endpoint.clone(),
                c.target.table.clone(),
                c.check_interval_secs.to_string(),
                c.backups_kept.to_string(),
            ))
        })
    };
    let creds = use_reducer(|| Form(CredForm::default()));
    let outcome = use_state(|| None::<Outcome>);
    let conf_msg = use_state(|| None::<(bool, String)>);

    {
        // read again for each user: credentials are per user
        let store = store.clone();
        let user = crate::oplog::user_of(&store);
        use_effect_with(user, move |user| {
            let user = user.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(info) = service::credentials_info().await {
                    // an answer for a user who has since signed out is not shown to the next
                    if crate::oplog::user_of(&store) == user {
                        store.dispatch(Action::SetCreds(info));
                    }
                }
            });
        });
    }

    let test = {
        let store = store.clone();
        let outcome = outcome.clone();
        Callback::from(move |_| {
            let store = store.clone();
            let outcome = outcome.clone();
            outcome.set(Some(Outcome::Busy("Testing the connection…")));
            wasm_bindgen_futures::spawn_local(async move {
                let answer = service::check(&store.config.target).await;
                show(&store, &outcome, answer);
            });
        })
    };
    let save_conf = {
        let store = store.clone();
        let conf = conf.clone();
        let conf_msg = conf_msg.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (region, endpoint, table, interval, kept) = conf.0.clone();
            let mut c: CloudConfig = store.config.clone();
            let region = region.trim().to_string();
            if region.is_empty()
                || !region
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            {
                conf_msg.set(Some((
                    false,
                    format!("'{region}' is not an AWS region name such as us-east-1."),
                )));
                return;
            }
            let endpoint = endpoint.trim().to_string();
            if !(endpoint.is_empty()
                || endpoint.starts_with("http://")
                || endpoint.starts_with("https://"))
            {
                conf_msg.set(Some((
                    false,
                    "The endpoint must start with http:// or https:// (leave it blank for AWS)."
                        .into(),
                )));
                return;
            }
            let table = table.trim().to_string();
            if table.len() < 3
                || table.len() > 255
                || !table
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
            {
                conf_msg.set(Some((
                    false,
                    "A table name has 3 to 255 letters, digits, '_', '-' or '.'.".into(),
                )));
                return;
            }
            let Ok(secs) = interval.trim().parse::<u32>() else {
                conf_msg.set(Some((
                    false,
                    "The check interval is a whole number of seconds, such as 30.".into(),
                )));
                return;
            };
            let Some(kept) = kept
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
            else {
                conf_msg.set(Some((
                    false,
                    "Backups to keep is a whole number from 1 to 100, such as 10.".into(),
                )));
                return;
            };
            c.backups_kept = kept;
            c.target.region = region;
            c.target.endpoint = endpoint;
            c.target.table = table;
            c.check_interval_secs = secs.clamp(1, 3600);
            match save_config(&store, c) {
                Ok(()) => conf_msg.set(Some((true, "Connection settings saved.".into()))),
                Err(e) => conf_msg.set(Some((false, e.message()))),
            }
        })
    };
    let save_creds = {
        let store = store.clone();
        let creds = creds.clone();
        let outcome = outcome.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = creds.0.clone();
            // the page keeps nothing: the form is emptied as the request leaves
            creds.dispatch(std::rc::Rc::new(|f: &mut CredForm| {
                *f = CredForm::default()
            }));
            let store = store.clone();
            let outcome = outcome.clone();
            outcome.set(Some(Outcome::Busy("Saving and testing…")));
            wasm_bindgen_futures::spawn_local(async move {
                let saved = service::save_credentials(f.block, f.key_id, f.secret, f.token).await;
                match saved {
                    Ok(info) => {
                        store.dispatch(Action::SetCreds(info));
                        // a background sync stopped by expired credentials asks again
                        crate::background::request_replay_now();
                        let answer = service::check(&store.config.target).await;
                        show(&store, &outcome, answer);
                    }
                    Err(e) => show(&store, &outcome, Err(e)),
                }
            });
        })
    };
    let forget = {
        let store = store.clone();
        let outcome = outcome.clone();
        Callback::from(move |_| {
            let store = store.clone();
            let outcome = outcome.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match service::forget_credentials().await {
                    Ok(()) => {
                        store.dispatch(Action::SetCreds(None));
                        store.dispatch(Action::SetConnection(Connection::NoCredentials));
                        outcome.set(None);
                    }
                    Err(e) => outcome.set(Some(Outcome::Invalid(e.message()))),
                }
            });
        })
    };
    let create = {
        let store = store.clone();
        let outcome = outcome.clone();
        Callback::from(move |_| {
            let store = store.clone();
            let outcome = outcome.clone();
            outcome.set(Some(Outcome::Busy("Creating the table…")));
            wasm_bindgen_futures::spawn_local(async move {
                let answer = service::create_table(&store.config.target).await;
                show(&store, &outcome, answer);
            });
        })
    };

    let (region, endpoint, table, interval, kept) = &conf.0;
    let now = js_sys::Date::now();
    html! {
        <div class="card" data-testid="cloud-settings">
            <h2>{ "DynamoDB" }</h2>
            <form onsubmit={save_conf} novalidate=true>
                if let Some((ok, text)) = &*conf_msg {
                    <div class={if *ok { "banner banner-info" } else { "banner banner-error" }} data-testid="cloud-config-message">{ text }</div>
                }
                <div class="grid">
                    { field("Region", "cloud-region", "text", region, setter(&conf, |c: &mut Conf, v| c.0 = v), None) }
                    { field("Endpoint (blank = AWS)", "cloud-endpoint", "text", endpoint, setter(&conf, |c: &mut Conf, v| c.1 = v), None) }
                    { field("Table", "cloud-table", "text", table, setter(&conf, |c: &mut Conf, v| c.2 = v), None) }
                    { field("Check every (seconds)", "cloud-interval", "text", interval, setter(&conf, |c: &mut Conf, v| c.3 = v), None) }
                    { field("Backups to keep (taken before each sync that changes local data)", "cloud-backups-kept", "text", kept, setter(&conf, |c: &mut Conf, v| c.4 = v), None) }
                </div>
                <button type="submit" data-testid="cloud-config-save">{ "Save connection settings" }</button>
            </form>

            <h3>{ "AWS credentials" }</h3>
            if !store.config.cognito.identity_pool_id.trim().is_empty() {
                <p class="banner banner-info" data-testid="cred-identity-pool">{ format!(
                    "Signed in, your AWS credentials come from the identity pool {} (temporary, renewed by themselves): nothing to paste. Credentials below are only used signed out, or by a sign-in made before the pool was set.",
                    store.config.cognito.identity_pool_id.trim()) }</p>
            }
            { match &store.creds {
                Some(info) => {
                    let (age, warn) = age_and_warning(info.entered_at, now, info.temporary);
                    html! {
                        <div data-testid="cred-info">
                            <p>{ format!("Stored: key {} ({}), entered {age}. Kept encrypted in this browser only.",
                                info.masked_key_id, if info.temporary { "temporary, AWS Academy" } else { "long-term" }) }
                                <button type="button" data-testid="cred-forget" onclick={forget}>{ "Forget" }</button></p>
                            if let Some(w) = warn { <p class="note" data-testid="cred-expiry-warning">{ w }</p> }
                        </div>
                    }
                }
                None => html! { <p class="muted" data-testid="cred-info">{ "No AWS credentials stored." }</p> },
            } }
            <form onsubmit={save_creds} novalidate=true autocomplete="off">
                <label class="field">
                    <span class="label">{ "Paste the [default] block from AWS Academy → AWS Details → AWS CLI: Show" }</span>
                    <textarea data-testid="cred-block" rows="5" spellcheck="false" autocomplete="off"
                        placeholder={"[default]\naws_access_key_id=ASIA…\naws_secret_access_key=…\naws_session_token=…"}
                        value={creds.0.block.clone()} oninput={on_textarea(setter(&creds, |f: &mut CredForm, v| f.block = v))} />
                </label>
                <details>
                    <summary>{ "…or enter the three values" }</summary>
                    <div class="grid">
                        { field_as("Access key id", "cred-key-id", "text", Some("off"), &creds.0.key_id, setter(&creds, |f: &mut CredForm, v| f.key_id = v), None) }
                        { field("Secret access key", "cred-secret", "secret", &creds.0.secret, setter(&creds, |f: &mut CredForm, v| f.secret = v), None) }
                        { field("Session token", "cred-token", "secret", &creds.0.token, setter(&creds, |f: &mut CredForm, v| f.token = v), None) }
                    </div>
                </details>
                <div class="form-actions">
                    <button type="submit" class="primary" data-testid="cred-save">{ "Save and test" }</button>
                    <button type="button" data-testid="cloud-test" onclick={test}>{ "Test connection" }</button>
                </div>
            </form>
            { match &*outcome {
                None => html! {},
                Some(Outcome::Busy(t)) => html! { <p class="loading" data-testid="cloud-result" data-class="busy">{ *t }</p> },
                Some(Outcome::Ok(t)) => html! { <div class="banner banner-info" data-testid="cloud-result" data-class="connected">{ t }</div> },
                Some(Outcome::Invalid(t)) => html! { <div class="banner banner-error" data-testid="cloud-result" data-class="invalid-input" role="alert">{ t }</div> },
                Some(Outcome::Failed(class)) => html! {
                    <div class="banner banner-error" data-testid="cloud-result" data-class={class.label()} role="alert">
                        <strong>{ format!("{}: ", class.label()) }</strong>{ class.message() }
                        <p>{ class.action() }</p>
                        if *class == ErrorClass::TableMissing {
                            <button type="button" data-testid="create-table" onclick={create}>{ format!("Create table {}", store.config.target.table) }</button>
                        }
                    </div>
                },
            } }
        </div>
    }
}
