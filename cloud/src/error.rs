//! The engine's one error type: what went wrong is either this browser's storage
//! (IndexedDB, the vault's WebCrypto: the message says how) or AWS (a [`Failure`] the
//! classifier turns into an error class for the user).

use ledgerline_core::errors::Failure;

#[derive(Debug, Clone, PartialEq)]
pub enum CloudError {
    /// This browser's storage failed, or holds something unreadable.
    Storage(String),
    /// AWS answered with a failure, or could not be reached.
    Service(Failure),
    /// The sign-in cannot give AWS credentials (its refresh token ended, or the identity
    /// pool refused it): only signing in again can mend it. The message says so.
    SignIn(String),
}

pub type CloudResult<T> = Result<T, CloudError>;

impl From<String> for CloudError {
    fn from(message: String) -> Self {
        CloudError::Storage(message)
    }
}

impl From<&str> for CloudError {
    fn from(message: &str) -> Self {
        CloudError::Storage(message.to_string())
    }
}

impl From<Failure> for CloudError {
    fn from(f: Failure) -> Self {
        CloudError::Service(f)
    }
}

impl std::fmt::Display for CloudError {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloudError::Storage(m) | CloudError::SignIn(m) => out.write_str(m),
            CloudError::Service(f) => match (&f.code, &f.message) {
                (Some(code), Some(m)) => write!(out, "{code}: {m}"),
                (Some(code), None) => out.write_str(code),
                (None, Some(m)) => out.write_str(m),
                (None, None) if f.transport => out.write_str("no answer from AWS"),
                (None, None) => write!(out, "HTTP {}", f.http_status.unwrap_or(0)),
            },
        }
    }
}

/// Splits AWS's failures from storage errors where they lead to different things (an AWS
/// failure stops a replay with its class; a storage error aborts it): `Ok(Err(f))` for
/// AWS, `Err` for storage.
pub fn service_apart<T>(r: CloudResult<T>) -> CloudResult<Result<T, Failure>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(CloudError::Service(f)) => Ok(Err(f)),
        Err(e) => Err(e),
    }
}
