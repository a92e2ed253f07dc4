//! DynamoDB through aws-sdk-dynamodb: one client per configuration, reused.

use crate::http::{FetchClient, JsClock, JsSleep};
use aws_credential_types::Credentials as SdkCredentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region, SharedAsyncSleep};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::Client;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use ledgerline_core::credentials::Credentials;
use ledgerline_core::errors::Failure;
pub use ledgerline_core::protocol::Target;

pub fn client(target: &Target, creds: &Credentials) -> Client {
    let sdk_creds = SdkCredentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_string(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "ledgerline-vault",
    );
    let mut b = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .credentials_provider(sdk_creds)
        .http_client(FetchClient)
        .time_source(SharedTimeSource::new(JsClock))
        .sleep_impl(SharedAsyncSleep::new(JsSleep))
        // the app classifies failures and schedules its own retries
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        // bodies are whole in memory (fetch): a slow answer is the call timeout's to judge,
        // not a stall guard's (it failed every call slower than about 5 s as a network error)
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        // a call that hangs (a half-dead network) fails as a timeout instead of holding
        // the replay lock forever
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_millis(ATTEMPT_TIMEOUT_MS))
                .build(),
        );
    if !target.endpoint.trim().is_empty() {
        b = b.endpoint_url(target.endpoint.trim());
    }
    Client::from_conf(b.build())
}

/// How long one DynamoDB call may take before it fails as a timeout.
pub const ATTEMPT_TIMEOUT_MS: u64 = 15_000;

/// The sort key of the user's change marker: a random token rewritten after every replay
/// that wrote invoices. A connection check of another device reads it (one small GetItem)
/// and pulls only when it is not the one it saw at its last pull or wrote itself.
pub const MARKER_KEY: &str = "#changes";

/// The change marker now (None: never written).
pub async fn read_marker(
    client: &Client,
    table: &str,
    user: &str,
) -> Result<Option<String>, Failure> {
    let got = client
        .get_item()
        .table_name(table)
        .set_key(Some(crate::item::key(user, MARKER_KEY)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    Ok(got
        .item()
        .and_then(|it| it.get("token"))
        .and_then(|v| v.as_s().ok())
        .cloned())
}

/// Writes a new change marker after this device wrote invoices. `seen`: the marker this
/// device last knew (None: none known). Returns the new token and whether nobody else
/// changed the marker since `seen` (then this device has seen every change there is).
pub async fn bump_marker(
    client: &Client,
    table: &str,
    user: &str,
    seen: Option<&Option<String>>,
) -> Result<(String, bool), Failure> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let token = format!(
        "{:x}-{:08x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32
    );
    let mut item = crate::item::key(user, MARKER_KEY);
    item.insert("token".into(), AttributeValue::S(token.clone()));
    let put = || {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
    };
    let followed = match seen {
        None => false,
        Some(None) => put()
            .condition_expression("attribute_not_exists(#t)")
            .expression_attribute_names("#t", "token")
            .send()
            .await
            .is_ok(),
        Some(Some(s)) => put()
            .condition_expression("#t = :seen")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":seen", AttributeValue::S(s.clone()))
            .send()
            .await
            .is_ok(),
    };
    if !followed {
        // someone else changed it too (or this device knows nothing): written anyway, so
        // that the others see this change; this device pulls at its next check
        put().send().await.map_err(|e| failure(&e))?;
    }
    Ok((token, followed))
}

/// What a failed SDK call looked like, for [`ledgerline_core::errors::classify`].
pub fn failure<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Failure::transport(),
        SdkError::ServiceError(s) => {
            let f = Failure::service(s.raw().status().as_u16(), s.err().code().unwrap_or(""))
                .with_message(s.err().message());
            if let Some(server_now) = f.server_time_ms() {
                crate::http::correct_clock(server_now);
            }
            f
        }
        SdkError::ResponseError(r) => Failure {
            transport: false,
            http_status: Some(r.raw().status().as_u16()),
            code: None,
            message: None,
        },
        _ => Failure::default(),
    }
}

/// The cheapest call that proves credentials, endpoint and table: DescribeTable.
pub async fn check(client: &Client, table: &str) -> Result<String, Failure> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out
            .table()
            .and_then(|t| t.table_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()),
        Err(e) => Err(failure(&e)),
    }
}

/// Creates the invoices table (userId S partition key, invoiceId S sort key, on demand)
/// and waits until it is ACTIVE. An existing table is fine.
pub async fn create_table(client: &Client, table: &str) -> Result<String, Failure> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let (Ok(a1), Ok(a2), Ok(k1), Ok(k2)) = (
        attr("userId"),
        attr("invoiceId"),
        key("userId", KeyType::Hash),
        key("invoiceId", KeyType::Range),
    ) else {
        return Err(Failure::service(400, "ValidationException"));
    };
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(a1)
        .attribute_definitions(a2)
        .key_schema(k1)
        .key_schema(k2)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    if let Err(e) = created {
        let f = failure(&e);
        if f.code.as_deref() != Some("ResourceInUseException") {
            return Err(f);
        }
    }
    for _ in 0..60 {
        let status = check(client, table).await?;
        if status == "ACTIVE" {
            enable_ttl(client, table).await;
            return Ok(status);
        }
        gloo_timers::future::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok("CREATING".into())
}

/// Turns on DynamoDB's TTL for tombstones (`expiresAt`), so deletions are forgotten
/// after their lifetime. Best effort: a stand-in without UpdateTimeToLive (dynalite), or
/// credentials not allowed to call it, leave the tombstones in place, which only costs
/// space (the README says how to turn it on by hand).
async fn enable_ttl(client: &Client, table: &str) {
    use aws_sdk_dynamodb::types::TimeToLiveSpecification;
    let Ok(spec) = TimeToLiveSpecification::builder()
        .attribute_name(crate::item::TTL_ATTRIBUTE)
        .enabled(true)
        .build()
    else {
        return;
    };
    let _ = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await;
}

/// Leases a block of invoice numbers from the user's counter item (`#counter`): reads
/// it, then writes its new value conditional on the value read, so two devices never get
/// the same block (a lost race reads again). `floor`: what this device knows is taken.
/// Returns `[start, end)`. A write whose answer was lost only wastes its block.
pub async fn lease_numbers(
    client: &Client,
    table: &str,
    user: &str,
    floor: u64,
    count: u64,
) -> Result<(u64, u64), Failure> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use ledgerline_core::numbers::{block, COUNTER_KEY};
    for _ in 0..8 {
        let got = client
            .get_item()
            .table_name(table)
            .set_key(Some(crate::item::key(user, COUNTER_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure(&e))?;
        let seen = got
            .item()
            .and_then(|it| it.get("next"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        let Some((start, end)) = block(seen, floor, count) else {
            return Err(Failure {
                transport: false,
                http_status: Some(400),
                code: Some("ValidationException".into()),
                message: Some(format!(
                    "the number counter holds {seen:?}, beyond the numbers it gives out: fix the #counter item"
                )),
            });
        };
        let mut item = crate::item::key(user, COUNTER_KEY);
        item.insert("next".into(), AttributeValue::N(end.to_string()));
        let put = client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .expression_attribute_names("#n", "next");
        let put = match seen {
            None => put.condition_expression("attribute_not_exists(#n)"),
            Some(v) => put
                .condition_expression("#n = :seen")
                .expression_attribute_values(":seen", AttributeValue::N(v.to_string())),
        };
        match put.send().await {
            Ok(_) => return Ok((start, end)),
            Err(e) => {
                let f = failure(&e);
                if f.code.as_deref() != Some("ConditionalCheckFailedException") {
                    return Err(f);
                }
            }
        }
    }
    Err(Failure {
        transport: false,
        http_status: Some(400),
        code: Some("ConditionalCheckFailedException".into()),
        message: Some("the number counter kept changing while this device read it".into()),
    })
}

/// Every client and profile record of `user` (sort keys starting with '#', the number
/// counter left out), paginated.
pub async fn records(
    client: &Client,
    table: &str,
    user: &str,
) -> Result<Vec<ledgerline_core::sync::records::RemoteRecord>, Failure> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use ledgerline_core::sync::records::{Mark, RemoteRecord};
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("userId = :u AND begins_with(invoiceId, :p)")
            .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
            .expression_attribute_values(":p", AttributeValue::S("#".into()))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        for it in page.items() {
            let s = |k: &str| it.get(k).and_then(|v| v.as_s().ok()).cloned();
            let Some(key) = s("invoiceId").filter(|k| k.starts_with("#client#") || k == "#profile")
            else {
                continue;
            };
            let deleted = it
                .get("deleted")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false);
            let version = it
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let lineage: Vec<Mark> = s("lineage")
                .and_then(|l| serde_json::from_str(&l).ok())
                .unwrap_or_default();
            // only an explicit tombstone is a deletion; a record whose content does not
            // match its checksum (or has none) is damaged: no content, so nothing here is
            // ever replaced by it, and a checksum that no local copy has
            let stored = s("checksum");
            let content = s("content");
            let intact = match (&stored, &content) {
                (Some(sum), Some(text)) => serde_json::from_str::<serde_json::Value>(text)
                    .is_ok_and(|v| ledgerline_core::sync::records::record_checksum(&v) == *sum),
                _ => false,
            };
            out.push(RemoteRecord {
                key,
                version,
                checksum: (!deleted).then(|| stored.unwrap_or_else(|| "damaged".into())),
                content: (!deleted && intact).then_some(content).flatten(),
                lineage,
            });
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// Writes one record (`content` None: a tombstone), conditional on `base`: nothing
/// there, or DynamoDB still at exactly that version and checksum. `Ok(false)`: the
/// condition failed (DynamoDB changed since; the caller decides again).
#[allow(clippy::too_many_arguments)]
pub async fn put_record(
    client: &Client,
    table: &str,
    user: &str,
    key: &str,
    version: u64,
    content: Option<&str>,
    checksum: Option<&str>,
    base: Option<&ledgerline_core::sync::records::Mark>,
    lineage: &[ledgerline_core::sync::records::Mark],
) -> Result<bool, Failure> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let now = js_sys::Date::now() + crate::http::clock_offset_ms();
    let mut item = match content {
        Some(c) => {
            let mut it = crate::item::key(user, key);
            it.insert("version".into(), AttributeValue::N(version.to_string()));
            it.insert("content".into(), AttributeValue::S(c.to_string()));
            it.insert(
                "checksum".into(),
                AttributeValue::S(checksum.unwrap_or_default().to_string()),
            );
            it.insert(
                "updatedAt".into(),
                AttributeValue::S(String::from(
                    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(now)).to_iso_string(),
                )),
            );
            it
        }
        None => {
            // kept for good (no TTL): a device away longer than a TTL must still see that
            // the client was deleted, and clients are few
            let mut it = crate::item::tombstone(user, key, version, now);
            it.remove(crate::item::TTL_ATTRIBUTE);
            it
        }
    };
    if !lineage.is_empty() {
        item.insert(
            "lineage".into(),
            AttributeValue::S(serde_json::to_string(lineage).unwrap_or_default()),
        );
    }
    let mut put = client.put_item().table_name(table).set_item(Some(item));
    put = match base {
        None => put.condition_expression("attribute_not_exists(invoiceId)"),
        Some((v, Some(sum))) => put
            .condition_expression("version = :v AND checksum = :s")
            .expression_attribute_values(":v", AttributeValue::N(v.to_string()))
            .expression_attribute_values(":s", AttributeValue::S(sum.clone())),
        Some((v, None)) => put
            .condition_expression("version = :v AND attribute_not_exists(checksum)")
            .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
    };
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let f = failure(&e);
            if f.code.as_deref() == Some("ConditionalCheckFailedException") {
                Ok(false)
            } else {
                Err(f)
            }
        }
    }
}
