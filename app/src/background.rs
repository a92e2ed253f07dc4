//! Background sync: the page asks the service worker to send the queue as soon as the
//! network allows, even once every tab is closed (Background Sync, Chromium: the `sync`
//! event, one tag), and in an installed app to sync and export now and then (Periodic
//! Background Sync). Where an API is missing (Firefox, Safari) nothing is asked and
//! nothing fails: the page's own fallbacks (a check on `online`, on every interval and
//! when the tab shows, a replay after every good check) deliver everything while a tab is
//! open, and the service worker sends what waits whenever it starts.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The one-off sync's tag (static/sw.js answers it with the `replayAll` job).
pub const SYNC_TAG: &str = "ledgerline-replay";
/// The periodic sync's tag and how often it may run (the browser decides when).
pub const PERIODIC_TAG: &str = "ledgerline-periodic";
const PERIODIC_MIN_MS: f64 = 12.0 * 3600.0 * 1000.0;

fn get(of: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(of, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Calls `obj.method(args...)`, awaiting the promise it returns.
async fn invoke(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let f = get(obj, method)
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| format!("{method} is missing"))?;
    let array: js_sys::Array = args.iter().collect();
    let p = f
        .apply(obj, &array)
        .map_err(|e| crate::platform::js_error_text(&e))?;
    JsFuture::from(js_sys::Promise::resolve(&p))
        .await
        .map_err(|e| crate::platform::js_error_text(&e))
}

/// The active service worker's registration (None: no service worker here).
async fn registration() -> Option<JsValue> {
    let window = web_sys::window()?;
    let container = get(&window.navigator(), "serviceWorker")?;
    let ready = get(&container, "ready")?;
    JsFuture::from(js_sys::Promise::resolve(&ready)).await.ok()
}

/// Whether this browser has one-off Background Sync.
pub fn sync_supported() -> bool {
    web_sys::window()
        .map(|w| get(&w, "SyncManager").is_some())
        .unwrap_or(false)
}

thread_local! {
    /// When this page last asked (ms since the epoch).
    static ASKED: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NEG_INFINITY) };
}

/// How often a page asks at most while it saves changes DynamoDB cannot take: each ask
/// fires a sync event at once when the browser is online, and one a minute is plenty for
/// the browser to hold a request when the tab goes.
const ASK_EVERY_MS: f64 = 60_000.0;

/// Asks the service worker to send the queue when the network allows (at once if it
/// does), at most once a minute from this page. Nothing happens where Background Sync is
/// missing.
pub fn request_replay() {
    let now = js_sys::Date::now();
    if now - ASKED.with(|a| a.get()) < ASK_EVERY_MS {
        return;
    }
    request_replay_now();
}

/// [`request_replay`] when the browser is offline (a change saved then): the browser
/// fires the sync once it is back online, even if the tab was closed, or killed without
/// the chance to ask. While it is online, asking at once would fire a sync straight
/// away, sending before this page's own connection check has said DynamoDB answers.
pub fn request_replay_when_online() {
    let offline = web_sys::window().is_some_and(|w| !w.navigator().on_line());
    if offline {
        request_replay();
    }
}

/// [`request_replay`] without the once-a-minute limit: new credentials were saved, or the
/// tab is going away with changes left.
pub fn request_replay_now() {
    if !sync_supported() {
        return;
    }
    ASKED.with(|a| a.set(js_sys::Date::now()));
    wasm_bindgen_futures::spawn_local(async {
        if let Some(sync) = registration().await.and_then(|r| get(&r, "sync")) {
            let _ = invoke(&sync, "register", &[JsValue::from_str(SYNC_TAG)]).await;
        }
    });
}

/// Where Periodic Background Sync stands for this app.
#[derive(Debug, Clone, PartialEq)]
pub enum Periodic {
    /// Not known yet (the service worker is not ready).
    Unknown,
    /// The browser has no Periodic Background Sync (Firefox, Safari).
    Unsupported,
    /// The browser has it but does not allow it here (it does for installed apps).
    NotAllowed,
    Active,
    /// Asking for it failed (the browser's words).
    Failed(String),
}

/// Registers the periodic task where the browser allows it, and says where it stands.
pub async fn ensure_periodic() -> Periodic {
    let Some(reg) = registration().await else {
        return Periodic::Unsupported;
    };
    let Some(periodic) = get(&reg, "periodicSync") else {
        return Periodic::Unsupported;
    };
    let allowed = match web_sys::window().and_then(|w| get(&w.navigator(), "permissions")) {
        Some(permissions) => {
            let query = js_sys::Object::new();
            let _ =
                js_sys::Reflect::set(&query, &"name".into(), &"periodic-background-sync".into());
            match invoke(&permissions, "query", &[query.into()]).await {
                Ok(status) => {
                    get(&status, "state").and_then(|s| s.as_string()) == Some("granted".into())
                }
                Err(_) => false,
            }
        }
        None => false,
    };
    if !allowed {
        return Periodic::NotAllowed;
    }
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &"minInterval".into(),
        &JsValue::from_f64(PERIODIC_MIN_MS),
    );
    match invoke(
        &periodic,
        "register",
        &[JsValue::from_str(PERIODIC_TAG), options.into()],
    )
    .await
    {
        Ok(_) => Periodic::Active,
        Err(e) => Periodic::Failed(e),
    }
}
