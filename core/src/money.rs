//! Exact money: amounts are integers in the currency's minor unit, quantities and
//! percentages are fixed-point decimals. No floating point anywhere.
//!
//! Rounding rule: every rounding is *half away from zero* to the currency's minor unit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Scale of [`Qty`]: four decimal places.
pub const QTY_SCALE: i64 = 10_000;
/// Scale of [`Rate`]: a percentage with three decimal places (100 % = 100_000).
pub const RATE_SCALE: i64 = 1_000;
/// 100 % as a [`Rate`] value.
pub const HUNDRED_PERCENT: i64 = 100 * RATE_SCALE;

/// Largest amount accepted anywhere, in minor units (10^13: ten billion dollars in cents).
pub const MAX_AMOUNT: i64 = 10_000_000_000_000;
/// Largest quantity accepted (one million units).
pub const MAX_QTY: i64 = 1_000_000 * QTY_SCALE;

/// Integer division rounding half away from zero. `d` must be positive.
pub fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Parses a plain decimal ("12", "-3.5", "0.125") into an integer with `scale_digits`
/// decimal places. Accepts a leading sign and surrounding spaces; refuses exponents,
/// thousands separators and more decimals than the scale allows.
pub fn parse_fixed(input: &str, scale_digits: u32, what: &str) -> Result<i128, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("Enter {what}."));
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(format!(
            "'{s}' is not a number: enter {what} like 12 or 12.50."
        ));
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "'{s}' is not a number: enter {what} with digits and at most one '.' (no commas or symbols)."
        ));
    }
    if frac_part.len() > scale_digits as usize {
        return Err(if scale_digits == 0 {
            format!("'{s}' has decimals, but {what} takes whole numbers only.")
        } else {
            format!("'{s}' has too many decimals: {what} takes at most {scale_digits}.")
        });
    }
    let int_digits = int_part.trim_start_matches('0');
    if int_digits.len() > 20 {
        return Err(format!("'{s}' is too large for {what}."));
    }
    let mut value: i128 = 0;
    for b in int_digits.bytes() {
        value = value * 10 + i128::from(b - b'0');
    }
    let mut frac: i128 = 0;
    for i in 0..scale_digits as usize {
        let d = frac_part.as_bytes().get(i).map(|b| b - b'0').unwrap_or(0);
        frac = frac * 10 + i128::from(d);
    }
    let v = value * 10i128.pow(scale_digits) + frac;
    Ok(if neg { -v } else { v })
}

/// Formats a fixed-point integer with `scale_digits` decimals, trimming trailing zeros
/// when `trim` is set ("1.5000" -> "1.5").
pub fn format_fixed(v: i128, scale_digits: u32, trim: bool) -> String {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let p = 10u128.pow(scale_digits);
    let int = a / p;
    let frac = a % p;
    let mut s = if neg {
        String::from("-")
    } else {
        String::new()
    };
    s.push_str(&int.to_string());
    if scale_digits > 0 {
        let mut f = format!("{:0width$}", frac, width = scale_digits as usize);
        if trim {
            while f.ends_with('0') {
                f.pop();
            }
        }
        if !f.is_empty() {
            s.push('.');
            s.push_str(&f);
        }
    }
    s
}

/// Parses an amount typed by a user in a currency with `digits` minor digits.
pub fn parse_amount(input: &str, digits: u8, what: &str) -> Result<i64, String> {
    let v = parse_fixed(input, u32::from(digits), what)?;
    if v.abs() > i128::from(MAX_AMOUNT) {
        return Err(format!("{what} is too large."));
    }
    Ok(v as i64)
}

/// Plain amount: "1234.50" (for inputs and CSV).
pub fn amount_plain(minor: i128, digits: u8) -> String {
    format_fixed(minor, u32::from(digits), false)
}

/// Amount with thousands separators: "1,234.50".
pub fn amount_display(minor: i128, digits: u8) -> String {
    let plain = amount_plain(minor.abs(), digits);
    let (int, frac) = match plain.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (plain.clone(), None),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let mut s = if minor < 0 {
        "-".to_string()
    } else {
        String::new()
    };
    s.push_str(&grouped);
    if let Some(f) = frac {
        s.push('.');
        s.push_str(&f);
    }
    s
}

/// A quantity with four decimal places, serialized as a decimal string ("1.5").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Qty(pub i64);

impl Qty {
    pub fn parse(input: &str) -> Result<Qty, String> {
        let v = parse_fixed(input, 4, "a quantity")?;
        if v.abs() > i128::from(MAX_QTY) {
            return Err("Quantity is too large (at most 1,000,000).".into());
        }
        Ok(Qty(v as i64))
    }
    pub fn units(n: i64) -> Qty {
        Qty(n * QTY_SCALE)
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fixed(i128::from(self.0), 4, true))
    }
}

/// A percentage with three decimal places, serialized as a decimal string ("7.5").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(pub i64);

impl Rate {
    pub fn parse(input: &str) -> Result<Rate, String> {
        let v = parse_fixed(input.trim().trim_end_matches('%'), 3, "a percentage")?;
        if v.abs() > i128::from(HUNDRED_PERCENT) * 10 {
            return Err("Percentage is too large.".into());
        }
        Ok(Rate(v as i64))
    }
    pub fn percent(p: i64) -> Rate {
        Rate(p * RATE_SCALE)
    }
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fixed(i128::from(self.0), 3, true))
    }
}

macro_rules! decimal_string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
decimal_string_serde!(Qty);
decimal_string_serde!(Rate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div_round_half_away_from_zero() {
        assert_eq!(div_round(5, 10), 1);
        assert_eq!(div_round(4, 10), 0);
        assert_eq!(div_round(-5, 10), -1);
        assert_eq!(div_round(-4, 10), 0);
        assert_eq!(div_round(15, 10), 2);
        assert_eq!(div_round(25, 10), 3);
        assert_eq!(div_round(0, 7), 0);
        assert_eq!(div_round(14, 7), 2);
    }

    #[test]
    fn parse_amounts_per_currency_digits() {
        assert_eq!(parse_amount("12.5", 2, "a price"), Ok(1250));
        assert_eq!(parse_amount(" 12 ", 2, "a price"), Ok(1200));
        assert_eq!(parse_amount(".5", 2, "a price"), Ok(50));
        assert_eq!(parse_amount("1500", 0, "a price"), Ok(1500));
        assert_eq!(parse_amount("1.234", 3, "a price"), Ok(1234));
        assert_eq!(parse_amount("-1.5", 2, "a price"), Ok(-150));
        assert!(parse_amount("1.5", 0, "a price")
            .unwrap_err()
            .contains("whole numbers"));
        assert!(parse_amount("1.555", 2, "a price")
            .unwrap_err()
            .contains("at most 2"));
        assert!(parse_amount("1,000", 2, "a price")
            .unwrap_err()
            .contains("no commas"));
        assert!(parse_amount("1e5", 2, "a price").is_err());
        assert!(parse_amount("", 2, "a price")
            .unwrap_err()
            .contains("Enter a price"));
        assert!(parse_amount(".", 2, "a price").is_err());
        assert!(parse_amount("-", 2, "a price").is_err());
        assert!(parse_amount("99999999999999999999999999", 2, "a price").is_err());
        assert!(parse_amount("100000000000.01", 2, "a price").is_err());
    }

    #[test]
    fn format_amounts() {
        assert_eq!(amount_display(123456789, 2), "1,234,567.89");
        assert_eq!(amount_display(-5, 2), "-0.05");
        assert_eq!(amount_display(1500, 0), "1,500");
        assert_eq!(amount_display(1234, 3), "1.234");
        assert_eq!(amount_display(0, 2), "0.00");
        assert_eq!(amount_plain(100, 2), "1.00");
        assert_eq!(amount_display(100000, 2), "1,000.00");
    }

    #[test]
    fn qty_and_rate_round_trip_as_strings() {
        let q = Qty::parse("1.5").unwrap();
        assert_eq!(q, Qty(15_000));
        assert_eq!(q.to_string(), "1.5");
        assert_eq!(Qty::units(3).to_string(), "3");
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"1.5\"");
        assert_eq!(serde_json::from_str::<Qty>("\"0.0001\"").unwrap(), Qty(1));
        assert!(Qty::parse("0.00001").is_err());
        assert!(Qty::parse("2000000").is_err());
        let r = Rate::parse("7.5%").unwrap();
        assert_eq!(r, Rate(7_500));
        assert_eq!(r.to_string(), "7.5");
        assert_eq!(
            serde_json::from_str::<Rate>("\"19\"").unwrap(),
            Rate::percent(19)
        );
        assert!(serde_json::from_str::<Rate>("\"abc\"").is_err());
    }
}
