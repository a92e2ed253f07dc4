//! The page's calls to the cloud worker, typed: one function per request, each returning
//! what that request answers or a [`CallError`]. Pages and the sync code call these and
//! never match on the protocol's whole `Reply` enum (`crate::cloud::call` carries it).

use crate::cloud::call;
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::protocol::{
    BackupInfo, CredentialsInfo, InboxItem, Reply, Request, SessionInfo, SyncContext, Target,
};
use ledgerline_core::sync::Conflict;

/// Why a call did not give what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// AWS answered with (or could not be reached for) a failure of this class.
    Failed(ErrorClass),
    /// No AWS credentials are stored.
    NoCredentials,
    /// The input was refused; the message says why, for the user.
    Invalid(String),
    /// The sign-in ended (refresh token expired or revoked).
    SessionExpired(String),
    /// The worker could not do it (browser storage failed, or it answered something
    /// this call does not expect).
    Worker(String),
}

impl CallError {
    /// For the user: what happened, in words.
    pub fn message(&self) -> String {
        match self {
            CallError::Failed(c) => format!("{} {}", c.message(), c.action()),
            CallError::NoCredentials => "No AWS credentials are stored yet.".to_string(),
            CallError::Invalid(m) | CallError::SessionExpired(m) | CallError::Worker(m) => {
                m.clone()
            }
        }
    }
}

pub type Answer<T> = Result<T, CallError>;

/// The error a reply stands for (any reply the call does not expect is a worker error).
fn error_of(reply: Reply) -> CallError {
    match reply {
        Reply::Failed { class, .. } => CallError::Failed(class),
        Reply::NoCredentials => CallError::NoCredentials,
        Reply::Invalid { message } => CallError::Invalid(message),
        Reply::SessionExpired { message } => CallError::SessionExpired(message),
        Reply::Error { message } => CallError::Worker(message),
        _ => CallError::Worker("the cloud worker gave an unexpected answer".to_string()),
    }
}

/// Calls `request` and keeps what `pick` finds in the reply.
async fn ask<T>(request: Request, pick: impl FnOnce(Reply) -> Result<T, Reply>) -> Answer<T> {
    pick(call(request).await).map_err(error_of)
}

/// One DynamoDB call's success: (detail, milliseconds).
fn ok(r: Reply) -> Result<(String, f64), Reply> {
    match r {
        Reply::Ok { detail, ms } => Ok((detail, ms)),
        other => Err(other),
    }
}

fn counts(r: Reply) -> Result<(u32, u32), Reply> {
    match r {
        Reply::Counts { pending, conflicts } => Ok((pending, conflicts)),
        other => Err(other),
    }
}

fn backups_of(r: Reply) -> Result<Vec<BackupInfo>, Reply> {
    match r {
        Reply::Backups { list } => Ok(list),
        other => Err(other),
    }
}

fn credentials_of(r: Reply) -> Result<Option<CredentialsInfo>, Reply> {
    match r {
        Reply::Credentials { info } => Ok(info),
        other => Err(other),
    }
}

fn session_of(r: Reply) -> Result<Option<SessionInfo>, Reply> {
    match r {
        Reply::Session { session } => Ok(session),
        other => Err(other),
    }
}

/// A connection check (DescribeTable): the table's status and the time it took.
pub async fn check(target: &Target) -> Answer<(String, f64)> {
    ask(
        Request::Check {
            target: target.clone(),
        },
        ok,
    )
    .await
}

/// Creates the table: its status and the time it took.
pub async fn create_table(target: &Target) -> Answer<(String, f64)> {
    ask(
        Request::CreateTable {
            target: target.clone(),
        },
        ok,
    )
    .await
}

/// Stores credentials (a pasted block, or the three fields) in the vault.
pub async fn save_credentials(
    block: String,
    key_id: String,
    secret: String,
    token: String,
) -> Answer<Option<CredentialsInfo>> {
    ask(
        Request::SaveCredentials {
            block: block.into(),
            key_id: key_id.into(),
            secret: secret.into(),
            token: token.into(),
        },
        credentials_of,
    )
    .await
}

pub async fn forget_credentials() -> Answer<()> {
    ask(Request::ForgetCredentials, credentials_of)
        .await
        .map(|_| ())
}

/// What is stored (masked), if anything.
pub async fn credentials_info() -> Answer<Option<CredentialsInfo>> {
    ask(Request::CredentialsInfo, credentials_of).await
}

/// What a sign-up, its confirmation or a sign-in came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    SignedIn(SessionInfo),
    /// The account exists; `confirmed` false: a code was sent to confirm it.
    SignedUp {
        confirmed: bool,
    },
}

/// Signs up, confirms or signs in (`request` is one of those three).
pub async fn authenticate(request: Request) -> Answer<Auth> {
    ask(request, |r| match r {
        Reply::Session { session: Some(s) } => Ok(Auth::SignedIn(s)),
        Reply::SignedUp { confirmed } => Ok(Auth::SignedUp { confirmed }),
        other => Err(other),
    })
    .await
}

/// Signs out here: Ok(None) once Cognito revoked the refresh token too, Ok(Some(why))
/// when it could not be told (the sign-in here is gone all the same).
pub async fn sign_out() -> Answer<Option<String>> {
    ask(Request::SignOut, |r| match r {
        Reply::SignedOut { not_revoked } => Ok(not_revoked),
        other => Err(other),
    })
    .await
}

/// Renews the Cognito session (Ok(None): nobody signed in).
/// Signs `user` out and forgets everything of theirs in the worker's IndexedDB stores:
/// how many entries went, and why the refresh token could not be revoked (if it could not).
pub async fn remove_user_data(user: &str) -> Answer<(u32, Option<String>)> {
    ask(
        Request::RemoveUserData {
            user: user.to_string(),
        },
        |r| match r {
            Reply::Removed {
                entries,
                not_revoked,
            } => Ok((entries, not_revoked)),
            other => Err(other),
        },
    )
    .await
}

/// Who is signed in, as the worker's sealed session proves it (None: nobody).
pub async fn signed_in(
    cognito: ledgerline_core::protocol::CognitoConfig,
) -> Answer<Option<SessionInfo>> {
    ask(Request::SignedIn { cognito }, session_of).await
}

pub async fn refresh_session(
    cognito: ledgerline_core::protocol::CognitoConfig,
) -> Answer<Option<SessionInfo>> {
    ask(Request::RefreshSession { cognito }, session_of).await
}

/// How many changes wait and conflicts are kept (pending, conflicts).
pub async fn counts_of(target: &Target, user: &str) -> Answer<(u32, u32)> {
    ask(
        Request::Counts {
            target: target.clone(),
            user: user.to_string(),
        },
        counts,
    )
    .await
}

/// How many changes wait and conflicts are kept for `user` over every table.
pub async fn user_counts(user: &str) -> Answer<(u32, u32)> {
    ask(
        Request::UserCounts {
            user: user.to_string(),
        },
        counts,
    )
    .await
}

/// Keeps local versions for review; answers the counts after.
pub async fn keep_conflicts(
    target: &Target,
    user: &str,
    items: Vec<Conflict>,
) -> Answer<(u32, u32)> {
    ask(
        Request::KeepConflicts {
            target: target.clone(),
            user: user.to_string(),
            items,
        },
        counts,
    )
    .await
}

/// The local versions set aside when DynamoDB's won.
pub async fn conflicts(target: &Target, user: &str) -> Answer<Vec<Conflict>> {
    ask(
        Request::Conflicts {
            target: target.clone(),
            user: user.to_string(),
        },
        |r| match r {
            Reply::Conflicts { items } => Ok(items),
            other => Err(other),
        },
    )
    .await
}

/// The user decided about one conflict (`at`: which of the invoice's).
pub async fn drop_conflict(target: &Target, user: &str, invoice_id: &str, at: u64) -> Answer<()> {
    ask(
        Request::DropConflict {
            target: target.clone(),
            user: user.to_string(),
            invoice_id: invoice_id.to_string(),
            at,
        },
        ok,
    )
    .await
    .map(|_| ())
}

/// Keeps an export bundle in IndexedDB (the newest `keep` of its kind stay).
pub async fn keep_backup(
    user: &str,
    reason: &str,
    invoices: u32,
    bundle: String,
    keep: u32,
) -> Answer<()> {
    ask(
        Request::Backup {
            user: user.to_string(),
            reason: reason.to_string(),
            invoices,
            bundle,
            keep,
        },
        ok,
    )
    .await
    .map(|_| ())
}

/// The user's backups and exports, newest first, without their content.
pub async fn backups(user: &str) -> Answer<Vec<BackupInfo>> {
    ask(
        Request::Backups {
            user: user.to_string(),
        },
        backups_of,
    )
    .await
}

/// The bundle of the copy kept at `at`.
pub async fn read_backup(user: &str, at: f64) -> Answer<String> {
    ask(
        Request::ReadBackup {
            user: user.to_string(),
            at,
        },
        |r| match r {
            Reply::Backup { bundle } => Ok(bundle),
            other => Err(other),
        },
    )
    .await
}

/// The storage log of `user`: table rows, and the whole of it as JSON.
pub async fn read_log(user: &str) -> Answer<(Vec<Vec<String>>, String)> {
    ask(
        Request::ReadLog {
            user: user.to_string(),
        },
        |r| match r {
            Reply::Log { rows, json } => Ok((rows, json)),
            other => Err(other),
        },
    )
    .await
}

/// Appends one entry to the storage log.
pub async fn log(entry: ledgerline_core::protocol::LogEntry) -> Answer<()> {
    ask(Request::Log { entry }, ok).await.map(|_| ())
}

/// Whom this page syncs for (None: nobody signed in); answers how many changes wait for
/// that user.
pub async fn set_context(context: Option<SyncContext>) -> Answer<u32> {
    ask(Request::SetContext { context }, |r| match r {
        Reply::Queued { pending } => Ok(pending),
        other => Err(other),
    })
    .await
}

/// How often the user of the moment wants automatic exports (for the service worker).
pub async fn set_export_plan(
    user: &str,
    every: ledgerline_core::backups::Every,
    kept: u32,
) -> Answer<()> {
    ask(
        Request::SetExportPlan {
            user: user.to_string(),
            every,
            kept,
        },
        ok,
    )
    .await
    .map(|_| ())
}

/// What the service worker learned for `user` on `target`, not stored here yet.
pub async fn inbox(target: &Target, user: &str) -> Answer<Vec<InboxItem>> {
    ask(
        Request::Inbox {
            target: target.clone(),
            user: user.to_string(),
        },
        |r| match r {
            Reply::Inbox { items } => Ok(items),
            other => Err(other),
        },
    )
    .await
}

/// These inbox entries are stored and acknowledged.
pub async fn inbox_done(target: &Target, user: &str, at: Vec<f64>) -> Answer<()> {
    ask(
        Request::InboxDone {
            target: target.clone(),
            user: user.to_string(),
            at,
        },
        ok,
    )
    .await
    .map(|_| ())
}

/// Queues a change of one invoice; answers the queue's length.
pub async fn enqueue(
    target: &Target,
    user: &str,
    invoice_id: &str,
    kind: ledgerline_core::sync::OpKind,
    parent: Option<(u64, String)>,
) -> Answer<u32> {
    ask(
        Request::Enqueue {
            target: target.clone(),
            user: user.to_string(),
            invoice_id: invoice_id.to_string(),
            kind,
            parent,
        },
        |r| match r {
            Reply::Queued { pending } => Ok(pending),
            other => Err(other),
        },
    )
    .await
}

/// What one replay did (`Reply::Replayed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub sent: u32,
    pub pending: u32,
    pub conflicts: Vec<Conflict>,
    pub take: Vec<ledgerline_core::protocol::Take>,
    pub failed: Option<ErrorClass>,
    pub refused: Vec<String>,
}

/// Sends what is queued for `user`.
pub async fn replay(target: &Target, user: &str) -> Answer<Replayed> {
    ask(
        Request::Replay {
            target: target.clone(),
            user: user.to_string(),
        },
        |r| match r {
            Reply::Replayed {
                sent,
                pending,
                conflicts,
                take,
                failed,
                refused,
            } => Ok(Replayed {
                sent,
                pending,
                conflicts,
                take,
                failed,
                refused,
            }),
            other => Err(other),
        },
    )
    .await
}

/// What one pull brought (`Reply::Pulled`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    pub take: Vec<ledgerline_core::protocol::Take>,
    pub conflicts: Vec<Conflict>,
    pub upload: Vec<String>,
    pub reuploaded: u32,
    pub review: Vec<String>,
    pub repaired: Vec<String>,
    pub damaged_remote: Vec<(String, u64)>,
    pub started_at: f64,
}

/// Brings DynamoDB's changes of `user`'s partition (`local`: every invoice here).
pub async fn pull(
    target: &Target,
    user: &str,
    local: Vec<(String, u64, String)>,
    damaged: Vec<String>,
) -> Answer<Pulled> {
    ask(
        Request::Pull {
            target: target.clone(),
            user: user.to_string(),
            local,
            damaged,
        },
        |r| match r {
            Reply::Pulled {
                take,
                conflicts,
                upload,
                reuploaded,
                review,
                repaired,
                damaged_remote,
                started_at,
                ..
            } => Ok(Pulled {
                take,
                conflicts,
                upload,
                reuploaded,
                review,
                repaired,
                damaged_remote,
                started_at,
            }),
            other => Err(other),
        },
    )
    .await
}

/// localStorage holds DynamoDB's versions of these invoices: mark them synced. Answers
/// the counts after (pending, conflicts).
pub async fn ack(
    target: &Target,
    user: &str,
    acks: Vec<ledgerline_core::sync::Ack>,
    pulled_at: Option<f64>,
) -> Answer<(u32, u32)> {
    ask(
        Request::Ack {
            target: target.clone(),
            user: user.to_string(),
            acks,
            pulled_at,
        },
        counts,
    )
    .await
}

/// Every client and profile record of the user in DynamoDB.
pub async fn records(
    target: &Target,
    user: &str,
) -> Answer<Vec<ledgerline_core::sync::records::RemoteRecord>> {
    ask(
        Request::Records {
            target: target.clone(),
            user: user.to_string(),
        },
        |r| match r {
            Reply::Records { items } => Ok(items),
            other => Err(other),
        },
    )
    .await
}

/// What a conditional write of a record came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// DynamoDB changed since the base: decide again.
    Stale,
}

/// Writes one record (`content` None: a tombstone) as `version`, conditional on `base`.
#[allow(clippy::too_many_arguments)]
pub async fn put_record(
    target: &Target,
    user: &str,
    key: &str,
    version: u64,
    content: Option<String>,
    checksum: Option<String>,
    base: Option<ledgerline_core::sync::records::Mark>,
    lineage: Vec<ledgerline_core::sync::records::Mark>,
) -> Answer<Written> {
    ask(
        Request::PutRecord {
            target: target.clone(),
            user: user.to_string(),
            key: key.to_string(),
            version,
            content,
            checksum,
            base,
            lineage,
        },
        |r| match r {
            Reply::Ok { .. } => Ok(Written::Done),
            Reply::Stale => Ok(Written::Stale),
            other => Err(other),
        },
    )
    .await
}

/// A block of invoice numbers `[start, end)` for this device, from no lower than `floor`.
pub async fn lease_numbers(
    target: &Target,
    user: &str,
    floor: u64,
    count: u64,
) -> Answer<(u64, u64)> {
    ask(
        Request::LeaseNumbers {
            target: target.clone(),
            user: user.to_string(),
            floor,
            count,
        },
        |r| match r {
            Reply::Leased { start, end } => Ok((start, end)),
            other => Err(other),
        },
    )
    .await
}

/// Whether another device changed `user`'s invoices since this worker's last pull.
pub async fn changed(target: &Target, user: &str) -> Answer<bool> {
    ask(
        Request::Changed {
            target: target.clone(),
            user: user.to_string(),
        },
        |r| match r {
            Reply::Changed { changed } => Ok(changed),
            other => Err(other),
        },
    )
    .await
}
