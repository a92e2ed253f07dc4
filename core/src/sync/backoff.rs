//! Retries: capped exponential backoff with full jitter, for retryable classes only.

use crate::errors::ErrorClass;

/// Capped exponential backoff with full jitter: a delay in `[0, min(cap, base * 2^attempt))`.
/// `unit` is a uniform random number in `[0, 1)`.
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64, unit: f64) -> u64 {
    let ceiling = base_ms.saturating_mul(1u64 << attempt.min(32)).min(cap_ms);
    ((ceiling as f64) * unit.clamp(0.0, 1.0)).floor() as u64
}

/// Whether a failed operation is tried again by itself, later.
pub fn retry_later(class: ErrorClass) -> bool {
    class.retryable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        assert_eq!(backoff_ms(0, 500, 60_000, 0.999), 499);
        assert_eq!(backoff_ms(3, 500, 60_000, 0.5), 2_000);
        assert_eq!(backoff_ms(30, 500, 60_000, 0.999), 59_940);
        assert_eq!(backoff_ms(100, 500, 60_000, 0.0), 0);
        assert!(retry_later(ErrorClass::Throttled));
        assert!(!retry_later(ErrorClass::CredentialsExpired));
        assert!(!retry_later(ErrorClass::Conflict));
        assert!(!retry_later(ErrorClass::ClockSkew));
    }
}
