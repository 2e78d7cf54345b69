//! Catalog and server-setting look-ups by name or OID, each behind a safe
//! function. A name or OID that matches nothing is `None` or `false`, never
//! an error raised by PostgreSQL.

use pgrx::pg_sys;
use std::ffi::CStr;
use std::path::PathBuf;

/// The OID of the relation `schema.name`, if there is one.
pub fn relation_oid(schema: &CStr, name: &CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog look-ups by name; missing_ok gives InvalidOid.
    let rel = unsafe {
        let nsp = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            pg_sys::InvalidOid
        } else {
            pg_sys::get_relname_relid(name.as_ptr(), nsp)
        }
    };
    (rel != pg_sys::InvalidOid).then_some(rel)
}

/// The relation's `pg_class` row, copied out of the syscache.
fn class_row(rel: pg_sys::Oid) -> Option<pg_sys::FormData_pg_class> {
    // SAFETY: a RELOID syscache look-up; the row is copied (plain data)
    // before the tuple is released.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, rel.into());
        if tuple.is_null() {
            return None;
        }
        let row = *pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple);
        pg_sys::ReleaseSysCache(tuple);
        Some(row)
    }
}

/// The role that owns the relation.
pub fn relation_owner(rel: pg_sys::Oid) -> Option<pg_sys::Oid> {
    class_row(rel).map(|row| row.relowner)
}

/// The planner's estimate of the relation's rows (`pg_class.reltuples`):
/// `None` until it was first vacuumed or analyzed.
pub fn estimated_rows(rel: pg_sys::Oid) -> Option<f32> {
    class_row(rel).map(|row| row.reltuples).filter(|rows| *rows >= 0.0)
}

/// Whether the relation has a column `name`.
pub fn has_column(rel: pg_sys::Oid, name: &CStr) -> bool {
    // SAFETY: a catalog look-up; a missing column is InvalidAttrNumber (0).
    unsafe { pg_sys::get_attnum(rel, name.as_ptr()) != 0 }
}

/// Whether a database with this OID exists.
pub fn database_exists(oid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache look-up on the shared pg_database catalog.
    unsafe {
        pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::DATABASEOID as i32,
            oid.into(),
            0.into(),
            0.into(),
            0.into(),
        )
    }
}

/// The database's name, if it exists.
pub fn database_name(oid: pg_sys::Oid) -> Option<String> {
    // SAFETY: a catalog look-up; NULL when the database does not exist,
    // otherwise a palloc'd NUL-terminated string, copied out.
    unsafe {
        let name = pg_sys::get_database_name(oid);
        (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// Sets the comment of a large object (created by this transaction or owned
/// by the current user).
pub fn comment_on_large_object(oid: pg_sys::Oid, comment: &CStr) {
    // catalog/pg_largeobject_d.h (not in pgrx's bindings)
    const LARGE_OBJECT_RELATION_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2613);
    // SAFETY: writes a pg_description row; the strings are C strings.
    unsafe { pg_sys::CreateComments(oid, LARGE_OBJECT_RELATION_ID, 0, comment.as_ptr()) };
}

/// A server setting's current value as text; `None` when there is no such
/// setting.
pub fn setting(name: &CStr) -> Option<String> {
    // SAFETY: reads a setting by name (missing_ok); the value is copied out
    // before anything could change it.
    unsafe {
        let value = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!value.is_null()).then(|| CStr::from_ptr(value).to_string_lossy().into_owned())
    }
}

/// The server's data directory.
pub fn data_directory() -> Option<PathBuf> {
    // SAFETY: DataDir is set for the postmaster's lifetime before any backend
    // runs SQL; copied out.
    unsafe {
        (!pg_sys::DataDir.is_null())
            .then(|| PathBuf::from(CStr::from_ptr(pg_sys::DataDir).to_string_lossy().into_owned()))
    }
}
