//! The credential vault: AWS credentials encrypted with AES-GCM under a non-extractable
//! WebCrypto key, both kept in IndexedDB (the key as a CryptoKey object, which script can
//! use but never read). Readable by the page's workers and the service worker of this
//! origin; never in localStorage, exports, backups or logs.

use crate::error::CloudResult;
use ledgerline_core::credentials::{Credentials, Secret};
use ledgerline_core::protocol::CredentialsInfo;
use rexie::{ObjectStore, Rexie, Transaction, TransactionMode, TransactionResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const DB: &str = "ledgerline-vault";
const STORE: &str = "vault";
const KEY: &str = "aes-key";
/// Before credentials were kept per user, one record for the whole browser: adopted by
/// the first user whose credentials are looked for.
const LEGACY_RECORD: &str = "aws-credentials";

/// The credentials of `owner` (a Cognito sub, or `anonymous` for those saved signed out):
/// one user of a shared browser never uses or sees another's.
fn record(owner: &str) -> String {
    format!("aws-credentials|{owner}")
}

/// Which credentials, saved when: a worker that cached a client for older credentials
/// (or another user's) knows to make a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub owner: String,
    pub entered_at: f64,
}

/// Moves the record under `from` to `to` (the same sealed bytes) if `to` holds none;
/// whether it moved.
async fn move_record(from: &str, to: &str) -> CloudResult<bool> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let present = |v: Option<JsValue>| v.filter(|v| !v.is_undefined() && !v.is_null());
    let there = present(store.get(JsValue::from_str(to)).await.map_err(err)?);
    let moving = present(store.get(JsValue::from_str(from)).await.map_err(err)?);
    let moved = match (there, moving) {
        (None, Some(v)) => {
            store
                .put(&v, Some(&JsValue::from_str(to)))
                .await
                .map_err(err)?;
            store.delete(JsValue::from_str(from)).await.map_err(err)?;
            true
        }
        _ => false,
    };
    done(tx).await?;
    Ok(moved)
}

/// Gives `owner` the credentials of the whole browser kept by an older version.
async fn adopt_legacy(owner: &str) -> CloudResult<()> {
    move_record(LEGACY_RECORD, &record(owner)).await.map(|_| ())
}

/// At sign-in: credentials saved while signed out (just before signing in, as the app's
/// steps go) become the user's, if the user has none yet. Whether they did.
/// Newer anonymous credentials replace the user's (the person at the keyboard pasted
/// them, then signed in).
pub async fn claim_anonymous(user: &str) -> CloudResult<bool> {
    let anonymous = ledgerline_core::store::ANONYMOUS;
    if user == anonymous {
        return Ok(false);
    }
    let Some(pasted) = info(anonymous).await? else {
        return Ok(false);
    };
    if info(user)
        .await?
        .is_some_and(|own| own.entered_at < pasted.entered_at)
    {
        remove(&record(user)).await?;
    }
    move_record(&record(anonymous), &record(user)).await
}

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

fn js(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn open() -> CloudResult<Rexie> {
    Rexie::builder(DB)
        .version(1)
        .add_object_store(ObjectStore::new(STORE))
        .build()
        .await
        .map_err(|e| err(e).into())
}

async fn done(tx: Transaction) -> CloudResult<()> {
    match tx.done().await.map_err(err)? {
        TransactionResult::Committed => Ok(()),
        TransactionResult::Aborted => Err("the browser aborted the IndexedDB transaction".into()),
    }
}

async fn get(db: &Rexie, key: &str) -> CloudResult<Option<JsValue>> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let v = store.get(JsValue::from_str(key)).await.map_err(err)?;
    done(tx).await?;
    Ok(v.filter(|v| !v.is_undefined() && !v.is_null()))
}

async fn put(db: &Rexie, key: &str, value: &JsValue) -> CloudResult<()> {
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

async fn delete(db: &Rexie, key: &str) -> CloudResult<()> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    store.delete(JsValue::from_str(key)).await.map_err(err)?;
    done(tx).await
}

pub(crate) fn subtle() -> CloudResult<web_sys::SubtleCrypto> {
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
            .map_err(js)?
            .dyn_into()
            .map_err(|_| "WebCrypto is not available here".to_string())?;
    Ok(crypto.subtle())
}

/// The vault key, created on first use (non-extractable AES-GCM 256).
async fn key(db: &Rexie) -> CloudResult<web_sys::CryptoKey> {
    if let Some(k) = get(db, KEY).await? {
        return k
            .dyn_into()
            .map_err(|_| "the stored vault key is not a CryptoKey".into());
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

fn random_iv() -> CloudResult<js_sys::Uint8Array> {
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

/// Stores `value` encrypted under `name`, with `meta` (not secret) beside it in clear.
async fn put_sealed<T: Serialize>(name: &str, value: &T, meta: &str) -> CloudResult<()> {
    let db = open().await?;
    let k = key(&db).await?;
    let mut plain = serde_json::to_vec(value).map_err(err)?;
    let iv = random_iv()?;
    let params = web_sys::AesGcmParams::new("AES-GCM", &iv);
    let sealed = subtle()?
        .encrypt_with_object_and_u8_array(&params, &k, &plain)
        .map_err(js);
    // overwrite the plaintext buffer as soon as the browser has it
    plain.iter_mut().for_each(|b| *b = 0);
    let cipher = JsFuture::from(sealed?).await.map_err(js)?;
    let record = js_sys::Object::new();
    let set =
        |k: &str, v: &JsValue| js_sys::Reflect::set(&record, &JsValue::from_str(k), v).map(|_| ());
    set("iv", &iv).map_err(js)?;
    set("data", &js_sys::Uint8Array::new(&cipher)).map_err(js)?;
    set("meta", &JsValue::from_str(meta)).map_err(js)?;
    put(&db, name, &record).await
}

fn meta_of(obj: &JsValue) -> Option<String> {
    js_sys::Reflect::get(obj, &JsValue::from_str("meta"))
        .ok()
        .and_then(|m| m.as_string())
}

/// The clear `meta` stored beside `name`.
async fn get_meta(name: &str) -> CloudResult<Option<String>> {
    let db = open().await?;
    Ok(get(&db, name).await?.and_then(|v| meta_of(&v)))
}

/// Rewrites the credentials' clear details beside `name` in one transaction, so that new
/// credentials saved meanwhile are never written over with the old ones: `f` changes
/// them and says whether it did.
async fn update_meta(name: &str, f: impl FnOnce(&mut CredentialsInfo) -> bool) -> CloudResult<()> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let obj = store
        .get(JsValue::from_str(name))
        .await
        .map_err(err)?
        .filter(|v| !v.is_undefined() && !v.is_null());
    let info = obj
        .as_ref()
        .and_then(meta_of)
        .and_then(|m| serde_json::from_str::<CredentialsInfo>(&m).ok());
    if let (Some(obj), Some(mut info)) = (obj, info) {
        if f(&mut info) {
            let meta = serde_json::to_string(&info).map_err(err)?;
            js_sys::Reflect::set(&obj, &JsValue::from_str("meta"), &JsValue::from_str(&meta))
                .map_err(js)?;
            store
                .put(&obj, Some(&JsValue::from_str(name)))
                .await
                .map_err(err)?;
        }
    }
    done(tx).await
}

/// Decrypts what is stored under `name`, with its meta.
async fn get_sealed<T: DeserializeOwned>(name: &str) -> CloudResult<Option<(T, String)>> {
    let damaged = || format!("the stored {name} cannot be read: enter it again");
    let db = open().await?;
    let Some(obj) = get(&db, name).await? else {
        return Ok(None);
    };
    let k = key(&db).await?;
    let field = |f: &str| js_sys::Reflect::get(&obj, &JsValue::from_str(f)).map_err(js);
    let iv: js_sys::Uint8Array = field("iv")?.dyn_into().map_err(|_| damaged())?;
    let data = js_sys::Uint8Array::new(&field("data")?).to_vec();
    let params = web_sys::AesGcmParams::new("AES-GCM", &iv);
    let plain = JsFuture::from(
        subtle()?
            .decrypt_with_object_and_u8_array(&params, &k, &data)
            .map_err(js)?,
    )
    .await
    .map_err(|_| damaged())?;
    let mut bytes = js_sys::Uint8Array::new(&plain).to_vec();
    let value = serde_json::from_slice::<T>(&bytes);
    bytes.iter_mut().for_each(|b| *b = 0);
    Ok(Some((
        value.map_err(|_| damaged())?,
        meta_of(&obj).unwrap_or_default(),
    )))
}

/// A public value kept beside the secrets (a user pool's signing keys), in clear.
pub async fn get_plain(name: &str) -> CloudResult<Option<String>> {
    let db = open().await?;
    Ok(get(&db, name).await?.and_then(|v| v.as_string()))
}

pub async fn put_plain(name: &str, value: &str) -> CloudResult<()> {
    let db = open().await?;
    put(&db, name, &JsValue::from_str(value)).await
}

pub async fn remove(name: &str) -> CloudResult<()> {
    let db = open().await?;
    delete(&db, name).await
}

#[derive(Serialize, Deserialize)]
struct Plain {
    id: String,
    secret: String,
    token: Option<String>,
}

pub async fn store(owner: &str, creds: &Credentials) -> CloudResult<CredentialsInfo> {
    let info = CredentialsInfo {
        masked_key_id: creds.masked_key_id(),
        entered_at: js_sys::Date::now(),
        temporary: creds.is_temporary(),
        worked: false,
        refused: None,
    };
    let plain = Plain {
        id: creds.access_key_id.clone(),
        secret: creds.secret_access_key.expose().to_string(),
        token: creds.session_token.as_ref().map(|t| t.expose().to_string()),
    };
    put_sealed(
        &record(owner),
        &plain,
        &serde_json::to_string(&info).map_err(err)?,
    )
    .await?;
    Ok(info)
}

pub async fn info(owner: &str) -> CloudResult<Option<CredentialsInfo>> {
    adopt_legacy(owner).await?;
    Ok(get_meta(&record(owner))
        .await?
        .and_then(|m| serde_json::from_str(&m).ok()))
}

/// The stored credentials, decrypted: with whether they have worked before, and their
/// generation (when they were entered: every save makes a new one, so a worker that
/// cached a client for older credentials of the same shape knows to make a new one).
pub async fn load(owner: &str) -> CloudResult<Option<(Credentials, bool, Generation)>> {
    adopt_legacy(owner).await?;
    let Some((p, meta)) = get_sealed::<Plain>(&record(owner)).await? else {
        return Ok(None);
    };
    let info = serde_json::from_str::<CredentialsInfo>(&meta).ok();
    let worked = info.as_ref().map(|m| m.worked).unwrap_or(false);
    let generation = Generation {
        owner: owner.to_string(),
        entered_at: info.map(|m| m.entered_at).unwrap_or(0.0),
    };
    Ok(Some((
        Credentials {
            access_key_id: p.id,
            secret_access_key: Secret::new(p.secret),
            session_token: p.token.map(Secret::new),
        },
        worked,
        generation,
    )))
}

/// Remembers that the credentials of `generation` worked (an UnrecognizedClient later =
/// expired), and so are not refused (any more). Newer credentials are left alone.
pub async fn mark_worked(generation: &Generation) -> CloudResult<()> {
    update_meta(&record(&generation.owner), |info| {
        if info.entered_at != generation.entered_at || (info.worked && info.refused.is_none()) {
            return false;
        }
        info.worked = true;
        info.refused = None;
        true
    })
    .await
}

/// Remembers that AWS refused the credentials of `generation` (`class`: expired or
/// invalid), for every worker: replays hold until new ones are saved or a check
/// succeeds. Credentials saved since are left alone.
pub async fn mark_refused(
    class: ledgerline_core::errors::ErrorClass,
    generation: &Generation,
) -> CloudResult<()> {
    if !class.needs_new_credentials() {
        return Ok(());
    }
    update_meta(&record(&generation.owner), |info| {
        if info.entered_at != generation.entered_at || info.refused == Some(class) {
            return false;
        }
        info.refused = Some(class);
        true
    })
    .await
}

/// Whether AWS refused the stored credentials since they last worked, and how.
pub async fn refused(owner: &str) -> CloudResult<Option<ledgerline_core::errors::ErrorClass>> {
    Ok(info(owner).await?.and_then(|i| i.refused))
}

pub async fn forget(owner: &str) -> CloudResult<()> {
    remove(&record(owner)).await
}

/// A signed-in Cognito session (tokens are bearer secrets: sealed like credentials).
#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub sub: String,
    pub email: String,
    pub id_token: String,
    pub refresh_token: String,
    /// The pool that issued the tokens (what the ID token is checked against; a session
    /// without it, kept by an older version, cannot prove itself: signed out).
    #[serde(default)]
    pub cognito: Option<ledgerline_core::protocol::CognitoConfig>,
    /// Cognito refused to renew it (refresh token expired or revoked): it still proves
    /// who signed in here, so local work goes on; signing in again renews it.
    #[serde(default)]
    pub ended: bool,
}

const SESSION: &str = "cognito-session";

pub async fn store_session(s: &Session) -> CloudResult<()> {
    put_sealed(SESSION, s, "").await
}

pub async fn load_session() -> CloudResult<Option<Session>> {
    Ok(get_sealed::<Session>(SESSION).await?.map(|(s, _)| s))
}

pub async fn forget_session() -> CloudResult<()> {
    remove(SESSION).await
}
