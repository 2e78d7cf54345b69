//! pseudo_ext: per-subject AES-128-CCM pseudonymization with crypto-shredding.
//!
//! This crate is the thin PostgreSQL layer over `pseudo_core` (the pure crypto
//! core). All SQL objects (type, operators, functions, schema, tables, grants,
//! comments) are hand-written in `sql/pseudo_ext.sql`; the Rust functions here
//! are declared with `sql = false` and bound by symbol name from that file.
//!
//! * [`type_io`]: the `pseudo_text` type's text and binary I/O.
//! * [`functions`]: the SQL-callable functions, one-line wrappers.
//! * [`key_cache`]: per-backend cache of unwrapped keys and its invalidation.
//! * [`key_store`]: the `pseudo_keys` tables, reached only as the extension owner.
//! * [`root_key_file`]: loading (or, on first use, creating) the root key file.
//! * [`owner_context`]: switching to the extension owner for key access.
//! * [`error`]: the one error type and its SQLSTATE mapping.

use pgrx::prelude::*;

mod error;
mod functions;
mod key_cache;
mod key_store;
mod owner_context;
mod root_key_file;
mod type_io;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/pseudo_ext.sql", name = "pseudo_ext_objects");

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    root_key_file::define_guc();
    key_cache::register_callbacks();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("pg_tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
