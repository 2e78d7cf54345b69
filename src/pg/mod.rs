//! The PostgreSQL plumbing both halves of the extension share: no SQL
//! surface of its own, no knowledge of keys or stores. Every `unsafe` block
//! of the extension is in this room, behind safe functions.
//!
//! * [`backend`]: this backend and its transaction (process, database,
//!   recovery and transaction state, pending interrupts).
//! * [`catalog`]: catalog and server-setting look-ups by name or OID.
//! * [`owner_context`]: switching to the extension owner for key access.
//! * [`prepared`]: SPI plans prepared once per backend.
//! * [`varlena_out`]: returning bytes as a varlena without a copy.
//! * [`log_filter`]: keeps failing statements that call pseudo_ext out of the server log.
//! * [`roles`]: role checks: the current and outer user, role membership.
//! * [`role_hints`]: HINTs naming the role to grant on "permission denied" errors.
//! * [`xact`]: transaction state (the key cache's generation, whether keys
//!   were written) and the transaction callbacks modules register work with.
//! * [`written_table`]: which table a statement wrote (an `ExecutorEnd` hook).
//! * [`spi_rows`]: a fetched SPI batch read in place.
//! * [`receive`]: the bytes a type's binary-receive function is given.
//! * [`os`]: a command's pipe and process group, threads' signal masks.
//! * [`no_unwind`]: keeps panics out of the callbacks PostgreSQL calls from C.

pub mod backend;
pub mod catalog;
pub mod log_filter;
pub mod no_unwind;
pub mod os;
pub mod owner_context;
pub mod prepared;
pub mod receive;
pub mod role_hints;
pub mod roles;
pub mod spi_rows;
pub mod varlena_out;
pub mod written_table;
pub mod xact;
