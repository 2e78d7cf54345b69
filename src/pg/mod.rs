//! The PostgreSQL plumbing both halves of the extension share: no SQL
//! surface of its own, no knowledge of keys or stores.
//!
//! * [`owner_context`]: switching to the extension owner for key access.
//! * [`prepared`]: SPI plans prepared once per backend.
//! * [`varlena_out`]: returning bytes as a varlena without a copy.
//! * [`log_filter`]: keeps failing statements that call pseudo_ext out of the server log.
//! * [`roles`]: role checks: the current and outer user, role membership.
//! * [`role_hints`]: HINTs naming the role to grant on "permission denied" errors.
//! * [`xact`]: transaction state (the key cache's generation, whether keys
//!   were written) and the transaction callbacks modules register work with.
//! * [`no_unwind`]: keeps panics out of the callbacks PostgreSQL calls from C.

pub mod log_filter;
pub mod no_unwind;
pub mod owner_context;
pub mod prepared;
pub mod role_hints;
pub mod roles;
pub mod varlena_out;
pub mod xact;
