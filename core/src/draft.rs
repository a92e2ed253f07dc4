//! The invoice editor's form state (all strings, as typed) and its conversion into a
//! validated [`InvoiceContent`]. Nothing is saved unless every field is valid.

use crate::currency::currency;
use crate::model::{
    BillTo, Client, Discount, Extra, Invoice, InvoiceContent, LineItem, Profile, Status,
};
use crate::money::{amount_plain, parse_amount, Qty, Rate, HUNDRED_PERCENT};
use chrono::{Duration, NaiveDate};

/// One problem with one field. `field` names it ("clientId", "lines.2.quantity").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineDraft {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    /// Comma-separated percentages: "10, 5".
    pub tax_rates: String,
    pub discount: String,
    /// The line's fields this version does not know: kept through the edit.
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceDraft {
    pub number: String,
    pub client_id: String,
    pub issue_date: String,
    pub due_date: String,
    pub status: String,
    pub currency: String,
    pub lines: Vec<LineDraft>,
    /// "none", "percent" or "amount".
    pub discount_kind: String,
    pub discount_value: String,
    pub shipping: String,
    pub notes: String,
    pub terms: String,
    /// The client's details as last saved (refreshed at save while a draft).
    pub bill_to: Option<BillTo>,
    /// The invoice's fields this version does not know: kept through the edit.
    pub extra: Extra,
}

/// What validation needs to know about the rest of the data.
pub struct Context<'a> {
    pub clients: &'a [Client],
    /// Why this invoice may not use a number (used by another invoice, or not this
    /// device's to give out), or None.
    pub number_problem: &'a dyn Fn(&str) -> Option<String>,
}

/// Parses a strict `YYYY-MM-DD` date (what `<input type="date">` gives), without
/// chrono's general-purpose parser (it weighs on the page's first load).
pub fn parse_ymd(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

fn digits_of(code: &str) -> u8 {
    currency(code).map(|c| c.digits).unwrap_or(2)
}

impl LineDraft {
    pub fn blank() -> Self {
        LineDraft {
            quantity: "1".into(),
            unit_price: String::new(),
            discount: "0".into(),
            ..Default::default()
        }
    }
}

impl InvoiceDraft {
    /// A fresh invoice with the profile's defaults.
    pub fn new(profile: &Profile, number: String, today: NaiveDate) -> Self {
        let due = today + Duration::days(i64::from(profile.payment_terms_days));
        InvoiceDraft {
            number,
            client_id: String::new(),
            issue_date: today.to_string(),
            due_date: due.to_string(),
            status: "draft".into(),
            currency: profile.default_currency.clone(),
            lines: vec![LineDraft::blank()],
            discount_kind: "none".into(),
            discount_value: String::new(),
            shipping: String::new(),
            notes: profile.default_notes.clone(),
            terms: profile.default_terms.clone(),
            bill_to: None,
            extra: Extra::new(),
        }
    }

    pub fn from_content(c: &InvoiceContent) -> Self {
        let d = digits_of(&c.currency);
        let (discount_kind, discount_value) = match c.discount {
            Discount::None => ("none", String::new()),
            Discount::Percent(r) => ("percent", r.to_string()),
            Discount::Amount(a) => ("amount", amount_plain(i128::from(a), d)),
        };
        InvoiceDraft {
            number: c.number.clone(),
            client_id: c.client_id.clone(),
            issue_date: c.issue_date.to_string(),
            due_date: c.due_date.to_string(),
            status: c.status.as_str().into(),
            currency: c.currency.clone(),
            lines: c
                .lines
                .iter()
                .map(|l| LineDraft {
                    description: l.description.clone(),
                    quantity: l.quantity.to_string(),
                    unit_price: amount_plain(i128::from(l.unit_price), d),
                    tax_rates: l
                        .tax_rates
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    discount: l.discount.to_string(),
                    extra: l.extra.clone(),
                })
                .collect(),
            discount_kind: discount_kind.into(),
            discount_value,
            shipping: if c.shipping == 0 {
                String::new()
            } else {
                amount_plain(i128::from(c.shipping), d)
            },
            notes: c.notes.clone(),
            terms: c.terms.clone(),
            bill_to: c.bill_to.clone(),
            extra: c.extra.clone(),
        }
    }

    pub fn from_invoice(inv: &Invoice) -> Self {
        Self::from_content(&inv.content)
    }

    /// A best-effort reading of the form for the live totals: anything that does not
    /// parse counts as zero. Never used for saving.
    pub fn preview(&self) -> InvoiceContent {
        let digits = digits_of(&self.currency);
        let amount = |s: &str| parse_amount(s, digits, "").unwrap_or(0);
        let lines = self
            .lines
            .iter()
            .map(|l| LineItem {
                description: l.description.clone(),
                quantity: Qty::parse(&l.quantity).unwrap_or_default(),
                unit_price: amount(&l.unit_price),
                tax_rates: l
                    .tax_rates
                    .split([',', ';'])
                    .filter_map(|p| Rate::parse(p).ok())
                    .collect(),
                discount: Rate::parse(&l.discount).unwrap_or_default(),
                extra: l.extra.clone(),
            })
            .collect();
        let discount = match self.discount_kind.as_str() {
            "percent" => Rate::parse(&self.discount_value)
                .map(Discount::Percent)
                .unwrap_or_default(),
            "amount" => Discount::Amount(amount(&self.discount_value)),
            _ => Discount::None,
        };
        let date = |s: &str| parse_ymd(s).unwrap_or_default();
        InvoiceContent {
            number: self.number.clone(),
            client_id: self.client_id.clone(),
            issue_date: date(&self.issue_date),
            due_date: date(&self.due_date),
            status: Status::parse(&self.status).unwrap_or(Status::Draft),
            currency: self.currency.trim().to_ascii_uppercase(),
            lines,
            discount,
            shipping: amount(&self.shipping),
            notes: self.notes.clone(),
            terms: self.terms.clone(),
            bill_to: self.bill_to.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Parses every field; returns the content or every problem found.
    pub fn parse(&self, ctx: &Context<'_>) -> Result<InvoiceContent, Vec<FieldError>> {
        let mut errs: Vec<FieldError> = Vec::new();
        let code = self.currency.trim().to_ascii_uppercase();
        let digits = digits_of(&code);
        let date = |field: &str, s: &str, errs: &mut Vec<FieldError>| -> Option<NaiveDate> {
            match parse_ymd(s) {
                Some(d) => Some(d),
                None if s.trim().is_empty() => {
                    errs.push(FieldError::new(field, "Enter a date."));
                    None
                }
                None => {
                    errs.push(FieldError::new(
                        field,
                        format!("'{}' is not a date: use YYYY-MM-DD.", s.trim()),
                    ));
                    None
                }
            }
        };
        let issue = date("issueDate", &self.issue_date, &mut errs);
        let due = date("dueDate", &self.due_date, &mut errs);
        let status = Status::parse(self.status.trim()).unwrap_or_else(|| {
            errs.push(FieldError::new("status", "Choose a status."));
            Status::Draft
        });
        let mut lines = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let f = |name: &str| format!("lines.{i}.{name}");
            let quantity = Qty::parse(&l.quantity).map_err(|m| FieldError::new(f("quantity"), m));
            let unit_price = parse_amount(&l.unit_price, digits, "a unit price")
                .map_err(|m| FieldError::new(f("unitPrice"), m));
            let discount = if l.discount.trim().is_empty() {
                Ok(Rate(0))
            } else {
                Rate::parse(&l.discount).map_err(|m| FieldError::new(f("discount"), m))
            };
            let mut taxes = Vec::new();
            let mut tax_err = None;
            for part in l
                .tax_rates
                .split([',', ';'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                match Rate::parse(part) {
                    Ok(r) => taxes.push(r),
                    Err(m) => {
                        tax_err = Some(FieldError::new(f("taxRates"), format!("Tax rate: {m}")))
                    }
                }
            }
            match (quantity, unit_price, discount, tax_err) {
                (Ok(quantity), Ok(unit_price), Ok(discount), None) => lines.push(LineItem {
                    description: l.description.trim().to_string(),
                    quantity,
                    unit_price,
                    tax_rates: taxes,
                    discount,
                    extra: l.extra.clone(),
                }),
                (q, p, d, t) => {
                    errs.extend(q.err());
                    errs.extend(p.err());
                    errs.extend(d.err());
                    errs.extend(t);
                    // keep indexes aligned for the semantic checks below
                    lines.push(LineItem {
                        description: l.description.trim().to_string(),
                        quantity: Qty(0),
                        unit_price: 0,
                        tax_rates: vec![],
                        discount: Rate(0),
                        extra: Extra::new(),
                    });
                }
            }
        }
        let discount = match self.discount_kind.as_str() {
            "percent" => match Rate::parse(&self.discount_value) {
                Ok(r) => Discount::Percent(r),
                Err(m) => {
                    errs.push(FieldError::new("discount", m));
                    Discount::None
                }
            },
            "amount" => match parse_amount(&self.discount_value, digits, "a discount") {
                Ok(a) => Discount::Amount(a),
                Err(m) => {
                    errs.push(FieldError::new("discount", m));
                    Discount::None
                }
            },
            _ => Discount::None,
        };
        let shipping = if self.shipping.trim().is_empty() {
            0
        } else {
            parse_amount(&self.shipping, digits, "shipping").unwrap_or_else(|m| {
                errs.push(FieldError::new("shipping", m));
                0
            })
        };
        let (Some(issue_date), Some(due_date)) = (issue, due) else {
            return Err(errs);
        };
        let content = InvoiceContent {
            number: self.number.trim().to_string(),
            client_id: self.client_id.clone(),
            issue_date,
            due_date,
            status,
            currency: code,
            lines,
            discount,
            shipping,
            notes: self.notes.clone(),
            terms: self.terms.clone(),
            bill_to: self.bill_to.clone(),
            extra: self.extra.clone(),
        };
        errs.extend(validate(&content, ctx));
        if errs.is_empty() {
            Ok(content)
        } else {
            // one message per field is enough
            let mut seen: Vec<String> = Vec::new();
            errs.retain(|e| {
                let first = !seen.contains(&e.field);
                seen.push(e.field.clone());
                first
            });
            Err(errs)
        }
    }
}

/// Semantic checks shared by the editor and the importer.
pub fn validate(c: &InvoiceContent, ctx: &Context<'_>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if c.number.trim().is_empty() {
        errs.push(FieldError::new("number", "Enter an invoice number."));
    } else if c.number.chars().count() > 40 {
        errs.push(FieldError::new(
            "number",
            "Invoice number is too long (at most 40 characters).",
        ));
    } else if let Some(m) = (ctx.number_problem)(c.number.trim()) {
        errs.push(FieldError::new("number", m));
    } else if crate::numbers::is_provisional(c.number.trim()) && c.status != Status::Draft {
        errs.push(FieldError::new(
            "status",
            format!(
                "{} is not an invoice number yet: this device had none left while DynamoDB could not be reached. Keep it as a draft; it is numbered as soon as DynamoDB answers.",
                c.number.trim()
            ),
        ));
    }
    if c.client_id.is_empty() {
        errs.push(FieldError::new(
            "clientId",
            "Choose a client (add one under Clients first if the list is empty).",
        ));
    } else if c.bill_to.is_none() && !ctx.clients.iter().any(|cl| cl.id == c.client_id) {
        errs.push(FieldError::new(
            "clientId",
            "The chosen client no longer exists: choose another.",
        ));
    }
    if currency(&c.currency).is_none() {
        errs.push(FieldError::new(
            "currency",
            format!(
                "Unknown currency '{}': use an ISO 4217 code such as USD, EUR or JPY.",
                c.currency
            ),
        ));
    }
    if c.due_date < c.issue_date {
        errs.push(FieldError::new(
            "dueDate",
            "The due date is before the issue date.",
        ));
    }
    if c.lines.is_empty() {
        errs.push(FieldError::new("lines", "Add at least one line item."));
    }
    if c.lines.len() > 500 {
        errs.push(FieldError::new(
            "lines",
            "An invoice can have at most 500 lines.",
        ));
    }
    for (i, l) in c.lines.iter().enumerate() {
        let f = |name: &str| format!("lines.{i}.{name}");
        if l.description.trim().is_empty() {
            errs.push(FieldError::new(f("description"), "Describe the item."));
        }
        if l.quantity.0 < 0 {
            errs.push(FieldError::new(
                f("quantity"),
                "Quantity cannot be negative.",
            ));
        }
        if l.unit_price < 0 {
            errs.push(FieldError::new(
                f("unitPrice"),
                "Unit price cannot be negative: use a discount instead.",
            ));
        }
        if l.discount.0 < 0 || l.discount.0 > HUNDRED_PERCENT {
            errs.push(FieldError::new(
                f("discount"),
                "Line discount must be between 0 and 100 %.",
            ));
        }
        if l.tax_rates.iter().any(|r| r.0 < 0 || r.0 > HUNDRED_PERCENT) {
            errs.push(FieldError::new(
                f("taxRates"),
                "Tax rates must be between 0 and 100 %.",
            ));
        }
        if l.tax_rates.len() > 5 {
            errs.push(FieldError::new(
                f("taxRates"),
                "At most 5 tax rates per line.",
            ));
        }
    }
    match c.discount {
        Discount::Percent(r) if r.0 < 0 || r.0 > HUNDRED_PERCENT => errs.push(FieldError::new(
            "discount",
            "Discount must be between 0 and 100 %.",
        )),
        Discount::Amount(a) if a < 0 => {
            errs.push(FieldError::new("discount", "Discount cannot be negative."))
        }
        _ => {}
    }
    if c.shipping < 0 {
        errs.push(FieldError::new("shipping", "Shipping cannot be negative."));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> Vec<Client> {
        vec![crate::testing::client("c1", "Acme")]
    }

    fn good() -> InvoiceDraft {
        InvoiceDraft {
            number: "INV-0001".into(),
            client_id: "c1".into(),
            issue_date: "2026-01-10".into(),
            due_date: "2026-02-09".into(),
            status: "draft".into(),
            currency: "usd".into(),
            lines: vec![LineDraft {
                description: "Work".into(),
                quantity: "1.5".into(),
                unit_price: "120".into(),
                tax_rates: "10, 5".into(),
                discount: "".into(),
                extra: Default::default(),
            }],
            discount_kind: "percent".into(),
            discount_value: "10".into(),
            shipping: "5".into(),
            notes: String::new(),
            terms: String::new(),
            bill_to: None,
            extra: Default::default(),
        }
    }

    fn parse(d: &InvoiceDraft) -> Result<InvoiceContent, Vec<FieldError>> {
        let cl = clients();
        let taken = |n: &str| {
            (n == "INV-0099")
                .then(|| format!("Invoice number {n} is already used by another invoice."))
        };
        d.parse(&Context {
            clients: &cl,
            number_problem: &taken,
        })
    }

    fn fields(r: Result<InvoiceContent, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn fields_a_newer_version_wrote_survive_an_edit() {
        let mut c = parse(&good()).unwrap();
        c.extra.insert("poNumber".into(), serde_json::json!("PO-7"));
        c.lines[0]
            .extra
            .insert("sku".into(), serde_json::json!({"code": "A-1"}));
        let mut d = InvoiceDraft::from_content(&c);
        d.notes = "edited here".into();
        d.lines.push(LineDraft::blank());
        d.lines[1].unit_price = "3".into();
        d.lines[1].description = "More".into();
        let saved = parse(&d).unwrap();
        assert_eq!(saved.extra, c.extra);
        assert_eq!(saved.lines[0].extra, c.lines[0].extra);
        assert!(saved.lines[1].extra.is_empty());
        assert_eq!(d.preview().extra, c.extra);
    }

    #[test]
    fn good_draft_parses_and_round_trips() {
        let c = parse(&good()).unwrap();
        assert_eq!(c.currency, "USD");
        assert_eq!(c.lines[0].unit_price, 12000);
        assert_eq!(
            c.lines[0].tax_rates,
            vec![Rate::percent(10), Rate::percent(5)]
        );
        assert_eq!(c.discount, Discount::Percent(Rate::percent(10)));
        assert_eq!(c.shipping, 500);
        let again = InvoiceDraft::from_content(&c);
        assert_eq!(parse(&again).unwrap(), c);
    }

    #[test]
    fn the_issue_named_mistakes_are_reported() {
        let mut d = good();
        d.client_id.clear();
        d.lines[0].quantity = "-2".into();
        d.due_date = "2026-01-01".into();
        d.currency = "XYZ".into();
        let r = parse(&d);
        let errs = r.clone().unwrap_err();
        assert!(errs
            .iter()
            .any(|e| e.field == "clientId" && e.message.contains("Choose a client")));
        assert!(errs
            .iter()
            .any(|e| e.field == "lines.0.quantity" && e.message.contains("negative")));
        assert!(errs
            .iter()
            .any(|e| e.field == "dueDate" && e.message.contains("before the issue date")));
        assert!(errs
            .iter()
            .any(|e| e.field == "currency" && e.message.contains("Unknown currency 'XYZ'")));
    }

    #[test]
    fn bad_numbers_and_dates() {
        let mut d = good();
        d.lines[0].unit_price = "12,50".into();
        d.lines[0].tax_rates = "10, abc".into();
        d.issue_date = "10/01/2026".into();
        d.shipping = "x".into();
        let f = fields(parse(&d));
        assert!(f.contains(&"lines.0.unitPrice".to_string()));
        assert!(f.contains(&"lines.0.taxRates".to_string()));
        assert!(f.contains(&"issueDate".to_string()));
        assert!(f.contains(&"shipping".to_string()));
    }

    #[test]
    fn duplicate_number_missing_description_no_lines() {
        let mut d = good();
        d.number = "INV-0099".into();
        d.lines[0].description = " ".into();
        let f = fields(parse(&d));
        assert_eq!(
            f,
            vec!["number".to_string(), "lines.0.description".to_string()]
        );
        d.lines.clear();
        assert!(fields(parse(&d)).contains(&"lines".to_string()));
    }

    #[test]
    fn a_provisional_number_may_not_be_issued() {
        let mut d = good();
        d.number = "DRAFT-3F2A9C1E".into();
        assert!(parse(&d).is_ok(), "a draft may wait for its number");
        d.status = "sent".into();
        let errs = parse(&d).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "status");
        assert!(
            errs[0].message.contains("Keep it as a draft"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn currency_digits_govern_amount_parsing() {
        let mut d = good();
        d.currency = "JPY".into();
        d.lines[0].unit_price = "100.5".into();
        assert_eq!(fields(parse(&d)), vec!["lines.0.unitPrice".to_string()]);
        d.lines[0].unit_price = "1000".into();
        let c = parse(&d).unwrap();
        assert_eq!(c.lines[0].unit_price, 1000);
    }

    #[test]
    fn strict_dates() {
        assert_eq!(
            parse_ymd(" 2026-02-28 "),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(
            parse_ymd("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2026-02-30",
            "2026-2-28",
            "26-02-28",
            "2026/02/28",
            "2026-02-2x",
            "",
            "2026-02-28T00",
            "२०२६-02-28",
        ] {
            assert_eq!(parse_ymd(bad), None, "{bad}");
        }
        assert_eq!(
            NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().to_string(),
            "2026-01-05"
        );
    }

    #[test]
    fn out_of_range_percentages() {
        let mut d = good();
        d.lines[0].tax_rates = "150".into();
        d.lines[0].discount = "101".into();
        d.discount_value = "200".into();
        let f = fields(parse(&d));
        assert!(f.contains(&"lines.0.taxRates".to_string()));
        assert!(f.contains(&"lines.0.discount".to_string()));
        assert!(f.contains(&"discount".to_string()));
    }
}
