//! What a pull does with each invoice, from DynamoDB's state (versions, tombstones and
//! checksums from one Query), this device's copy, its queued change and the version it
//! last knew DynamoDB had. Nothing here takes an absence for a deletion (I1, I2, I6).

use super::queue::{OpKind, QueueOp};
use super::RemoteMeta;

/// This device's copy of an invoice (None in [`PullCase::local`]: not here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCopy {
    pub version: u64,
    pub checksum: String,
}

/// Everything known about one invoice at a pull.
#[derive(Debug, Clone, Copy)]
pub struct PullCase<'a> {
    pub local: Option<&'a LocalCopy>,
    /// The local copy exists but fails its checksum.
    pub damaged_local: bool,
    pub queued: Option<&'a QueueOp>,
    /// DynamoDB's version when this device last knew it (for this target).
    pub synced: Option<u64>,
    /// None: DynamoDB has no item for this key.
    pub remote: Option<&'a RemoteMeta>,
    /// This device's last complete pull of this target is older than a tombstone's
    /// lifetime: a missing item may have been deleted (its tombstone expired).
    pub stale: bool,
}

/// Which local version loses to DynamoDB's and must be kept as a conflict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loser {
    Nothing,
    /// The queued change (the worker has it).
    Queued,
    /// The copy in localStorage (the page has it): kept before it is overwritten.
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStep {
    /// Nothing to do.
    Keep,
    /// This device already holds DynamoDB's version `v`: record it as synced.
    Synced(u64),
    /// Store DynamoDB's live copy here, then acknowledge it.
    Take(Loser),
    /// DynamoDB has a tombstone newer than the local copy: remove it here, then
    /// acknowledge.
    Remove(Loser),
    /// Upload this device's copy (queue it again): DynamoDB lacks it (`missing`: a lab
    /// reset or a new table) or has an older version, and nothing is queued.
    Upload { missing: bool },
    /// The queued change goes on top of DynamoDB's `v` (our own earlier write landed).
    Rebase(u64),
    /// The queued change is already in DynamoDB at `v` and the local copy matches:
    /// drop it, record `v` as synced.
    Done(u64),
    /// DynamoDB lacks it and this device has not pulled for longer than a tombstone
    /// lives: it may have been deleted elsewhere. Kept for review, not uploaded.
    Review,
}

/// Decides what a pull does with one invoice.
pub fn plan(c: PullCase<'_>) -> PullStep {
    use PullStep::*;
    // the local copy is not what is queued: a save whose hand-over is still on the way
    // (or was lost), whatever its version number (a pull may have stored DynamoDB's
    // older version of the same content here, so a later save can carry a lower
    // number). The device's current copy is what goes out; the queue's own rules keep
    // whatever it replaces, and a failed condition takes the conflict path with it
    let local_ahead = match (c.queued.map(|q| &q.kind), c.local) {
        (Some(OpKind::Put(p)), Some(l)) => l.checksum != p.checksum || l.version > p.version,
        (Some(OpKind::Delete), Some(_)) => true,
        _ => false,
    };
    if local_ahead && !c.damaged_local {
        return Upload { missing: false };
    }
    let Some(r) = c.remote else {
        return match (c.local, c.queued) {
            // what is queued goes out; a failed condition on the old base rebases (absent)
            (_, Some(_)) => Keep,
            (Some(_), None) if c.stale && c.synced.is_some() => Review,
            (Some(_), None) => Upload {
                missing: c.synced.is_some(),
            },
            (None, None) => Keep,
        };
    };
    if c.damaged_local {
        // DynamoDB's copy repairs the damaged one; a different queued change is kept
        return match c.queued.map(|q| &q.kind) {
            _ if r.deleted => Keep,
            Some(OpKind::Put(p)) if Some(&p.checksum) != r.checksum.as_ref() => Take(Loser::Queued),
            _ => Take(Loser::Nothing),
        };
    }
    let ours_landed = |q: &QueueOp, mark: (u64, String)| q.sent.as_ref() == Some(&mark);
    if r.deleted {
        return match (c.queued, c.local) {
            (Some(q), _) if q.kind == OpKind::Delete => Done(r.version),
            (Some(q), _) if q.base_version == Some(r.version) => Keep,
            (Some(q), _) if ours_landed(q, (0, String::new())) => Rebase(r.version),
            (Some(_), _) => Remove(Loser::Queued),
            // this tombstone is not after what this device last knew (it was seen
            // already and the invoice was made again here since, or DynamoDB lost the
            // versions in between: a lab reset): this copy is the newer state
            (None, Some(_)) if c.synced.is_some_and(|s| r.version <= s) => {
                Upload { missing: false }
            }
            (None, Some(l)) if c.synced.is_some_and(|s| l.version <= s) => Remove(Loser::Nothing),
            (None, Some(_)) => Remove(Loser::Local),
            (None, None) if c.synced != Some(r.version) => Synced(r.version),
            (None, None) => Keep,
        };
    }
    if let Some(q) = c.queued {
        let same_content =
            matches!(&q.kind, OpKind::Put(p) if Some(&p.checksum) == r.checksum.as_ref());
        return if same_content {
            match c.local {
                Some(l) if l.version == r.version && Some(&l.checksum) == r.checksum.as_ref() => {
                    Done(r.version)
                }
                _ => Take(Loser::Nothing),
            }
        } else if q.base_version == Some(r.version) {
            Keep
        } else if r.checksum.as_ref().is_some_and(|sum| {
            ours_landed(q, (r.version, sum.clone()))
                || q.parent.as_ref() == Some(&(r.version, sum.clone()))
        }) {
            Rebase(r.version)
        } else {
            Take(Loser::Queued)
        };
    }
    let Some(l) = c.local else {
        // not here (deleted here only by a user delete, which is queued; anything else
        // is a local-only loss): DynamoDB's copy comes back
        return Take(Loser::Nothing);
    };
    if r.checksum.as_ref() == Some(&l.checksum) {
        return if l.version != r.version {
            Take(Loser::Nothing)
        } else if c.synced != Some(r.version) {
            Synced(r.version)
        } else {
            Keep
        };
    }
    match c.synced {
        None => Take(Loser::Local),
        Some(s) if l.version <= s => {
            if r.version > l.version && diverged(r.built_on.as_ref(), l) {
                // a newer version, but not built on this copy or anything after it: made
                // on another branch (the history between was lost, a lab reset): DynamoDB
                // wins, this copy is kept
                Take(Loser::Local)
            } else if r.version > l.version {
                Take(Loser::Nothing)
            } else if r.version < l.version {
                Upload { missing: false }
            } else {
                Take(Loser::Local)
            }
        }
        // unsent local changes (their queued change was lost)
        Some(s) if r.version <= s => Upload { missing: false },
        Some(_) => Take(Loser::Local),
    }
}

/// Whether a remote version built on `built_on` cannot descend from the local copy `l`:
/// it was built on a version this copy is newer than, or on another copy of the same
/// version ((0, "") is "built on nothing": a new invoice). (Versions between the two that were never uploaded exist only on the writing
/// device, so another device holding one of them is impossible.)
pub fn diverged(built_on: Option<&(u64, String)>, l: &LocalCopy) -> bool {
    built_on.is_some_and(|(v, sum)| l.version > *v || (l.version == *v && l.checksum != *sum))
}

#[cfg(test)]
mod tests {
    use super::Loser::*;
    use super::PullStep::*;
    use super::*;
    use crate::sync::queue::sent_mark;
    use crate::sync::queue::tests::{del, put};

    fn live(version: u64, checksum: &str) -> RemoteMeta {
        RemoteMeta {
            version,
            deleted: false,
            checksum: Some(checksum.into()),
            built_on: None,
        }
    }
    fn tomb(version: u64) -> RemoteMeta {
        RemoteMeta {
            version,
            deleted: true,
            checksum: None,
            built_on: None,
        }
    }

    #[test]
    fn a_local_copy_ahead_of_its_queued_change_goes_out_itself() {
        let p = put("a", 2, Some(1));
        let r = live(1, "A");
        // newer here than queued, or another copy under the same version: re-queued
        let up = Upload { missing: false };
        assert_eq!(
            plan(case(Some(&local(3, "C")), Some(&p), Some(1), Some(&r))),
            up
        );
        assert_eq!(
            plan(case(Some(&local(2, "C")), Some(&p), Some(1), Some(&r))),
            up
        );
        assert_eq!(
            plan(case(Some(&local_of(&p)), Some(&p), Some(1), Some(&r))),
            Keep
        );
    }

    #[test]
    fn a_version_from_another_branch_keeps_the_local_copy() {
        // this device holds R v2 (synced); DynamoDB, reset in between, now has C v3 that
        // another device built on A v1: not a successor of R
        let r2 = local(2, "R");
        let mut c3 = live(3, "C");
        c3.built_on = Some((1, "A".into()));
        assert_eq!(plan(case(Some(&r2), None, Some(2), Some(&c3))), Take(Local));
        // built on R itself, or on A while this device still had A: a plain successor
        c3.built_on = Some((2, "R".into()));
        assert_eq!(
            plan(case(Some(&r2), None, Some(2), Some(&c3))),
            Take(Nothing)
        );
        let a1 = local(1, "A");
        c3.built_on = Some((1, "A".into()));
        assert_eq!(
            plan(case(Some(&a1), None, Some(1), Some(&c3))),
            Take(Nothing)
        );
        // another copy of the same version
        c3.built_on = Some((1, "other".into()));
        assert_eq!(plan(case(Some(&a1), None, Some(1), Some(&c3))), Take(Local));
    }
    /// The local copy a queued put was made from.
    fn local_of(q: &QueueOp) -> LocalCopy {
        match &q.kind {
            OpKind::Put(p) => local(p.version, &p.checksum),
            OpKind::Delete => unreachable!(),
        }
    }

    fn local(version: u64, checksum: &str) -> LocalCopy {
        LocalCopy {
            version,
            checksum: checksum.into(),
        }
    }
    fn case<'a>(
        l: Option<&'a LocalCopy>,
        q: Option<&'a QueueOp>,
        s: Option<u64>,
        r: Option<&'a RemoteMeta>,
    ) -> PullCase<'a> {
        PullCase {
            local: l,
            damaged_local: false,
            queued: q,
            synced: s,
            remote: r,
            stale: false,
        }
    }

    #[test]
    fn absence_is_never_a_deletion() {
        let l = local(3, "x");
        // missing in DynamoDB (lab reset, new table): uploaded, and said so
        assert_eq!(
            plan(case(Some(&l), None, Some(3), None)),
            Upload { missing: true }
        );
        assert_eq!(
            plan(case(Some(&l), None, None, None)),
            Upload { missing: false }
        );
        // missing here, there in DynamoDB (local data cleared): comes back
        let r = live(3, "x");
        assert_eq!(plan(case(None, None, Some(3), Some(&r))), Take(Nothing));
        // a stale device does not resurrect what may have been deleted
        let mut c = case(Some(&l), None, Some(3), None);
        c.stale = true;
        assert_eq!(plan(c), Review);
    }

    #[test]
    fn tombstones_are_deletions() {
        let l = local(3, "x");
        let t = tomb(4);
        assert_eq!(
            plan(case(Some(&l), None, Some(3), Some(&t))),
            Remove(Nothing)
        );
        // edited here (queue lost) while deleted there: the edit is kept
        let l5 = local_of(&put("a", 5, Some(3)));
        assert_eq!(
            plan(case(Some(&l5), None, Some(3), Some(&t))),
            Remove(Local)
        );
        let p = put("a", 5, Some(3));
        assert_eq!(
            plan(case(Some(&l5), Some(&p), Some(3), Some(&t))),
            Remove(Queued)
        );
        let d = del("a", Some(3));
        assert_eq!(plan(case(None, Some(&d), Some(3), Some(&t))), Done(4));
        assert_eq!(plan(case(None, None, Some(3), Some(&t))), Synced(4));
        assert_eq!(plan(case(None, None, Some(4), Some(&t))), Keep);
        // a tombstone older than what this device knew (a lab reset lost the versions
        // between): this copy is the newer state and goes up again
        let r5 = local(5, "R");
        assert_eq!(
            plan(case(Some(&r5), None, Some(5), Some(&tomb(1)))),
            Upload { missing: false }
        );
        // restored on top of the tombstone
        let restore = put("a", 5, Some(4));
        assert_eq!(
            plan(case(Some(&l5), Some(&restore), Some(4), Some(&t))),
            Keep
        );
    }

    #[test]
    fn a_queued_delete_meeting_a_newer_edit_is_a_conflict() {
        let d = del("a", Some(3));
        let r = live(5, "z");
        assert_eq!(plan(case(None, Some(&d), Some(3), Some(&r))), Take(Queued));
        let r3 = live(3, "x");
        assert_eq!(plan(case(None, Some(&d), Some(3), Some(&r3))), Keep);
    }

    #[test]
    fn equal_content_is_never_a_conflict() {
        let p = put("a", 1, None);
        let OpKind::Put(inv) = &p.kind else {
            unreachable!()
        };
        let l = local(1, &inv.checksum);
        let r = live(1, &inv.checksum);
        assert_eq!(plan(case(Some(&l), Some(&p), None, Some(&r))), Done(1));
        let r2 = live(2, &inv.checksum);
        assert_eq!(
            plan(case(Some(&l), Some(&p), None, Some(&r2))),
            Take(Nothing)
        );
        let mut sent = put("a", 2, Some(1));
        if let OpKind::Put(p) = &mut sent.kind {
            p.content.notes = "newer".into();
            crate::exchange::reseal(p);
        }
        sent.sent = Some((1, inv.checksum.clone()));
        let l2 = local_of(&sent);
        assert_eq!(plan(case(Some(&l2), Some(&sent), Some(1), Some(&r))), Keep);
        let mut moved = sent.clone();
        moved.base_version = None;
        assert_eq!(
            plan(case(Some(&l2), Some(&moved), None, Some(&r))),
            Rebase(1)
        );
        assert_eq!(sent_mark(&p.kind).0, 1);
    }

    #[test]
    fn unsent_changes_meeting_newer_remote_versions_are_kept() {
        let p = put("a", 5, Some(4));
        let l = local_of(&p);
        assert_eq!(
            plan(case(Some(&l), Some(&p), Some(4), Some(&live(4, "old")))),
            Keep
        );
        assert_eq!(
            plan(case(Some(&l), Some(&p), Some(4), Some(&live(6, "theirs")))),
            Take(Queued)
        );
        // queue lost: the local copy is the loser
        assert_eq!(
            plan(case(Some(&l), None, Some(4), Some(&live(6, "theirs")))),
            Take(Local)
        );
        assert_eq!(
            plan(case(Some(&l), None, Some(4), Some(&live(4, "old")))),
            Upload { missing: false }
        );
        // nothing changed here: DynamoDB's newer version is simply taken
        let l4 = local(4, "old");
        assert_eq!(
            plan(case(Some(&l4), None, Some(4), Some(&live(6, "theirs")))),
            Take(Nothing)
        );
        // a new table that has another copy: DynamoDB wins, ours is kept
        assert_eq!(
            plan(case(Some(&l4), None, None, Some(&live(2, "other")))),
            Take(Local)
        );
        assert_eq!(
            plan(case(Some(&l4), None, None, Some(&live(4, "old")))),
            Synced(4)
        );
    }
}
