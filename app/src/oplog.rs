//! Local storage operations go into the shared operation log (kept by the cloud worker in
//! IndexedDB), fire and forget: logging never slows or fails the operation itself.

use crate::state::AppState;
use ledgerline_core::protocol::LogEntry;

/// The user context as the log names it.
pub fn user_of(state: &AppState) -> String {
    state
        .session
        .as_ref()
        .map(|s| s.sub.clone())
        .unwrap_or_else(|| ledgerline_core::store::ANONYMOUS.to_string())
}

/// Logs one local operation that started at `started` (ms since the epoch).
pub fn local(
    state: &AppState,
    kind: &str,
    invoice_id: Option<&str>,
    outcome: Result<String, String>,
    started: f64,
) {
    let (outcome, detail) = match outcome {
        Ok(d) => ("ok", d),
        Err(d) => ("failed", d),
    };
    let entry = LogEntry {
        at: started,
        user: user_of(state),
        kind: kind.to_string(),
        invoice_id: invoice_id.map(str::to_string),
        outcome: outcome.to_string(),
        ms: js_sys::Date::now() - started,
        class: None,
        detail,
    };
    wasm_bindgen_futures::spawn_local(async move {
        let _ = crate::service::log(entry).await;
    });
}
