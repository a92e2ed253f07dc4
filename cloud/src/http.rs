//! The AWS SDK's HTTP client over `fetch` of the global scope, so the same code works in
//! a page, a dedicated worker and the service worker (`web_sys::window()` is None in
//! workers). Also the SDK's clock and sleep, which wasm32-unknown-unknown lacks.

use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use send_wrapper::SendWrapper;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Headers the browser sets itself (and refuses from scripts).
const SKIP: [&str; 3] = ["host", "content-length", "user-agent"];

#[derive(Debug)]
struct FetchFailed(String);

impl std::fmt::Display for FetchFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fetch failed: {}", self.0)
    }
}
impl std::error::Error for FetchFailed {}

fn io(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::io(Box::new(FetchFailed(msg.into())))
}

fn text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "network error".into())
}

/// The global `fetch` of this scope (page, worker or service worker) for `request` (a
/// `Request` or a URL). A rejection is a transport failure: refused, DNS, CORS or offline
/// alike. Every call Ledgerline makes to AWS goes through here.
pub async fn fetch(request: &JsValue) -> Result<web_sys::Response, JsValue> {
    let global = js_sys::global();
    let fetch = js_sys::Reflect::get(&global, &JsValue::from_str("fetch"))?
        .dyn_into::<js_sys::Function>()
        .map_err(|_| JsValue::from_str("this scope has no fetch"))?;
    let promise: js_sys::Promise = fetch.call1(&global, request)?.unchecked_into();
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

async fn send(request: HttpRequest) -> Result<Response<SdkBody>, ConnectorError> {
    let init = web_sys::RequestInit::new();
    init.set_method(request.method());
    let headers = web_sys::Headers::new().map_err(|e| io(text(&e)))?;
    for (name, value) in request.headers().iter() {
        if SKIP.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        headers.append(name, value).map_err(|e| io(text(&e)))?;
    }
    init.set_headers(&headers);
    if let Some(bytes) = request.body().bytes() {
        if !bytes.is_empty() {
            init.set_body(&js_sys::Uint8Array::from(bytes));
        }
    }
    let req =
        web_sys::Request::new_with_str_and_init(request.uri(), &init).map_err(|e| io(text(&e)))?;
    let resp = fetch(&req).await.map_err(|e| io(text(&e)))?;
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| io(text(&e)))?)
        .await
        .map_err(|e| io(text(&e)))?;
    let body = js_sys::Uint8Array::new(&buf).to_vec();
    let status = StatusCode::try_from(resp.status()).map_err(|_| io("invalid HTTP status"))?;
    let mut out = Response::new(status, SdkBody::from(body));
    if let Ok(Some(iter)) = js_sys::try_iter(&resp.headers()) {
        for pair in iter.flatten() {
            let pair: js_sys::Array = pair.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out.headers_mut().insert(k, v);
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct FetchClient;

#[derive(Debug, Clone)]
struct FetchConnector;

impl HttpConnector for FetchConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(SendWrapper::new(send(request)))
    }
}

impl HttpClient for FetchClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        FetchConnector.into_shared()
    }
}

thread_local! {
    /// How far this device's clock is behind DynamoDB's, in milliseconds (negative:
    /// ahead), as measured from a refused signature: requests are signed with the
    /// corrected time, as AWS's own SDKs do, so sync works even with a wrong clock.
    static CLOCK_OFFSET_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Learns the offset from DynamoDB's time as a refused signature told it: absolute
/// (its time minus this device's now), so that several requests refused at once do not
/// add their corrections up.
pub fn correct_clock(server_time_ms: i64) {
    CLOCK_OFFSET_MS.with(|c| c.set(server_time_ms as f64 - js_sys::Date::now()));
}

/// The current correction, in milliseconds.
pub fn clock_offset_ms() -> f64 {
    CLOCK_OFFSET_MS.with(|c| c.get())
}

/// `Date.now()` (plus the measured offset) as the SDK's clock (SystemTime::now panics on
/// this target).
#[derive(Debug, Clone, Default)]
pub struct JsClock;

impl TimeSource for JsClock {
    fn now(&self) -> SystemTime {
        let now = (js_sys::Date::now() + clock_offset_ms()).max(0.0);
        UNIX_EPOCH + Duration::from_millis(now as u64)
    }
}

/// Timers from the global scope.
#[derive(Debug, Clone, Default)]
pub struct JsSleep;

impl AsyncSleep for JsSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(SendWrapper::new(gloo_timers::future::sleep(duration)))
    }
}
