//! The audit of the key actions that happen once per value or per new
//! subject: one `create` row per transaction that created subjects' first
//! keys (their count and ids), one `rewrap` row per transaction that
//! re-encrypted values (their count and new key ids), each with the tables the
//! statements that did it wrote. Written by the code that did the work, never
//! by a function a caller could call with made-up numbers. A row per first key
//! cost more than creating the key (a customer table loads a subject per
//! row); the rarer actions (rotation, shred, root keys) keep a row each.
//!
//! Each action is tallied in the backend, per subtransaction: an aborted one
//! takes its actions with it (and its keys: they are rolled back too). The tally is written as one row before COMMIT or
//! PREPARE, as the extension owner, so it commits with the work (a procedure
//! that commits in batches, like `pseudo_rewrap_column`, writes one row per
//! batch). One row per transaction rather than per statement: a statement
//! boundary is not visible from inside a function called per row (a SQL
//! function around `pseudo_rewrap` runs an executor per row). When a
//! statement's executor ends, the table it wrote is noted with the rewraps it
//! made (`ExecutorEnd_hook`). A tally of many subjects is written early, in
//! rows of at most [`MAX_KEY_IDS_PER_ROW`] key ids, taking only the current
//! subtransaction's parts (an outer one could still commit while this one
//! aborts).

use crate::error::{OrRaise, PseudoError};
use crate::pg::owner_context::as_extension_owner;
use crate::pg::prepared::Statement;
use crate::pg::xact::{self, Participant};
use crate::pg::{backend, written_table};
use pgrx::pg_sys::BuiltinOid::{INT8OID, OIDARRAYOID, UUIDARRAYOID};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;
use pseudo_core::KeyId;
use std::cell::RefCell;

/// What a tally counts.
#[derive(Clone, Copy, PartialEq)]
enum Action {
    /// Subjects' first keys created (one value each: the key).
    Create,
    /// Values re-encrypted under their subject's current key.
    Rewrap,
}

/// Distinct key ids after which the tally is written mid-statement, so one
/// statement over many subjects keeps a bounded list (and several rows).
const MAX_KEY_IDS_PER_ROW: usize = 10_000;

/// The actions of one kind in one subtransaction since the last write.
struct Part {
    subxact: pg_sys::SubTransactionId,
    action: Action,
    values: i64,
    key_ids: Vec<KeyId>,
    /// Tables written by statements that rewrapped values of this part.
    tables: Vec<pg_sys::Oid>,
    /// Rewraps since a statement end last noted its table.
    since_statement_end: bool,
}

thread_local! {
    static PENDING: RefCell<Vec<Part>> = const { RefCell::new(Vec::new()) };
}

/// Called once from `_PG_init`: the executor hook that sees which tables a
/// statement wrote, and the transaction work: rows written before commit,
/// pending parts forgotten with the (sub)transaction.
pub fn install() {
    written_table::on_statement_end(note_table);
    xact::register(Participant {
        before_commit: write_before_commit,
        at_end: |_| at_transaction_end(),
        at_subtransaction_abort,
        ..Participant::NONE
    });
}

/// Records that a value was re-encrypted under `new_key`.
pub fn note_rewrap(new_key: &KeyId) {
    if note(Action::Rewrap, new_key) {
        write_pending().or_raise();
    }
}

/// Records that a subject's first key `key` was created. The caller writes
/// a full tally with [`write_if_full`] once its SPI connection is closed.
pub fn note_create(key: &KeyId) {
    FULL.set(note(Action::Create, key) || FULL.get());
}

/// Writes the tally if [`note_create`] filled it.
pub fn write_if_full() -> Result<(), PseudoError> {
    if FULL.replace(false) {
        write_pending()?;
    }
    Ok(())
}

thread_local! {
    static FULL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Adds one action to the current subtransaction's tally; true when its key
/// ids reached [`MAX_KEY_IDS_PER_ROW`].
fn note(action: Action, key: &KeyId) -> bool {
    let subxact = backend::subtransaction_id();
    PENDING.with_borrow_mut(|parts| {
        let mine = parts.iter().rposition(|p| p.subxact == subxact && p.action == action);
        let index = match mine {
            Some(index) => index,
            None => {
                parts.push(Part {
                    subxact,
                    action,
                    values: 0,
                    key_ids: Vec::new(),
                    tables: Vec::new(),
                    since_statement_end: false,
                });
                parts.len() - 1
            }
        };
        let part = &mut parts[index];
        part.values += 1;
        part.since_statement_end = true;
        if part.key_ids.last() != Some(key) {
            part.key_ids.push(*key);
        }
        if part.key_ids.len() >= MAX_KEY_IDS_PER_ROW {
            part.key_ids.sort_unstable();
            part.key_ids.dedup();
        }
        part.key_ids.len() >= MAX_KEY_IDS_PER_ROW
    })
}

/// A subtransaction aborted: its rewraps (and its children's) did not happen.
pub fn at_subtransaction_abort(subxact: pg_sys::SubTransactionId) {
    PENDING.with_borrow_mut(|parts| parts.retain(|p| p.subxact < subxact));
}

/// The transaction ended: anything still tallied was written or rolled back.
pub fn at_transaction_end() {
    PENDING.with_borrow_mut(Vec::clear);
    FULL.set(false);
}

/// Writes the transaction's tally (called before COMMIT and PREPARE, where
/// no statement's snapshot is active: the insert gets its own).
pub fn write_before_commit() -> Result<(), PseudoError> {
    if PENDING.with_borrow(Vec::is_empty) {
        return Ok(());
    }
    backend::with_active_snapshot(write_pending)
}

/// Notes the table a statement wrote with the rewraps made while it ran.
/// Nothing here can fail: pushing to a Vec.
fn note_table(table: pg_sys::Oid) {
    // The extension's own statements (key rows, audit rows) are not the caller's.
    if crate::pg::owner_context::in_extension_context() {
        return;
    }
    PENDING.with_borrow_mut(|parts| {
        for part in parts.iter_mut().filter(|p| p.since_statement_end) {
            part.since_statement_end = false;
            if !part.tables.contains(&table) {
                part.tables.push(table);
            }
        }
    });
}

/// Writes one audit row per action for the parts of the current
/// subtransaction and its committed children; outer parts wait (at commit,
/// that is all of them).
fn write_pending() -> Result<(), PseudoError> {
    let current = backend::subtransaction_id();
    let mine = PENDING.with_borrow_mut(|parts| {
        let (mine, outer): (Vec<Part>, Vec<Part>) = parts.drain(..).partition(|p| p.subxact >= current);
        *parts = outer;
        mine
    });
    // The extension was dropped in this transaction: nothing to write to.
    if mine.is_empty() || !crate::pg::owner_context::relation_exists(c"audit_log") {
        return Ok(());
    }
    for action in [Action::Create, Action::Rewrap] {
        let (mut values, mut key_ids, mut tables) = (0i64, Vec::new(), Vec::new());
        for part in mine.iter().filter(|p| p.action == action) {
            values += part.values;
            key_ids.extend_from_slice(&part.key_ids);
            tables.extend_from_slice(&part.tables);
        }
        if values == 0 {
            continue;
        }
        key_ids.sort_unstable();
        key_ids.dedup();
        tables.sort_unstable_by_key(|oid| oid.to_u32());
        tables.dedup();
        let key_ids: Vec<Uuid> = key_ids.iter().map(|id| Uuid::from_bytes(*id)).collect();
        as_extension_owner(|| {
            Spi::connect_mut(|client| match action {
                Action::Create => audit_created(client, key_ids, values, tables),
                Action::Rewrap => audit_rewrap(client, key_ids, values, tables),
            })
        })?;
    }
    Ok(())
}

/// Appends the `rewrap` row of this module: how many values were
/// re-encrypted, under which key ids, into which tables. Not while the SQL
/// of 0.2.0 or 0.3.0 is installed: its `pseudo_rewrap_column` writes its own
/// rows (through `log_rewrap_batch`, which 0.4.0 drops).
pub fn audit_rewrap(
    client: &mut SpiClient<'_>,
    key_ids: Vec<Uuid>,
    values: i64,
    tables: Vec<pg_sys::Oid>,
) -> Result<(), PseudoError> {
    client.update(
        "INSERT INTO pseudo_keys.audit_log (action, key_ids, detail) \
         SELECT 'rewrap', $1, pg_catalog.jsonb_build_object('values', $2::bigint, 'tables', \
                pg_catalog.to_jsonb(ARRAY(SELECT t::pg_catalog.regclass::text FROM pg_catalog.unnest($3::oid[]) t))) \
         WHERE pg_catalog.to_regprocedure('pseudo_keys.log_rewrap_batch(regclass,name,bigint,uuid[])') IS NULL",
        None,
        &[key_ids.into(), values.into(), tables.into()],
    )?;
    Ok(())
}

/// Appends the `create` row of this module: how many subjects got
/// their first key, the key ids, and the tables written meanwhile.
pub fn audit_created(
    client: &mut SpiClient<'_>,
    key_ids: Vec<Uuid>,
    keys: i64,
    tables: Vec<pg_sys::Oid>,
) -> Result<(), PseudoError> {
    static AUDIT_CREATED: Statement = Statement {
        sql: "INSERT INTO pseudo_keys.audit_log (action, key_ids, detail) \
              SELECT 'create', $1, pg_catalog.jsonb_build_object('keys', $2::bigint, 'tables', \
                     pg_catalog.to_jsonb(ARRAY(SELECT t::pg_catalog.regclass::text FROM pg_catalog.unnest($3::oid[]) t)))",
        args: &[UUIDARRAYOID, INT8OID, OIDARRAYOID],
        mutating: true,
    };
    client.update(AUDIT_CREATED.plan(client)?, None, &[key_ids.into(), keys.into(), tables.into()])?;
    Ok(())
}
