//! Writes a Ledgerline JSON export with N invoices to stdout (for the benchmark).
//! `cargo run -q -p ledgerline-core --example gen_bundle -- 2000 > bundle.json`

use ledgerline_core::exchange::{export_json, reseal};
use ledgerline_core::model::{LineItem, Status};
use ledgerline_core::money::{Qty, Rate};
use ledgerline_core::store::Snapshot;
use ledgerline_core::testing::{client, invoice};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let mut snap = Snapshot {
        clients: (0..20)
            .map(|i| client(&format!("client-{i:02}"), &format!("Client {i:02} Ltd")))
            .collect(),
        ..Default::default()
    };
    let statuses = [Status::Draft, Status::Sent, Status::Paid, Status::Void];
    let currencies = ["USD", "EUR", "JPY", "GBP"];
    for i in 0..n {
        let mut inv = invoice(
            &format!("bench-{i:05}"),
            &format!("INV-{:04}", i + 1),
            &format!("client-{:02}", i % 20),
        );
        let c = &mut inv.content;
        c.status = statuses[i % 4];
        c.currency = currencies[i % 4].to_string();
        c.issue_date += chrono::Duration::days((i % 300) as i64);
        c.due_date = c.issue_date + chrono::Duration::days(30);
        c.lines = (0..3)
            .map(|l| LineItem {
                description: format!("Item {l} of invoice {i}"),
                quantity: Qty::units(1 + (i % 5) as i64),
                unit_price: 1_000 + (i as i64 * 37 + l * 11) % 50_000,
                tax_rates: vec![Rate::percent(10), Rate::percent(5)],
                discount: Rate(0),
                extra: Default::default(),
            })
            .collect();
        reseal(&mut inv);
        snap.invoices.push(inv);
    }
    snap.settings.next_number = n as u64 + 1;
    println!("{}", export_json(&snap, "2026-01-01T00:00:00Z"));
}
