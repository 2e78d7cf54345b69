//! Role checks, in one place: who is calling and whether they hold a role.

use pgrx::pg_sys;
use std::ffi::CStr;

/// The current user (the extension owner while [`crate::pg::owner_context`]
/// runs key access).
pub fn current_user() -> pg_sys::Oid {
    // SAFETY: reads a backend global on the main thread.
    unsafe { pg_sys::GetUserId() }
}

/// The role running the statement, also while key access runs as the owner.
pub fn outer_user() -> pg_sys::Oid {
    // SAFETY: reads a backend global on the main thread.
    unsafe { pg_sys::GetOuterUserId() }
}

/// Whether `member` has the privileges of `role` (superusers have all).
pub fn has_privs_of(member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup on role OIDs; an OID that names no role is
    // held by nobody.
    unsafe { pg_sys::has_privs_of_role(member, role) }
}

/// Whether the current user has the privileges of the role `name`; a
/// missing role is held by nobody.
pub fn current_user_has(name: &CStr) -> bool {
    // SAFETY: a catalog lookup by name; missing_ok gives InvalidOid.
    let role = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    role != pg_sys::InvalidOid && has_privs_of(current_user(), role)
}

/// Whether `user` is a superuser.
pub fn is_superuser(user: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup on a role OID.
    unsafe { pg_sys::superuser_arg(user) }
}
