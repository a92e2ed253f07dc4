//! The cloud worker: a dedicated Web Worker (static/cloud-worker.js loads it) that owns
//! the credential vault and the DynamoDB client, answering the page's requests.

use aws_sdk_dynamodb::Client;
use ledgerline_cloud::cognito::{self, AuthError};
use ledgerline_cloud::{dynamo, vault};
use ledgerline_core::credentials::{from_fields, parse_block};
use ledgerline_core::errors::classify;
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::protocol::{Envelope, Reply, Request, SessionInfo, Target};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// One client (and its connections) per target and credentials, reused (R6.3).
    static CLIENT: RefCell<Option<(String, Client)>> = const { RefCell::new(None) };
}

async fn client(target: &Target) -> Result<Option<(Client, bool)>, String> {
    let Some((creds, worked)) = vault::load().await? else {
        return Ok(None);
    };
    let cache_key = format!(
        "{}|{}|{}|{}|{}",
        target.region,
        target.endpoint,
        creds.access_key_id,
        creds.secret_access_key.expose().len(),
        creds
            .session_token
            .as_ref()
            .map(|t| t.expose().len())
            .unwrap_or(0)
    );
    let cached = CLIENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(k, _)| *k == cache_key)
            .map(|(_, client)| client.clone())
    });
    let client = match cached {
        Some(c) => c,
        None => {
            let c = dynamo::client(target, &creds);
            CLIENT.with(|slot| *slot.borrow_mut() = Some((cache_key, c.clone())));
            c
        }
    };
    Ok(Some((client, worked)))
}

/// Runs one DynamoDB call with the stored credentials and turns its outcome into a reply.
async fn call<F, Fut>(target: &Target, f: F) -> Reply
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, ledgerline_core::errors::Failure>>,
{
    let (client, worked) = match client(target).await {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::NoCredentials,
        Err(message) => return Reply::Error { message },
    };
    let started = js_sys::Date::now();
    let outcome = f(client).await;
    let ms = js_sys::Date::now() - started;
    match outcome {
        Ok(detail) => {
            if let Err(message) = vault::mark_worked().await {
                return Reply::Error { message };
            }
            Reply::Ok { detail, ms }
        }
        Err(failure) => Reply::Failed {
            class: classify(&failure, worked),
            ms,
        },
    }
}

async fn dispatch(req: Request) -> Reply {
    match req {
        Request::SaveCredentials {
            block,
            key_id,
            secret,
            token,
        } => {
            let parsed = if block.trim().is_empty() {
                from_fields(&key_id, &secret, &token)
            } else {
                parse_block(&block)
            };
            match parsed {
                Err(e) => Reply::Invalid {
                    message: e.message(),
                },
                Ok(creds) => match vault::store(&creds).await {
                    Ok(info) => {
                        CLIENT.with(|c| *c.borrow_mut() = None);
                        Reply::Credentials { info: Some(info) }
                    }
                    Err(message) => Reply::Error { message },
                },
            }
        }
        Request::ForgetCredentials => match vault::forget().await {
            Ok(()) => {
                CLIENT.with(|c| *c.borrow_mut() = None);
                Reply::Credentials { info: None }
            }
            Err(message) => Reply::Error { message },
        },
        Request::CredentialsInfo => match vault::info().await {
            Ok(info) => Reply::Credentials { info },
            Err(message) => Reply::Error { message },
        },
        Request::Check { target } => {
            let table = target.table.clone();
            call(&target, |c| async move { dynamo::check(&c, &table).await }).await
        }
        Request::CreateTable { target } => {
            let table = target.table.clone();
            call(&target, |c| async move {
                dynamo::create_table(&c, &table).await
            })
            .await
        }
        Request::SignUp {
            cognito,
            email,
            password,
        } => match cognito::sign_up(&cognito, email.trim(), &password).await {
            Ok(confirmed) => Reply::SignedUp { confirmed },
            Err(e) => auth_failed(e),
        },
        Request::ConfirmSignUp {
            cognito,
            email,
            code,
        } => match cognito::confirm(&cognito, email.trim(), &code).await {
            Ok(()) => Reply::SignedUp { confirmed: true },
            Err(e) => auth_failed(e),
        },
        Request::SignIn {
            cognito,
            email,
            password,
        } => match cognito::sign_in(&cognito, email.trim(), &password).await {
            Ok(session) => remember(session).await,
            Err(e) => auth_failed(e),
        },
        Request::RefreshSession { cognito } => match vault::load_session().await {
            Err(message) => Reply::Error { message },
            Ok(None) => Reply::Session { session: None },
            Ok(Some(old)) => match cognito::refresh(&cognito, &old).await {
                Ok(session) => remember(session).await,
                Err(AuthError::Unreachable) => Reply::Failed {
                    class: ErrorClass::NetworkUnreachable,
                    ms: 0.0,
                },
                Err(e @ AuthError::NotAuthorized(_)) => {
                    let _ = vault::forget_session().await;
                    Reply::SessionExpired {
                        message: e.message(),
                    }
                }
                Err(e) => auth_failed(e),
            },
        },
        Request::SignOut => match vault::forget_session().await {
            Ok(()) => Reply::Session { session: None },
            Err(message) => Reply::Error { message },
        },
        Request::PutInvoice {
            target,
            user_id,
            invoice,
        } => {
            let table = target.table.clone();
            call(&target, |c| async move {
                dynamo::put_invoice(&c, &table, &user_id, &invoice)
                    .await
                    .map(|()| format!("version {}", invoice.version))
            })
            .await
        }
    }
}

fn auth_failed(e: AuthError) -> Reply {
    match e {
        AuthError::Unreachable => Reply::Failed {
            class: ErrorClass::NetworkUnreachable,
            ms: 0.0,
        },
        other => Reply::Invalid {
            message: other.message(),
        },
    }
}

async fn remember(session: vault::Session) -> Reply {
    let info = SessionInfo {
        sub: session.sub.clone(),
        email: session.email.clone(),
    };
    match vault::store_session(&session).await {
        Ok(()) => Reply::Session {
            session: Some(info),
        },
        Err(message) => Reply::Error { message },
    }
}

/// One request (JSON `Envelope<Request>`) in, one reply (JSON `Envelope<Reply>`) out.
#[wasm_bindgen]
pub fn handle(message: String) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let reply = match serde_json::from_str::<Envelope<Request>>(&message) {
            Ok(env) => Envelope {
                id: env.id,
                body: dispatch(env.body).await,
            },
            Err(e) => Envelope {
                id: 0,
                body: Reply::Error {
                    message: format!("unreadable request: {e}"),
                },
            },
        };
        Ok(JsValue::from_str(
            &serde_json::to_string(&reply).unwrap_or_default(),
        ))
    })
}

fn main() {}
