//! What a replay does when a conditional write fails: DynamoDB's item is read back and
//! compared with what was sent.

use super::queue::{OpKind, QueueOp};
use super::RemoteItem;
use crate::model::Invoice;

/// What a failed condition turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailedCondition {
    /// DynamoDB already holds this change: an earlier attempt landed with its answer
    /// lost, or the same content arrived from elsewhere (equal content is never a
    /// conflict). The entry is done; DynamoDB's version is `version`, and `adopt` is
    /// DynamoDB's record when its version differs from ours (store it locally).
    Landed {
        version: u64,
        adopt: Option<Box<Invoice>>,
    },
    /// Send again on this base: DynamoDB has our own earlier write (a newer save came
    /// since), a damaged item to overwrite, or nothing at all (a lab reset or a new
    /// table: absence is "not there", never "deleted").
    Rebase(Option<u64>),
    /// DynamoDB moved on: its state becomes the local one, the queued state is kept as a
    /// conflict.
    Conflict,
    /// DynamoDB's item is damaged with no usable version, or a write based on it failed
    /// already: the entry is set apart instead of tried forever; the user is told.
    SetApart,
}

/// Decides after `op`'s conditional write failed and DynamoDB's item turned out to be
/// `remote`.
pub fn on_failed_condition(op: &QueueOp, remote: &RemoteItem) -> AfterFailedCondition {
    use AfterFailedCondition::*;
    let ours_landed = |mark: (u64, String)| op.sent.as_ref() == Some(&mark);
    match (remote, &op.kind) {
        (RemoteItem::Live(r), OpKind::Put(mine)) if r.checksum == mine.checksum => Landed {
            version: r.version,
            adopt: (r.version != mine.version).then(|| Box::new(r.clone())),
        },
        // our own earlier write, or the very copy this change was built on
        (RemoteItem::Live(r), _)
            if ours_landed((r.version, r.checksum.clone()))
                || op.parent.as_ref() == Some(&(r.version, r.checksum.clone())) =>
        {
            Rebase(Some(r.version))
        }
        (RemoteItem::Live(_), _) => Conflict,
        (RemoteItem::Tombstone(v), OpKind::Delete) => Landed {
            version: *v,
            adopt: None,
        },
        // our own delete landed, and a restore came since: it goes on top of the tombstone
        (RemoteItem::Tombstone(v), OpKind::Put(_))
            if ours_landed((0, String::new())) || op.base_version == Some(*v) =>
        {
            Rebase(Some(*v))
        }
        (RemoteItem::Tombstone(_), OpKind::Put(_)) => Conflict,
        (RemoteItem::Absent, _) => Rebase(None),
        (RemoteItem::Damaged(v), _) if v.is_none() || *v == op.base_version => SetApart,
        (RemoteItem::Damaged(v), _) => Rebase(*v),
    }
}

/// The local version kept when DynamoDB wins over `kind` (None: the loser was a delete).
pub fn loser(kind: &OpKind) -> Option<Invoice> {
    match kind {
        OpKind::Put(inv) => Some((**inv).clone()),
        OpKind::Delete => None,
    }
}

/// Whether DynamoDB holds exactly what `op` wrote (version and checksum; a tombstone at
/// the delete's version). After a transaction timed out, one item answers for all of it:
/// a transaction is all or nothing.
pub fn landed(op: &QueueOp, remote: &RemoteItem) -> bool {
    let (version, sum) = super::queue::written_mark(op);
    super::seen_of(remote) == Some((version, Some(sum)))
}

#[cfg(test)]
mod tests {
    use super::AfterFailedCondition::*;
    use super::*;
    use crate::sync::queue::sent_mark;
    use crate::sync::queue::tests::{del, put};

    fn remote_of(op: &QueueOp) -> Invoice {
        match &op.kind {
            OpKind::Put(inv) => (**inv).clone(),
            OpKind::Delete => unreachable!(),
        }
    }

    #[test]
    fn equal_content_is_never_a_conflict() {
        let op = put("a", 3, Some(2));
        let mut r = remote_of(&op);
        assert_eq!(
            on_failed_condition(&op, &RemoteItem::Live(r.clone())),
            Landed {
                version: 3,
                adopt: None
            }
        );
        // the same content under another version (written by a tab that is gone)
        r.version = 4;
        assert_eq!(
            on_failed_condition(&op, &RemoteItem::Live(r.clone())),
            Landed {
                version: 4,
                adopt: Some(Box::new(r))
            }
        );
    }

    #[test]
    fn our_own_earlier_write_is_built_upon() {
        let mut op = put("a", 4, Some(2));
        let mut earlier = remote_of(&op);
        earlier.version = 3;
        earlier.content.notes = "v3".into();
        crate::exchange::reseal(&mut earlier);
        op.sent = Some((3, earlier.checksum.clone()));
        assert_eq!(
            on_failed_condition(&op, &RemoteItem::Live(earlier.clone())),
            Rebase(Some(3))
        );
        op.sent = None;
        assert_eq!(
            on_failed_condition(&op, &RemoteItem::Live(earlier.clone())),
            Conflict
        );
        // DynamoDB has the copy this change was built on (stored here by a pull whose
        // acknowledgement was lost, so the base lags): no conflict
        op.parent = Some((3, earlier.checksum.clone()));
        assert_eq!(
            on_failed_condition(&op, &RemoteItem::Live(earlier)),
            Rebase(Some(3))
        );
    }

    #[test]
    fn tombstones_absence_and_damage() {
        let d = del("a", Some(2));
        assert_eq!(
            on_failed_condition(&d, &RemoteItem::Tombstone(5)),
            Landed {
                version: 5,
                adopt: None
            }
        );
        let p = put("a", 3, Some(2));
        assert_eq!(on_failed_condition(&p, &RemoteItem::Tombstone(3)), Conflict);
        let mut restore = put("a", 4, Some(2));
        restore.sent = Some(sent_mark(&OpKind::Delete));
        assert_eq!(
            on_failed_condition(&restore, &RemoteItem::Tombstone(3)),
            Rebase(Some(3))
        );
        assert_eq!(on_failed_condition(&p, &RemoteItem::Absent), Rebase(None));
        assert_eq!(on_failed_condition(&d, &RemoteItem::Absent), Rebase(None));
        assert_eq!(
            on_failed_condition(&p, &RemoteItem::Damaged(None)),
            SetApart
        );
        assert_eq!(
            on_failed_condition(&p, &RemoteItem::Damaged(Some(2))),
            SetApart
        );
        assert_eq!(
            on_failed_condition(&p, &RemoteItem::Damaged(Some(7))),
            Rebase(Some(7))
        );
    }

    #[test]
    fn landed_means_exactly_what_was_written() {
        let op = put("a", 3, Some(2));
        let mine = remote_of(&op);
        assert!(landed(&op, &RemoteItem::Live(mine.clone())));
        let mut other = mine.clone();
        other.content.notes = "someone else".into();
        crate::exchange::reseal(&mut other);
        assert!(!landed(&op, &RemoteItem::Live(other)));
        let mut older = mine;
        older.version = 2;
        assert!(!landed(&op, &RemoteItem::Live(older)), "still the base");
        assert!(!landed(&op, &RemoteItem::Absent));
        assert!(!landed(&op, &RemoteItem::Damaged(Some(3))));
        let gone = del("b", Some(4));
        let v = crate::sync::tombstone_version(Some(4));
        assert!(landed(&gone, &RemoteItem::Tombstone(v)));
        assert!(!landed(&gone, &RemoteItem::Tombstone(v + 1)));
    }
}
