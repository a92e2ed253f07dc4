//! Ledgerline's pure logic: no browser APIs, tested natively with `cargo test`.

pub mod backups;
pub mod checksum;
pub mod credentials;
pub mod currency;
pub mod diff;
pub mod draft;
pub mod errors;
pub mod exchange;
pub mod identity;
pub mod list;
pub mod model;
pub mod money;
pub mod numbers;
pub mod outbox;
pub mod protocol;
pub mod store;
pub mod sync;
pub mod testing;
pub mod totals;
