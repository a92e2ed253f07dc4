//! Web Locks (`navigator.locks`, in pages and workers alike): one replay at a time across
//! tabs and workers of this origin. Where the API is missing, the work runs unguarded.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Runs `work` while holding the exclusive lock `name`.
pub async fn exclusive<T: 'static>(name: &str, work: impl Future<Output = T> + 'static) -> T {
    let locks = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .and_then(|n| js_sys::Reflect::get(&n, &"locks".into()).ok())
        .filter(|l| !l.is_undefined() && !l.is_null());
    let request = locks.as_ref().and_then(|l| {
        js_sys::Reflect::get(l, &"request".into())
            .ok()?
            .dyn_into::<js_sys::Function>()
            .ok()
    });
    let (Some(locks), Some(request)) = (locks, request) else {
        return work.await;
    };
    let slot: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let work = Rc::new(RefCell::new(Some(Box::pin(work))));
    let (out, todo) = (slot.clone(), work.clone());
    // the callback runs when the lock is granted; the lock is held until its promise settles
    let callback = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        let work = todo.borrow_mut().take();
        wasm_bindgen_futures::future_to_promise(async move {
            if let Some(w) = work {
                let v = w.await;
                *out.borrow_mut() = Some(v);
            }
            Ok(JsValue::UNDEFINED)
        })
    });
    if let Ok(p) = request.call2(&locks, &JsValue::from_str(name), &callback) {
        let _ = JsFuture::from(js_sys::Promise::from(p)).await;
    }
    if let Some(v) = slot.borrow_mut().take() {
        return v;
    }
    // the lock could not be taken (the request was refused before granting): run anyway
    let pending = work.borrow_mut().take();
    match pending {
        Some(w) => w.await,
        None => {
            // granted but its result is missing: cannot happen, the callback always
            // stores it before its promise resolves; wait for nothing more
            futures_never().await
        }
    }
}

async fn futures_never<T>() -> T {
    std::future::pending().await
}
