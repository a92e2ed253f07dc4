//! Ledgerline's cloud adapter, one place for everything that talks to AWS.

pub mod backup;
pub mod cognito;
pub mod dynamo;
pub mod engine;
pub mod error;
pub mod http;
pub mod idb;
pub mod identity;
pub mod item;
pub mod lock;
pub mod oplog;
pub mod pull;
pub mod replay;
pub mod store;
pub mod vault;
