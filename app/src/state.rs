//! Application state (one reducer) and the storage operations that change it.
//! Every operation writes localStorage first and only then updates the state, so what
//! the user sees is what is stored.

use crate::platform::{now_rfc3339, with_kv};
use ledgerline_core::errors::ErrorClass;
use ledgerline_core::exchange::{plan_import, ImportPlan, Rejection};
use ledgerline_core::model::{Client, Invoice, InvoiceContent, Profile, Settings};
use ledgerline_core::protocol::{CloudConfig, CredentialsInfo, SessionInfo};
use ledgerline_core::store::{self, Damaged, KvError, Namespace, Snapshot};
use ledgerline_core::sync::OpKind;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u32,
    pub text: String,
    /// An invoice that can be put back ("Undo").
    pub undo: Option<Invoice>,
}

/// What the app knows about DynamoDB right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Not checked yet (or signed out: never checked).
    Unknown,
    Connected {
        ms: f64,
    },
    NoCredentials,
    Failed {
        class: ErrorClass,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    pub config: CloudConfig,
    pub connection: Connection,
    /// The stored AWS credentials, masked (never the secrets).
    pub creds: Option<CredentialsInfo>,
    /// Who is signed in; None = anonymous mode (this browser only, never DynamoDB).
    pub session: Option<SessionInfo>,
    /// Why the sign-in ended, until the user signs in again.
    pub session_expired: Option<String>,
    /// Anonymous invoices found at sign-in, offered for moving into the account.
    pub move_offer: Option<usize>,
    /// Changes waiting in the sync queue for DynamoDB.
    pub pending: u32,
    /// DynamoDB's changes were pulled since start-up or sign-in.
    pub pulled: bool,
    /// Local versions set aside because DynamoDB's won, waiting for the user's review.
    pub conflicts: u32,
    /// A replay in progress: (done, total).
    pub progress: Option<(u32, u32)>,
    /// Invoices DynamoDB refused (too large, invalid): they wait for a new save.
    pub refused: Vec<String>,
    pub ns: Namespace,
    /// Shared, so that actions not touching data do not copy every invoice.
    pub snap: Rc<Snapshot>,
    /// Why localStorage cannot be used, if it cannot.
    pub storage_problem: Option<String>,
    pub toast: Option<Toast>,
    pub update_ready: bool,
}

pub enum Action {
    PutInvoice(Invoice),
    RemoveInvoice {
        id: String,
        undo: Option<Invoice>,
        text: String,
    },
    PutClient(Client),
    RemoveClient(String),
    SetProfile(Profile),
    SetSettings(Settings),
    DropDamaged(String),
    Replace(Snapshot),
    Toast(String),
    ClearToast(u32),
    UpdateReady,
    SetConfig(CloudConfig),
    SetConnection(Connection),
    SetCreds(Option<CredentialsInfo>),
    /// Another user context: every cache is dropped and reloaded.
    SwitchUser {
        session: Option<SessionInfo>,
        ns: Namespace,
        snap: Snapshot,
        move_offer: Option<usize>,
    },
    SessionExpired(String),
    CloseMoveOffer,
    SetPending(u32),
    /// DynamoDB's versions replaced the local ones in localStorage (the view follows);
    /// `removed` were deleted there; `conflicts` local versions were set aside; `full`
    /// could not be stored (browser storage full).
    ApplyRemote {
        items: Vec<Invoice>,
        removed: Vec<String>,
        conflicts: usize,
        full: usize,
    },
    /// This session has pulled the user's partition once.
    Pulled,
    /// Pull again at the next good check (local data was cleared here).
    Repull,
    SetConflicts(u32),
    Progress(Option<(u32, u32)>),
    SetRefused(Vec<String>),
}

impl AppState {
    /// Reads everything of the user who was signed in last (or anonymous mode).
    pub fn load() -> Self {
        let storage_problem = crate::platform::LocalKv::open().err();
        let session = with_kv(|kv| load_session(kv));
        let ns = namespace_of(session.as_ref());
        let snap = with_kv(|kv| store::load(kv, &ns));
        let config = with_kv(|kv| store::load_config(kv));
        AppState {
            config,
            connection: Connection::Unknown,
            creds: None,
            session,
            session_expired: None,
            move_offer: None,
            pending: 0,
            pulled: false,
            conflicts: 0,
            progress: None,
            refused: Vec::new(),
            ns,
            snap: Rc::new(snap),
            storage_problem,
            toast: None,
            update_ready: false,
        }
    }

    pub fn invoice(&self, id: &str) -> Option<&Invoice> {
        self.snap.invoices.iter().find(|i| i.id == id)
    }

    fn next_toast_id(&self) -> u32 {
        self.toast.as_ref().map(|t| t.id + 1).unwrap_or(1)
    }
}

impl Reducible for AppState {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::PutInvoice(inv) => {
                let snap = Rc::make_mut(&mut s.snap);
                match snap.invoices.iter_mut().find(|i| i.id == inv.id) {
                    Some(x) => *x = inv,
                    None => snap.invoices.push(inv),
                }
            }
            Action::RemoveInvoice { id, undo, text } => {
                Rc::make_mut(&mut s.snap).invoices.retain(|i| i.id != id);
                s.toast = Some(Toast {
                    id: s.next_toast_id(),
                    text,
                    undo,
                });
            }
            Action::PutClient(c) => {
                let snap = Rc::make_mut(&mut s.snap);
                match snap.clients.iter_mut().find(|x| x.id == c.id) {
                    Some(x) => *x = c,
                    None => snap.clients.push(c),
                }
                store::sort_clients(&mut snap.clients);
            }
            Action::RemoveClient(id) => Rc::make_mut(&mut s.snap).clients.retain(|c| c.id != id),
            Action::SetProfile(p) => Rc::make_mut(&mut s.snap).profile = p,
            Action::SetSettings(st) => Rc::make_mut(&mut s.snap).settings = st,
            Action::DropDamaged(key) => Rc::make_mut(&mut s.snap).damaged.retain(|d| d.key != key),
            Action::Replace(snap) => s.snap = Rc::new(snap),
            Action::Toast(text) => {
                s.toast = Some(Toast {
                    id: s.next_toast_id(),
                    text,
                    undo: None,
                })
            }
            Action::ClearToast(id) => {
                if s.toast.as_ref().map(|t| t.id) == Some(id) {
                    s.toast = None;
                }
            }
            Action::UpdateReady => s.update_ready = true,
            Action::SetConfig(c) => {
                // another table: its state is its own; pull it (and count) afresh
                if c.target != s.config.target {
                    s.pulled = false;
                    s.refused = Vec::new();
                }
                s.config = c
            }
            Action::SetConnection(c) => s.connection = c,
            Action::SetCreds(c) => s.creds = c,
            Action::SwitchUser {
                session,
                ns,
                snap,
                move_offer,
            } => {
                s.pending = 0;
                s.pulled = false;
                s.conflicts = 0;
                s.progress = None;
                s.refused = Vec::new();
                s.session = session;
                s.ns = ns;
                s.snap = Rc::new(snap);
                s.move_offer = move_offer;
                s.session_expired = None;
                s.connection = Connection::Unknown;
                // credentials are per user: the next user's are read anew
                s.creds = None;
                s.toast = None;
            }
            Action::SessionExpired(m) => s.session_expired = Some(m),
            Action::CloseMoveOffer => s.move_offer = None,
            Action::SetPending(n) => s.pending = n,
            Action::ApplyRemote {
                items,
                removed,
                conflicts,
                full,
            } => {
                let ns = s.ns.clone();
                let snap = Rc::make_mut(&mut s.snap);
                for r in &items {
                    // a damaged entry under this key is replaced by an intact copy
                    let k = ns.invoice(&r.id);
                    snap.damaged.retain(|d| d.key != k);
                    match snap.invoices.iter_mut().find(|i| i.id == r.id) {
                        Some(x) => *x = r.clone(),
                        None => snap.invoices.push(r.clone()),
                    }
                }
                snap.invoices.retain(|i| !removed.contains(&i.id));
                if full > 0 {
                    s.toast = Some(Toast {
                        id: s.next_toast_id(),
                        text: format!(
                            "Browser storage is full: {full} invoice(s) from DynamoDB could not be stored here. They are kept in this browser's backups (Data → Backups, \"kept: browser storage was full\") and in DynamoDB. Free space (export, then delete old invoices or the logo), then restore that backup or reload."
                        ),
                        undo: None,
                    });
                }
                if conflicts > 0 {
                    s.toast = Some(Toast {
                        id: s.next_toast_id(),
                        text: format!(
                            "{conflicts} invoice(s) changed in DynamoDB meanwhile: DynamoDB's version is kept, yours is saved for review under Conflicts."
                        ),
                        undo: None,
                    });
                }
            }
            Action::Pulled => s.pulled = true,
            Action::Repull => s.pulled = false,
            Action::SetConflicts(n) => s.conflicts = n,
            Action::Progress(p) => s.progress = p,
            Action::SetRefused(r) => s.refused = r,
        }
        Rc::new(s)
    }
}

pub type Store = UseReducerHandle<AppState>;

/// Who was signed in last (not secret), so start-up opens the right namespace at once.
pub const SESSION_KEY: &str = "ledgerline/v1/session";

fn load_session(kv: &dyn store::Kv) -> Option<SessionInfo> {
    kv.get(SESSION_KEY)
        .and_then(|raw| serde_json::from_str(&raw).ok())
}

pub fn namespace_of(session: Option<&SessionInfo>) -> Namespace {
    session
        .map(|s| Namespace::new(&s.sub))
        .unwrap_or_else(Namespace::anonymous)
}

/// Switches to `session`'s data (or anonymous mode), dropping every in-memory cache.
/// After a sign-in, anonymous invoices in this browser are offered for moving, with a count.
pub fn switch_user(store: &Store, session: Option<SessionInfo>) -> Result<(), SaveError> {
    with_kv(|kv| match &session {
        Some(s) => kv.set(SESSION_KEY, &serde_json::to_string(s).unwrap_or_default()),
        None => {
            kv.remove(SESSION_KEY);
            Ok(())
        }
    })?;
    let ns = namespace_of(session.as_ref());
    let snap = with_kv(|kv| store::load(kv, &ns));
    let move_offer = session.as_ref().and_then(|_| {
        let n = with_kv(|kv| store::load(kv, &Namespace::anonymous()))
            .invoices
            .len();
        (n > 0).then_some(n)
    });
    store.dispatch(Action::SwitchUser {
        session,
        ns,
        snap,
        move_offer,
    });
    Ok(())
}

/// Moves the anonymous invoices and clients into the signed-in account (all or nothing),
/// then uploads the moved invoices. Returns a summary for the user. An anonymous business
/// profile the account's differs from is kept for review first; if it cannot be, nothing
/// moves.
pub async fn move_anonymous(store: &Store) -> Result<String, SaveError> {
    let Some(session) = store.session.clone() else {
        return Err(SaveError::Other("nobody is signed in".into()));
    };
    let anon_ns = Namespace::anonymous();
    // The plan is made from what is stored now and written with no await in between: a
    // change another tab makes while a differing profile is being kept is never written
    // over. A profile set aside is kept before the plan that leaves it out is written;
    // should it change meanwhile, the new one is kept too.
    let mut kept: Vec<serde_json::Value> = Vec::new();
    let plan = loop {
        if !crate::sync::still(store, &session.sub) {
            return Err(SaveError::Other(
                "the account changed while moving, so nothing was moved".into(),
            ));
        }
        let anon = with_kv(|kv| store::load(kv, &anon_ns));
        let account = with_kv(|kv| store::load(kv, &store.ns));
        let plan = store::plan_move(&anon_ns, &anon, &store.ns, &account, &now_rfc3339());
        // what the kept conflict holds (profile, number prefix and digits): a profile
        // kept already is not kept again because, say, an invoice moved the counter
        let Some((aside, value)) = plan
            .profile_aside
            .clone()
            .map(|(p, s)| {
                let value = ledgerline_core::sync::records::profile_value(&p, &s);
                ((p, s), value)
            })
            .filter(|(_, value)| !kept.contains(value))
        else {
            break plan;
        };
        if kept.len() >= 3 {
            return Err(SaveError::Other(
                "this browser's business profile kept changing while moving, so nothing was moved; \
                 try again in a moment"
                    .into(),
            ));
        }
        let conflict = crate::records::moved_profile(
            (&aside.0, &aside.1),
            (&plan.merged.profile, &plan.merged.settings),
        );
        if !crate::sync::keep_conflicts(store, vec![conflict]).await {
            return Err(SaveError::Other(
                "this browser's business profile could not be kept for review, so nothing was moved; \
                 try again in a moment"
                    .into(),
            ));
        }
        kept.push(value);
    };
    let started = js_sys::Date::now();
    with_kv(|kv| store::write_all(kv, &plan.writes))?;
    let moved = format!("{} invoices from anonymous mode", plan.moved.len());
    crate::oplog::local(store, "local.move", None, Ok(moved), started);
    for inv in &plan.moved {
        // new in this account: built on nothing
        crate::sync::enqueue(
            store,
            &session,
            &inv.id,
            OpKind::Put(Box::new(inv.clone())),
            crate::sync::parent_of(None),
        );
    }
    store.dispatch(Action::Replace(plan.merged.clone()));
    store.dispatch(Action::CloseMoveOffer);
    let mut text = format!("Moved {} invoices into your account.", plan.moved.len());
    if !plan.renumbered.is_empty() {
        let list: Vec<String> = plan
            .renumbered
            .iter()
            .map(|(a, b)| format!("{a} → {b}"))
            .collect();
        text.push_str(&format!(
            " Renumbered because the account already used the number: {}.",
            list.join(", ")
        ));
    }
    if !plan.merged_clients.is_empty() {
        text.push_str(&format!(
            " Clients that were in both are kept once (the account's record), and the moved invoices name it: {}.",
            plan.merged_clients.join(", ")
        ));
    }
    if let Some((p, _)) = &plan.profile_aside {
        text.push_str(&format!(
            " Your account's business profile is kept; this browser's ({}) differed and is on the Conflicts page to restore or discard.",
            if p.name.trim().is_empty() { "unnamed" } else { p.name.trim() }
        ));
    }
    Ok(text)
}

/// A failed save, in words for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveError {
    Quota,
    Other(String),
}

impl From<KvError> for SaveError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Quota => SaveError::Quota,
            KvError::Other(m) => SaveError::Other(m),
        }
    }
}

impl SaveError {
    pub fn message(&self) -> String {
        match self {
            SaveError::Quota => "Browser storage is full, so this change was NOT saved. Your edit is still here. \
                 Free some space, then save again: export a backup (Data → Export JSON), then delete old paid \
                 invoices, or shrink or remove the logo (Settings)."
                .into(),
            SaveError::Other(m) => format!(
                "The browser refused to save ({m}). Your edit is still here; export a backup (Data → Export JSON) \
                 and check that site storage is allowed for this page."
            ),
        }
    }
}

/// Saves invoice content: a new record (id `None`) or the next version of an existing one.
/// Also advances the numbering counter when the number came from it.
pub fn save_invoice(
    store: &Store,
    id: Option<&str>,
    content: InvoiceContent,
) -> Result<Invoice, SaveError> {
    let started = js_sys::Date::now();
    let result = save_invoice_inner(store, id, content);
    crate::oplog::local(
        store,
        "local.save",
        result.as_ref().ok().map(|r| r.id.as_str()).or(id),
        result
            .as_ref()
            .map(|r| format!("version {}", r.version))
            .map_err(|e| match e {
                SaveError::Quota => "storage full".to_string(),
                SaveError::Other(m) => m.clone(),
            }),
        started,
    );
    result
}

/// Brings a version kept for review back as the next version after `after` (and after
/// the local copy, if any): "Restore mine" on the conflicts screen.
pub fn restore_invoice(
    store: &Store,
    id: &str,
    content: InvoiceContent,
    after: u64,
) -> Result<Invoice, SaveError> {
    save_invoice_after(store, Some(id), content, after)
}

fn save_invoice_inner(
    store: &Store,
    id: Option<&str>,
    content: InvoiceContent,
) -> Result<Invoice, SaveError> {
    save_invoice_after(store, id, content, 0)
}

fn save_invoice_after(
    store: &Store,
    id: Option<&str>,
    content: InvoiceContent,
    after: u64,
) -> Result<Invoice, SaveError> {
    let id = id
        .map(str::to_string)
        .unwrap_or_else(crate::platform::new_id);
    let previous = store.invoice(&id);
    // the copy this save is built on (a restore over a copy not held here: unknown)
    let parent = match previous {
        None if after > 0 => None,
        p => crate::sync::parent_of(p),
    };
    let mut base = previous.cloned();
    if after > 0 && base.as_ref().is_none_or(|b| b.version < after) {
        // what the new version goes after: a version this browser may not hold
        let mut stub = base.unwrap_or_else(|| store::next_record(&id, content.clone(), None, ""));
        stub.version = after;
        base = Some(stub);
    }
    let mut content = content;
    // the client's details go with the invoice (an issued one keeps those it was issued with)
    content.refresh_bill_to(previous.map(|p| &p.content), &store.snap.clients);
    let record = store::next_record(&id, content, base.as_ref(), &now_rfc3339());
    let (suggested, next) = store::next_number(&store.snap.settings, &store.snap.invoices);
    let mut settings = store.snap.settings.clone();
    let advance = previous.is_none() && record.content.number == suggested;
    if advance {
        settings.next_number = next;
    }
    with_kv(|kv| {
        let mut writes = vec![(
            store.ns.invoice(&id),
            Some(serde_json::to_string(&record).unwrap_or_default()),
        )];
        if advance {
            writes.push((
                store.ns.settings(),
                Some(serde_json::to_string(&settings).unwrap_or_default()),
            ));
        }
        // a leased number is given up in the same write: never given out twice
        writes.extend(crate::numbers::consume(store, &record.content.number));
        store::write_all(kv, &writes)
    })?;
    if advance {
        store.dispatch(Action::SetSettings(settings));
    }
    store.dispatch(Action::PutInvoice(record.clone()));
    if let Some(session) = &store.session {
        crate::sync::enqueue(
            store,
            session,
            &record.id,
            OpKind::Put(Box::new(record.clone())),
            parent,
        );
    }
    Ok(record)
}

/// Deletes an invoice, keeping it in the toast for "Undo".
pub fn delete_invoice(store: &Store, id: &str) {
    let Some(inv) = store.invoice(id).cloned() else {
        return;
    };
    let started = js_sys::Date::now();
    with_kv(|kv| store::remove_invoice(kv, &store.ns, id));
    crate::oplog::local(
        store,
        "local.delete",
        Some(id),
        Ok(inv.content.number.clone()),
        started,
    );
    if let Some(session) = &store.session {
        crate::sync::enqueue(
            store,
            session,
            id,
            OpKind::Delete,
            crate::sync::parent_of(Some(&inv)),
        );
    }
    store.dispatch(Action::RemoveInvoice {
        id: id.to_string(),
        text: format!("Deleted invoice {}.", inv.content.number),
        undo: Some(inv),
    });
}

pub fn undo_delete(store: &Store, inv: Invoice, toast_id: u32) {
    // back as a new version, after the tombstone the delete may have written already
    // (that one is at most the deleted version + 1): never a version DynamoDB saw
    let mut inv = inv;
    inv.version = ledgerline_core::sync::restored_version(inv.version.saturating_add(1), None);
    inv.updated_at = now_rfc3339();
    match with_kv(|kv| store::put_invoice(kv, &store.ns, &inv)) {
        Ok(()) => {
            if let Some(session) = &store.session {
                crate::sync::enqueue(
                    store,
                    session,
                    &inv.id,
                    OpKind::Put(Box::new(inv.clone())),
                    None,
                );
            }
            store.dispatch(Action::ClearToast(toast_id));
            // its client may have been deleted meanwhile (here or on another device)
            crate::records::stand_ins(store, std::slice::from_ref(&inv));
            store.dispatch(Action::PutInvoice(inv));
        }
        Err(e) => store.dispatch(Action::Toast(SaveError::from(e).message())),
    }
}

/// Copies an invoice as a new draft with the next number, dated today.
pub fn duplicate_invoice(store: &Store, id: &str) -> Result<Invoice, SaveError> {
    let Some(src) = store.invoice(id) else {
        return Err(SaveError::Other("that invoice no longer exists".into()));
    };
    let mut content = src.content.clone();
    let number = crate::numbers::suggest(store);
    let today = crate::platform::today();
    let term = content.due_date.signed_duration_since(content.issue_date);
    content.number = number;
    content.issue_date = today;
    content.due_date = today + term;
    content.status = ledgerline_core::model::Status::Draft;
    // fields a newer version wrote may belong to that one invoice (a payment link, a
    // purchase order): the copy starts without them; its lines keep theirs
    content.extra.clear();
    save_invoice(store, None, content)
}

pub fn save_client(store: &Store, c: Client) -> Result<(), SaveError> {
    with_kv(|kv| store::put_client(kv, &store.ns, &c))?;
    crate::records::note_edited(store, &c.id);
    store.dispatch(Action::PutClient(c));
    Ok(())
}

/// Deletes a client unless invoices still name it (returns why not).
pub fn delete_client(store: &Store, id: &str) -> Result<(), String> {
    let used = store
        .snap
        .invoices
        .iter()
        .filter(|i| i.content.client_id == id)
        .count();
    if used > 0 {
        return Err(format!(
            "This client is on {used} invoice{}: delete those invoices or choose another client on them first.",
            if used == 1 { "" } else { "s" }
        ));
    }
    with_kv(|kv| store::remove_client(kv, &store.ns, id));
    // a delete is explicit: its tombstone goes to DynamoDB at the next round
    crate::records::note_deleted(store, id);
    store.dispatch(Action::RemoveClient(id.to_string()));
    Ok(())
}

pub fn save_profile(store: &Store, p: Profile, s: Settings) -> Result<(), SaveError> {
    let writes = vec![
        (
            store.ns.profile(),
            Some(serde_json::to_string(&p).unwrap_or_default()),
        ),
        (
            store.ns.settings(),
            Some(serde_json::to_string(&s).unwrap_or_default()),
        ),
    ];
    with_kv(|kv| store::write_all(kv, &writes))?;
    store.dispatch(Action::SetProfile(p));
    store.dispatch(Action::SetSettings(s));
    Ok(())
}

pub fn remove_damaged(store: &Store, d: &Damaged) {
    with_kv(|kv| kv.remove(&d.key));
    store.dispatch(Action::DropDamaged(d.key.clone()));
}

/// Imports an export file all-or-nothing.
pub fn import(store: &Store, text: &str) -> Result<ImportPlan, Vec<Rejection>> {
    let started = js_sys::Date::now();
    let plan = plan_import(text, &store.snap).inspect_err(|rej| {
        let why = format!("{} records rejected", rej.len());
        crate::oplog::local(store, "local.import", None, Err(why), started);
    })?;
    let writes = store::snapshot_writes(&store.ns, &plan.merged);
    if let Err(e) = with_kv(|kv| store::write_all(kv, &writes)) {
        return Err(vec![Rejection {
            record: "storage".into(),
            reason: SaveError::from(e).message(),
        }]);
    }
    let done = format!("{} invoices, {} clients", plan.invoices, plan.clients);
    crate::oplog::local(store, "local.import", None, Ok(done), started);
    if let Some(session) = &store.session {
        // what the import added or changed goes to DynamoDB like any save
        for inv in &plan.merged.invoices {
            let previous = store.invoice(&inv.id);
            if previous != Some(inv) {
                let parent = crate::sync::parent_of(previous);
                crate::sync::enqueue(
                    store,
                    session,
                    &inv.id,
                    OpKind::Put(Box::new(inv.clone())),
                    parent,
                );
            }
        }
    }
    store.dispatch(Action::Replace(plan.merged.clone()));
    Ok(plan)
}

/// Brings the invoices back to a backup's state (the current state is backed up first):
/// invoices that differ come back as new versions, queued for DynamoDB like any save.
pub async fn restore_backup(store: &Store, bundle: &str) -> Result<String, String> {
    let backup = plan_import(bundle, &Snapshot::default())
        .map_err(|rej| {
            let first = rej
                .first()
                .map(|r| format!("{}: {}", r.record, r.reason))
                .unwrap_or_default();
            format!("the backup cannot be read ({first})")
        })?
        .merged;
    if !crate::sync::backup(store, "before restore").await {
        return Err(
            "the current data could not be backed up first, so nothing was changed. Export JSON (above) and try again."
                .into(),
        );
    }
    let started = js_sys::Date::now();
    let plan = store::plan_restore(&store.ns, &store.snap, &backup, &now_rfc3339());
    with_kv(|kv| store::write_all(kv, &plan.writes)).map_err(|e| SaveError::from(e).message())?;
    let text = format!(
        "Restored: {} invoice(s) brought back as new versions; invoices made since the backup are kept.",
        plan.put.len()
    );
    crate::oplog::local(store, "local.restore", None, Ok(text.clone()), started);
    if let Some(session) = &store.session {
        for inv in &plan.put {
            let parent = store
                .invoice(&inv.id)
                .and_then(|p| crate::sync::parent_of(Some(p)));
            crate::sync::enqueue(
                store,
                session,
                &inv.id,
                OpKind::Put(Box::new(inv.clone())),
                parent,
            );
        }
    }
    store.dispatch(Action::Replace(plan.merged));
    Ok(text)
}

/// What "Sign out and remove my data" would lose: changes not yet in DynamoDB (queued, or
/// noted in the outbox), and conflicts kept for review.
pub fn unsent(store: &Store) -> (u32, u32) {
    let user = crate::oplog::user_of(store);
    let noted = with_kv(|kv| ledgerline_core::outbox::pending(kv, &user).len()) as u32;
    (store.pending.max(noted), store.conflicts)
}

/// "Sign out and remove my data from this browser": every store of the signed-in user
/// goes. The page turns anonymous first (nothing of the user's is synced, saved or
/// copied meanwhile); the worker then forgets the sealed session (nothing more is served
/// for the user), removes the user's IndexedDB stores and credentials and revokes the
/// refresh token where Cognito allows; then the export folder's record and this
/// browser's local data and outbox go. DynamoDB is not touched.
pub async fn sign_out_and_remove(store: &Store) -> Result<String, String> {
    let Some(session) = store.session.clone() else {
        return Err("nobody is signed in".into());
    };
    let user = session.sub.clone();
    crate::autoexport::cancel_latest();
    let ns = store.ns.clone();
    let invoices = store.snap.invoices.len();
    switch_user(store, None).map_err(|e| e.message())?;
    let worker = crate::service::remove_user_data(&user).await;
    let folder = crate::folder::forget(&user).await;
    with_kv(|kv| {
        store::clear(kv, &ns);
        ledgerline_core::outbox::forget(kv, &user);
    });
    let (entries, not_revoked) = worker.map_err(|e| {
        format!(
            "you are signed out and the invoices are gone from this page, but the copies in this browser's database could not all be removed ({}). Sign in again and choose remove again",
            e.message()
        )
    })?;
    folder.map_err(|e| format!("you are signed out and your data is removed, but the export folder's record could not be ({e}); choose \"Stop writing to this folder\" in Settings"))?;
    let mut said = format!(
        "Signed out, and {}'s data is removed from this browser ({invoices} invoice{} and {entries} stored entr{}: queue, conflicts, backups, automatic exports, log, credentials). It is untouched in DynamoDB: sign in again to bring it back.",
        session.email,
        if invoices == 1 { "" } else { "s" },
        if entries == 1 { "y" } else { "ies" }
    );
    if let Some(why) = not_revoked {
        said.push_str(&format!(
            " Cognito could not be told to end the sign-in ({why}); it ends by itself when its refresh token expires."
        ));
    }
    Ok(said)
}

/// Removes every record of the current user context from this browser. Signed in, the
/// client and profile changes DynamoDB lacks are kept for review first (if they cannot
/// be, nothing is deleted), and unsent deletions still go.
pub fn clear_all(store: &Store) {
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let started = js_sys::Date::now();
        // no records round in between: its late answer would mark versions synced in the
        // state the wipe leaves
        let _busy = crate::records::hold().await;
        let Some(kept) = crate::records::keep_unsent(&store).await else {
            store.dispatch(Action::Toast(
                "Nothing was deleted: client and profile changes that are not in DynamoDB yet could not be kept for you first (the browser's database did not answer). Reload the page and try again, or use Export JSON first.".into(),
            ));
            return;
        };
        let state = crate::records::state_after_wipe(&store);
        with_kv(|kv| {
            store::clear(kv, &store.ns);
            if let Some((k, v)) = &state {
                // best effort: without it, DynamoDB's records simply come back
                let _ = kv.set(k, v);
            }
        });
        crate::oplog::local(&store, "local.clear", None, Ok(String::new()), started);
        store.dispatch(Action::Replace(Snapshot::default()));
        if kept > 0 {
            store.dispatch(Action::Toast(format!(
                "{kept} client or profile change{} not yet in DynamoDB {} kept under Conflicts: restore {} from there, or discard.",
                if kept == 1 { "" } else { "s" },
                if kept == 1 { "is" } else { "are" },
                if kept == 1 { "it" } else { "them" },
            )));
        }
        // this browser only: what DynamoDB has comes back with the next pull
        if store.session.is_some() {
            store.dispatch(Action::Repull);
            crate::sync::check(&store);
        }
    });
}

pub fn save_config(store: &Store, c: CloudConfig) -> Result<(), SaveError> {
    with_kv(|kv| store::put_config(kv, &c))?;
    store.dispatch(Action::SetConfig(c));
    Ok(())
}
