//! pseudo_ext: per-subject AES-128-CCM pseudonymization with crypto-shredding.
//!
//! This crate is the thin PostgreSQL layer over `pseudo_core` (the pure crypto
//! core). All SQL objects (type, operators, functions, schema, tables, grants,
//! comments) are hand-written in `sql/`; the Rust functions here
//! are declared with `sql = false` and bound by symbol name from that file.
//!
//! * [`type_io`]: the `pseudo_text` type's text and binary I/O.
//! * [`functions`]: the SQL-callable functions, one-line wrappers.
//! * [`key_cache`]: per-backend cache of unwrapped keys and its invalidation.
//! * [`key_store`]: the `pseudo_keys` tables, reached only as the extension owner.
//! * [`root_key_source`]: the root key file or command; creating and editing the file.
//! * [`root_key_users`]: which databases use which keys of a shared root key file.
//! * [`root_rotation`]: root key epochs: rotation, retirement, rewrapping.
//! * [`key_audit`]: the `create` and `rewrap` audit rows, one per transaction, written by the code that did the work.
//! * [`fhe_functions`], [`fhe_store`], [`fhe_pool`]: the private key/value
//!   store on TFHE ciphertexts (SQL wrappers, tables, worker threads).
//! * [`config_check`]: the root key findings of `pseudo_check_config()`.
//! * [`log_filter`]: keeps failing statements that call pseudo_ext out of the server log.
//! * [`role_hints`]: HINTs naming the role to grant on "permission denied" errors.
//! * [`owner_context`]: switching to the extension owner for key access.
//! * [`no_unwind`]: keeps panics out of the callbacks PostgreSQL calls from C.
//! * [`error`]: the one error type and its SQLSTATE mapping.

#![warn(clippy::unwrap_used)]

use pgrx::prelude::*;

mod config_check;
mod error;
mod fhe_functions;
mod fhe_pool;
mod fhe_store;
mod functions;
mod key_audit;
mod key_cache;
mod key_store;
mod key_writes;
mod log_filter;
mod no_unwind;
mod owner_context;
mod prepared;
mod role_hints;
mod root_key_source;
mod root_key_users;
mod root_rotation;
mod type_io;
mod varlena_out;

::pgrx::pg_module_magic!(name, version);

// The install script of the current version is the frozen 0.1.0 script
// followed by each upgrade script, so a fresh install and an upgraded database
// are built from the same SQL.
pgrx::extension_sql_file!("../sql/released/pseudo_ext--0.1.0.sql", name = "pseudo_ext_0_1_0");
pgrx::extension_sql_file!(
    "../sql/pseudo_ext--0.1.0--0.2.0.sql",
    name = "pseudo_ext_0_2_0",
    requires = ["pseudo_ext_0_1_0"]
);
pgrx::extension_sql_file!(
    "../sql/pseudo_ext--0.2.0--0.3.0.sql",
    name = "pseudo_ext_0_3_0",
    requires = ["pseudo_ext_0_2_0"]
);
pgrx::extension_sql_file!(
    "../sql/pseudo_ext--0.3.0--0.4.0.sql",
    name = "pseudo_ext_0_4_0",
    requires = ["pseudo_ext_0_3_0"]
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    root_key_source::define_gucs();
    fhe_pool::define_gucs();
    fhe_store::define_gucs();
    key_cache::define_gucs();
    // A misspelt `pseudo_ext.*` setting is an error, not a silent placeholder
    // (a typo in root_key_file would otherwise go unnoticed).
    // SAFETY: _PG_init runs once per backend; the name is a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"pseudo_ext".as_ptr()) };
    key_cache::register_callbacks();
    log_filter::install();
    key_audit::install();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
#[allow(clippy::unwrap_used)]
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
