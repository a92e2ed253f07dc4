//! The sync engine: the credential vault, the DynamoDB client, the queue and its jobs,
//! answering one request at a time (`handle`). Two hosts load it: the page's dedicated
//! cloud worker (static/cloud-worker.js) for every request of the page, and the service
//! worker (static/sw.js, through cloud-sw.js) for its background jobs (`replayAll`,
//! `periodic`), with no page open. Both take the same Web Lock for a replay or a pull.

use aws_sdk_dynamodb::Client;
use ledgerline_cloud::cognito::{self, AuthError};
use ledgerline_cloud::error::{CloudError, CloudResult};
use ledgerline_cloud::{backup, dynamo, engine, identity, oplog, replay as replayer, store, vault};
use ledgerline_core::credentials::{from_fields, parse_block};
use ledgerline_core::errors::classify;
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::protocol::{Envelope, LogEntry, Reply, Request, SessionInfo, Target};
use ledgerline_core::sync::job::JobOutcome;
use ledgerline_core::sync::scope;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// One client (and its connections) per target and credentials, reused (R6.3).
    static CLIENT: RefCell<Option<(String, Client)>> = const { RefCell::new(None) };
}

thread_local! {
    /// The identity pool's credentials of the last user they were fetched for, and when
    /// they expire (ms since the epoch).
    static POOL_CREDS: RefCell<Option<(String, ledgerline_core::credentials::Credentials, f64)>> =
        const { RefCell::new(None) };
}

/// How long before they expire the identity pool's credentials are fetched again.
const POOL_MARGIN_MS: f64 = 60_000.0;

/// `owner`'s AWS credentials: from the identity pool when the signed-in user's pool names
/// one (deploy/: nothing pasted, AWS itself keeps each user to their own partition),
/// else the ones pasted into the vault.
async fn credentials_of(
    owner: &str,
) -> CloudResult<
    Option<(
        ledgerline_core::credentials::Credentials,
        bool,
        vault::Generation,
    )>,
> {
    if owner != ledgerline_core::store::ANONYMOUS {
        let session = vault::load_session().await?.filter(|s| {
            s.sub == owner
                && s.cognito
                    .as_ref()
                    .is_some_and(|c| !c.identity_pool_id.trim().is_empty())
        });
        if let Some(session) = session {
            return pool_credentials(owner, session).await.map(Some);
        }
    }
    vault::load(owner).await
}

/// The identity pool's credentials for `owner`, kept until a minute before they expire;
/// the ID token they are asked with is renewed first when it is about to expire.
async fn pool_credentials(
    owner: &str,
    mut session: vault::Session,
) -> CloudResult<(
    ledgerline_core::credentials::Credentials,
    bool,
    vault::Generation,
)> {
    let now = js_sys::Date::now();
    let generation = |expires: f64| vault::Generation {
        owner: owner.to_string(),
        entered_at: expires,
    };
    let cached = POOL_CREDS.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|(o, _, expires)| o == owner && *expires - POOL_MARGIN_MS > now)
            .map(|(_, c, expires)| (c.clone(), *expires))
    });
    if let Some((creds, expires)) = cached {
        return Ok((creds, true, generation(expires)));
    }
    let Some(cognito) = session.cognito.clone() else {
        return Err("the sign-in names no identity pool".into());
    };
    let token_expires = ledgerline_core::identity::parse(&session.id_token)
        .map(|j| j.claims.exp as f64 * 1000.0)
        .unwrap_or(0.0);
    if token_expires < now + POOL_MARGIN_MS {
        session = match cognito::refresh(&cognito, &session).await {
            Ok(renewed) => renewed,
            Err(AuthError::NotAuthorized(_)) => {
                // still who signed in here (local work goes on); no longer renewable
                let _ = vault::store_session(&vault::Session {
                    ended: true,
                    ..session
                })
                .await;
                return Err(CloudError::SignIn(cognito::SESSION_ENDED.to_string()));
            }
            Err(e) => return Err(pool_failure(e)),
        };
        vault::store_session(&session).await?;
    }
    let (creds, expires) = cognito::pool_credentials(&cognito, &session.id_token)
        .await
        .map_err(pool_failure)?;
    POOL_CREDS.with(|p| *p.borrow_mut() = Some((owner.to_string(), creds.clone(), expires)));
    Ok((creds, true, generation(expires)))
}

/// Cognito's failure on the way to the identity pool's credentials: unreachable is the
/// network (retried as DynamoDB's would be); a refusal is the sign-in's, which pasting
/// AWS keys cannot mend, so it is said as such.
fn pool_failure(e: AuthError) -> CloudError {
    match e {
        AuthError::Unreachable => {
            CloudError::Service(ledgerline_core::errors::Failure::transport())
        }
        AuthError::NotAuthorized(m) | AuthError::Other(m) => CloudError::SignIn(format!(
            "The identity pool refused AWS credentials for this sign-in ({}). Sign in again; \
             if it still refuses, check the identity pool id in Account against the deploy's \
             IdentityPoolId output, and that the pool trusts this user pool's app client. \
             Your invoices in this browser are untouched.",
            if m.is_empty() {
                "no reason given"
            } else {
                m.as_str()
            }
        )),
        other => CloudError::SignIn(format!(
            "{} Sign in again. Your invoices in this browser are untouched.",
            other.message()
        )),
    }
}

/// Whose credentials are used: the user the sealed session proves, or `anonymous`.
async fn owner() -> String {
    proven_user()
        .await
        .unwrap_or_else(|| ledgerline_core::store::ANONYMOUS.to_string())
}

/// The DynamoDB client for `owner`'s credentials (the user a request was proved for,
/// never looked up again at the moment of use): with whether they worked before, and
/// their generation (`vault::load`).
async fn client(
    target: &Target,
    owner: &str,
) -> CloudResult<Option<(Client, bool, vault::Generation)>> {
    let Some((creds, worked, generation)) = credentials_of(owner).await? else {
        return Ok(None);
    };
    // keyed by the credentials' owner and generation (a new one at every save), never
    // by their shape: re-entered credentials always get a new client, in every tab's worker
    let cache_key = format!(
        "{}|{}|{}|{}|{}",
        target.region,
        target.endpoint,
        creds.access_key_id,
        generation.owner,
        generation.entered_at
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
            replayer::forget_endpoint_features();
            CLIENT.with(|slot| *slot.borrow_mut() = Some((cache_key, c.clone())));
            c
        }
    };
    Ok(Some((client, worked, generation)))
}

/// Runs one DynamoDB call with the stored credentials and turns its outcome into a reply.
async fn call<F, Fut>(target: &Target, owner: &str, f: F) -> Reply
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, ledgerline_core::errors::Failure>>,
{
    let (client, worked, generation) = match client_or_reply(target, owner).await {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let started = js_sys::Date::now();
    let outcome = f(client.clone()).await;
    let ms = js_sys::Date::now() - started;
    match outcome {
        Ok(detail) => {
            if let Err(e) = vault::mark_worked(&generation).await {
                return error_reply(e);
            }
            Reply::Ok { detail, ms }
        }
        Err(failure) => {
            let reply = failed(&failure, worked, ms);
            if let Reply::Failed { class, .. } = reply {
                let _ = vault::mark_refused(class, &generation).await;
            }
            reply
        }
    }
}

thread_local! {
    /// The service's message of the last failure (for the log; AWS never echoes secrets).
    static LAST_DETAIL: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Per (user, target): the change marker as of this worker's last pull, or as this
    /// worker rewrote it with nothing else changed since (`dynamo::MARKER_KEY`).
    static SEEN: RefCell<std::collections::HashMap<String, Option<String>>> =
        RefCell::new(std::collections::HashMap::new());
}

fn failed(f: &ledgerline_core::errors::Failure, worked: bool, ms: f64) -> Reply {
    LAST_DETAIL.with(|d| *d.borrow_mut() = f.message.clone());
    Reply::Failed {
        class: classify(f, worked),
        ms,
    }
}

/// The DynamoDB client for `target`, or the reply that says why there is none.
async fn client_or_reply(
    target: &Target,
    owner: &str,
) -> Result<(Client, bool, vault::Generation), Reply> {
    match client(target, owner).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Reply::NoCredentials),
        Err(e) => Err(error_reply(e)),
    }
}

/// A check, retried once at once when DynamoDB refused it for this device's clock: the
/// refusal measured the offset, and the retry is signed with the corrected time.
async fn check(target: &Target, owner: &str) -> Reply {
    let mut reply = Reply::NoCredentials;
    for _ in 0..2 {
        let table = target.table.clone();
        reply = call(
            target,
            owner,
            |c| async move { dynamo::check(&c, &table).await },
        )
        .await;
        if !matches!(
            reply,
            Reply::Failed {
                class: ErrorClass::ClockSkew,
                ..
            }
        ) {
            break;
        }
    }
    reply
}

async fn dispatch(req: Request) -> Reply {
    match req {
        Request::SaveCredentials {
            block,
            key_id,
            secret,
            token,
        } => {
            let parsed = if block.expose().trim().is_empty() {
                from_fields(key_id.expose(), secret.expose(), token.expose())
            } else {
                parse_block(block.expose())
            };
            match parsed {
                Err(e) => Reply::Invalid {
                    message: e.message(),
                },
                Ok(creds) => match vault::store(&owner().await, &creds).await {
                    Ok(info) => {
                        CLIENT.with(|c| *c.borrow_mut() = None);
                        Reply::Credentials { info: Some(info) }
                    }
                    Err(e) => error_reply(e),
                },
            }
        }
        Request::ForgetCredentials => match vault::forget(&owner().await).await {
            Ok(()) => {
                CLIENT.with(|c| *c.borrow_mut() = None);
                Reply::Credentials { info: None }
            }
            Err(e) => error_reply(e),
        },
        Request::CredentialsInfo => match vault::info(&owner().await).await {
            Ok(info) => Reply::Credentials { info },
            Err(e) => error_reply(e),
        },
        Request::Check { target } => check(&target, &owner().await).await,
        Request::CreateTable { target } => {
            let table = target.table.clone();
            call(&target, &owner().await, |c| async move {
                dynamo::create_table(&c, &table).await
            })
            .await
        }
        Request::SignUp {
            cognito,
            email,
            password,
        } => match cognito::sign_up(&cognito, email.trim(), password.expose()).await {
            Ok(confirmed) => Reply::SignedUp { confirmed },
            Err(e) => auth_failed(e),
        },
        Request::ConfirmSignUp {
            cognito,
            email,
            code,
        } => match cognito::confirm(&cognito, email.trim(), code.expose()).await {
            Ok(()) => Reply::SignedUp { confirmed: true },
            Err(e) => auth_failed(e),
        },
        Request::SignIn {
            cognito,
            email,
            password,
        } => match cognito::sign_in(&cognito, email.trim(), password.expose()).await {
            Ok(session) => {
                // credentials pasted while signed out, just before signing in, are this
                // user's (not at a renewal: only a sign-in takes them)
                let _ = vault::claim_anonymous(&session.sub).await;
                remember(session).await
            }
            Err(e) => auth_failed(e),
        },
        Request::SignedIn { cognito } => match vault::load_session().await {
            Err(e) => error_reply(e),
            // sealed by an older version: its pool is the page's, if its token proves it
            Ok(Some(old)) if old.cognito.is_none() => {
                let session = vault::Session {
                    cognito: Some(cognito),
                    ..old
                };
                match identity::proven(&session).await {
                    Some(_) => remember(session).await,
                    None => Reply::Session { session: None },
                }
            }
            Ok(session) => Reply::Session {
                session: proven_info(session).await,
            },
        },
        // renewed with the pool that issued it (the page's settings may have changed)
        Request::RefreshSession { .. } => match vault::load_session().await {
            Err(e) => error_reply(e),
            Ok(None) => Reply::Session { session: None },
            Ok(Some(old)) => match (identity::proven(&old).await, old.cognito.clone()) {
                (Some(_), Some(cognito)) => match cognito::refresh(&cognito, &old).await {
                    Ok(session) => remember(session).await,
                    Err(AuthError::Unreachable) => Reply::Failed {
                        class: ErrorClass::NetworkUnreachable,
                        ms: 0.0,
                    },
                    Err(AuthError::NotAuthorized(_)) => {
                        // still who signed in here (local work goes on); no longer renewable
                        let _ = vault::store_session(&vault::Session { ended: true, ..old }).await;
                        Reply::SessionExpired {
                            message: cognito::SESSION_ENDED.to_string(),
                        }
                    }
                    Err(e) => auth_failed(e),
                },
                // a session that does not prove itself is no sign-in
                _ => Reply::Session { session: None },
            },
        },
        // the sign-in goes first: nothing more is served for the user while the rest goes
        Request::RemoveUserData { user } => {
            let session = vault::load_session().await.ok().flatten();
            if let Err(e) = vault::forget_session().await {
                return error_reply(e);
            }
            forget_proven();
            let mut entries = 0;
            for removed in [
                store::remove_user(&user).await,
                backup::remove_user(&user).await,
                engine::remove_user(&user).await,
                oplog::remove_user(&user).await,
                vault::forget(&user).await.map(|()| 0),
            ] {
                match removed {
                    Ok(n) => entries += n as u32,
                    Err(e) => {
                        return Reply::Error {
                            message: format!("signed out, but not everything could be removed ({e}): sign in again and remove again"),
                        }
                    }
                }
            }
            Reply::Removed {
                entries,
                not_revoked: revoke(session).await,
            }
        }
        Request::SignOut => {
            // signed out here whatever Cognito says; the refresh token revoked if it can be
            let session = vault::load_session().await.ok().flatten();
            match vault::forget_session().await {
                Err(e) => error_reply(e),
                Ok(()) => {
                    forget_proven();
                    Reply::SignedOut {
                        not_revoked: revoke(session).await,
                    }
                }
            }
        }
        Request::Enqueue {
            target,
            user,
            invoice_id,
            kind,
            parent,
        } => match migrated(&user, &target).await {
            Err(e) => error_reply(e),
            Ok(scope) => match store::add(&scope, &invoice_id, kind, parent).await {
                Ok(pending) => Reply::Queued {
                    pending: pending as u32,
                },
                Err(e) => error_reply(e),
            },
        },
        Request::Replay { target, user } => replay(&target, &user).await,
        Request::SetContext { context } => {
            let pending = match &context {
                Some(c) => match migrated(&c.user, &c.target).await {
                    Ok(scope) => store::pending(&scope).await.unwrap_or(0) as u32,
                    Err(_) => 0,
                },
                None => 0,
            };
            match engine::set_context(context, pending).await {
                Ok(()) => Reply::Queued { pending },
                Err(e) => error_reply(e),
            }
        }
        Request::ReplayAll => replay_all().await,
        Request::SetExportPlan { user, every, kept } => {
            match engine::set_export_plan(&engine::ExportPlan { user, every, kept }).await {
                Ok(()) => done(),
                Err(e) => error_reply(e),
            }
        }
        Request::Periodic => {
            let reply = replay_all().await;
            let at = js_sys::Date::now();
            let exported = match export_if_due().await {
                Ok(None) => None,
                Ok(Some((user, detail))) => Some((user, Reply::Ok { detail, ms: 0.0 })),
                Err((user, message)) => Some((user, Reply::Error { message })),
            };
            if let Some((mut user, outcome)) = exported {
                if user.is_empty() {
                    // whose plan it was could not be read: whoever is signed in sees it
                    user = owner().await;
                }
                let _ =
                    oplog::append(&entry(("background.export", user, None), &outcome, at)).await;
            }
            reply
        }
        Request::Inbox { target, user } => match engine::inbox(&scope(&user, &target)).await {
            Ok(items) => Reply::Inbox { items },
            Err(e) => error_reply(e),
        },
        Request::InboxDone { target, user, at } => {
            match engine::inbox_done(&scope(&user, &target), &at).await {
                Ok(()) => done(),
                Err(e) => error_reply(e),
            }
        }
        Request::Changed { target, user } => {
            let (client, worked, _) = match client_or_reply(&target, &user).await {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            let scope = scope(&user, &target);
            match dynamo::read_marker(&client, &target.table, &user).await {
                Ok(now) => Reply::Changed {
                    changed: SEEN.with(|s| s.borrow().get(&scope) != Some(&now)),
                },
                Err(f) => failed(&f, worked, 0.0),
            }
        }
        Request::Pull {
            target,
            user,
            local,
            damaged,
        } => {
            let (client, worked, _) = match client_or_reply(&target, &user).await {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            let table = target.table.clone();
            let scope = scope(&user, &target);
            let run = async move {
                // the change marker before the pull: a change made while it runs is seen
                // at the next check
                let marker = dynamo::read_marker(&client, &table, &user).await.ok();
                match ledgerline_cloud::pull::pull(&client, &table, &user, &scope, &local, &damaged)
                    .await
                {
                    Ok(p) => {
                        if let Some(m) = marker {
                            SEEN.with(|s| s.borrow_mut().insert(scope.clone(), m));
                        }
                        Reply::Pulled {
                            take: p.take,
                            conflicts: p.conflicts,
                            round_trips: p.round_trips,
                            upload: p.upload,
                            reuploaded: p.reuploaded,
                            review: p.review,
                            repaired: p.repaired,
                            damaged_remote: p.damaged_remote,
                            started_at: p.started_at,
                        }
                    }
                    Err(CloudError::Service(f)) => failed(&f, worked, 0.0),
                    Err(e) => error_reply(e),
                }
            };
            // the same lock as replays: a pull and a replay never interleave
            ledgerline_cloud::lock::exclusive("ledgerline-replay", run).await
        }
        Request::Conflicts { target, user } => {
            let scope = match migrated(&user, &target).await {
                Ok(s) => s,
                Err(e) => return error_reply(e),
            };
            match store::conflicts(&scope).await {
                Ok(items) => Reply::Conflicts { items },
                Err(e) => error_reply(e),
            }
        }
        Request::LeaseNumbers {
            target,
            user,
            floor,
            count,
        } => {
            let (client, worked, _) = match client_or_reply(&target, &user).await {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match dynamo::lease_numbers(&client, &target.table, &user, floor, count).await {
                Ok((start, end)) => Reply::Leased { start, end },
                Err(f) => failed(&f, worked, 0.0),
            }
        }
        Request::Records { target, user } => {
            let (client, worked, _) = match client_or_reply(&target, &user).await {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match dynamo::records(&client, &target.table, &user).await {
                Ok(items) => Reply::Records { items },
                Err(f) => failed(&f, worked, 0.0),
            }
        }
        Request::PutRecord {
            target,
            user,
            key,
            version,
            content,
            checksum,
            base,
            lineage,
        } => {
            let (client, worked, _) = match client_or_reply(&target, &user).await {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match dynamo::put_record(
                &client,
                &target.table,
                &user,
                &key,
                version,
                content.as_deref(),
                checksum.as_deref(),
                base.as_ref(),
                &lineage,
            )
            .await
            {
                Ok(true) => done(),
                Ok(false) => Reply::Stale,
                Err(f) => failed(&f, worked, 0.0),
            }
        }
        Request::Counts { target, user } => match migrated(&user, &target).await {
            Ok(scope) => counts(&scope, Ok(0)).await,
            Err(e) => error_reply(e),
        },
        // every scope of the user's starts `<user>|`: counted over all of them
        Request::UserCounts { user } => counts(&user, Ok(0)).await,
        Request::Ack {
            target,
            user,
            acks,
            pulled_at,
        } => match migrated(&user, &target).await {
            Ok(scope) => counts(&scope, store::ack(&scope, &acks, pulled_at).await).await,
            Err(e) => error_reply(e),
        },
        Request::KeepConflicts {
            target,
            user,
            items,
        } => match migrated(&user, &target).await {
            Ok(scope) => {
                let kept = store::keep_conflicts(&scope, items).await.map(|k| k.len());
                counts(&scope, kept).await
            }
            Err(e) => error_reply(e),
        },
        Request::DropConflict {
            target,
            user,
            invoice_id,
            at,
        } => match store::drop_conflict(&scope(&user, &target), &invoice_id, at).await {
            Ok(()) => done(),
            Err(e) => error_reply(e),
        },
        Request::Backup {
            user,
            reason,
            invoices,
            bundle,
            keep,
        } => match backup::add(&user, &reason, invoices, bundle, keep).await {
            Ok(()) => done(),
            Err(e) => error_reply(e),
        },
        Request::Backups { user } => match backup::list(&user).await {
            Ok(list) => Reply::Backups { list },
            Err(e) => error_reply(e),
        },
        Request::ReadBackup { user, at } => match backup::read(&user, at).await {
            Ok(Some(bundle)) => Reply::Backup { bundle },
            Ok(None) => Reply::Error {
                message: "that backup is no longer kept".into(),
            },
            Err(e) => error_reply(e),
        },
        // An entry without a user (the service worker's own, with no page to ask) belongs
        // to whoever this browser's sealed session proves, as every other log entry does.
        Request::Log { mut entry } => {
            if entry.user.is_empty() {
                entry.user = owner().await;
            }
            match oplog::append(&entry).await {
                Ok(()) => Reply::Ok {
                    detail: String::new(),
                    ms: 0.0,
                },
                Err(e) => error_reply(e),
            }
        }
        Request::ReadLog { user } => match oplog::read(&user).await {
            Ok(entries) => Reply::Log {
                rows: entries
                    .iter()
                    .rev()
                    .take(200)
                    .map(|e| {
                        vec![
                            String::from(
                                js_sys::Date::new(&JsValue::from_f64(e.at)).to_iso_string(),
                            ),
                            e.kind.clone(),
                            e.invoice_id.clone().unwrap_or_default(),
                            e.outcome.clone(),
                            format!("{}", e.ms.round() as i64),
                            // the class, with the service's own words where kept
                            match e.class {
                                Some(c) if e.detail.starts_with(c.label()) => e.detail.clone(),
                                Some(c) => c.label().to_string(),
                                None => e.detail.clone(),
                            },
                        ]
                    })
                    .collect(),
                json: serde_json::to_string(&entries).unwrap_or_default(),
            },
            Err(e) => error_reply(e),
        },
    }
}

/// The scope of (user, target), with state of older app versions moved under it first:
/// every request that reads or writes a user's sync state goes through here.
async fn migrated(user: &str, target: &Target) -> CloudResult<String> {
    let scope = scope(user, target);
    store::migrate_legacy(user, &scope).await?;
    Ok(scope)
}

/// The queue's length and the conflicts kept, after `step` (its error, if it failed).
async fn counts(scope: &str, step: CloudResult<usize>) -> Reply {
    if let Err(e) = step {
        return error_reply(e);
    }
    match (store::pending(scope).await, store::conflicts(scope).await) {
        (Ok(pending), Ok(c)) => Reply::Counts {
            pending: pending as u32,
            conflicts: c.len() as u32,
        },
        (Err(e), _) | (_, Err(e)) => error_reply(e),
    }
}

/// The reply for an engine error: a storage error as it is, an AWS failure classified.
fn error_reply(e: CloudError) -> Reply {
    match e {
        CloudError::Storage(message) => Reply::Error { message },
        CloudError::Service(f) => failed(&f, false, 0.0),
        CloudError::SignIn(message) => Reply::SessionExpired { message },
    }
}

fn done() -> Reply {
    Reply::Ok {
        detail: String::new(),
        ms: 0.0,
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

/// Revokes a forgotten session's refresh token with Cognito, waiting at most 5 s (the
/// sign-out is done already); why it could not be, if it could not.
async fn revoke(session: Option<vault::Session>) -> Option<String> {
    use futures_util::future::{select, Either};
    let s = session?;
    let c = s.cognito.clone()?;
    let asked = Box::pin(async move { cognito::revoke(&c, &s).await });
    match select(asked, gloo_timers::future::TimeoutFuture::new(5_000)).await {
        Either::Left((Ok(()), _)) => None,
        Either::Left((Err(e), _)) => Some(e.message()),
        Either::Right(_) => Some("Cognito did not answer within 5 s".into()),
    }
}

/// The page's view of a sealed session, if it proves itself.
async fn proven_info(session: Option<vault::Session>) -> Option<SessionInfo> {
    let s = session?;
    identity::proven(&s).await.map(|sub| SessionInfo {
        sub,
        email: s.email.clone(),
    })
}

/// What a request for another user than the one signed in here is told.
const NOT_SIGNED_IN: &str = "This browser is not signed in as this account (its sign-in is missing, ended or could not be checked): sign in again. Your invoices in this browser are untouched.";

thread_local! {
    /// Who the sealed session proved, and when it was read (it is read again after a
    /// second: a sign-out in another tab takes effect here at once, a burst of requests
    /// reads it once).
    static PROVEN: RefCell<Option<(f64, Option<String>)>> = const { RefCell::new(None) };
    /// Bumped at every sign-in and sign-out here: an answer read before it is not kept.
    static SESSION_GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

async fn proven_user() -> Option<String> {
    let now = js_sys::Date::now();
    if let Some((_, who)) = PROVEN
        .with(|p| p.borrow().clone())
        .filter(|(at, _)| now - at < 1000.0)
    {
        return who;
    }
    let generation = SESSION_GENERATION.with(|g| g.get());
    let who = identity::signed_in().await;
    if SESSION_GENERATION.with(|g| g.get()) == generation {
        PROVEN.with(|p| *p.borrow_mut() = Some((now, who.clone())));
    }
    who
}

fn forget_proven() {
    SESSION_GENERATION.with(|g| g.set(g.get() + 1));
    PROVEN.with(|p| *p.borrow_mut() = None);
    POOL_CREDS.with(|p| *p.borrow_mut() = None);
}

/// Refuses a request for data that is not the signed-in user's: the user comes from the
/// sealed session, whatever the page says; anonymous data is served, never DynamoDB.
async fn guard(req: &Request) -> Option<Reply> {
    let user = req.user()?;
    let refused = Some(Reply::SessionExpired {
        message: NOT_SIGNED_IN.to_string(),
    });
    if user == ledgerline_core::store::ANONYMOUS {
        return if req.reaches_dynamo() { refused } else { None };
    }
    if proven_user().await.as_deref() == Some(user) {
        None
    } else {
        refused
    }
}

async fn remember(session: vault::Session) -> Reply {
    let info = SessionInfo {
        sub: session.sub.clone(),
        email: session.email.clone(),
    };
    let stored = vault::store_session(&session).await;
    forget_proven();
    match stored {
        Ok(()) => Reply::Session {
            session: Some(info),
        },
        Err(e) => error_reply(e),
    }
}

/// Sends the queue. Only one replay runs at a time in this worker; the Web Lock
/// `ledgerline-replay` keeps other tabs' workers (and later the service worker) out.
async fn replay(target: &Target, user: &str) -> Reply {
    let table = target.table.clone();
    let user = user.to_string();
    let scope = scope(&user, target);
    let target = target.clone();
    let run = async move {
        // the client inside the lock: credentials saved while it waited are the ones used
        let (client, worked, generation) = match client_or_reply(&target, &user).await {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        if let Err(e) = store::migrate_legacy(&user, &scope).await {
            return error_reply(e);
        }
        // credentials AWS refused (here or in another worker): nothing is sent with them
        if let Ok(Some(class)) = vault::refused(&generation.owner).await {
            return match store::pending(&scope).await {
                Ok(pending) => Reply::Replayed {
                    sent: 0,
                    pending: pending as u32,
                    conflicts: Vec::new(),
                    take: Vec::new(),
                    failed: Some(class),
                    refused: Vec::new(),
                },
                Err(e) => error_reply(e),
            };
        }
        match replayer::replay(&client, &table, &user, &scope, worked).await {
            Ok(r) => {
                if let Some(class) = r.failed {
                    let _ = vault::mark_refused(class, &generation).await;
                }
                if r.sent > 0 {
                    let _ = vault::mark_worked(&generation).await;
                    // other devices learn of it at their next check; this one knows the
                    // marker it wrote only if nobody else wrote one since it last looked
                    let seen = SEEN.with(|s| s.borrow().get(&scope).cloned());
                    if let Ok((token, followed)) =
                        dynamo::bump_marker(&client, &table, &user, seen.as_ref()).await
                    {
                        SEEN.with(|s| {
                            if followed {
                                s.borrow_mut().insert(scope.clone(), Some(token));
                            }
                        });
                    }
                }
                LAST_DETAIL.with(|d| *d.borrow_mut() = r.detail.clone());
                Reply::Replayed {
                    sent: r.sent as u32,
                    pending: r.pending as u32,
                    conflicts: r.conflicts,
                    take: r.take,
                    failed: r.failed,
                    refused: r.refused,
                }
            }
            Err(e) => error_reply(e),
        }
    };
    ledgerline_cloud::lock::exclusive("ledgerline-replay", run).await
}

/// The service worker's job (its `sync` and `periodicsync` events): sends the queue of
/// the (user, target) the page last set, under the same lock as every tab's replay. What
/// DynamoDB sent back goes to the inbox (no page may be open to store it) and every open
/// tab is told. Logged as `background.replay`.
async fn replay_all() -> Reply {
    let idle = Reply::Job {
        outcome: JobOutcome::Idle,
        sent: 0,
        pending: 0,
    };
    let ctx = match engine::context().await {
        Ok(Some(c)) => c,
        Ok(None) => return idle,
        Err(e) => return error_reply(e),
    };
    let scope = scope(&ctx.user, &ctx.target);
    let at = js_sys::Date::now();
    // nothing queued: no request at all
    let waiting = match migrated(&ctx.user, &ctx.target).await {
        Ok(_) => store::pending(&scope).await,
        Err(message) => Err(message),
    };
    match waiting {
        Ok(0) => return idle,
        Ok(_) => {}
        Err(e) => return error_reply(e),
    }
    // only for the user the sealed session proves (the context is the page's word)
    let checked = if proven_user().await.as_deref() != Some(ctx.user.as_str()) {
        Reply::SessionExpired {
            message: NOT_SIGNED_IN.to_string(),
        }
    } else {
        // a check first, as a page does: with DynamoDB unreachable the queue is left
        // exactly as it is (a replay would mark its first batch as possibly sent)
        check(&ctx.target, &ctx.user).await
    };
    let reply = if matches!(checked, Reply::Ok { .. }) {
        replay(&ctx.target, &ctx.user).await
    } else {
        checked
    };
    if let Reply::Replayed {
        take, conflicts, ..
    } = &reply
    {
        // not kept (storage failing): nothing is lost, DynamoDB's versions are not
        // acknowledged here, so the next pull brings them again
        if !take.is_empty()
            && engine::inbox_add(&scope, take.clone(), conflicts.len() as u32)
                .await
                .is_ok()
        {
            broadcast(&ledgerline_core::protocol::SyncInbox {
                inbox: scope.clone(),
            });
        }
    }
    let (outcome, sent, mut pending) = ledgerline_core::sync::job::of_replay(&reply);
    if !matches!(reply, Reply::Replayed { .. }) {
        pending = store::pending(&scope).await.unwrap_or(0) as u32;
    }
    // nothing is logged under a user not signed in here
    if !matches!(reply, Reply::SessionExpired { .. }) {
        let _ = oplog::append(&entry(
            ("background.replay", ctx.user.clone(), None),
            &reply,
            at,
        ))
        .await;
    }
    if !matches!(outcome, JobOutcome::Idle) {
        tell_counts(scope).await;
    }
    Reply::Job {
        outcome,
        sent,
        pending,
    }
}

/// The service worker's automatic export (R7.3), when one is due for the user of the
/// moment: the latest copy the page keeps with every save, kept as an automatic export
/// (the newest N kept). Ok(Some((user, what was exported))), Ok(None) when none is due
/// or there is nothing worth exporting.
async fn export_if_due() -> Result<Option<(String, String)>, (String, String)> {
    use ledgerline_core::backups::{
        due, last_automatic, worth_exporting, Kept, AUTOMATIC_SW, LATEST,
    };
    let Some(plan) = engine::export_plan()
        .await
        .map_err(|e| (String::new(), e.to_string()))?
    else {
        return Ok(None);
    };
    let user = plan.user.clone();
    let fail = |e: CloudError| (user.clone(), e.to_string());
    let list = backup::list(&plan.user).await.map_err(fail)?;
    let kept: Vec<Kept> = list
        .iter()
        .map(|b| Kept {
            at: b.at,
            reason: &b.reason,
        })
        .collect();
    if !due(plan.every, last_automatic(&kept), js_sys::Date::now()) {
        return Ok(None);
    }
    // newest first: the copy as of the last save
    let Some(latest) = list.iter().find(|b| b.reason == LATEST) else {
        return Ok(None);
    };
    let Some(bundle) = backup::read(&plan.user, latest.at).await.map_err(fail)? else {
        return Ok(None);
    };
    let worth = ledgerline_core::exchange::plan_import(
        &bundle,
        &ledgerline_core::store::Snapshot::default(),
    )
    .map(|p| worth_exporting(&p.merged))
    .unwrap_or(false);
    if !worth {
        return Ok(None);
    }
    let bytes = bundle.len();
    backup::add(&plan.user, AUTOMATIC_SW, latest.invoices, bundle, plan.kept)
        .await
        .map_err(fail)?;
    Ok(Some((
        user,
        format!("{} invoices, {bytes} bytes", latest.invoices),
    )))
}

/// What to log about a request: kind, user, invoice (None: not an operation to log). The
/// user is empty for what concerns no user's data (credentials, checks, sign-in): it is
/// logged under whoever is signed in.
fn describe(req: &Request) -> Option<(&'static str, String, Option<String>)> {
    let global = |kind| Some((kind, String::new(), None));
    match req {
        Request::SaveCredentials { .. } => global("credentials.save"),
        Request::ForgetCredentials => global("credentials.forget"),
        Request::Check { .. } => global("remote.check"),
        Request::CreateTable { .. } => global("remote.createTable"),
        Request::SignUp { .. } => global("auth.signUp"),
        Request::ConfirmSignUp { .. } => global("auth.confirm"),
        Request::SignIn { .. } => global("auth.signIn"),
        Request::RefreshSession { .. } => global("auth.refresh"),
        Request::SignOut => global("auth.signOut"),
        Request::Enqueue {
            user, invoice_id, ..
        } => Some(("queue.add", user.clone(), Some(invoice_id.clone()))),
        Request::Replay { user, .. } => Some(("remote.replay", user.clone(), None)),
        Request::Changed { user, .. } => Some(("remote.changed", user.clone(), None)),
        Request::LeaseNumbers { user, .. } => Some(("remote.leaseNumbers", user.clone(), None)),
        Request::Records { user, .. } => Some(("remote.records", user.clone(), None)),
        Request::PutRecord { user, key, .. } => {
            Some(("remote.putRecord", user.clone(), Some(key.clone())))
        }
        Request::Pull { user, .. } => Some(("remote.pull", user.clone(), None)),
        Request::DropConflict {
            user, invoice_id, ..
        } => Some(("conflict.resolve", user.clone(), Some(invoice_id.clone()))),
        Request::Ack { user, acks, .. } => Some((
            "sync.ack",
            user.clone(),
            (acks.len() == 1).then(|| acks[0].invoice_id.clone()),
        )),
        Request::KeepConflicts { user, items, .. } => Some((
            "conflict.keep",
            user.clone(),
            (items.len() == 1).then(|| items[0].invoice_id.clone()),
        )),
        Request::Backup { user, .. } => Some(("local.backup", user.clone(), None)),
        Request::ReadBackup { user, .. } => Some(("local.readBackup", user.clone(), None)),
        Request::InboxDone { user, .. } => Some(("sync.inboxDone", user.clone(), None)),
        Request::CredentialsInfo
        | Request::SetContext { .. }
        | Request::SetExportPlan { .. }
        | Request::Periodic
        | Request::ReplayAll
        | Request::Inbox { .. }
        | Request::Log { .. }
        | Request::ReadLog { .. }
        | Request::Conflicts { .. }
        | Request::Counts { .. }
        | Request::UserCounts { .. }
        | Request::Backups { .. }
        | Request::SignedIn { .. }
        | Request::RemoveUserData { .. } => None,
    }
}

/// The log entry for a finished operation: outcome, class and a detail that never holds
/// secrets (messages name fields, never their values; keys are masked).
fn entry(what: (&'static str, String, Option<String>), reply: &Reply, at: f64) -> LogEntry {
    let (kind, user, invoice_id) = what;
    let (outcome, class, detail) = match reply {
        Reply::Ok { detail, .. } => ("ok", None, detail.clone()),
        Reply::Failed { class, .. } => (
            "failed",
            Some(*class),
            match LAST_DETAIL.with(|d| d.borrow_mut().take()) {
                Some(m) => format!("{}: {m}", class.label()),
                None => class.label().to_string(),
            },
        ),
        Reply::NoCredentials => ("failed", None, "no credentials stored".to_string()),
        Reply::Records { items } => ("ok", None, format!("{} records", items.len())),
        Reply::Changed { changed } => (
            "ok",
            None,
            if *changed {
                "changed elsewhere".to_string()
            } else {
                "unchanged".to_string()
            },
        ),
        Reply::Stale => ("refused", None, "changed in DynamoDB since".to_string()),
        Reply::Leased { start, end } => (
            "ok",
            None,
            format!("numbers {start} to {}", end.saturating_sub(1)),
        ),
        Reply::Invalid { message } => ("refused", None, message.clone()),
        Reply::Error { message } => ("failed", None, message.clone()),
        Reply::SessionExpired { .. } => ("failed", None, "session expired".to_string()),
        Reply::Credentials { info } => (
            "ok",
            None,
            info.as_ref()
                .map(|i| format!("key {}", i.masked_key_id))
                .unwrap_or_default(),
        ),
        Reply::Session { session } => (
            "ok",
            None,
            if session.is_some() {
                "signed in".into()
            } else {
                "signed out".into()
            },
        ),
        Reply::SignedOut { not_revoked } => (
            "ok",
            None,
            match not_revoked {
                None => "signed out, refresh token revoked".to_string(),
                Some(why) => format!("signed out; refresh token not revoked: {why}"),
            },
        ),
        Reply::SignedUp { confirmed } => (
            "ok",
            None,
            if *confirmed {
                "confirmed".into()
            } else {
                "code sent".into()
            },
        ),
        Reply::Job {
            outcome,
            sent,
            pending,
        } => (
            "ok",
            None,
            format!("{outcome:?}: {sent} sent, {pending} pending"),
        ),
        Reply::Log { .. }
        | Reply::Removed { .. }
        | Reply::Inbox { .. }
        | Reply::Conflicts { .. }
        | Reply::Backups { .. }
        | Reply::Backup { .. } => ("ok", None, String::new()),
        Reply::Queued { pending } => ("ok", None, format!("{pending} pending")),
        Reply::Pulled {
            take,
            conflicts,
            round_trips,
            upload,
            reuploaded,
            ..
        } => (
            "ok",
            None,
            format!(
                "{} to store, {} removed there, {} to upload ({reuploaded} missing there), {} conflicts, {round_trips} round trips",
                take.iter().filter(|t| t.remote.is_some()).count(),
                take.iter().filter(|t| t.remote.is_none()).count(),
                upload.len(),
                conflicts.len()
            ),
        ),
        Reply::Counts { pending, conflicts } => (
            "ok",
            None,
            format!("{pending} pending, {conflicts} conflicts"),
        ),
        Reply::Replayed {
            sent,
            pending,
            conflicts,
            failed,
            ..
        } => {
            let counts = format!(
                "{sent} sent, {pending} pending, {} conflicts",
                conflicts.len()
            );
            // what stopped it first, in the service's words (as for a failed check)
            let detail = match (failed, LAST_DETAIL.with(|d| d.borrow_mut().take())) {
                (Some(class), Some(m)) => format!("{}: {m}; {counts}", class.label()),
                _ => counts,
            };
            (
                if failed.is_some() { "failed" } else { "ok" },
                *failed,
                detail,
            )
        }
    };
    LogEntry {
        at,
        user,
        kind: kind.to_string(),
        invoice_id,
        outcome: outcome.to_string(),
        ms: js_sys::Date::now() - at,
        class,
        detail,
    }
}

/// The (user, target) whose queue or conflicts `req` may change.
fn touches(req: &Request) -> Option<(String, Target)> {
    match req {
        Request::Enqueue { target, user, .. }
        | Request::Replay { target, user }
        | Request::Pull { target, user, .. }
        | Request::Ack { target, user, .. }
        | Request::KeepConflicts { target, user, .. }
        | Request::DropConflict { target, user, .. } => Some((user.clone(), target.clone())),
        _ => None,
    }
}

/// Tells every tab (BroadcastChannel `ledgerline-sync`) how many changes wait and
/// conflicts are kept in `scope` now: each tab shows them, online or not.
async fn tell_counts(scope: String) {
    let Reply::Counts { pending, conflicts } = counts(&scope, Ok(0)).await else {
        return;
    };
    // the service worker's loader reads it to decide whether a start needs a replay
    let _ = engine::note_pending(&scope, pending).await;
    broadcast(&ledgerline_core::protocol::SyncCounts {
        scope,
        pending,
        conflicts,
    });
}

/// Tells every tab (BroadcastChannel `ledgerline-sync`).
fn broadcast(msg: &impl serde::Serialize) {
    if let (Ok(channel), Ok(text)) = (
        web_sys::BroadcastChannel::new("ledgerline-sync"),
        serde_json::to_string(msg),
    ) {
        let _ = channel.post_message(&JsValue::from_str(&text));
        channel.close();
    }
}

/// One request (JSON `Envelope<Request>`) in, one reply (JSON `Envelope<Reply>`) out.
#[wasm_bindgen]
pub fn handle(message: String) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let reply = match serde_json::from_str::<Envelope<Request>>(&message) {
            Ok(env) => {
                if let Some(refused) = guard(&env.body).await {
                    // nothing done, and nothing logged under a user not signed in here
                    return Ok(JsValue::from_str(
                        &serde_json::to_string(&Envelope {
                            id: env.id,
                            body: refused,
                        })
                        .unwrap_or_default(),
                    ));
                }
                let mut what = describe(&env.body);
                if let Some((_, user, _)) = what.as_mut().filter(|w| w.1.is_empty()) {
                    // the log is per user: what is not about one user's data is logged
                    // under whoever is signed in here (or anonymous)
                    *user = owner().await;
                }
                let touched = touches(&env.body);
                let at = js_sys::Date::now();
                let body = dispatch(env.body).await;
                if let (Some((kind, user, _)), Reply::Session { session: Some(s) }) =
                    (what.as_mut(), &body)
                {
                    // a sign-in is the signed-in user's
                    if *kind == "auth.signIn" {
                        *user = s.sub.clone();
                    }
                }
                if let Some((user, target)) = touched {
                    // after the reply, not before it: the caller waits for nothing more
                    wasm_bindgen_futures::spawn_local(tell_counts(scope(&user, &target)));
                }
                if let Some(what) = what {
                    // a log that cannot be written must not fail the operation itself
                    let _ = oplog::append(&entry(what, &body, at)).await;
                }
                Envelope { id: env.id, body }
            }
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
