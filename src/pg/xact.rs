//! Transaction state and PostgreSQL's transaction callbacks, in one leaf
//! module: the key cache's generation, whether this transaction wrote key
//! state, and the end-of-transaction work other modules register
//! ([`register`]): the audit writes its rows before commit, root rotation
//! removes retired keys from the root key file after it, the key store
//! forgets its epoch lock on a subtransaction abort.
//!
//! The generation: `pseudo_shred` (and `pseudo_rotate`, and root key
//! administration) sends a relcache invalidation for `pseudo_keys.subject_key`
//! ([`invalidate_everywhere`]). PostgreSQL delivers it to every backend before
//! its next transaction starts (and at every lock acquisition); our callback
//! then bumps the generation, and the key cache drops everything at its next
//! access. Transaction and subtransaction aborts bump it too when the
//! transaction wrote key state, since the cache may hold a key it created or
//! miss a shred it undid.
//!
//! The callbacks only touch atomics and the registered modules' own pending
//! lists: they can fire in the middle of SPI while the cache is borrowed.
//! Each runs through [`no_unwind`], so no panic reaches PostgreSQL's C frames.

use crate::error::{OrRaise, PseudoError};
use crate::pg::no_unwind::no_unwind;
use crate::pg::owner_context::key_table_oid;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// How a transaction ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    Aborted,
    Prepared,
}

/// A module's part in every transaction. Each function is called on the
/// backend's main thread; `at_end` and `at_subtransaction_abort` run after the
/// point of no return and must not fail (report a WARNING instead).
#[derive(Clone, Copy)]
pub struct Participant {
    /// Whether the transaction holds work that cannot be prepared.
    pub refuses_prepare: fn() -> bool,
    /// Before commit or prepare: an error aborts the transaction.
    pub before_commit: fn() -> Result<(), PseudoError>,
    pub at_end: fn(Outcome),
    pub at_subtransaction_abort: fn(pg_sys::SubTransactionId),
}

impl Participant {
    /// A participant that does nothing; fill in the parts a module needs.
    pub const NONE: Participant = Participant {
        refuses_prepare: || false,
        before_commit: || Ok(()),
        at_end: |_| {},
        at_subtransaction_abort: |_| {},
    };
}

thread_local! {
    static PARTICIPANTS: RefCell<Vec<Participant>> = const { RefCell::new(Vec::new()) };
}

/// Adds `p` to every transaction of this backend, after those registered
/// before it. Called from `_PG_init`.
pub fn register(p: Participant) {
    PARTICIPANTS.with_borrow_mut(|all| all.push(p));
}

/// Each registered participant in order, without allocating (this runs in
/// abort callbacks) and without holding the registry borrowed during `f`.
fn each_participant(mut f: impl FnMut(Participant)) {
    let n = PARTICIPANTS.with_borrow(Vec::len);
    for i in 0..n {
        f(PARTICIPANTS.with_borrow(|all| all[i]));
    }
}

fn any_participant(test: impl Fn(Participant) -> bool) -> bool {
    let mut any = false;
    each_participant(|p| any = any || test(p));
    any
}

static GENERATION: AtomicU64 = AtomicU64::new(1);
/// OID of `pseudo_keys.subject_key` once known; invalidations of other
/// relations (VACUUM, ANALYZE, DDL elsewhere) leave the generation alone.
static WATCHED_RELATION: AtomicU32 = AtomicU32::new(0);
/// The generation at which [`WATCHED_RELATION`] was looked up.
static WATCHED_AT: AtomicU64 = AtomicU64::new(0);
/// Counts ended transactions: tells the key store which one it is in.
static XACT_SERIAL: AtomicU64 = AtomicU64::new(0);
/// Set when the current transaction wrote key state (created a key or the
/// first root-key row, or shredded): only then can an abort leave stale
/// cached keys, so only then does an abort move the generation.
static XACT_WROTE_KEYS: AtomicBool = AtomicBool::new(false);

/// The key cache's generation: anything cached at another generation is stale.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Makes everything this backend cached stale.
pub fn bump_generation() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Marks the current transaction as one that wrote key state.
pub fn note_key_write() {
    XACT_WROTE_KEYS.store(true, Ordering::Release);
}

/// Whether the current transaction wrote key state.
pub fn wrote_keys() -> bool {
    XACT_WROTE_KEYS.load(Ordering::Acquire)
}

/// Which transaction this is, as a number that changes when one ends.
pub fn transaction_serial() -> u64 {
    XACT_SERIAL.load(Ordering::Acquire)
}

/// Looks the key table up again after every invalidation: dropping the
/// extension invalidates the old table, and a re-created one has another OID.
pub fn watch_key_table() -> Result<(), PseudoError> {
    let now = generation();
    if WATCHED_RELATION.load(Ordering::Relaxed) == 0 || WATCHED_AT.load(Ordering::Relaxed) != now {
        WATCHED_RELATION.store(key_table_oid(c"subject_key")?.to_u32(), Ordering::Relaxed);
        WATCHED_AT.store(now, Ordering::Relaxed);
    }
    Ok(())
}

/// Tells every backend (at its next transaction) and this one (now) to drop
/// its cached keys, and marks the transaction as one that wrote key state.
pub fn invalidate_everywhere() -> Result<(), PseudoError> {
    invalidate_at_commit()?;
    note_key_write();
    Ok(())
}

/// Tells every backend to drop its cached keys at its next transaction once
/// this one commits (also through COMMIT PREPARED), and this one now; unlike
/// [`invalidate_everywhere`] it does not mark the transaction as a key writer.
pub fn invalidate_at_commit() -> Result<(), PseudoError> {
    let rel = key_table_oid(c"subject_key")?;
    // SAFETY: queues an invalidation message for an existing relation, sent at commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    bump_generation();
    Ok(())
}

unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    no_unwind(|| {
        let watched = WATCHED_RELATION.load(Ordering::Relaxed);
        if relid == pg_sys::InvalidOid || watched == 0 || relid.to_u32() == watched {
            bump_generation();
        }
    });
}

/// Guarded: refusing a PREPARE, or a failed write before commit, raises an
/// ERROR, which PostgreSQL allows before the point of no return (PRE_COMMIT,
/// PRE_PREPARE). Every other event comes after it: there a failure must not
/// become an ERROR.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact_event(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    // A prepared transaction's key changes would outlive this backend's view
    // of them: the cache would keep keys that ROLLBACK PREPARED (from any
    // session) removes, and a root key file change scheduled here would not
    // follow COMMIT/ROLLBACK PREPARED.
    if event == XACT_EVENT_PRE_PREPARE && (wrote_keys() || any_participant(|p| (p.refuses_prepare)())) {
        PseudoError::PrepareAfterKeyChange.raise();
    }
    if event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE {
        each_participant(|p| (p.before_commit)().or_raise());
    }
    let outcome = match event {
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => Outcome::Aborted,
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT => Outcome::Committed,
        XACT_EVENT_PREPARE => Outcome::Prepared,
        _ => return,
    };
    XACT_SERIAL.fetch_add(1, Ordering::AcqRel);
    let wrote_keys = XACT_WROTE_KEYS.swap(false, Ordering::AcqRel);
    let completed = no_unwind(|| {
        if outcome == Outcome::Aborted && wrote_keys {
            bump_generation();
        }
        each_participant(|p| (p.at_end)(outcome));
    });
    if !completed {
        // Forget this transaction's cached state rather than trust it.
        bump_generation();
        pgrx::warning!("pseudo_ext: internal error at transaction end; cached keys dropped");
    }
}

unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    let completed = no_unwind(|| {
        if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
            if wrote_keys() {
                bump_generation();
            }
            each_participant(|p| (p.at_subtransaction_abort)(my));
        }
    });
    if !completed {
        bump_generation();
    }
}

/// Registers the callbacks with PostgreSQL. Called once from `_PG_init`.
pub fn install() {
    // SAFETY: registering plain function pointers once per backend, from
    // _PG_init; each callback runs its body through no_unwind or is pg_guard.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0));
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}
