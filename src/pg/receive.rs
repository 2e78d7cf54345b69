//! Binary input: the bytes a type's receive function is given.

use pgrx::{pg_sys, Internal};

/// The unread bytes of a binary-receive function's argument, consumed.
///
/// Only for the `internal` argument of a type's receive function
/// (`typreceive`), which PostgreSQL always calls with a `StringInfo`: pgrx's
/// `Internal` does not say what it points to, so this is the one place that
/// trusts it (the SQL declares the function with that role only).
pub fn take_unread(buf: Internal) -> Vec<u8> {
    let Some(datum) = buf.unwrap() else { return Vec::new() };
    let info = datum.cast_mut_ptr::<pg_sys::StringInfoData>();
    // SAFETY: a receive function's argument is a live StringInfo (above);
    // the bytes from its cursor to its length are initialised and are
    // copied out before the cursor moves to the end.
    unsafe {
        let start = usize::try_from((*info).cursor).unwrap_or(0);
        let len = usize::try_from((*info).len).unwrap_or(0).saturating_sub(start);
        let bytes = std::slice::from_raw_parts((*info).data.add(start).cast::<u8>(), len).to_vec();
        (*info).cursor = (*info).len;
        bytes
    }
}
