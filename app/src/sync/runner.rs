//! This page's sync state, in one value: the backoff counters of replays and checks,
//! whether one is scheduled, one replay and one pull at a time, and what was already
//! done once per start (the outbox drained).

use std::cell::RefCell;

/// Which retry a backoff is for.
pub const RETRY_REPLAY: usize = 0;
pub const RETRY_CHECK: usize = 1;

#[derive(Default)]
pub struct SyncState {
    counter: u64,
    /// Failed attempts in a row, per retry kind (replay, check).
    retries: [u32; 2],
    /// A retry is scheduled (later failures do not schedule more).
    scheduled: [bool; 2],
    /// A replay runs from this page now; another request only asks for one more round.
    pub replaying: bool,
    pub again: bool,
    /// A pull runs from this page now (checks meanwhile do not start another).
    pub pulling: bool,
    /// The user whose outbox was handed over since this page started.
    drained: Option<String>,
    /// The invoices DynamoDB refused, as last told to the user.
    pub refused: Vec<String>,
}

impl SyncState {
    /// A token unique to one change in this browser (milliseconds and a counter).
    pub fn next_token(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        (js_sys::Date::now() as u64) * 1000 + self.counter % 1000
    }
    /// True the first time for `user` since this page started.
    pub fn first_drain(&mut self, user: &str) -> bool {
        let first = self.drained.as_deref() != Some(user);
        self.drained = Some(user.to_string());
        first
    }
    pub fn reset_retries(&mut self, which: usize) {
        self.retries[which] = 0;
    }
}

thread_local! {
    static STATE: RefCell<SyncState> = RefCell::new(SyncState::default());
}

pub fn with_state<T>(f: impl FnOnce(&mut SyncState) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Runs `again` after a capped exponential backoff with full jitter (1 s doubling up to
/// 60 s), counting attempts of kind `which`; one waiting timer per kind.
pub fn after_backoff(which: usize, again: impl FnOnce() + 'static) {
    let attempt = with_state(|s| {
        if s.scheduled[which] {
            return None;
        }
        s.scheduled[which] = true;
        s.retries[which] = s.retries[which].saturating_add(1);
        Some(s.retries[which])
    });
    let Some(attempt) = attempt else { return };
    let wait = ledgerline_core::sync::backoff_ms(attempt, 1000, 60_000, js_sys::Math::random());
    gloo::timers::callback::Timeout::new(wait.max(250) as u32, move || {
        with_state(|s| s.scheduled[which] = false);
        again();
    })
    .forget();
}
