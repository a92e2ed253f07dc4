//! The invoice list: search, status filter, sort and totals per currency.

use crate::model::{Client, DisplayStatus, Invoice, Status};
use crate::totals::compute;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    DateDesc,
    DateAsc,
    AmountDesc,
    AmountAsc,
}

impl Sort {
    pub fn parse(s: &str) -> Sort {
        match s {
            "date-asc" => Sort::DateAsc,
            "amount-desc" => Sort::AmountDesc,
            "amount-asc" => Sort::AmountAsc,
            _ => Sort::DateDesc,
        }
    }
}

/// One row of the list, with what it displays precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub invoice: &'a Invoice,
    pub client_name: &'a str,
    pub status: DisplayStatus,
    pub total: i128,
}

pub struct Query<'a> {
    pub text: &'a str,
    /// "" or "all" for every status; else a [`DisplayStatus`] name ("overdue" included).
    pub status: &'a str,
    pub sort: Sort,
    pub today: NaiveDate,
}

pub fn rows<'a>(invoices: &'a [Invoice], clients: &'a [Client], q: &Query<'_>) -> Vec<Row<'a>> {
    let names: HashMap<&str, &str> = clients
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let needle = q.text.trim().to_lowercase();
    let mut out: Vec<Row<'a>> = invoices
        .iter()
        .filter_map(|inv| {
            let client_name = names
                .get(inv.content.client_id.as_str())
                .copied()
                .unwrap_or("");
            let status = inv.display_status(q.today);
            if !(q.status.is_empty() || q.status == "all" || q.status == status.as_str()) {
                return None;
            }
            if !needle.is_empty()
                && !inv.content.number.to_lowercase().contains(&needle)
                && !client_name.to_lowercase().contains(&needle)
            {
                return None;
            }
            Some(Row {
                invoice: inv,
                client_name,
                status,
                total: compute(&inv.content).total,
            })
        })
        .collect();
    // one comparator, one sort instantiation: every sort call site costs the page's
    // first load several KB of wasm
    let sort = q.sort;
    out.sort_by(|a, b| {
        let (x, y) = (&a.invoice.content, &b.invoice.content);
        match sort {
            Sort::DateDesc => (y.issue_date, &y.number).cmp(&(x.issue_date, &x.number)),
            Sort::DateAsc => (x.issue_date, &x.number).cmp(&(y.issue_date, &y.number)),
            Sort::AmountDesc => b.total.cmp(&a.total).then(x.number.cmp(&y.number)),
            Sort::AmountAsc => a.total.cmp(&b.total).then(x.number.cmp(&y.number)),
        }
    });
    out
}

/// Sum of the rows' totals per currency, void invoices left out.
pub fn totals_by_currency(rows: &[Row<'_>]) -> BTreeMap<String, i128> {
    let mut m = BTreeMap::new();
    for r in rows {
        if r.invoice.content.status != Status::Void {
            *m.entry(r.invoice.content.currency.clone()).or_insert(0) += r.total;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{client, invoice};

    fn d(s: &str) -> NaiveDate {
        crate::draft::parse_ymd(s).unwrap()
    }

    fn data() -> (Vec<Invoice>, Vec<Client>) {
        let mut a = invoice("a", "INV-0001", "c1");
        a.content.issue_date = d("2026-01-01");
        a.content.status = Status::Sent;
        a.content.due_date = d("2026-01-15");
        let mut b = invoice("b", "INV-0002", "c2");
        b.content.issue_date = d("2026-02-01");
        b.content.lines[0].unit_price = 50_000;
        let mut c = invoice("c", "INV-0003", "c2");
        c.content.issue_date = d("2026-03-01");
        c.content.currency = "EUR".into();
        let mut v = invoice("v", "INV-0004", "c1");
        v.content.status = Status::Void;
        (
            vec![a, b, c, v],
            vec![client("c1", "Acme"), client("c2", "Globex")],
        )
    }

    fn q<'a>(text: &'a str, status: &'a str, sort: Sort) -> Query<'a> {
        Query {
            text,
            status,
            sort,
            today: d("2026-06-01"),
        }
    }

    fn ids(r: &[Row<'_>]) -> Vec<String> {
        r.iter().map(|r| r.invoice.id.clone()).collect()
    }

    #[test]
    fn search_by_number_or_client() {
        let (i, c) = data();
        assert_eq!(
            ids(&rows(&i, &c, &q("globex", "", Sort::DateAsc))),
            vec!["b", "c"]
        );
        assert_eq!(ids(&rows(&i, &c, &q("0001", "", Sort::DateAsc))), vec!["a"]);
        assert!(rows(&i, &c, &q("nothing", "", Sort::DateAsc)).is_empty());
    }

    #[test]
    fn status_filter_includes_derived_overdue() {
        let (i, c) = data();
        assert_eq!(
            ids(&rows(&i, &c, &q("", "overdue", Sort::DateAsc))),
            vec!["a"]
        );
        assert!(rows(&i, &c, &q("", "sent", Sort::DateAsc)).is_empty());
        assert_eq!(ids(&rows(&i, &c, &q("", "void", Sort::DateAsc))), vec!["v"]);
    }

    #[test]
    fn sorting_and_currency_totals() {
        let (i, c) = data();
        let r = rows(&i, &c, &q("", "all", Sort::AmountDesc));
        assert_eq!(r[0].invoice.id, "b");
        let r = rows(&i, &c, &q("", "all", Sort::DateDesc));
        assert_eq!(r[0].invoice.id, "c");
        let t = totals_by_currency(&r);
        assert_eq!(t.get("EUR"), Some(&11_000));
        assert_eq!(t.get("USD"), Some(&(11_000 + 55_000)));
    }
}
