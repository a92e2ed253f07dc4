//! The page's side of the cloud worker: started lazily (never on the first render's
//! path), one request/reply pair per call, correlated by id. The page hands credentials
//! over once and never keeps them.

use ledgerline_core::errors::ErrorClass;
use ledgerline_core::protocol::{Envelope, Reply, Request};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A call that gets no answer in this time counts as a network failure.
const TIMEOUT_MS: u32 = 20_000;
/// Replays and pulls may send many batches (and wait for another tab's replay): each
/// DynamoDB call inside is bounded by the worker's own 15 s timeout instead.
const LONG_TIMEOUT_MS: u32 = 600_000;

type Waiter = futures_channel::oneshot::Sender<Reply>;

struct Conn {
    worker: web_sys::Worker,
    next_id: u32,
    /// Few requests are ever in flight: a list is enough (and lighter than a map).
    waiting: Vec<(u32, Waiter)>,
    _onmessage: Closure<dyn Fn(web_sys::MessageEvent)>,
}

thread_local! {
    static CONN: RefCell<Option<Conn>> = const { RefCell::new(None) };
}

fn deliver(id: u32, reply: Reply) {
    let waiter = CONN.with(|c| {
        let mut c = c.borrow_mut();
        let conn = c.as_mut()?;
        let i = conn.waiting.iter().position(|(k, _)| *k == id)?;
        Some(conn.waiting.swap_remove(i).1)
    });
    if let Some(w) = waiter {
        let _ = w.send(reply);
    }
}

fn start() -> Result<(), String> {
    if CONN.with(|c| c.borrow().is_some()) {
        return Ok(());
    }
    let worker = crate::platform::start_worker("/cloud-worker.js")?;
    let onmessage = Closure::<dyn Fn(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
        let Some(text) = e.data().as_string() else {
            return;
        };
        if let Ok(env) = serde_json::from_str::<Envelope<Reply>>(&text) {
            deliver(env.id, env.body);
        }
    });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    CONN.with(|c| {
        *c.borrow_mut() = Some(Conn {
            worker,
            next_id: 1,
            waiting: Vec::new(),
            _onmessage: onmessage,
        })
    });
    Ok(())
}

/// Sends one request to the cloud worker and waits for its reply.
pub async fn call(body: Request) -> Reply {
    if let Err(message) = start() {
        return Reply::Error {
            message: format!("the cloud worker could not start ({message})"),
        };
    }
    let limit = match body {
        Request::Replay { .. } | Request::Pull { .. } => LONG_TIMEOUT_MS,
        _ => TIMEOUT_MS,
    };
    let (tx, rx) = futures_channel::oneshot::channel();
    let sent = CONN.with(|c| {
        let mut c = c.borrow_mut();
        let conn = c.as_mut()?;
        let id = conn.next_id;
        conn.next_id = conn.next_id.wrapping_add(1).max(1);
        conn.waiting.push((id, tx));
        let text = serde_json::to_string(&Envelope { id, body }).ok()?;
        conn.worker.post_message(&JsValue::from_str(&text)).ok()?;
        Some(id)
    });
    let Some(id) = sent else {
        return Reply::Error {
            message: "the request could not be sent to the cloud worker".into(),
        };
    };
    gloo::timers::callback::Timeout::new(limit, move || {
        deliver(
            id,
            Reply::Failed {
                class: ErrorClass::NetworkUnreachable,
                ms: f64::from(limit),
            },
        )
    })
    .forget();
    rx.await.unwrap_or(Reply::Error {
        message: "the cloud worker stopped".into(),
    })
}
