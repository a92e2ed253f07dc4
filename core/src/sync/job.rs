//! What a background job of the service worker (its `sync` and `periodicsync` events)
//! came to, decided from what the replay answered. The browser acts on it: a job that
//! fails is fired again later (Chromium: about 3 tries, 5 then 15 minutes apart); one
//! that succeeds is not.

use crate::protocol::Reply;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobOutcome {
    /// Nothing to send: nobody signed in, or an empty queue.
    Idle,
    /// The queue went to DynamoDB (what it refused for good stays, shown to the user).
    Done,
    /// Stopped by something that passes by itself (network, throttling, a 5xx, a storage
    /// hiccup) with changes left: the event fails, so the browser fires it again.
    Retry,
    /// Stopped by something only the user can mend (credentials expired or invalid, the
    /// clock, the table, access): the queue stays as it is and the event succeeds, so the
    /// browser stops asking; the page asks again once new credentials are saved.
    Stop,
}

/// The outcome of a job whose replay answered `reply`, with what it sent and left.
pub fn of_replay(reply: &Reply) -> (JobOutcome, u32, u32) {
    match reply {
        Reply::Replayed {
            sent,
            pending,
            failed,
            take,
            ..
        } => {
            let outcome = match failed {
                Some(class) if !class.retryable() => JobOutcome::Stop,
                Some(_) if *pending > 0 => JobOutcome::Retry,
                _ if *sent > 0 || !take.is_empty() || failed.is_some() => JobOutcome::Done,
                _ => JobOutcome::Idle,
            };
            (outcome, *sent, *pending)
        }
        // nobody signed in as the queue's user: nothing to do until someone signs in
        Reply::NoCredentials | Reply::SessionExpired { .. } => (JobOutcome::Stop, 0, 0),
        Reply::Failed { class, .. } if !class.retryable() => (JobOutcome::Stop, 0, 0),
        // a network failure before anything was sent, a storage error: try again later
        _ => (JobOutcome::Retry, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorClass;

    fn replayed(sent: u32, pending: u32, failed: Option<ErrorClass>) -> Reply {
        Reply::Replayed {
            sent,
            pending,
            conflicts: vec![],
            take: vec![],
            failed,
            refused: vec![],
        }
    }

    #[test]
    fn an_empty_queue_is_idle_and_a_sent_one_done() {
        assert_eq!(of_replay(&replayed(0, 0, None)).0, JobOutcome::Idle);
        assert_eq!(
            of_replay(&replayed(100, 0, None)),
            (JobOutcome::Done, 100, 0)
        );
        // what DynamoDB refused for good stays queued: asking the browser again cannot help
        assert_eq!(of_replay(&replayed(9, 1, None)).0, JobOutcome::Done);
    }

    #[test]
    fn a_passing_failure_with_changes_left_is_retried() {
        for class in [
            ErrorClass::NetworkUnreachable,
            ErrorClass::Throttled,
            ErrorClass::ServiceUnavailable,
        ] {
            assert_eq!(
                of_replay(&replayed(40, 60, Some(class))),
                (JobOutcome::Retry, 40, 60)
            );
            // it failed after the last change went: nothing to retry
            assert_eq!(of_replay(&replayed(40, 0, Some(class))).0, JobOutcome::Done);
            assert_eq!(
                of_replay(&Reply::Failed { class, ms: 0.0 }).0,
                JobOutcome::Retry
            );
        }
        let storage = Reply::Error {
            message: "IndexedDB closed".into(),
        };
        assert_eq!(of_replay(&storage).0, JobOutcome::Retry);
    }

    #[test]
    fn what_needs_the_user_stops_asking_and_keeps_the_queue() {
        for class in [
            ErrorClass::CredentialsExpired,
            ErrorClass::CredentialsInvalid,
            ErrorClass::AccessDenied,
            ErrorClass::TableMissing,
            ErrorClass::ClockSkew,
        ] {
            assert_eq!(
                of_replay(&replayed(0, 100, Some(class))),
                (JobOutcome::Stop, 0, 100)
            );
            assert_eq!(
                of_replay(&Reply::Failed { class, ms: 0.0 }).0,
                JobOutcome::Stop
            );
        }
        assert_eq!(of_replay(&Reply::NoCredentials).0, JobOutcome::Stop);
        assert_eq!(
            of_replay(&Reply::SessionExpired {
                message: String::new()
            })
            .0,
            JobOutcome::Stop
        );
    }
}
