//! Ledgerline's service worker. `static/sw.js` adds every event listener during the
//! script's first evaluation (a browser requirement) and forwards the events here.
//!
//! - install: precache the app shell (the list is written into sw.js at build time).
//! - activate: delete the caches of older builds.
//! - fetch: navigations get the cached `index.html` (the app routes on the client);
//!   other same-origin GETs are served cache-first, then from the network.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Cache, CacheStorage, Request, Response, ServiceWorkerGlobalScope};

/// Prefix shared by every build's shell cache.
const PREFIX: &str = "ledgerline-shell-";

fn scope() -> Result<ServiceWorkerGlobalScope, JsValue> {
    js_sys::global()
        .dyn_into::<ServiceWorkerGlobalScope>()
        .map_err(JsValue::from)
}

fn caches() -> Result<CacheStorage, JsValue> {
    scope()?.caches()
}

async fn open(name: &str) -> Result<Cache, JsValue> {
    Ok(JsFuture::from(caches()?.open(name)).await?.unchecked_into())
}

/// Fetches every URL bypassing the HTTP cache and stores it; fails (and so fails the
/// install, keeping the old worker) if any URL cannot be fetched.
#[wasm_bindgen]
pub fn on_install(cache_name: String, urls: Array) -> Promise {
    future_to_promise(async move {
        let cache = open(&cache_name).await?;
        let requests = Array::new();
        for url in urls.iter() {
            let init = web_sys::RequestInit::new();
            init.set_cache(web_sys::RequestCache::Reload);
            let url = url.as_string().ok_or("precache entry is not a string")?;
            let request = Request::new_with_str_and_init(&url, &init)?;
            requests.push(&request);
        }
        JsFuture::from(cache.add_all_with_request_sequence(&requests)).await?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Deletes the shell caches of other builds.
#[wasm_bindgen]
pub fn on_activate(cache_name: String) -> Promise {
    future_to_promise(async move {
        let storage = caches()?;
        let keys: Array = JsFuture::from(storage.keys()).await?.unchecked_into();
        for key in keys.iter() {
            if let Some(k) = key.as_string() {
                if k.starts_with(PREFIX) && k != cache_name {
                    JsFuture::from(storage.delete(&k)).await?;
                }
            }
        }
        Ok(JsValue::UNDEFINED)
    })
}

async fn cached(cache: &Cache, key: &str) -> Result<Option<Response>, JsValue> {
    let v = JsFuture::from(cache.match_with_str(key)).await?;
    Ok(v.dyn_into::<Response>().ok())
}

/// Answers a same-origin GET (sw.js only forwards those).
#[wasm_bindgen]
pub fn on_fetch(cache_name: String, request: Request) -> Promise {
    future_to_promise(async move {
        let cache = open(&cache_name).await?;
        let navigate = request.mode() == web_sys::RequestMode::Navigate;
        let hit = if navigate {
            cached(&cache, "/index.html").await?
        } else {
            let v = JsFuture::from(cache.match_with_request(&request)).await?;
            v.dyn_into::<Response>().ok()
        };
        if let Some(r) = hit {
            return Ok(r.into());
        }
        let response = JsFuture::from(scope()?.fetch_with_request(&request)).await?;
        Ok(response)
    })
}

fn main() {}
