//! Invoice totals. The rule (also in the README):
//!
//! 1. Line gross = quantity x unit price, rounded to the minor unit.
//! 2. Line discount = gross x line discount %, rounded; line net = gross - discount.
//! 3. Subtotal = sum of line nets.
//! 4. Invoice discount = subtotal x % (rounded) or the fixed amount (capped at the subtotal);
//!    it is spread over the lines in proportion to their nets (largest remainder, so the
//!    shares add up exactly) to find each line's taxable amount.
//! 5. For every distinct tax rate: tax = (sum of taxable amounts of the lines carrying it)
//!    x rate, rounded once. Taxes are not compounded.
//! 6. Total = subtotal - invoice discount + taxes + shipping (shipping is not taxed).
//!
//! Every rounding is half away from zero. All arithmetic is integer (i128).

use crate::model::{Discount, InvoiceContent, LineItem};
use crate::money::{div_round, Rate, HUNDRED_PERCENT, QTY_SCALE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTotals {
    pub gross: i128,
    pub discount: i128,
    pub net: i128,
    /// Net after this line's share of the invoice discount.
    pub taxable: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxTotal {
    pub rate: Rate,
    pub base: i128,
    pub amount: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<LineTotals>,
    pub subtotal: i128,
    pub discount: i128,
    pub taxes: Vec<TaxTotal>,
    pub tax: i128,
    pub shipping: i128,
    pub total: i128,
}

pub fn line_gross(line: &LineItem) -> i128 {
    div_round(
        i128::from(line.quantity.0) * i128::from(line.unit_price),
        i128::from(QTY_SCALE),
    )
}

fn percent_of(amount: i128, rate: Rate) -> i128 {
    div_round(amount * i128::from(rate.0), i128::from(HUNDRED_PERCENT))
}

/// Splits `total` over `weights` in proportion, exactly (largest remainder method;
/// ties go to the earlier line). Weights are non-negative.
pub fn allocate(total: i128, weights: &[i128]) -> Vec<i128> {
    let sum: i128 = weights.iter().filter(|w| **w > 0).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<i128> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let w = (*w).max(0);
        let p = total * w;
        shares.push(p.div_euclid(sum));
        rems.push((p.rem_euclid(sum), i));
    }
    let mut left = total - shares.iter().sum::<i128>();
    // ties are broken by index, so an unstable sort gives the same order
    rems.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left <= 0 {
            break;
        }
        if weights[i] > 0 {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

pub fn compute(inv: &InvoiceContent) -> Totals {
    let mut lines: Vec<LineTotals> = inv
        .lines
        .iter()
        .map(|l| {
            let gross = line_gross(l);
            let discount = percent_of(gross, l.discount);
            LineTotals {
                gross,
                discount,
                net: gross - discount,
                taxable: gross - discount,
            }
        })
        .collect();
    let subtotal: i128 = lines.iter().map(|l| l.net).sum();
    let discount = match inv.discount {
        Discount::None => 0,
        Discount::Percent(r) => percent_of(subtotal, r),
        Discount::Amount(a) => i128::from(a).min(subtotal.max(0)).max(0),
    };
    let nets: Vec<i128> = lines.iter().map(|l| l.net).collect();
    for (l, share) in lines.iter_mut().zip(allocate(discount, &nets)) {
        l.taxable = l.net - share;
    }
    let mut taxes: Vec<TaxTotal> = Vec::new();
    for (item, lt) in inv.lines.iter().zip(&lines) {
        let mut seen: Vec<Rate> = Vec::new();
        for rate in &item.tax_rates {
            if seen.contains(rate) {
                continue;
            }
            seen.push(*rate);
            match taxes.iter_mut().find(|t| t.rate == *rate) {
                Some(t) => t.base += lt.taxable,
                None => taxes.push(TaxTotal {
                    rate: *rate,
                    base: lt.taxable,
                    amount: 0,
                }),
            }
        }
    }
    // rates are distinct here
    taxes.sort_unstable_by_key(|t| t.rate);
    for t in &mut taxes {
        t.amount = percent_of(t.base, t.rate);
    }
    let tax: i128 = taxes.iter().map(|t| t.amount).sum();
    let shipping = i128::from(inv.shipping);
    Totals {
        lines,
        subtotal,
        discount,
        taxes,
        tax,
        shipping,
        total: subtotal - discount + tax + shipping,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineItem;
    use crate::money::Qty;
    use proptest::prelude::*;

    fn line(qty: &str, price: i64, taxes: &[&str], disc: &str) -> LineItem {
        LineItem {
            description: "x".into(),
            quantity: Qty::parse(qty).unwrap(),
            unit_price: price,
            tax_rates: taxes.iter().map(|t| Rate::parse(t).unwrap()).collect(),
            discount: Rate::parse(disc).unwrap(),
            extra: Default::default(),
        }
    }

    fn content(lines: Vec<LineItem>, discount: Discount, shipping: i64) -> InvoiceContent {
        let mut c = crate::testing::invoice("i", "N", "c").content;
        c.lines = lines;
        c.discount = discount;
        c.shipping = shipping;
        c
    }

    /// The hand-computed case the end-to-end test also checks (USD).
    /// Line 1: 3 x 19.99 = 59.97, taxes 10 % and 5 %.
    /// Line 2: 1.5 x 120.00 = 180.00, 10 % line discount -> 162.00, tax 10 %.
    /// Line 3: 2 x 7.25 = 14.50, tax 5 %.
    /// Subtotal 236.47. Tax 10 % on 221.97 = 22.197 -> 22.20. Tax 5 % on 74.47 = 3.7235 -> 3.72.
    /// Shipping 5.00. Total 236.47 + 25.92 + 5.00 = 267.39.
    #[test]
    fn hand_computed_three_lines_two_rates() {
        let c = content(
            vec![
                line("3", 1999, &["10", "5"], "0"),
                line("1.5", 12000, &["10"], "10"),
                line("2", 725, &["5"], "0"),
            ],
            Discount::None,
            500,
        );
        let t = compute(&c);
        assert_eq!(t.lines[0].net, 5997);
        assert_eq!(t.lines[1].gross, 18000);
        assert_eq!(t.lines[1].discount, 1800);
        assert_eq!(t.lines[1].net, 16200);
        assert_eq!(t.lines[2].net, 1450);
        assert_eq!(t.subtotal, 23647);
        assert_eq!(t.taxes.len(), 2);
        assert_eq!(
            (t.taxes[0].rate, t.taxes[0].base, t.taxes[0].amount),
            (Rate::percent(5), 7447, 372)
        );
        assert_eq!(
            (t.taxes[1].rate, t.taxes[1].base, t.taxes[1].amount),
            (Rate::percent(10), 22197, 2220)
        );
        assert_eq!(t.tax, 2592);
        assert_eq!(t.total, 26739);
    }

    #[test]
    fn fractional_quantity_rounds_half_away_from_zero() {
        // 0.5 x 0.05 = 0.025 -> 0.03
        let t = compute(&content(vec![line("0.5", 5, &[], "0")], Discount::None, 0));
        assert_eq!(t.total, 3);
        // 0.3333 x 3.00 = 0.9999 -> 1.00
        let t = compute(&content(
            vec![line("0.3333", 300, &[], "0")],
            Discount::None,
            0,
        ));
        assert_eq!(t.total, 100);
    }

    #[test]
    fn zero_digit_currency_jpy() {
        // amounts are whole yen: 3 x 333 = 999; 8 % tax = 79.92 -> 80
        let mut c = content(vec![line("3", 333, &["8"], "0")], Discount::None, 0);
        c.currency = "JPY".into();
        let t = compute(&c);
        assert_eq!(t.tax, 80);
        assert_eq!(t.total, 1079);
        // 10 % of 1,005 yen = 100.5 -> 101
        let t = compute(&content(
            vec![line("1", 1005, &["10"], "0")],
            Discount::None,
            0,
        ));
        assert_eq!(t.tax, 101);
    }

    #[test]
    fn three_digit_currency_kwd() {
        // 2 x 1.235 KWD = 2.470; 5 % = 0.1235 -> 0.124 (fils)
        let mut c = content(vec![line("2", 1235, &["5"], "0")], Discount::None, 0);
        c.currency = "KWD".into();
        let t = compute(&c);
        assert_eq!(t.subtotal, 2470);
        assert_eq!(t.tax, 124);
        assert_eq!(t.total, 2594);
    }

    #[test]
    fn invoice_percent_discount_reduces_tax_base() {
        // 100.00 @ 20 % tax, 10 % invoice discount -> base 90.00, tax 18.00, total 108.00
        let t = compute(&content(
            vec![line("1", 10000, &["20"], "0")],
            Discount::Percent(Rate::percent(10)),
            0,
        ));
        assert_eq!(t.discount, 1000);
        assert_eq!(t.taxes[0].base, 9000);
        assert_eq!(t.tax, 1800);
        assert_eq!(t.total, 10800);
    }

    #[test]
    fn invoice_amount_discount_is_spread_over_lines_and_capped() {
        // lines 30.00 (tax 10 %) and 70.00 (no tax); 10.00 off -> 3.00 / 7.00
        let t = compute(&content(
            vec![line("1", 3000, &["10"], "0"), line("1", 7000, &[], "0")],
            Discount::Amount(1000),
            0,
        ));
        assert_eq!(t.lines[0].taxable, 2700);
        assert_eq!(t.lines[1].taxable, 6300);
        assert_eq!(t.tax, 270);
        assert_eq!(t.total, 9270);
        // a discount larger than the subtotal is capped
        let t = compute(&content(
            vec![line("1", 500, &["10"], "0")],
            Discount::Amount(900),
            0,
        ));
        assert_eq!(t.discount, 500);
        assert_eq!(t.total, 0);
    }

    #[test]
    fn line_discount_and_duplicate_rates() {
        // 1 x 9.99, 33.333 % off = 3.32967 -> 3.33, net 6.66; a rate listed twice counts once
        let t = compute(&content(
            vec![line("1", 999, &["10", "10"], "33.333")],
            Discount::None,
            0,
        ));
        assert_eq!(t.lines[0].discount, 333);
        assert_eq!(t.lines[0].net, 666);
        assert_eq!(t.taxes.len(), 1);
        assert_eq!(t.tax, 67);
    }

    #[test]
    fn empty_invoice_is_zero_plus_shipping() {
        let t = compute(&content(vec![], Discount::Percent(Rate::percent(50)), 250));
        assert_eq!(t.subtotal, 0);
        assert_eq!(t.total, 250);
    }

    #[test]
    fn allocate_is_exact() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(0, &[1, 2]), vec![0, 0]);
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
        assert_eq!(allocate(10, &[0, 5]), vec![0, 10]);
    }

    proptest! {
        #[test]
        fn allocation_sums_exactly(total in 0i128..1_000_000, ws in proptest::collection::vec(0i128..100_000, 1..20)) {
            let shares = allocate(total, &ws);
            if ws.iter().any(|w| *w > 0) {
                prop_assert_eq!(shares.iter().sum::<i128>(), total);
            }
            for (s, w) in shares.iter().zip(&ws) {
                prop_assert!(*s >= 0);
                if *w == 0 { prop_assert_eq!(*s, 0); }
            }
        }

        #[test]
        fn totals_are_consistent(
            lines in proptest::collection::vec((0i64..10_000_000, 0i64..10_000_000, 0i64..=25_000, 0i64..=100_000), 0..12),
            disc in 0i64..=100_000,
            shipping in 0i64..100_000,
        ) {
            let items: Vec<LineItem> = lines.iter().map(|(q, p, tax, d)| LineItem {
                description: "x".into(), quantity: Qty(*q), unit_price: *p,
                tax_rates: vec![Rate(*tax)], discount: Rate(*d), extra: Default::default(),
            }).collect();
            let t = compute(&content(items, Discount::Percent(Rate(disc)), shipping));
            prop_assert_eq!(t.subtotal, t.lines.iter().map(|l| l.net).sum::<i128>());
            prop_assert_eq!(t.subtotal - t.discount, t.lines.iter().map(|l| l.taxable).sum::<i128>());
            prop_assert!(t.discount <= t.subtotal);
            prop_assert!(t.tax >= 0);
            prop_assert_eq!(t.total, t.subtotal - t.discount + t.tax + t.shipping);
        }
    }
}
