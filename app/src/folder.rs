//! "Also write each automatic export to a folder I choose" (R7.3, where the browser has
//! the File System Access API: Chromium-based browsers). The folder is chosen once in
//! Settings → Backups; its handle is kept in IndexedDB (`ledgerline-folders`, one record
//! per user of this browser), with the time of the newest export written there. Every
//! automatic export kept in the browser (made by a page or by the service worker) is
//! then written to the folder as `ledgerline-export-<UTC time of the export>.json` by the next open
//! page, as long as the browser lets Ledgerline write there. Chromium asks for the
//! permission again after a restart: the page then says so and offers to allow it again
//! (a click is needed); nothing is lost meanwhile, the exports wait in the browser and
//! are written once it is allowed. Files in the folder are never deleted by Ledgerline.

use crate::service;
use crate::state::{Action, Store};
use js_sys::{Function, Object, Promise, Reflect};
use ledgerline_core::backups::is_automatic;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const DB: &str = "ledgerline-folders";
const STORE: &str = "folders";

/// The folder chosen by one user in this browser, and what was last written there.
#[derive(Clone)]
pub struct Folder {
    handle: JsValue,
    /// The folder's name, as the browser tells it (not its path).
    pub name: String,
    /// When the newest export written there was made (None: none yet).
    pub last: Option<f64>,
    /// The file written last, and when.
    pub file: Option<(String, f64)>,
    /// Why the last write failed (None: it worked, or none was tried).
    pub error: Option<String>,
}

/// Whether the browser lets Ledgerline write to the folder now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Granted,
    /// Asked again with a click (Chromium forgets the permission after a restart).
    Prompt,
    Denied,
}

impl Access {
    pub fn value(self) -> &'static str {
        match self {
            Access::Granted => "granted",
            Access::Prompt => "prompt",
            Access::Denied => "denied",
        }
    }
}

/// What Settings shows.
#[derive(Clone)]
pub enum Status {
    Unsupported,
    NotChosen,
    Chosen(Folder, Access),
    /// The record could not be read (browser storage failed).
    Unreadable(String),
}

fn why(e: &JsValue) -> String {
    let name = Reflect::get(e, &"name".into())
        .ok()
        .and_then(|v| v.as_string());
    let message = Reflect::get(e, &"message".into())
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| e.as_string());
    match (name, message) {
        (Some(n), Some(m)) if !m.is_empty() => format!("{n}: {m}"),
        (Some(n), _) => n,
        (None, Some(m)) => m,
        (None, None) => "the browser gave no reason".to_string(),
    }
}

fn is_abort(e: &JsValue) -> bool {
    Reflect::get(e, &"name".into())
        .ok()
        .and_then(|v| v.as_string())
        .is_some_and(|n| n == "AbortError")
}

/// Calls `target.method(args…)` and awaits the promise it returns.
async fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into())?
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("this browser has no {method}")))?;
    let out = f.apply(target, &args.iter().collect::<js_sys::Array>())?;
    match out.dyn_into::<Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(v) => Ok(v),
    }
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

/// Whether this browser can write to a folder the user chooses.
pub fn supported() -> bool {
    web_sys::window()
        .and_then(|w| Reflect::get(&w, &"showDirectoryPicker".into()).ok())
        .is_some_and(|f| f.is_function())
}

// --- the record in IndexedDB ----------------------------------------------------------

/// Waits for an IndexedDB request's result.
async fn done(req: &web_sys::IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        let ok = req.clone();
        let bad = req.clone();
        let on_ok = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &ok.result().unwrap_or(JsValue::UNDEFINED));
        });
        let on_bad = Closure::once_into_js(move || {
            let e = bad.error().ok().flatten().map(JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &e.unwrap_or(JsValue::UNDEFINED));
        });
        req.set_onsuccess(Some(on_ok.unchecked_ref()));
        req.set_onerror(Some(on_bad.unchecked_ref()));
    });
    JsFuture::from(promise).await
}

async fn open() -> Result<web_sys::IdbDatabase, JsValue> {
    let factory = web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .indexed_db()?
        .ok_or_else(|| JsValue::from_str("this browser has no IndexedDB"))?;
    let req = factory.open_with_u32(DB, 1)?;
    let upgrading = req.clone();
    let on_upgrade = Closure::once_into_js(move || {
        if let Some(db) = upgrading
            .result()
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::IdbDatabase>().ok())
        {
            if !db.object_store_names().contains(STORE) {
                let _ = db.create_object_store(STORE);
            }
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    done(&req).await?.dyn_into()
}

/// One request on the folders store; the connection is closed after it.
async fn with_store(
    write: bool,
    op: impl FnOnce(&web_sys::IdbObjectStore) -> Result<web_sys::IdbRequest, JsValue>,
) -> Result<JsValue, String> {
    let db = open().await.map_err(|e| why(&e))?;
    let mode = if write {
        web_sys::IdbTransactionMode::Readwrite
    } else {
        web_sys::IdbTransactionMode::Readonly
    };
    let out = async {
        let tx = db.transaction_with_str_and_mode(STORE, mode)?;
        let req = op(&tx.object_store(STORE)?)?;
        done(&req).await
    }
    .await;
    db.close();
    out.map_err(|e| why(&e))
}

fn num(v: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(v, &key.into()).ok().and_then(|v| v.as_f64())
}

fn text(v: &JsValue, key: &str) -> Option<String> {
    Reflect::get(v, &key.into())
        .ok()
        .and_then(|v| v.as_string())
}

/// The folder `user` chose in this browser.
pub async fn load(user: &str) -> Result<Option<Folder>, String> {
    let key = JsValue::from_str(user);
    let v = with_store(false, |s| s.get(&key)).await?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let handle = Reflect::get(&v, &"handle".into()).unwrap_or(JsValue::UNDEFINED);
    if !handle.is_object() {
        return Ok(None);
    }
    Ok(Some(Folder {
        handle,
        name: text(&v, "name").unwrap_or_default(),
        last: num(&v, "last"),
        file: text(&v, "file").zip(num(&v, "writtenAt")),
        error: text(&v, "error"),
    }))
}

async fn save(user: &str, f: &Folder) -> Result<(), String> {
    let opt_num = |n: Option<f64>| n.map(JsValue::from_f64).unwrap_or(JsValue::NULL);
    let opt_text = |t: Option<&str>| t.map(JsValue::from_str).unwrap_or(JsValue::NULL);
    let value = object(&[
        ("handle", f.handle.clone()),
        ("name", JsValue::from_str(&f.name)),
        ("last", opt_num(f.last)),
        ("file", opt_text(f.file.as_ref().map(|(n, _)| n.as_str()))),
        ("writtenAt", opt_num(f.file.as_ref().map(|(_, at)| *at))),
        ("error", opt_text(f.error.as_deref())),
    ]);
    let key = JsValue::from_str(user);
    with_store(true, |s| s.put_with_key(&value, &key))
        .await
        .map(|_| ())
}

/// Stops writing `user`'s exports to a folder (the files written stay).
pub async fn forget(user: &str) -> Result<(), String> {
    let key = JsValue::from_str(user);
    with_store(true, |s| s.delete(&key)).await.map(|_| ())
}

// --- permission and writing -----------------------------------------------------------

/// The browser's permission to write to `folder`; `ask`: asks the user (needs a click).
async fn access(folder: &Folder, ask: bool) -> Access {
    let method = if ask {
        "requestPermission"
    } else {
        "queryPermission"
    };
    let has = Reflect::get(&folder.handle, &method.into())
        .ok()
        .is_some_and(|f| f.is_function());
    if !has {
        // a browser that can pick folders but does not manage permissions per handle
        return Access::Granted;
    }
    let mode = object(&[("mode", "readwrite".into())]);
    match call(&folder.handle, method, &[mode])
        .await
        .ok()
        .and_then(|v| v.as_string())
        .as_deref()
    {
        Some("granted") => Access::Granted,
        Some("denied") => Access::Denied,
        _ => Access::Prompt,
    }
}

/// The file name of the export made at `at` (UTC, sortable, no characters a file system
/// refuses; unique, as the times of a user's exports are):
/// `ledgerline-export-2026-12-02T09-41-00.123Z.json`.
pub fn file_name(at: f64) -> String {
    let iso = String::from(js_sys::Date::new(&JsValue::from_f64(at)).to_iso_string());
    format!("ledgerline-export-{}.json", iso.replace(':', "-"))
}

async fn write_file(folder: &Folder, name: &str, contents: &str) -> Result<(), JsValue> {
    let create = object(&[("create", JsValue::TRUE)]);
    let file = call(&folder.handle, "getFileHandle", &[name.into(), create]).await?;
    let writable = call(&file, "createWritable", &[]).await?;
    // written to a swap file the browser moves into place on close: a failed write
    // leaves no half file
    if let Err(e) = call(&writable, "write", &[contents.into()]).await {
        let _ = call(&writable, "abort", &[]).await;
        return Err(e);
    }
    call(&writable, "close", &[]).await.map(|_| ())
}

/// What [`write_new`] did.
#[derive(Debug, PartialEq)]
pub enum Wrote {
    /// No folder chosen (or none can be).
    NoFolder,
    /// This many exports written (0: the folder already holds the newest).
    Files(usize),
    /// The browser needs the user's permission again first.
    NeedsPermission,
}

thread_local! {
    /// Whether this page told the user (with a toast) that the folder could not be
    /// written: once per page, Settings shows it the rest of the time.
    static TOLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes to the chosen folder every automatic export kept in the browser that is newer
/// than the last one written there (only the newest, for a folder just chosen).
pub async fn write_new(store: &Store) -> Result<Wrote, String> {
    if !supported() {
        return Ok(Wrote::NoFolder);
    }
    let user = crate::oplog::user_of(store);
    let Some(mut folder) = load(&user).await? else {
        return Ok(Wrote::NoFolder);
    };
    let list = service::backups(&user).await.map_err(|e| e.message())?;
    let mut due: Vec<f64> = list
        .iter()
        .filter(|b| is_automatic(&b.reason) && folder.last.is_none_or(|l| b.at > l))
        .map(|b| b.at)
        .collect();
    due.sort_by(|a, b| a.total_cmp(b));
    if folder.last.is_none() {
        due = due.split_off(due.len().saturating_sub(1));
    }
    if due.is_empty() {
        return Ok(Wrote::Files(0));
    }
    if access(&folder, false).await != Access::Granted {
        return Ok(Wrote::NeedsPermission);
    }
    let mut written = 0;
    for at in due {
        let started = js_sys::Date::now();
        let name = file_name(at);
        let outcome = match service::read_backup(&user, at).await {
            Ok(bundle) => write_file(&folder, &name, &bundle)
                .await
                .map_err(|e| why(&e)),
            Err(e) => Err(e.message()),
        };
        match outcome {
            Ok(()) => {
                folder.last = Some(at);
                folder.file = Some((name.clone(), js_sys::Date::now()));
                folder.error = None;
                save(&user, &folder).await?;
                written += 1;
                crate::oplog::local(
                    store,
                    "export.folder",
                    None,
                    Ok(format!("{name} in {}", folder.name)),
                    started,
                );
            }
            Err(e) => {
                folder.error = Some(e.clone());
                let _ = save(&user, &folder).await;
                crate::oplog::local(store, "export.folder", None, Err(e.clone()), started);
                return Err(e);
            }
        }
    }
    Ok(Wrote::Files(written))
}

/// [`write_new`] as the page's export timer runs it: a failure or a missing permission
/// is told once per page (Settings → Backups shows it all the time).
pub async fn write_new_and_tell(store: &Store) {
    let message = match write_new(store).await {
        Ok(Wrote::NeedsPermission) => {
            let name = crate::oplog::user_of(store);
            let folder = load(&name).await.ok().flatten().map(|f| f.name);
            format!(
                "The automatic export is kept in this browser but was not written to your folder “{}”: the browser asks again for permission to write there. Settings → Backups → Allow writing.",
                folder.unwrap_or_default()
            )
        }
        Err(e) => format!(
            "The automatic export is kept in this browser but could not be written to your folder ({e}). Settings → Backups shows it; choose the folder again if it was moved or removed."
        ),
        Ok(_) => return,
    };
    if !TOLD.with(|t| t.replace(true)) {
        store.dispatch(Action::Toast(message));
    }
}

/// What Settings shows for `store`'s user.
pub async fn status(store: &Store) -> Status {
    if !supported() {
        return Status::Unsupported;
    }
    match load(&crate::oplog::user_of(store)).await {
        Ok(None) => Status::NotChosen,
        Ok(Some(f)) => {
            let a = access(&f, false).await;
            Status::Chosen(f, a)
        }
        Err(e) => Status::Unreadable(e),
    }
}

/// Asks the user for a folder (needs a click) and writes the newest automatic export
/// there at once. Ok(None): the user closed the picker.
pub async fn choose(store: &Store) -> Result<Option<String>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let options = object(&[
        ("id", "ledgerline-exports".into()),
        ("mode", "readwrite".into()),
        ("startIn", "documents".into()),
    ]);
    let handle = match call(&window, "showDirectoryPicker", &[options]).await {
        Ok(h) => h,
        Err(e) if is_abort(&e) => return Ok(None),
        Err(e) => return Err(why(&e)),
    };
    let folder = Folder {
        name: text(&handle, "name").unwrap_or_default(),
        handle,
        last: None,
        file: None,
        error: None,
    };
    if access(&folder, true).await != Access::Granted {
        return Err(format!(
            "the browser did not allow writing to “{}”",
            folder.name
        ));
    }
    let user = crate::oplog::user_of(store);
    save(&user, &folder).await?;
    say_written(&folder.name, write_new(store).await).map(Some)
}

/// Asks the browser again for permission to write to the chosen folder (needs a click),
/// then writes what waits.
pub async fn allow(store: &Store) -> Result<String, String> {
    let user = crate::oplog::user_of(store);
    let folder = load(&user).await?.ok_or("no folder is chosen")?;
    match access(&folder, true).await {
        Access::Granted => say_written(&folder.name, write_new(store).await),
        _ => Err(format!(
            "the browser did not allow writing to “{}”",
            folder.name
        )),
    }
}

fn say_written(name: &str, wrote: Result<Wrote, String>) -> Result<String, String> {
    match wrote? {
        Wrote::Files(0) => Ok(format!(
            "Each automatic export is now also written to “{name}”; the next one goes there."
        )),
        Wrote::Files(n) => Ok(format!(
            "Each automatic export is now also written to “{name}” ({n} written now)."
        )),
        Wrote::NeedsPermission => Err(format!("the browser did not allow writing to “{name}”")),
        Wrote::NoFolder => Err("no folder is chosen".to_string()),
    }
}
