//! Invoice numbers of a signed-in user, unique across all their devices: leased in blocks
//! from the user's counter in DynamoDB (`ledgerline_core::numbers`), kept in localStorage
//! per (user, target) (`<ns>numbers`), given out offline, topped up whenever DynamoDB
//! answers. Without an account, numbers come from this browser's counter as before.

use crate::platform::with_kv;
use crate::scoped;
use crate::state::{save_invoice, Action, Store};
use ledgerline_core::numbers::{self, Lease};

const NAME: &str = "numbers";

/// The numbers this device holds for the current account and table (None: no account).
pub fn lease(store: &Store) -> Option<Lease> {
    let scope = scoped::scope_of(store)?;
    Some(
        scoped::load::<Lease>(store, NAME)
            .remove(&scope)
            .unwrap_or_default(),
    )
}

/// The write that stores `lease` for the current account and table.
fn write_of(store: &Store, lease: Lease) -> Option<(String, Option<String>)> {
    let scope = scoped::scope_of(store)?;
    let mut every = scoped::load::<Lease>(store, NAME);
    every.insert(scope, lease);
    Some(scoped::write(store, NAME, &every))
}

/// The number a new invoice gets now: the browser's counter without an account; with
/// one, the lowest number leased to this device, or a provisional one when none is left.
pub fn suggest(store: &Store) -> String {
    match lease(store) {
        None => ledgerline_core::store::next_number(&store.snap.settings, &store.snap.invoices).0,
        Some(mut l) => numbers::next_leased(&store.snap.settings, &store.snap.invoices, &mut l)
            .unwrap_or_else(|| numbers::provisional(&crate::platform::new_id())),
    }
}

/// Why invoice `id` may not use `number` (None: it may).
pub fn problem(store: &Store, id: Option<&str>, number: &str) -> Option<String> {
    let used = store
        .snap
        .invoices
        .iter()
        .any(|i| Some(i.id.as_str()) != id && i.content.number == number);
    if used {
        return Some(format!(
            "Invoice number {number} is already used by another invoice."
        ));
    }
    let lease = lease(store)?;
    let settings = &store.snap.settings;
    let own = id
        .and_then(|id| store.invoice(id))
        .is_some_and(|i| i.content.number == number);
    let seq = numbers::sequence_of(settings, number)?;
    let held = lease.blocks.iter().any(|(s, e)| (*s..*e).contains(&seq));
    (!own && !held).then(|| {
        format!(
            "{number} is not reserved for this device: numbers like {} come from DynamoDB's counter, so that two devices never give out the same one. Keep the number suggested, or use a number in another format.",
            settings.format_number(1)
        )
    })
}

/// The write that gives up `number` from this device's lease once an invoice uses it
/// (None: no account, or not a leased number).
pub fn consume(store: &Store, number: &str) -> Option<(String, Option<String>)> {
    let mut l = lease(store)?;
    let seq = numbers::sequence_of(&store.snap.settings, number)?;
    if !l.blocks.iter().any(|(s, e)| (*s..*e).contains(&seq)) {
        return None;
    }
    l.remove(seq);
    write_of(store, l)
}

thread_local! {
    static LEASING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the lease in flight as done however `top_up` ends.
struct Leasing;

impl Drop for Leasing {
    fn drop(&mut self) {
        LEASING.with(|l| l.set(false));
    }
}

/// Leases the next block when few numbers are left (DynamoDB answering), then gives
/// numbers to the invoices waiting with provisional ones, oldest first.
pub async fn top_up(store: &Store) {
    // one lease at a time: two checks answered together (a retry and the periodic one)
    // would otherwise both see few numbers left and both lease a block
    while LEASING.with(|l| l.get()) {
        gloo::timers::future::sleep(std::time::Duration::from_millis(20)).await;
    }
    LEASING.with(|l| l.set(true));
    let _leasing = Leasing;
    let (Some(session), Some(before)) = (store.session.clone(), lease(store)) else {
        return;
    };
    let target = store.config.target.clone();
    let waiting = numbers::waiting_for_numbers(&store.snap.invoices).len() as u64;
    if before.remaining() >= numbers::LOW_WATER + waiting {
        let ids = number_waiting(store);
        handed_over(store, &ids).await;
        return;
    }
    let floor = numbers::floor(&store.snap.settings, &store.snap.invoices, &before);
    let leased =
        crate::service::lease_numbers(&target, &session.sub, floor, numbers::block_size(waiting))
            .await;
    let Ok((start, end)) = leased else {
        return;
    };
    // the user or table may have changed while DynamoDB answered
    if !crate::sync::still_on(store, &session.sub, &target) {
        return;
    }
    let mut now = lease(store).unwrap_or_default();
    now.add(start, end);
    if let Some(w) = write_of(store, now) {
        if let Err(e) = with_kv(|kv| ledgerline_core::store::write_all(kv, &[w])) {
            store.dispatch(Action::Toast(format!(
                "Invoice numbers {} to {} were reserved for this device but could not be stored here ({e:?}); they are skipped.",
                store.snap.settings.format_number(start),
                store.snap.settings.format_number(end - 1)
            )));
            return;
        }
    }
    let ids = number_waiting(store);
    handed_over(store, &ids).await;
}

/// Gives every invoice waiting with a provisional number a leased one, as a new version.
/// Returns their ids.
fn number_waiting(store: &Store) -> Vec<String> {
    let waiting: Vec<(String, ledgerline_core::model::InvoiceContent)> =
        numbers::waiting_for_numbers(&store.snap.invoices)
            .into_iter()
            .map(|i| (i.id.clone(), i.content.clone()))
            .collect();
    let mut done = Vec::new();
    let mut ids = Vec::new();
    for (id, mut content) in waiting {
        let Some(mut l) = lease(store) else { break };
        let Some(number) = numbers::next_leased(&store.snap.settings, &store.snap.invoices, &mut l)
        else {
            break;
        };
        let old = std::mem::replace(&mut content.number, number.clone());
        match save_invoice(store, Some(&id), content) {
            Ok(_) => {
                done.push((old, number));
                ids.push(id);
            }
            Err(e) => {
                store.dispatch(Action::Toast(e.message()));
                break;
            }
        }
    }
    match done.as_slice() {
        [] => {}
        few if few.len() <= 3 => {
            let list: Vec<String> = few.iter().map(|(o, n)| format!("{o} → {n}")).collect();
            store.dispatch(Action::Toast(format!(
                "Numbered from DynamoDB's counter: {}.",
                list.join(", ")
            )));
        }
        [first, .., last] => store.dispatch(Action::Toast(format!(
            "Numbered {} invoices that waited for a number, {} to {}.",
            done.len(),
            first.1,
            last.1
        ))),
        _ => {}
    }
    ids
}

/// Waits (a few seconds at most) until the changes of `ids` are handed over to the queue,
/// so that a replay starting next sends each invoice once, with its number.
async fn handed_over(store: &Store, ids: &[String]) {
    let Some(user) = store.session.as_ref().map(|s| s.sub.clone()) else {
        return;
    };
    for _ in 0..250 {
        let waiting = with_kv(|kv| ledgerline_core::outbox::pending(kv, &user));
        if !waiting.iter().any(|(id, ..)| ids.contains(id)) {
            return;
        }
        gloo::timers::future::sleep(std::time::Duration::from_millis(20)).await;
    }
}
