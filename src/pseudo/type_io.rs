//! I/O functions of the `pseudo_text` type (declared in `sql/released/pseudo_ext--0.1.0.sql`).
//!
//! The type's storage is a varlena holding the envelope bytes, laid out like
//! `bytea`, so these functions receive and return plain varlenas. Input is
//! validated (length, version) and never echoed in errors.

use crate::error::{OrRaise, PseudoError};
use pgrx::prelude::*;
use pgrx::Internal;
use pseudo_core::envelope::{self, Envelope};
use std::ffi::{CStr, CString};

/// Text input: hex in either case.
#[pg_extern(sql = false)]
fn pseudo_text_in(input: &CStr) -> Vec<u8> {
    envelope::from_hex(input.to_bytes()).or_raise()
}

/// Text output: lowercase hex of the envelope.
#[pg_extern(sql = false)]
fn pseudo_text_out(value: &[u8]) -> CString {
    let mut text = vec![0u8; value.len() * 2];
    envelope::to_hex(value, &mut text);
    CString::new(text).expect("hex digits contain no NUL")
}

/// Binary input: the raw envelope (22P03 when it is not one).
#[pg_extern(sql = false)]
fn pseudo_text_recv(buf: Internal) -> Vec<u8> {
    let bytes = crate::pg::receive::take_unread(buf);
    match Envelope::parse(&bytes) {
        Ok(_) => bytes,
        Err(e) => PseudoError::InvalidBinary { cause: e }.raise(),
    }
}

/// Binary output: the raw envelope.
#[pg_extern(sql = false)]
fn pseudo_text_send(value: &[u8]) -> Vec<u8> {
    value.to_vec()
}
