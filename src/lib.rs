//! pseudo_ext: per-subject AES-128-CCM pseudonymization with crypto-shredding.
//!
//! This crate is the thin PostgreSQL layer over `pseudo_core` (the pure crypto
//! core). All SQL objects (type, operators, functions, schema, tables, grants,
//! comments) are hand-written in `sql/`; the Rust functions here
//! are declared with `sql = false` and bound by symbol name from that file.
//!
//! * [`pseudo`]: pseudonymization: the `pseudo_text` type, per-subject keys,
//!   their cache and store, the root key, its rotation and the audit.
//! * [`fhe`]: the private key/value store on TFHE ciphertexts.
//! * [`pg`]: PostgreSQL plumbing both share (running as the extension owner,
//!   varlena output, log and hint hooks, panic guards).
//! * [`error`]: the one error type and its SQLSTATE mapping.
//!
//! `docs/architecture.md` is the module map: who may use whom.

#![warn(clippy::unwrap_used)]
// `unsafe` only in `pg`, behind safe functions (docs/architecture.md).
#![deny(unsafe_code)]

use pgrx::prelude::*;

mod error;
mod fhe;
#[allow(unsafe_code)]
mod pg;
mod pseudo;

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
    pseudo::root_key_source::define_gucs();
    fhe::pool::define_gucs();
    fhe::store::define_gucs();
    pseudo::key_cache::define_gucs();
    // A misspelt `pseudo_ext.*` setting is an error, not a silent placeholder
    // (a typo in root_key_file would otherwise go unnoticed).
    pg::backend::reserve_setting_prefix(c"pseudo_ext");
    pg::xact::install();
    pg::log_filter::install();
    // Transaction work, in this order at every transaction end.
    pseudo::key_store::install();
    pseudo::key_audit::install();
    pseudo::root_rotation::install();
    pseudo::search::install();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
