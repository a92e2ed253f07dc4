//! Ledgerline's cloud adapter, one place for everything that talks to AWS.

pub mod backup;
pub mod cognito;
pub mod dynamo;
pub mod http;
pub mod idb;
pub mod lock;
pub mod oplog;
pub mod pull;
pub mod queue;
pub mod vault;
