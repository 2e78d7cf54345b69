//! Running key-table access as the extension owner, whoever the caller is.
//!
//! `pseudo_encrypt` and `pseudo_decrypt` are plain (not `SECURITY DEFINER`)
//! functions: a `SET search_path` clause costs about a microsecond on every call,
//! which alone made decryption slower than pgcrypto. They run with the
//! caller's rights on the hot path, where they touch only the backend's key
//! cache, and call [`as_extension_owner`] on a cache miss only.
//!
//! Why that is safe, the same way `fmgr_security_definer` is:
//! * the user id becomes the owner of `pseudo_keys.subject_key` (the role that
//!   ran `CREATE EXTENSION`), found through the syscache, not through SQL the
//!   caller could influence;
//! * `SECURITY_RESTRICTED_OPERATION` forbids `SET ROLE`, temp-object creation
//!   and similar state changes while we run as the owner;
//! * `search_path` is pinned to `pg_catalog, pg_temp` in a new GUC nest level,
//!   and every query names its tables `pseudo_keys.*`; `pg_temp` is never
//!   searched for functions or operators, and listed last for relations;
//! * queries are fixed strings with bound parameters (never formatted SQL).
//!
//! On success the previous user, security context and GUCs are restored here.
//! On error nothing is restored here: the (sub)transaction abort restores the
//! user id and unwinds the GUC nest level, exactly as for a definer function.

use crate::error::PseudoError;
use crate::pg::catalog;
use pgrx::pg_sys;

const KEY_SCHEMA: &std::ffi::CStr = c"pseudo_keys";

/// OID of the relation `pseudo_keys.<name>`.
pub fn key_table_oid(name: &std::ffi::CStr) -> Result<pg_sys::Oid, PseudoError> {
    catalog::relation_oid(KEY_SCHEMA, name).ok_or_else(|| PseudoError::KeyStore {
        why: format!("relation pseudo_keys.{} is missing; reinstall the extension", name.to_string_lossy()),
    })
}

/// Whether `pseudo_keys.<name>` exists (objects added by upgrade scripts).
pub fn relation_exists(name: &std::ffi::CStr) -> bool {
    catalog::relation_oid(KEY_SCHEMA, name).is_some()
}

thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the extension's own statements are running ([`as_extension_owner`]):
/// what they write is not the caller's work.
pub fn in_extension_context() -> bool {
    DEPTH.get() > 0
}

struct Entered;

impl Entered {
    fn new() -> Self {
        DEPTH.set(DEPTH.get() + 1);
        Entered
    }
}

impl Drop for Entered {
    // Also when an ERROR unwinds through `f`.
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get().saturating_sub(1));
    }
}

/// Runs `f` as the owner of the key tables with a pinned `search_path`.
/// `f` runs outside any `unsafe` block: only the switch and the switch back
/// are unsafe.
pub fn as_extension_owner<R>(f: impl FnOnce() -> Result<R, PseudoError>) -> Result<R, PseudoError> {
    let owner = catalog::relation_owner(key_table_oid(c"subject_key")?)
        .ok_or_else(|| PseudoError::KeyStore { why: "key table vanished during lookup".into() })?;
    let _entered = Entered::new();
    let saved = switch_to(owner);
    let result = f();
    switch_back(saved);
    result
}

/// The user, security context and GUC nest level to return to.
struct Saved {
    user: pg_sys::Oid,
    context: i32,
    nest_level: i32,
}

/// Citus refuses any query on a distributed or reference table inside a
/// query it sent to a worker ("nested distributed execution"). The key tables
/// are reference tables there (docs/citus.md): a placement on every node, so
/// reading them is local; this setting lets the key store's own statements
/// run, in the same nest level as the search_path.
const CITUS_NESTED: &std::ffi::CStr = c"citus.allow_nested_distributed_execution";

fn switch_to(owner: pg_sys::Oid) -> Saved {
    let citus_loaded = catalog::setting(CITUS_NESTED).is_some();
    let mut saved = Saved { user: pg_sys::InvalidOid, context: 0, nest_level: 0 };
    // SAFETY: the calls fmgr_security_definer makes before calling a definer
    // function, in the same order, on the backend's main thread; `owner` is a
    // role oid read from pg_class.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved.user, &mut saved.context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved.context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        saved.nest_level = pg_sys::NewGUCNestLevel();
    }
    set_in_nest_level(c"search_path", c"pg_catalog, pg_temp");
    if citus_loaded {
        set_in_nest_level(CITUS_NESTED, c"on");
    }
    saved
}

/// Sets a setting in the GUC nest level [`switch_to`] opened (undone with it).
fn set_in_nest_level(name: &std::ffi::CStr, value: &std::ffi::CStr) {
    // SAFETY: what a function's SET clause does inside fmgr_security_definer's
    // nest level; both strings are NUL-terminated and outlive the call (the
    // value is copied).
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}

fn switch_back(saved: Saved) {
    // SAFETY: the calls fmgr_security_definer makes after a definer function
    // returned: unwinds the nest level opened by switch_to and restores the
    // user and context it saved. (After an ERROR the transaction abort does it.)
    unsafe {
        pg_sys::AtEOXact_GUC(true, saved.nest_level);
        pg_sys::SetUserIdAndSecContext(saved.user, saved.context);
    }
}
