pub mod account;
pub mod clients;
pub mod cloud;
pub mod conflicts;
pub mod data;
pub mod editor;
pub mod invoices;
pub mod print;
pub mod settings;

use ledgerline_core::currency::currency;
use ledgerline_core::money::amount_display;

/// "USD 1,234.56".
pub fn money(minor: i128, code: &str) -> String {
    let digits = currency(code).map(|c| c.digits).unwrap_or(2);
    format!("{code} {}", amount_display(minor, digits))
}
