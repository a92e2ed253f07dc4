//! The invoice model as stored locally, exported and (later) synced.

use crate::money::{Qty, Rate};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The business that sends the invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    pub name: String,
    pub address: String,
    pub tax_id: String,
    pub email: String,
    /// A `data:image/...;base64,` URL, at most [`MAX_LOGO_BYTES`] of encoded text.
    pub logo: Option<String>,
    pub default_currency: String,
    /// Days from the issue date to the due date for new invoices.
    pub payment_terms_days: u32,
    pub default_notes: String,
    pub default_terms: String,
    /// Fields a newer version wrote ([`Extra`]): kept, stored and sent again.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Largest logo accepted, as stored text (the data URL).
pub const MAX_LOGO_BYTES: usize = 200 * 1024;

/// The image types a logo may have: raster images only (an SVG can carry scripts and
/// links to other sites).
pub const LOGO_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Why `logo` cannot be a logo (None: it can): it must be a `data:` URL of a PNG, JPEG
/// or WebP image in base64, at most [`MAX_LOGO_BYTES`], so that showing it never loads
/// anything from another site. Checked wherever a logo comes in (upload, import, a
/// profile from DynamoDB) and before one is shown.
pub fn logo_problem(logo: &str) -> Option<String> {
    if logo.len() > MAX_LOGO_BYTES {
        return Some(format!(
            "the logo is {} KB; the limit is {} KB",
            logo.len().div_ceil(1024),
            MAX_LOGO_BYTES / 1024
        ));
    }
    let Some(rest) = logo.strip_prefix("data:") else {
        return Some(
            "the logo is not an image embedded in the file (a data: URL): a link to an image elsewhere is not accepted".into(),
        );
    };
    let Some((kind, data)) = rest.split_once(";base64,") else {
        return Some("the logo is not a base64 data: URL".into());
    };
    let kind = kind.to_ascii_lowercase();
    if !LOGO_TYPES.contains(&kind.as_str()) {
        let shown: String = kind.chars().take(40).collect();
        return Some(format!(
            "the logo is of type '{shown}'; only PNG, JPEG and WebP images are accepted"
        ));
    }
    let body = data.trim_end_matches('=');
    if data.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Some("the logo's data is not valid base64".into());
    }
    None
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            name: String::new(),
            address: String::new(),
            tax_id: String::new(),
            email: String::new(),
            logo: None,
            default_currency: "USD".into(),
            payment_terms_days: 30,
            default_notes: String::new(),
            default_terms: String::new(),
            extra: Extra::new(),
        }
    }
}

/// Invoice numbering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub number_prefix: String,
    pub next_number: u64,
    pub number_digits: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            number_prefix: "INV-".into(),
            next_number: 1,
            number_digits: 4,
        }
    }
}

impl Settings {
    pub fn format_number(&self, n: u64) -> String {
        format!(
            "{}{:0width$}",
            self.number_prefix,
            n,
            width = usize::from(self.number_digits)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub tax_id: String,
    #[serde(default)]
    pub updated_at: String,
    /// Fields a newer version wrote ([`Extra`]): kept, stored and sent again.
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Sent,
    Paid,
    Void,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Draft, Status::Sent, Status::Paid, Status::Void];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Sent => "sent",
            Status::Paid => "paid",
            Status::Void => "void",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What the list shows: the stored status, or *overdue* for a sent invoice past its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisplayStatus {
    Draft,
    Sent,
    Overdue,
    Paid,
    Void,
}

impl DisplayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisplayStatus::Draft => "draft",
            DisplayStatus::Sent => "sent",
            DisplayStatus::Overdue => "overdue",
            DisplayStatus::Paid => "paid",
            DisplayStatus::Void => "void",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub description: String,
    pub quantity: Qty,
    /// Price of one unit, in minor units of the invoice currency.
    pub unit_price: i64,
    /// Tax rates applied to this line (each on the line's net amount, not compounded).
    #[serde(default)]
    pub tax_rates: Vec<Rate>,
    /// Discount on this line, as a percentage.
    #[serde(default)]
    pub discount: Rate,
    /// Fields of this line that this version does not know ([`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Discount on the whole invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Discount {
    #[default]
    None,
    Percent(Rate),
    /// In minor units.
    Amount(i64),
}

/// Fields of an invoice (or of one of its lines) that this version of Ledgerline does not
/// know: written by a newer version, on another device. They are kept as they are, stored
/// here, sent again with every save, and covered by the checksum: serde writes them after
/// the known fields, in key order (the rule every version follows for fields it adds, so
/// that all versions compute the same checksum; see [`crate::checksum`]).
pub type Extra = std::collections::BTreeMap<String, serde_json::Value>;

/// Whom an invoice is addressed to, as it was when saved: an issued invoice keeps the
/// client's details it was issued with, whatever becomes of the client record, and a
/// device that lacks the client (made or deleted on another device) still has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillTo {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub tax_id: String,
}

impl BillTo {
    pub fn of(c: &Client) -> Self {
        BillTo {
            name: c.name.clone(),
            email: c.email.clone(),
            address: c.address.clone(),
            tax_id: c.tax_id.clone(),
        }
    }
}

/// The content of an invoice: everything the user edits. The checksum covers exactly this.
/// Serialized by hand (below): the first version's fields in their order, then every
/// field added since and every unknown one, in key order, so that all versions agree on
/// the bytes the checksum covers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceContent {
    pub number: String,
    pub client_id: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub status: Status,
    pub currency: String,
    pub lines: Vec<LineItem>,
    #[serde(default)]
    pub discount: Discount,
    /// Shipping in minor units, added after tax and not taxed.
    #[serde(default)]
    pub shipping: i64,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub terms: String,
    /// The client's details as saved (absent on invoices saved before it existed).
    #[serde(default)]
    pub bill_to: Option<BillTo>,
    /// Fields that this version does not know ([`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

impl InvoiceContent {
    /// Copies the client's details into the invoice at a save: while it is a draft, when
    /// it has none yet, or when its client changed. An issued invoice keeps the details
    /// it was issued with; a client this device lacks changes nothing.
    pub fn refresh_bill_to(&mut self, previous: Option<&InvoiceContent>, clients: &[Client]) {
        let Some(client) = clients.iter().find(|c| c.id == self.client_id) else {
            return;
        };
        let client_changed = previous.is_none_or(|p| p.client_id != self.client_id);
        // issued now (or still a draft): the client as it is at this save
        let was_draft = previous.is_none_or(|p| p.status == Status::Draft);
        if self.status == Status::Draft || was_draft || self.bill_to.is_none() || client_changed {
            self.bill_to = Some(BillTo::of(client));
        }
    }

    /// The client an invoice names, as a record: the device's own, or one made from the
    /// details the invoice carries (a client made on another device, or deleted there).
    pub fn client_from_bill_to(&self, now_rfc3339: &str) -> Option<Client> {
        let b = self.bill_to.as_ref()?;
        (!self.client_id.is_empty()).then(|| Client {
            id: self.client_id.clone(),
            name: b.name.clone(),
            email: b.email.clone(),
            address: b.address.clone(),
            tax_id: b.tax_id.clone(),
            updated_at: now_rfc3339.to_string(),
            extra: Extra::new(),
        })
    }
}

impl Serialize for InvoiceContent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Later<'a> {
            BillTo(&'a BillTo),
            Value(&'a serde_json::Value),
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("number", &self.number)?;
        m.serialize_entry("clientId", &self.client_id)?;
        m.serialize_entry("issueDate", &self.issue_date)?;
        m.serialize_entry("dueDate", &self.due_date)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("currency", &self.currency)?;
        m.serialize_entry("lines", &self.lines)?;
        m.serialize_entry("discount", &self.discount)?;
        m.serialize_entry("shipping", &self.shipping)?;
        m.serialize_entry("notes", &self.notes)?;
        m.serialize_entry("terms", &self.terms)?;
        // fields added after the first version, and unknown ones, in key order
        let mut later: std::collections::BTreeMap<&str, Later> = Default::default();
        if let Some(b) = &self.bill_to {
            later.insert("billTo", Later::BillTo(b));
        }
        for (k, v) in &self.extra {
            later.entry(k.as_str()).or_insert(Later::Value(v));
        }
        for (k, v) in later {
            m.serialize_entry(k, &v)?;
        }
        m.end()
    }
}

/// A stored invoice record: content plus the bookkeeping sync needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    #[serde(flatten)]
    pub content: InvoiceContent,
    /// +1 on every save.
    pub version: u64,
    /// RFC 3339 time of the last save.
    pub updated_at: String,
    /// `fnv1a64:` + hex of the canonical JSON of `content` (see [`crate::checksum`]).
    pub checksum: String,
}

impl Invoice {
    pub fn display_status(&self, today: NaiveDate) -> DisplayStatus {
        match self.content.status {
            Status::Draft => DisplayStatus::Draft,
            Status::Sent if self.content.due_date < today => DisplayStatus::Overdue,
            Status::Sent => DisplayStatus::Sent,
            Status::Paid => DisplayStatus::Paid,
            Status::Void => DisplayStatus::Void,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logo_is_an_embedded_raster_image_or_nothing() {
        assert_eq!(logo_problem("data:image/png;base64,iVBORw0KGgo="), None);
        assert_eq!(logo_problem("data:image/JPEG;base64,/9j/4AAQ"), None);
        assert_eq!(logo_problem("data:image/webp;base64,UklGRg=="), None);
        for (bad, why) in [
            ("https://tracker.example/pixel.png", "embedded"),
            ("//tracker.example/pixel.png", "embedded"),
            ("data:image/png,plain", "base64"),
            (
                "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
                "'image/svg+xml'",
            ),
            ("data:text/html;base64,PGgxPg==", "'text/html'"),
            ("data:image/png;base64,iVBOR\"><script>", "base64"),
            ("data:image/png;base64,iVBOR===", "base64"),
        ] {
            let p = logo_problem(bad).unwrap_or_default();
            assert!(p.contains(why), "{bad}: {p}");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_LOGO_BYTES));
        assert!(logo_problem(&huge)
            .unwrap_or_default()
            .contains("the limit is 200 KB"));
    }

    #[test]
    fn overdue_is_derived_from_the_due_date() {
        let d = |s: &str| crate::draft::parse_ymd(s).unwrap();
        let mut inv = crate::testing::invoice("i1", "INV-0001", "c1");
        inv.content.status = Status::Sent;
        inv.content.due_date = d("2026-01-31");
        assert_eq!(inv.display_status(d("2026-01-31")), DisplayStatus::Sent);
        assert_eq!(inv.display_status(d("2026-02-01")), DisplayStatus::Overdue);
        inv.content.status = Status::Paid;
        assert_eq!(inv.display_status(d("2026-02-01")), DisplayStatus::Paid);
        inv.content.status = Status::Draft;
        assert_eq!(inv.display_status(d("2027-01-01")), DisplayStatus::Draft);
    }

    #[test]
    fn numbering() {
        let s = Settings::default();
        assert_eq!(s.format_number(7), "INV-0007");
        assert_eq!(s.format_number(12345), "INV-12345");
    }

    #[test]
    fn an_issued_invoice_keeps_the_client_details_it_was_issued_with() {
        let mut acme = crate::testing::client("c1", "Acme");
        let mut c = crate::testing::invoice("i1", "INV-0001", "c1").content;
        c.refresh_bill_to(None, std::slice::from_ref(&acme));
        assert_eq!(c.bill_to.as_ref().map(|b| b.name.as_str()), Some("Acme"));
        // a draft follows the client
        acme.name = "Acme Ltd".into();
        let before = c.clone();
        c.refresh_bill_to(Some(&before), std::slice::from_ref(&acme));
        assert_eq!(
            c.bill_to.as_ref().map(|b| b.name.as_str()),
            Some("Acme Ltd")
        );
        // issuing it takes the client as it is then, even if the draft was saved before
        acme.name = "Acme Ltd.".into();
        let draft = c.clone();
        c.status = Status::Sent;
        c.refresh_bill_to(Some(&draft), std::slice::from_ref(&acme));
        assert_eq!(
            c.bill_to.as_ref().map(|b| b.name.as_str()),
            Some("Acme Ltd.")
        );
        // issued: it keeps what it was issued with
        acme.name = "Renamed".into();
        let before = c.clone();
        c.refresh_bill_to(Some(&before), std::slice::from_ref(&acme));
        assert_eq!(
            c.bill_to.as_ref().map(|b| b.name.as_str()),
            Some("Acme Ltd.")
        );
        // ... and with the client gone here, a device can make it again from the invoice
        c.refresh_bill_to(Some(&before), &[]);
        let back = c.client_from_bill_to("2026-12-02T00:00:00Z").unwrap();
        assert_eq!((back.id.as_str(), back.name.as_str()), ("c1", "Acme Ltd."));
    }

    #[test]
    fn fields_added_since_the_first_version_are_written_in_key_order_with_unknown_ones() {
        let mut c = crate::testing::invoice("i1", "INV-0001", "c1").content;
        c.bill_to = Some(BillTo {
            name: "Acme".into(),
            ..Default::default()
        });
        c.extra.insert("aNewerField".into(), serde_json::json!(1));
        c.extra.insert("zNewerField".into(), serde_json::json!(2));
        let json = serde_json::to_string(&c).unwrap();
        let tail = &json[json.find(r#""terms""#).unwrap()..];
        assert_eq!(
            tail,
            r#""terms":"","aNewerField":1,"billTo":{"name":"Acme","email":"","address":"","taxId":""},"zNewerField":2}"#
        );
        let back: InvoiceContent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn discount_serializes_tagged() {
        let d = Discount::Percent(Rate::percent(10));
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"kind":"percent","value":"10"}"#
        );
        let a: Discount = serde_json::from_str(r#"{"kind":"amount","value":500}"#).unwrap();
        assert_eq!(a, Discount::Amount(500));
        let n: Discount = serde_json::from_str(r#"{"kind":"none"}"#).unwrap();
        assert_eq!(n, Discount::None);
    }
}
