//! The page's only contact with browser APIs: localStorage, clock, ids, downloads,
//! file reading and the service worker registration.

use ledgerline_core::store::{Kv, KvError, MemKv};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// localStorage as a [`Kv`].
pub struct LocalKv(web_sys::Storage);

impl LocalKv {
    /// The page's localStorage, or why it cannot be used (disabled, private mode, ...).
    pub fn open() -> Result<LocalKv, String> {
        let window = web_sys::window().ok_or("no window")?;
        match window.local_storage() {
            Ok(Some(s)) => Ok(LocalKv(s)),
            Ok(None) => Err("this browser offers no localStorage".into()),
            Err(e) => Err(js_error_text(&e)),
        }
    }
}

pub fn js_error_text(e: &JsValue) -> String {
    if let Some(ex) = e.dyn_ref::<web_sys::DomException>() {
        format!("{}: {}", ex.name(), ex.message())
    } else if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        String::from(err.message())
    } else {
        e.as_string().unwrap_or_else(|| "unknown error".into())
    }
}

fn is_quota(e: &JsValue) -> bool {
    e.dyn_ref::<web_sys::DomException>()
        .map(|ex| {
            let n = ex.name();
            n == "QuotaExceededError" || n == "NS_ERROR_DOM_QUOTA_REACHED" || ex.code() == 22
        })
        .unwrap_or(false)
}

impl Kv for LocalKv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get_item(key).ok().flatten()
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), KvError> {
        self.0.set_item(key, value).map_err(|e| {
            if is_quota(&e) {
                KvError::Quota
            } else {
                KvError::Other(js_error_text(&e))
            }
        })
    }
    fn remove(&mut self, key: &str) {
        let _ = self.0.remove_item(key);
    }
    fn keys(&self) -> Vec<String> {
        let n = self.0.length().unwrap_or(0);
        (0..n)
            .filter_map(|i| self.0.key(i).ok().flatten())
            .collect()
    }
}

thread_local! {
    /// Used only when localStorage cannot be opened: the session still works in memory.
    static FALLBACK: RefCell<MemKv> = RefCell::new(MemKv::default());
}

/// Runs `f` with the main store (localStorage, or the in-memory fallback).
pub fn with_kv<R>(f: impl FnOnce(&mut dyn Kv) -> R) -> R {
    match LocalKv::open() {
        Ok(mut kv) => f(&mut kv),
        Err(_) => FALLBACK.with(|m| f(&mut *m.borrow_mut())),
    }
}

pub fn now_rfc3339() -> String {
    // JavaScript's clock gives RFC 3339 (UTC, milliseconds) directly; chrono's clock
    // and formatter would add to the page's first load for the same string
    String::from(js_sys::Date::new_0().to_iso_string())
}

pub fn today() -> chrono::NaiveDate {
    let d = js_sys::Date::new_0();
    chrono::NaiveDate::from_ymd_opt(d.get_full_year() as i32, d.get_month() + 1, d.get_date())
        .unwrap_or_default()
}

/// A random id (crypto.randomUUID where available).
pub fn new_id() -> String {
    let global = js_sys::global();
    let uuid = js_sys::Reflect::get(&global, &"crypto".into())
        .ok()
        .and_then(|c| {
            let f = js_sys::Reflect::get(&c, &"randomUUID".into()).ok()?;
            let f = f.dyn_into::<js_sys::Function>().ok()?;
            f.call0(&c).ok()?.as_string()
        });
    uuid.unwrap_or_else(|| {
        (0..4)
            .map(|_| format!("{:08x}", (js_sys::Math::random() * 4_294_967_295.0) as u32))
            .collect::<Vec<_>>()
            .join("-")
    })
}

/// A `performance.mark` (read by the benchmark; harmless otherwise).
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// Offers the whole export bundle of `snap` (Data → Export JSON) as a download.
pub fn download_export(snap: &ledgerline_core::store::Snapshot) -> Result<(), String> {
    let text = ledgerline_core::exchange::export_json(snap, &now_rfc3339());
    download(
        &format!("ledgerline-export-{}.json", today()),
        "application/json",
        &text,
    )
}

/// Offers `text` as a file download.
pub fn download(filename: &str, mime: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|e| js_error_text(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| js_error_text(&e))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| js_error_text(&e))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(filename);
    a.click();
    // the click has started the download; the URL can go on the next tick
    gloo::timers::callback::Timeout::new(1_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Reads a picked file as text.
pub async fn read_text(file: &web_sys::File) -> Result<String, String> {
    let v = JsFuture::from(file.text())
        .await
        .map_err(|e| js_error_text(&e))?;
    v.as_string().ok_or_else(|| "the file is not text".into())
}

/// Reads a picked file as a `data:` URL.
pub async fn read_data_url(file: &web_sys::File) -> Result<String, String> {
    let reader = web_sys::FileReader::new().map_err(|e| js_error_text(&e))?;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let r2 = reader.clone();
        let onload = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &r2.result().unwrap_or(JsValue::NULL));
        });
        let onerror = Closure::once_into_js(move || {
            let _ = reject.call1(
                &JsValue::NULL,
                &JsValue::from_str("the file could not be read"),
            );
        });
        reader.set_onload(Some(onload.unchecked_ref()));
        reader.set_onerror(Some(onerror.unchecked_ref()));
    });
    reader
        .read_as_data_url(file)
        .map_err(|e| js_error_text(&e))?;
    let v = JsFuture::from(promise)
        .await
        .map_err(|e| js_error_text(&e))?;
    v.as_string()
        .ok_or_else(|| "the file could not be read".into())
}

/// The app's own scripts that may be started as workers: the only script URLs its
/// Trusted Types policy lets through.
const WORKER_SCRIPTS: [&str; 2] = ["/cloud-worker.js", "/sw.js"];

thread_local! {
    /// The page's Trusted Types policy `ledgerline` (created once: the CSP's
    /// `trusted-types` directive names it, and allows no second one of the same name).
    static SCRIPT_POLICY: std::cell::OnceCell<Result<JsValue, String>> = const { std::cell::OnceCell::new() };
}

/// `path` as a script URL the browser accepts for a worker under the CSP's
/// `require-trusted-types-for 'script'`: a TrustedScriptURL from the `ledgerline` policy,
/// which knows only [`WORKER_SCRIPTS`]; the plain string where the browser has no Trusted
/// Types.
pub fn script_url(path: &str) -> Result<JsValue, String> {
    let types = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("trustedTypes"))
        .unwrap_or(JsValue::UNDEFINED);
    if types.is_undefined() || types.is_null() {
        return Ok(JsValue::from_str(path));
    }
    let policy = SCRIPT_POLICY.with(|p| {
        p.get_or_init(|| {
            let check = Closure::<dyn Fn(String) -> Result<String, JsValue>>::new(|url: String| {
                if WORKER_SCRIPTS.contains(&url.as_str()) {
                    Ok(url)
                } else {
                    Err(JsValue::from_str("not one of Ledgerline's worker scripts"))
                }
            });
            let rules = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&rules, &"createScriptURL".into(), check.as_ref());
            // the policy lives as long as the page
            check.forget();
            call_method(
                &types,
                "createPolicy",
                &[JsValue::from_str("ledgerline"), rules.into()],
            )
        })
        .clone()
    })?;
    call_method(&policy, "createScriptURL", &[JsValue::from_str(path)])
}

/// `target.name(args…)`, its exception as text.
fn call_method(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &JsValue::from_str(name))
        .map_err(|e| js_error_text(&e))?
        .dyn_into()
        .map_err(|_| format!("{name} is not a function here"))?;
    f.apply(target, &args.iter().collect::<js_sys::Array>())
        .map_err(|e| js_error_text(&e))
}

/// A worker running the app's script `path` (see [`script_url`]).
pub fn start_worker(path: &str) -> Result<web_sys::Worker, String> {
    let ctor: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"Worker".into())
        .map_err(|e| js_error_text(&e))?
        .dyn_into()
        .map_err(|_| "this browser has no Web Workers".to_string())?;
    js_sys::Reflect::construct(&ctor, &js_sys::Array::of1(&script_url(path)?))
        .map_err(|e| js_error_text(&e))?
        .dyn_into()
        .map_err(|_| "the worker could not be started".to_string())
}

/// Registers `/sw.js` and calls `on_update` once a new version is installed and waiting
/// (only when a worker already controls the page: the very first install is no "update").
pub fn register_service_worker(on_update: impl Fn() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    if JsValue::from(container.clone()).is_undefined() {
        return;
    }
    let on_update: std::rc::Rc<dyn Fn()> = std::rc::Rc::new(on_update);
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(registered) = script_url("/sw.js")
            .and_then(|url| call_method(&container, "register", &[url]))
            .and_then(|p| p.dyn_into::<js_sys::Promise>().map_err(|_| String::new()))
        else {
            return;
        };
        let Ok(reg) = JsFuture::from(registered).await else {
            return;
        };
        let reg: web_sys::ServiceWorkerRegistration = reg.unchecked_into();
        if reg.waiting().is_some() && container.controller().is_some() {
            on_update();
        }
        if let Some(installing) = reg.installing() {
            watch_install(installing, on_update.clone());
        }
        let reg2 = reg.clone();
        let on_found = Closure::<dyn Fn()>::new(move || {
            if let Some(installing) = reg2.installing() {
                watch_install(installing, on_update.clone());
            }
        });
        reg.set_onupdatefound(Some(on_found.as_ref().unchecked_ref()));
        on_found.forget();
    });
}

fn watch_install(sw: web_sys::ServiceWorker, on_update: std::rc::Rc<dyn Fn()>) {
    let sw2 = sw.clone();
    let on_state = Closure::<dyn Fn()>::new(move || {
        let controlled = web_sys::window()
            .map(|w| w.navigator().service_worker().controller().is_some())
            .unwrap_or(false);
        if sw2.state() == web_sys::ServiceWorkerState::Installed && controlled {
            on_update();
        }
    });
    sw.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
    on_state.forget();
}

/// Activates the waiting worker, then reloads once it controls the page.
pub fn apply_update() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    let reload = Closure::<dyn Fn()>::new(|| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    });
    container.set_oncontrollerchange(Some(reload.as_ref().unchecked_ref()));
    reload.forget();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(reg) = JsFuture::from(container.get_registration()).await {
            if let Ok(reg) = reg.dyn_into::<web_sys::ServiceWorkerRegistration>() {
                if let Some(w) = reg.waiting() {
                    let _ = w.post_message(&JsValue::from_str("skip-waiting"));
                    return;
                }
            }
        }
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    });
}
