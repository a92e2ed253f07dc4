//! Invoice numbers that stay unique across a user's devices, online or offline.
//!
//! DynamoDB holds one counter per user (the item `#counter`): the next number no device
//! has been given. A device leases a block of numbers from it while online (a read, then
//! a write conditional on the value read, so two devices never get the same block) and
//! gives them out offline; it leases the next block before this one runs out. A new
//! invoice with no leased number left gets a provisional number (`DRAFT-…`), may not be
//! issued (sent, paid) with it, and is numbered as soon as a block arrives. Numbers are
//! never reused; a device's unused numbers are gaps.

use crate::model::{Invoice, Settings, Status};
use serde::{Deserialize, Serialize};

/// How many numbers a device leases at a time (at least).
pub const BLOCK: u64 = 25;
/// The most numbers one lease asks for.
pub const MAX_BLOCK: u64 = 1000;
/// A device leases the next block when fewer than this many are left.
pub const LOW_WATER: u64 = 10;
/// The sort key of the counter item (never an invoice id: those never start with '#').
pub const COUNTER_KEY: &str = "#counter";
/// The highest number the counter gives out. A number above it (typed by hand, or
/// imported) is not one of the counter's and never moves it: the counter can only grow,
/// and never wraps around.
pub const MAX_NUMBER: u64 = 1_000_000_000_000;
/// How a provisional number starts.
pub const PROVISIONAL: &str = "DRAFT-";

/// The numbers this device holds for one (user, target): blocks `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub blocks: Vec<(u64, u64)>,
}

impl Lease {
    pub fn remaining(&self) -> u64 {
        self.blocks.iter().map(|(s, e)| e.saturating_sub(*s)).sum()
    }

    pub fn needs_more(&self) -> bool {
        self.remaining() < LOW_WATER
    }

    /// The lowest number held, without giving it out.
    pub fn peek(&self) -> Option<u64> {
        self.blocks
            .iter()
            .filter(|(s, e)| s < e)
            .map(|(s, _)| *s)
            .min()
    }

    /// Gives out the lowest number held: it is never given again.
    pub fn take(&mut self) -> Option<u64> {
        let n = self.peek()?;
        self.remove(n);
        Some(n)
    }

    /// Gives up `n` (given out, or used by an invoice already).
    pub fn remove(&mut self, n: u64) {
        let mut next = Vec::with_capacity(self.blocks.len() + 1);
        for &(s, e) in &self.blocks {
            if n < s || n >= e {
                next.push((s, e));
            } else {
                if s < n {
                    next.push((s, n));
                }
                if n + 1 < e {
                    next.push((n + 1, e));
                }
            }
        }
        next.sort_unstable();
        self.blocks = next;
    }

    pub fn add(&mut self, start: u64, end: u64) {
        if start < end {
            self.blocks.push((start, end));
            self.blocks.sort_unstable();
        }
    }

    /// The end of the highest block held (0: none).
    pub fn high(&self) -> u64 {
        self.blocks.iter().map(|(_, e)| *e).max().unwrap_or(0)
    }
}

/// The sequence number of `number` in the format of `settings`, if it has that format
/// and is within the counter's range (at most [`MAX_NUMBER`]).
pub fn sequence_of(settings: &Settings, number: &str) -> Option<u64> {
    let digits = number.strip_prefix(settings.number_prefix.as_str())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n <= MAX_NUMBER)
}

/// The lowest number a new block may start at, as far as this device knows: after every
/// number its invoices use, its settings' next number and the blocks it holds.
pub fn floor(settings: &Settings, invoices: &[Invoice], lease: &Lease) -> u64 {
    let used = invoices
        .iter()
        .filter_map(|i| sequence_of(settings, &i.content.number))
        .max()
        .map_or(1, |n| n + 1);
    used.max(settings.next_number.min(MAX_NUMBER))
        .max(lease.high())
        .clamp(1, MAX_NUMBER)
}

/// How many numbers to lease when `waiting` invoices wait for one: a block, or enough
/// for all of them and a block's low-water mark besides (one lease after a long offline
/// stretch numbers them all at once).
pub fn block_size(waiting: u64) -> u64 {
    waiting.saturating_add(LOW_WATER).clamp(BLOCK, MAX_BLOCK)
}

/// Where the block of `size` numbers a device leases now starts, and the counter's value
/// after it: `counter` is DynamoDB's counter as read (None: there is none yet, or the
/// table was recreated), `floor` what this device knows is taken.
pub fn block(counter: Option<u64>, floor: u64, size: u64) -> Option<(u64, u64)> {
    let start = counter.unwrap_or(1).max(floor.min(MAX_NUMBER)).max(1);
    let end = start.checked_add(size.clamp(1, MAX_BLOCK))?;
    // the counter only ever grows, and stays within its range
    (end > counter.unwrap_or(0) && end <= MAX_NUMBER + MAX_BLOCK + 1).then_some((start, end))
}

pub fn is_provisional(number: &str) -> bool {
    number.starts_with(PROVISIONAL)
}

/// A provisional number for the invoice `id`: unique with it, plainly not a legal one.
pub fn provisional(id: &str) -> String {
    let tag: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    format!("{PROVISIONAL}{tag}")
}

/// The next number for a new invoice: the lowest leased number no invoice here uses
/// (numbers found in use are given up), or None when none is left.
pub fn next_leased(settings: &Settings, invoices: &[Invoice], lease: &mut Lease) -> Option<String> {
    loop {
        let n = lease.peek()?;
        let candidate = settings.format_number(n);
        if invoices.iter().any(|i| i.content.number == candidate) {
            lease.remove(n);
            continue;
        }
        return Some(candidate);
    }
}

/// Whether `now` is the copy an editor loaded (`version`, `checksum`, `number`) with
/// nothing changed but its provisional number replaced by a real one (numbered while the
/// editor was open): the draft then takes that number and saves over it, no conflict.
pub fn only_numbered(loaded: (u64, &str, &str), now: &Invoice) -> bool {
    let (version, checksum, number) = loaded;
    if !is_provisional(number)
        || is_provisional(&now.content.number)
        || now.version != version.saturating_add(1)
    {
        return false;
    }
    let mut probe = now.content.clone();
    probe.number = number.to_string();
    crate::checksum::content_checksum(&probe) == checksum
}

/// One number used by more than one live invoice here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub number: String,
    /// The invoices using it, the one that keeps it first (issued before drafts, then
    /// the earliest issue date, then the earliest saved).
    pub ids: Vec<String>,
    /// Those of `ids` that are drafts and may take a new number (never the first).
    pub renumber: Vec<String>,
}

/// Every number used twice or more among `invoices` (provisional numbers never clash:
/// each names its invoice).
pub fn duplicates(invoices: &[Invoice]) -> Vec<Duplicate> {
    let mut by_number: std::collections::BTreeMap<&str, Vec<&Invoice>> = Default::default();
    for inv in invoices {
        if !is_provisional(&inv.content.number) {
            by_number
                .entry(inv.content.number.as_str())
                .or_default()
                .push(inv);
        }
    }
    by_number
        .into_iter()
        .filter(|(_, list)| list.len() > 1)
        .map(|(number, mut list)| {
            list.sort_by(|a, b| {
                let draft = |i: &Invoice| i.content.status == Status::Draft;
                (draft(a), a.content.issue_date, &a.updated_at, &a.id).cmp(&(
                    draft(b),
                    b.content.issue_date,
                    &b.updated_at,
                    &b.id,
                ))
            });
            Duplicate {
                number: number.to_string(),
                ids: list.iter().map(|i| i.id.clone()).collect(),
                renumber: list
                    .iter()
                    .skip(1)
                    .filter(|i| i.content.status == Status::Draft)
                    .map(|i| i.id.clone())
                    .collect(),
            }
        })
        .collect()
}

/// The invoices waiting for a real number (provisional ones), oldest first.
pub fn waiting_for_numbers(invoices: &[Invoice]) -> Vec<&Invoice> {
    let mut v: Vec<&Invoice> = invoices
        .iter()
        .filter(|i| is_provisional(&i.content.number))
        .collect();
    v.sort_by(|a, b| {
        (a.content.issue_date, &a.updated_at, &a.id).cmp(&(
            b.content.issue_date,
            &b.updated_at,
            &b.id,
        ))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::invoice;
    use proptest::prelude::*;

    fn settings() -> Settings {
        Settings::default()
    }

    #[test]
    fn a_lease_gives_out_each_number_once_lowest_first() {
        let mut l = Lease::default();
        assert!(l.needs_more());
        l.add(30, 33);
        l.add(5, 7);
        assert_eq!(l.remaining(), 5);
        assert_eq!(l.take(), Some(5));
        assert_eq!(l.take(), Some(6));
        l.remove(31);
        assert_eq!(l.take(), Some(30));
        assert_eq!(l.take(), Some(32));
        assert_eq!(l.take(), None);
        assert_eq!(l.high(), 0);
    }

    #[test]
    fn the_floor_is_after_everything_this_device_knows() {
        let s = settings();
        let mut a = invoice("a", "INV-0007", "c");
        let b = invoice("b", "custom-99", "c");
        assert_eq!(floor(&s, &[a.clone(), b.clone()], &Lease::default()), 8);
        a.content.number = "INV-0002".into();
        let mut l = Lease::default();
        l.add(40, 65);
        assert_eq!(floor(&s, &[a, b], &l), 65);
        assert_eq!(block(Some(70), 65, BLOCK), Some((70, 70 + BLOCK)));
        // the table recreated empty: the counter is gone, the device's knowledge is not
        assert_eq!(block(None, 65, BLOCK), Some((65, 65 + BLOCK)));
        assert_eq!(block(None, 0, BLOCK), Some((1, 1 + BLOCK)));
        assert_eq!(block_size(0), BLOCK);
        assert_eq!(block_size(175), 185, "all that wait, and some");
        assert_eq!(block(Some(1), 1, 1_000_000), Some((1, 1 + MAX_BLOCK)));
    }

    #[test]
    fn huge_numbers_never_move_the_counter_or_wrap_it() {
        let s = settings();
        let typed = invoice("a", "INV-18446744073709551615", "c");
        assert_eq!(sequence_of(&s, &typed.content.number), None);
        assert_eq!(floor(&s, &[typed], &Lease::default()), 1);
        let big = Settings {
            next_number: u64::MAX,
            ..Settings::default()
        };
        assert_eq!(floor(&big, &[], &Lease::default()), MAX_NUMBER);
        // a counter somehow beyond the range: no block rather than one that goes back
        assert_eq!(block(Some(u64::MAX - 3), 1, BLOCK), None);
        assert_eq!(block(Some(MAX_NUMBER + MAX_BLOCK + 1), 1, BLOCK), None);
    }

    #[test]
    fn numbers_already_used_here_are_skipped_and_given_up() {
        let s = settings();
        let mut l = Lease::default();
        l.add(1, 4);
        let used = vec![invoice("a", "INV-0001", "c")];
        assert_eq!(next_leased(&s, &used, &mut l).as_deref(), Some("INV-0002"));
        assert_eq!(
            l.remaining(),
            2,
            "INV-0001 is given up, INV-0002 is only peeked"
        );
    }

    #[test]
    fn provisional_numbers_name_their_invoice_and_never_clash() {
        let p = provisional("3f2a9c1e-77b0-4c1d");
        assert_eq!(p, "DRAFT-3F2A9C1E");
        assert!(is_provisional(&p));
        assert_eq!(sequence_of(&settings(), &p), None);
        let mut a = invoice("a", &p, "c");
        let b = invoice("b", &p, "c");
        assert!(duplicates(&[a.clone(), b]).is_empty());
        a.content.number = "INV-0001".into();
        assert_eq!(waiting_for_numbers(&[a]).len(), 0);
    }

    #[test]
    fn duplicates_keep_the_issued_one_and_renumber_only_drafts() {
        let mut sent = invoice("s", "INV-0005", "c");
        sent.content.status = Status::Sent;
        let mut early = invoice("e", "INV-0005", "c");
        early.content.issue_date = sent.content.issue_date - chrono::Duration::days(3);
        let other = invoice("o", "INV-0006", "c");
        let d = duplicates(&[early.clone(), other, sent.clone()]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].number, "INV-0005");
        assert_eq!(d[0].ids, vec!["s".to_string(), "e".to_string()]);
        assert_eq!(d[0].renumber, vec!["e".to_string()]);
        // two issued invoices: nothing to renumber, the user is told
        early.content.status = Status::Paid;
        let d = duplicates(&[early, sent]);
        assert!(d[0].renumber.is_empty());
    }

    #[test]
    fn a_copy_only_numbered_meanwhile_is_no_conflict() {
        let mut loaded = invoice("a", "DRAFT-3F2A9C1E", "c");
        loaded.version = 1;
        let mut now = loaded.clone();
        now.content.number = "INV-0051".into();
        now.version = 2;
        now.checksum = crate::checksum::content_checksum(&now.content);
        let l = (1, loaded.checksum.as_str(), "DRAFT-3F2A9C1E");
        assert!(only_numbered(l, &now));
        // anything else changed too: a real change, the conflict path
        now.content.notes = "edited elsewhere".into();
        assert!(!only_numbered(l, &now));
        // a real number that changed is not this case either
        assert!(!only_numbered(
            (1, loaded.checksum.as_str(), "INV-0001"),
            &now
        ));
    }

    proptest! {
        /// Devices leasing blocks from one counter in any order, each from what it
        /// knows, never hold the same number twice (the counter only grows).
        #[test]
        fn blocks_from_one_counter_never_overlap(
            steps in proptest::collection::vec((0usize..3, 0u64..200, 0u64..300), 1..60),
        ) {
            let mut counter: Option<u64> = None;
            let mut given: Vec<(u64, u64)> = Vec::new();
            let mut leases = [Lease::default(), Lease::default(), Lease::default()];
            for (device, extra, waiting) in steps {
                let f = leases[device].high().max(extra);
                let Some((start, end)) = block(counter, f, block_size(waiting)) else {
                    continue;
                };
                counter = Some(end);
                leases[device].add(start, end);
                for &(s, e) in &given {
                    prop_assert!(end <= s || start >= e, "[{start}, {end}) overlaps [{s}, {e})");
                }
                given.push((start, end));
            }
        }
    }
}
