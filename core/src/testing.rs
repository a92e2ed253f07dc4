//! Small builders for tests and benchmarks.

use crate::checksum::content_checksum;
use crate::model::{Client, Discount, Invoice, InvoiceContent, LineItem, Status};
use crate::money::{Qty, Rate};
use chrono::NaiveDate;

pub fn client(id: &str, name: &str) -> Client {
    Client {
        id: id.into(),
        name: name.into(),
        email: String::new(),
        address: String::new(),
        tax_id: String::new(),
        updated_at: String::new(),
        extra: Default::default(),
    }
}

/// A sealed USD invoice with one line of 1 x 100.00 at 10 % tax (total 110.00).
pub fn invoice(id: &str, number: &str, client_id: &str) -> Invoice {
    let content = InvoiceContent {
        number: number.into(),
        client_id: client_id.into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap_or_default(),
        due_date: NaiveDate::from_ymd_opt(2026, 2, 9).unwrap_or_default(),
        status: Status::Draft,
        currency: "USD".into(),
        lines: vec![LineItem {
            description: "Consulting".into(),
            quantity: Qty::units(1),
            unit_price: 10_000,
            tax_rates: vec![Rate::percent(10)],
            discount: Rate(0),
            extra: Default::default(),
        }],
        discount: Discount::None,
        shipping: 0,
        notes: String::new(),
        terms: String::new(),
        bill_to: None,
        extra: Default::default(),
    };
    let checksum = content_checksum(&content);
    Invoice {
        id: id.into(),
        content,
        version: 1,
        updated_at: "2026-01-10T00:00:00Z".into(),
        checksum,
    }
}
