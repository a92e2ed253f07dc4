//! The credential vault: AWS credentials encrypted with AES-GCM under a non-extractable
//! WebCrypto key, both kept in IndexedDB (the key as a CryptoKey object, which script can
//! use but never read). Readable by the page's workers and the service worker of this
//! origin; never in localStorage, exports, backups or logs.

use ledgerline_core::credentials::{Credentials, Secret};
use ledgerline_core::protocol::CredentialsInfo;
use rexie::{ObjectStore, Rexie, Transaction, TransactionMode, TransactionResult};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const DB: &str = "ledgerline-vault";
const STORE: &str = "vault";
const KEY: &str = "aes-key";
const RECORD: &str = "aws-credentials";

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

fn js(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn open() -> Result<Rexie, String> {
    Rexie::builder(DB)
        .version(1)
        .add_object_store(ObjectStore::new(STORE))
        .build()
        .await
        .map_err(err)
}

async fn done(tx: Transaction) -> Result<(), String> {
    match tx.done().await.map_err(err)? {
        TransactionResult::Committed => Ok(()),
        TransactionResult::Aborted => Err("the browser aborted the IndexedDB transaction".into()),
    }
}

async fn get(db: &Rexie, key: &str) -> Result<Option<JsValue>, String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let v = store.get(JsValue::from_str(key)).await.map_err(err)?;
    done(tx).await?;
    Ok(v.filter(|v| !v.is_undefined() && !v.is_null()))
}

async fn put(db: &Rexie, key: &str, value: &JsValue) -> Result<(), String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    store
        .put(value, Some(&JsValue::from_str(key)))
        .await
        .map_err(err)?;
    done(tx).await
}

async fn delete(db: &Rexie, key: &str) -> Result<(), String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    store.delete(JsValue::from_str(key)).await.map_err(err)?;
    done(tx).await
}

fn subtle() -> Result<web_sys::SubtleCrypto, String> {
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
            .map_err(js)?
            .dyn_into()
            .map_err(|_| "WebCrypto is not available here".to_string())?;
    Ok(crypto.subtle())
}

/// The vault key, created on first use (non-extractable AES-GCM 256).
async fn key(db: &Rexie) -> Result<web_sys::CryptoKey, String> {
    if let Some(k) = get(db, KEY).await? {
        return k
            .dyn_into()
            .map_err(|_| "the stored vault key is not a CryptoKey".to_string());
    }
    let params = web_sys::AesKeyGenParams::new("AES-GCM", 256);
    let usages = js_sys::Array::of2(&"encrypt".into(), &"decrypt".into());
    let k: web_sys::CryptoKey = JsFuture::from(
        subtle()?
            .generate_key_with_object(&params, false, &usages)
            .map_err(js)?,
    )
    .await
    .map_err(js)?
    .unchecked_into();
    put(db, KEY, &k).await?;
    Ok(k)
}

#[derive(Serialize, Deserialize)]
struct Plain {
    id: String,
    secret: String,
    token: Option<String>,
}

/// What is stored besides the ciphertext (none of it secret).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    masked_key_id: String,
    entered_at: f64,
    temporary: bool,
    worked: bool,
}

fn random_iv() -> Result<js_sys::Uint8Array, String> {
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
            .map_err(js)?
            .unchecked_into();
    let mut iv = [0u8; 12];
    crypto
        .get_random_values_with_u8_array(&mut iv)
        .map_err(js)?;
    Ok(js_sys::Uint8Array::from(&iv[..]))
}

pub async fn store(creds: &Credentials) -> Result<CredentialsInfo, String> {
    let db = open().await?;
    let k = key(&db).await?;
    let mut plain = serde_json::to_vec(&Plain {
        id: creds.access_key_id.clone(),
        secret: creds.secret_access_key.expose().to_string(),
        token: creds.session_token.as_ref().map(|t| t.expose().to_string()),
    })
    .map_err(err)?;
    let iv = random_iv()?;
    let params = web_sys::AesGcmParams::new("AES-GCM", &iv);
    let cipher = JsFuture::from(
        subtle()?
            .encrypt_with_object_and_u8_array(&params, &k, &plain)
            .map_err(js)?,
    )
    .await
    .map_err(js)?;
    // overwrite the plaintext buffer now that it is encrypted
    plain.iter_mut().for_each(|b| *b = 0);
    let info = CredentialsInfo {
        masked_key_id: creds.masked_key_id(),
        entered_at: js_sys::Date::now(),
        temporary: creds.is_temporary(),
        worked: false,
    };
    let record = js_sys::Object::new();
    let set =
        |k: &str, v: &JsValue| js_sys::Reflect::set(&record, &JsValue::from_str(k), v).map(|_| ());
    set("iv", &iv).map_err(js)?;
    set("data", &js_sys::Uint8Array::new(&cipher)).map_err(js)?;
    let meta = Meta {
        masked_key_id: info.masked_key_id.clone(),
        entered_at: info.entered_at,
        temporary: info.temporary,
        worked: false,
    };
    set(
        "meta",
        &JsValue::from_str(&serde_json::to_string(&meta).map_err(err)?),
    )
    .map_err(js)?;
    put(&db, RECORD, &record).await?;
    Ok(info)
}

async fn record(db: &Rexie) -> Result<Option<(js_sys::Object, Meta)>, String> {
    let Some(v) = get(db, RECORD).await? else {
        return Ok(None);
    };
    let obj: js_sys::Object = v.unchecked_into();
    let meta = js_sys::Reflect::get(&obj, &JsValue::from_str("meta"))
        .ok()
        .and_then(|m| m.as_string())
        .and_then(|m| serde_json::from_str::<Meta>(&m).ok())
        .ok_or("the stored credentials are damaged: enter them again")?;
    Ok(Some((obj, meta)))
}

pub async fn info() -> Result<Option<CredentialsInfo>, String> {
    let db = open().await?;
    Ok(record(&db).await?.map(|(_, m)| CredentialsInfo {
        masked_key_id: m.masked_key_id,
        entered_at: m.entered_at,
        temporary: m.temporary,
        worked: m.worked,
    }))
}

/// The stored credentials, decrypted, with whether they have worked before.
pub async fn load() -> Result<Option<(Credentials, bool)>, String> {
    let db = open().await?;
    let Some((obj, meta)) = record(&db).await? else {
        return Ok(None);
    };
    let k = key(&db).await?;
    let iv: js_sys::Uint8Array = js_sys::Reflect::get(&obj, &JsValue::from_str("iv"))
        .map_err(js)?
        .unchecked_into();
    let data = js_sys::Uint8Array::new(
        &js_sys::Reflect::get(&obj, &JsValue::from_str("data")).map_err(js)?,
    )
    .to_vec();
    let params = web_sys::AesGcmParams::new("AES-GCM", &iv);
    let plain = JsFuture::from(
        subtle()?
            .decrypt_with_object_and_u8_array(&params, &k, &data)
            .map_err(js)?,
    )
    .await
    .map_err(|_| "the stored credentials cannot be decrypted: enter them again".to_string())?;
    let mut bytes = js_sys::Uint8Array::new(&plain).to_vec();
    let p: Result<Plain, _> = serde_json::from_slice(&bytes);
    bytes.iter_mut().for_each(|b| *b = 0);
    let p = p.map_err(|_| "the stored credentials are damaged: enter them again".to_string())?;
    Ok(Some((
        Credentials {
            access_key_id: p.id,
            secret_access_key: Secret::new(p.secret),
            session_token: p.token.map(Secret::new),
        },
        meta.worked,
    )))
}

/// Remembers that the stored credentials worked (an UnrecognizedClient later = expired).
pub async fn mark_worked() -> Result<(), String> {
    let db = open().await?;
    let Some((obj, mut meta)) = record(&db).await? else {
        return Ok(());
    };
    if meta.worked {
        return Ok(());
    }
    meta.worked = true;
    js_sys::Reflect::set(
        &obj,
        &JsValue::from_str("meta"),
        &JsValue::from_str(&serde_json::to_string(&meta).map_err(err)?),
    )
    .map_err(js)?;
    put(&db, RECORD, &obj).await
}

pub async fn forget() -> Result<(), String> {
    let db = open().await?;
    delete(&db, RECORD).await
}
