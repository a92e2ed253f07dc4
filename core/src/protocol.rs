//! Messages between the page and the cloud worker (JSON over `postMessage`). The page
//! never holds AWS credentials after handing them over; replies never carry them.

use crate::credentials::Secret;
use crate::errors::ErrorClass;
use serde::{Deserialize, Serialize};

/// Where the DynamoDB table is (not secret; kept in localStorage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    pub region: String,
    /// Blank = AWS itself.
    pub endpoint: String,
    pub table: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            region: "us-east-1".into(),
            endpoint: String::new(),
            table: "ledgerline-invoices".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// externally tagged: the lightest serde code for the page to carry
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// Store credentials (a pasted block, or the three fields) in the vault. Every field
    /// is a [`Secret`] (a secret may be pasted into any of them): `Debug` never prints
    /// one.
    SaveCredentials {
        block: Secret,
        key_id: Secret,
        secret: Secret,
        token: Secret,
    },
    ForgetCredentials,
    /// What is stored (masked), if anything.
    CredentialsInfo,
    /// A cheap call on the table (DescribeTable).
    Check {
        target: Target,
    },
    /// Create the table (partition key userId, sort key invoiceId).
    CreateTable {
        target: Target,
    },
    /// Create an account in the Cognito user pool.
    SignUp {
        cognito: CognitoConfig,
        email: String,
        password: Secret,
    },
    ConfirmSignUp {
        cognito: CognitoConfig,
        email: String,
        code: Secret,
    },
    SignIn {
        cognito: CognitoConfig,
        email: String,
        password: Secret,
    },
    /// Renew the session's tokens with its refresh token.
    RefreshSession {
        cognito: CognitoConfig,
    },
    /// Who is signed in, as the sealed session proves it (no network needed): answers
    /// [`Reply::Session`]. `cognito`: the page's pool, taken only by a session sealed
    /// before sessions recorded their pool (its token still has to prove itself).
    SignedIn {
        #[serde(default)]
        cognito: CognitoConfig,
    },
    SignOut,
    /// Append to the storage operation log (local operations, from the page).
    Log {
        entry: LogEntry,
    },
    /// The log entries of a user (and the ones of no user: checks, credentials).
    ReadLog {
        user: String,
    },
    /// Queue a change of one invoice of `user` for `target` (coalesced with what is queued).
    Enqueue {
        target: Target,
        user: String,
        invoice_id: String,
        kind: crate::sync::OpKind,
        /// The copy the change was built on (version, checksum; (0, "") for a new
        /// invoice; None when not known).
        #[serde(default)]
        parent: Option<(u64, String)>,
    },
    /// Bring DynamoDB's changes of `user`'s partition: `local` lists the (id, version,
    /// checksum) of every invoice this device has.
    Pull {
        target: Target,
        user: String,
        local: Vec<(String, u64, String)>,
        /// Local invoices failing their checksum, to repair from DynamoDB.
        damaged: Vec<String>,
    },
    /// Send what is queued for `user`.
    Replay {
        target: Target,
        user: String,
    },
    /// Whether another device changed `user`'s invoices since this worker's last pull
    /// (one read of the change marker).
    Changed {
        target: Target,
        user: String,
    },
    /// localStorage now holds DynamoDB's versions of these invoices (or no longer holds
    /// the deleted ones): mark them synced. `pulled_at`: the start of a pull whose every
    /// change is now stored here.
    Ack {
        target: Target,
        user: String,
        acks: Vec<crate::sync::Ack>,
        pulled_at: Option<f64>,
    },
    /// Keep these local versions for review (before the page overwrites them, or a
    /// stale editor's draft).
    KeepConflicts {
        target: Target,
        user: String,
        items: Vec<crate::sync::Conflict>,
    },
    /// The local versions set aside when DynamoDB's won.
    Conflicts {
        target: Target,
        user: String,
    },
    /// Every client and profile record of the user in DynamoDB (`core::sync::records`).
    Records {
        target: Target,
        user: String,
    },
    /// Writes one record (`content` None: a tombstone) as `version`, conditional on
    /// `base` (None: nothing there), with its `lineage`.
    PutRecord {
        target: Target,
        user: String,
        key: String,
        version: u64,
        content: Option<String>,
        checksum: Option<String>,
        base: Option<crate::sync::records::Mark>,
        lineage: Vec<crate::sync::records::Mark>,
    },
    /// How many changes wait and conflicts are kept (read from IndexedDB, online or not).
    Counts {
        target: Target,
        user: String,
    },
    /// How many changes wait and conflicts are kept for `user` over every table this
    /// browser has synced with (what removing the user's data would lose).
    UserCounts {
        user: String,
    },
    /// Lease a block of invoice numbers from the user's counter in DynamoDB, starting no
    /// lower than `floor` (what this device knows is taken).
    LeaseNumbers {
        target: Target,
        user: String,
        floor: u64,
        /// How many (`ledgerline_core::numbers::block_size`).
        count: u64,
    },
    /// Who the page syncs for now (None: nobody signed in), kept in IndexedDB so that
    /// the service worker, which cannot read localStorage, syncs for the same (user, target).
    SetContext {
        context: Option<SyncContext>,
    },
    /// How often the user of the moment (signed in or not, `user` as in backups) wants
    /// an automatic export, and how many are kept: for the service worker's exports.
    SetExportPlan {
        user: String,
        every: crate::backups::Every,
        kept: u32,
    },
    /// The service worker's periodic job: [`Request::ReplayAll`], then an automatic
    /// export from the latest copy if one is due. Answers [`Reply::Job`].
    Periodic,
    /// The service worker's job: send the queue of the context the page last set; what
    /// DynamoDB sends back goes to the inbox. Answers [`Reply::Job`].
    ReplayAll,
    /// What a service worker's job learned for `user` on `target`, not yet stored here.
    Inbox {
        target: Target,
        user: String,
    },
    /// These inbox entries (`InboxItem::at`) are stored in localStorage and acknowledged.
    InboxDone {
        target: Target,
        user: String,
        at: Vec<f64>,
    },
    /// The user has decided about this conflict.
    DropConflict {
        target: Target,
        user: String,
        invoice_id: String,
        /// Which conflict of the invoice (`Conflict::at`).
        at: u64,
    },
    /// Forgets everything of `user` in this browser's IndexedDB (queue, synced versions,
    /// conflicts on every table, backups, automatic exports, the service worker's context
    /// and inbox, log entries, the user's AWS credentials): "Sign out and remove my
    /// data". Answers [`Reply::Removed`].
    RemoveUserData {
        user: String,
    },
    /// Keeps a copy of the local data (an export bundle), keeping the newest `keep`.
    Backup {
        user: String,
        reason: String,
        invoices: u32,
        bundle: String,
        keep: u32,
    },
    Backups {
        user: String,
    },
    ReadBackup {
        user: String,
        at: f64,
    },
}

impl Request {
    /// Whose data the request reads or changes (None: nobody's: credentials, checks,
    /// the sign-in, the service worker's jobs, log entries of no user). The worker
    /// serves it only for the user its sealed session proves, or for `anonymous`.
    pub fn user(&self) -> Option<&str> {
        match self {
            Request::ReadLog { user }
            | Request::Enqueue { user, .. }
            | Request::Pull { user, .. }
            | Request::Replay { user, .. }
            | Request::Changed { user, .. }
            | Request::Ack { user, .. }
            | Request::KeepConflicts { user, .. }
            | Request::Conflicts { user, .. }
            | Request::Records { user, .. }
            | Request::PutRecord { user, .. }
            | Request::Counts { user, .. }
            | Request::UserCounts { user }
            | Request::LeaseNumbers { user, .. }
            | Request::SetExportPlan { user, .. }
            | Request::Inbox { user, .. }
            | Request::InboxDone { user, .. }
            | Request::DropConflict { user, .. }
            | Request::Backup { user, .. }
            | Request::Backups { user }
            | Request::ReadBackup { user, .. }
            | Request::RemoveUserData { user } => Some(user),
            Request::SetContext { context } => context.as_ref().map(|c| c.user.as_str()),
            Request::Log { entry } => Some(entry.user.as_str()).filter(|u| !u.is_empty()),
            _ => None,
        }
    }

    /// Whether it reads or writes the user's partition in DynamoDB (never for anonymous).
    pub fn reaches_dynamo(&self) -> bool {
        matches!(
            self,
            Request::Pull { .. }
                | Request::Replay { .. }
                | Request::Changed { .. }
                | Request::Records { .. }
                | Request::PutRecord { .. }
                | Request::LeaseNumbers { .. }
        )
    }
}

/// DynamoDB's state of one invoice for the page to store (None: a tombstone, remove the
/// local copy), then acknowledge with an [`crate::sync::Ack`] carrying `seen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Take {
    pub invoice_id: String,
    pub version: u64,
    pub remote: Option<crate::model::Invoice>,
    /// The queued change the decision saw (its sent mark).
    pub seen: Option<(u64, String)>,
    /// The local copy the decision was made on (version, checksum; None: not here). A
    /// copy that changed since is left alone: the next pull decides again.
    pub expected: Option<(u64, String)>,
    /// The local copy loses and must be kept as a conflict before it is overwritten.
    #[serde(default)]
    pub keep_local: bool,
}

/// Whom the page syncs for (kept in IndexedDB for the service worker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncContext {
    pub user: String,
    pub target: Target,
}

/// What a job of the service worker learned and the page has not stored yet: DynamoDB's
/// versions to store (two-phase, like a replay's `take`), `kept` conflicts recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub at: f64,
    pub take: Vec<Take>,
    pub kept: u32,
}

/// Told to every tab (BroadcastChannel `ledgerline-sync`) when a service worker's job
/// left something in the inbox of scope `inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInbox {
    pub inbox: String,
}

/// Told to every tab (BroadcastChannel `ledgerline-sync`) whenever a request changed the
/// queue or the conflicts of `scope` (`crate::sync::scope`), whichever tab sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    pub scope: String,
    pub pending: u32,
    pub conflicts: u32,
}

/// Told to every tab during a replay (BroadcastChannel `ledgerline-sync`): `done` of
/// `total` queued changes handled; `total` 0 when the replay has finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub user: String,
    pub done: u32,
    pub total: u32,
}

/// One kept copy of the local data, without its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupInfo {
    pub at: f64,
    pub reason: String,
    pub invoices: u32,
    /// The bundle's size in bytes (UTF-8).
    #[serde(default)]
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsInfo {
    /// "ASIA…WXYZ".
    pub masked_key_id: String,
    /// Milliseconds since the epoch.
    pub entered_at: f64,
    pub temporary: bool,
    /// These credentials have succeeded at least once.
    pub worked: bool,
    /// AWS refused these credentials since they last worked (expired or invalid): no
    /// replay sends anything with them until new ones are saved or a check succeeds.
    #[serde(default)]
    pub refused: Option<ErrorClass>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// externally tagged: the lightest serde code for the page to carry
#[serde(rename_all = "camelCase")]
pub enum Reply {
    Credentials {
        info: Option<CredentialsInfo>,
    },
    /// The input was refused; nothing was stored.
    Invalid {
        message: String,
    },
    /// The call succeeded; `detail` is e.g. the table status.
    Ok {
        detail: String,
        ms: f64,
    },
    /// The call failed.
    Failed {
        class: ErrorClass,
        ms: f64,
    },
    /// No credentials are stored yet.
    NoCredentials,
    /// The log, ready to show (newest first, at most 200 rows of
    /// [time, kind, invoice, outcome, ms, class or detail]) and to export (`json`).
    /// Prepared by the worker so the page carries no code to read log entries.
    Log {
        rows: Vec<Vec<String>>,
        json: String,
    },
    /// A change was queued; `pending` changes wait for DynamoDB.
    Queued {
        pending: u32,
    },
    /// A replay ran: `sent` writes landed, `pending` remain; `conflicts` are invoices
    /// where DynamoDB won (its version must replace the local one); `failed` says why it
    /// stopped early.
    Replayed {
        sent: u32,
        pending: u32,
        conflicts: Vec<crate::sync::Conflict>,
        /// DynamoDB's versions to store here and acknowledge.
        take: Vec<Take>,
        failed: Option<ErrorClass>,
        refused: Vec<String>,
    },
    /// The answer to [`Request::Changed`].
    Changed {
        changed: bool,
    },
    /// A pull ran: `take` are DynamoDB's versions (or tombstones) to store here and
    /// acknowledge; `conflicts` the queued changes that lost (already kept).
    Pulled {
        take: Vec<Take>,
        conflicts: Vec<crate::sync::Conflict>,
        round_trips: u32,
        /// Local invoices to queue again: DynamoDB lacks them or has them older.
        upload: Vec<String>,
        /// How many of those DynamoDB had before and lacks now (lab reset, new table).
        reuploaded: u32,
        /// Missing in DynamoDB after a long gap: the local copy goes to review.
        review: Vec<String>,
        repaired: Vec<String>,
        /// (id, DynamoDB's version) of items damaged there that this device has intact.
        damaged_remote: Vec<(String, u64)>,
        started_at: f64,
    },
    /// The user's client and profile records in DynamoDB.
    Records {
        items: Vec<crate::sync::records::RemoteRecord>,
    },
    /// A conditional write found DynamoDB changed since: decide again.
    Stale,
    /// A block of invoice numbers `[start, end)` for this device.
    Leased {
        start: u64,
        end: u64,
    },
    /// How many changes are queued and conflicts kept (after an acknowledgement).
    Counts {
        pending: u32,
        conflicts: u32,
    },
    /// The signed-in user (None: signed out).
    Session {
        session: Option<SessionInfo>,
    },
    Conflicts {
        items: Vec<crate::sync::Conflict>,
    },
    Backups {
        list: Vec<BackupInfo>,
    },
    Backup {
        bundle: String,
    },
    /// This many entries of the user were removed (`Request::RemoveUserData`).
    Removed {
        entries: u32,
        /// As in [`Reply::SignedOut`]: the sign-in went too.
        not_revoked: Option<String>,
    },
    /// Signed out here (the sealed session is gone). `not_revoked`: why Cognito could
    /// not be told to revoke the refresh token (None: revoked, or there was none).
    SignedOut {
        not_revoked: Option<String>,
    },
    /// The account was created; `confirmed` false means a code was sent.
    SignedUp {
        confirmed: bool,
    },
    /// The sign-in ended (refresh token expired or revoked): sign in again.
    SessionExpired {
        message: String,
    },
    /// What a service worker's job came to (`crate::sync::job`).
    Job {
        outcome: crate::sync::job::JobOutcome,
        /// Sent to DynamoDB by this job, and still waiting after it.
        sent: u32,
        pending: u32,
    },
    Inbox {
        items: Vec<InboxItem>,
    },
    /// The worker could not do what was asked (a bug or a storage failure).
    Error {
        message: String,
    },
}

/// One storage operation, local or remote. Never holds secrets or invoice content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Milliseconds since the epoch.
    pub at: f64,
    /// The user context ("anonymous", a Cognito sub, or "" for checks and credentials).
    pub user: String,
    /// "local.save", "remote.put", "remote.check", ...
    pub kind: String,
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// "ok", "failed" or "refused" (bad input).
    pub outcome: String,
    pub ms: f64,
    #[serde(default)]
    pub class: Option<ErrorClass>,
    #[serde(default)]
    pub detail: String,
}

/// How many entries the log keeps (the oldest go first).
pub const LOG_CAPACITY: u32 = 1000;

/// Who is signed in (not secret: the Cognito `sub` is the DynamoDB partition key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub sub: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u32,
    pub body: T,
}

/// The Cognito user pool used for accounts (not secret; kept in localStorage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CognitoConfig {
    pub region: String,
    /// Blank = AWS itself (`https://cognito-idp.<region>.amazonaws.com/`).
    pub endpoint: String,
    pub user_pool_id: String,
    pub client_id: String,
    /// A Cognito identity pool (deploy/): AWS credentials come from it for the signed-in
    /// user, nothing is pasted. Blank: pasted credentials.
    pub identity_pool_id: String,
    /// Blank = AWS itself (`https://cognito-identity.<region>.amazonaws.com/`).
    pub identity_endpoint: String,
}

/// Connection settings of this browser (shared by every user of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloudConfig {
    pub target: Target,
    /// How often the connection manager checks DynamoDB while the app runs.
    pub check_interval_secs: u32,
    pub cognito: CognitoConfig,
    /// How many backups of the local data to keep (taken before a sync changes it).
    pub backups_kept: u32,
    /// How often this browser exports the local data by itself (R7.3).
    pub auto_export: crate::backups::Every,
    /// How many automatic exports to keep (apart from the backups).
    pub auto_exports_kept: u32,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            target: Target::default(),
            check_interval_secs: 30,
            backups_kept: 10,
            auto_export: crate::backups::Every::Day,
            auto_exports_kept: crate::backups::DEFAULT_KEPT,
            cognito: CognitoConfig {
                region: "us-east-1".into(),
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_requests_are_sent_whole_and_never_printed() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let save = Request::SaveCredentials {
            block: format!("aws_secret_access_key={secret}").into(),
            key_id: secret.to_string().into(),
            secret: secret.to_string().into(),
            token: "FwoGZXIvYXdzEXAMPLE".to_string().into(),
        };
        let sign_in = Request::SignIn {
            cognito: CognitoConfig::default(),
            email: "a@b.c".into(),
            password: "hunter2-long-password".to_string().into(),
        };
        for (r, hidden) in [(&save, secret), (&sign_in, "hunter2")] {
            let printed = format!("{r:?}");
            assert!(!printed.contains(hidden), "{printed}");
            assert!(printed.contains("redacted"), "{printed}");
            // the wire carries the value itself
            let wire = serde_json::to_string(r).unwrap();
            assert!(wire.contains(hidden));
            assert_eq!(&serde_json::from_str::<Request>(&wire).unwrap(), r);
        }
    }
}
