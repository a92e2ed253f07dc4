//! Field-level differences between two versions of an invoice, in words, for the
//! conflicts review (DynamoDB's version beside the one this device had).

use crate::currency::currency;
use crate::model::{Discount, Invoice, InvoiceContent, LineItem};
use crate::money::amount_display;
use crate::totals::compute;

/// One field that differs: its label, this device's value, DynamoDB's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: String,
    pub mine: String,
    pub theirs: String,
}

fn money(c: &InvoiceContent, minor: i128) -> String {
    let digits = currency(&c.currency).map(|c| c.digits).unwrap_or(2);
    format!("{} {}", amount_display(minor, digits), c.currency)
}

fn line(c: &InvoiceContent, l: &LineItem) -> String {
    let mut s = format!(
        "{} × {} @ {}",
        l.description,
        l.quantity,
        money(c, i128::from(l.unit_price))
    );
    if !l.tax_rates.is_empty() {
        let rates: Vec<String> = l.tax_rates.iter().map(|r| format!("{r}%")).collect();
        s.push_str(&format!(", tax {}", rates.join(" + ")));
    }
    if !l.discount.is_zero() {
        s.push_str(&format!(", −{}%", l.discount));
    }
    for (k, v) in &l.extra {
        s.push_str(&format!(", {k}: {v}"));
    }
    s
}

fn discount(c: &InvoiceContent) -> String {
    match c.discount {
        Discount::None => "none".into(),
        Discount::Percent(r) => format!("{r}%"),
        Discount::Amount(a) => money(c, i128::from(a)),
    }
}

/// The fields a person reads, in the order of the invoice: `(label, value)`.
/// `client_name` turns a client id into the name shown.
fn fields(c: &InvoiceContent, client_name: &dyn Fn(&str) -> String) -> Vec<(String, String)> {
    let mut out = vec![
        ("Number".to_string(), c.number.clone()),
        ("Client".to_string(), client_name(&c.client_id)),
        ("Issue date".to_string(), c.issue_date.to_string()),
        ("Due date".to_string(), c.due_date.to_string()),
        ("Status".to_string(), c.status.as_str().to_string()),
        ("Currency".to_string(), c.currency.clone()),
    ];
    for (i, l) in c.lines.iter().enumerate() {
        out.push((format!("Line {}", i + 1), line(c, l)));
    }
    out.push(("Discount".into(), discount(c)));
    out.push(("Shipping".into(), money(c, i128::from(c.shipping))));
    out.push(("Notes".into(), c.notes.clone()));
    out.push(("Terms".into(), c.terms.clone()));
    out.push(("Total".into(), money(c, compute(c).total)));
    // fields a newer version wrote, as it wrote them
    for (k, v) in &c.extra {
        out.push((format!("Field {k}"), v.to_string()));
    }
    out
}

/// What differs between this device's version and DynamoDB's. A side that does not
/// exist (deleted there or here) shows as "(deleted)" on every field of the other.
pub fn diff(
    mine: Option<&Invoice>,
    theirs: Option<&Invoice>,
    client_name: &dyn Fn(&str) -> String,
) -> Vec<FieldDiff> {
    let a = mine.map(|i| fields(&i.content, client_name));
    let b = theirs.map(|i| fields(&i.content, client_name));
    let deleted = || "(deleted)".to_string();
    // the side with more lines has every label of the other, in invoice order
    let longest = [&a, &b]
        .into_iter()
        .flatten()
        .max_by_key(|f| f.len())
        .cloned()
        .unwrap_or_default();
    let mut labels: Vec<String> = longest.into_iter().map(|(l, _)| l).collect();
    // and then any label only the other side has (a field a newer version wrote)
    for (l, _) in [&a, &b].into_iter().flatten().flatten() {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    let value = |side: &Option<Vec<(String, String)>>, label: &str| match side {
        None => deleted(),
        Some(fields) => fields
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                if label.starts_with("Line ") {
                    "(no such line)".to_string()
                } else {
                    "(not set)".to_string()
                }
            }),
    };
    labels
        .into_iter()
        .filter_map(|label| {
            let (m, t) = (value(&a, &label), value(&b, &label));
            (m != t).then_some(FieldDiff {
                field: label,
                mine: m,
                theirs: t,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Qty, Rate};
    use crate::testing::invoice;

    fn name(id: &str) -> String {
        format!("client {id}")
    }

    #[test]
    fn only_changed_fields_are_listed_in_words() {
        let mine = invoice("i1", "INV-0001", "c1");
        let mut theirs = mine.clone();
        theirs.content.notes = "their note".into();
        theirs.content.client_id = "c2".into();
        theirs.content.lines.push(LineItem {
            description: "Extra".into(),
            quantity: Qty::units(2),
            unit_price: 1050,
            tax_rates: vec![Rate::percent(10)],
            discount: Rate::default(),
            extra: Default::default(),
        });
        let d = diff(Some(&mine), Some(&theirs), &name);
        let fields: Vec<&str> = d.iter().map(|f| f.field.as_str()).collect();
        let n = mine.content.lines.len() + 1;
        let new_line = format!("Line {n}");
        assert_eq!(fields, vec!["Client", new_line.as_str(), "Notes", "Total"]);
        assert_eq!(d[0].mine, "client c1");
        assert_eq!(d[0].theirs, "client c2");
        assert_eq!(d[1].mine, "(no such line)");
        assert!(
            d[1].theirs.starts_with("Extra × 2 @ 10.50"),
            "{}",
            d[1].theirs
        );
        assert!(d[1].theirs.ends_with("tax 10%"), "{}", d[1].theirs);
        assert_eq!(d[2].theirs, "their note");
    }

    #[test]
    fn fields_a_newer_version_wrote_are_compared_too() {
        let mine = invoice("i1", "INV-0001", "c1");
        let mut theirs = mine.clone();
        theirs
            .content
            .extra
            .insert("poNumber".into(), serde_json::json!("PO-7"));
        theirs.content.lines[0]
            .extra
            .insert("sku".into(), serde_json::json!("A-1"));
        let d = diff(Some(&mine), Some(&theirs), &name);
        let fields: Vec<&str> = d.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["Line 1", "Field poNumber"]);
        assert!(d[0].theirs.ends_with(r#", sku: "A-1""#), "{}", d[0].theirs);
        assert_eq!(d[1].mine, "(not set)");
        assert_eq!(d[1].theirs, r#""PO-7""#);
    }

    #[test]
    fn identical_versions_have_no_differences() {
        let mine = invoice("i1", "INV-0001", "c1");
        assert!(diff(Some(&mine), Some(&mine.clone()), &name).is_empty());
    }

    #[test]
    fn a_deleted_side_shows_as_deleted_on_every_field() {
        let mine = invoice("i1", "INV-0001", "c1");
        let d = diff(Some(&mine), None, &name);
        assert!(!d.is_empty());
        assert!(d
            .iter()
            .all(|f| f.theirs == "(deleted)" && f.mine != "(deleted)"));
        assert_eq!(d[0].field, "Number");
        assert_eq!(d[0].mine, "INV-0001");
        let d = diff(None, Some(&mine), &name);
        assert!(d.iter().all(|f| f.mine == "(deleted)"));
    }
}
