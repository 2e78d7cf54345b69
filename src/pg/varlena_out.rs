//! Results written straight into a palloc'd varlena: the hot functions fill
//! the memory PostgreSQL returns instead of a Rust `Vec` that pgrx would copy.
//! One allocation and one copy less per value, and no second copy of a
//! plaintext left behind in freed (not zeroed) Rust heap memory.

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// A varlena built by [`varlena_with`], returned to PostgreSQL as it is. The
/// SQL declarations (`text`, `pseudo_text`) are hand-written; `bytea` here
/// only satisfies pgrx's type metadata.
pub struct Varlena(pg_sys::Datum);

impl_sql_translatable!(Varlena, "bytea");

// SAFETY: the datum is a valid varlena pointer in the function's memory
// context, which is where PostgreSQL expects a pass-by-reference result.
unsafe impl BoxRet for Varlena {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: as above: a valid varlena datum, returned by value.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

/// A `text`/`bytea`/`pseudo_text` varlena of `len` data bytes in the current
/// memory context, filled by `fill`. When `fill` fails the memory is zeroed
/// and freed, so nothing it wrote outlives the error.
pub fn varlena_with<E>(len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), E>) -> Result<Varlena, E> {
    let total = len + pg_sys::VARHDRSZ;
    // SAFETY: palloc returns at least `total` writable bytes or raises ERROR;
    // the 4-byte header is set before the data slice is formed over the
    // `len` bytes after it, which nothing else refers to.
    let (ptr, data) = unsafe {
        let ptr = pg_sys::palloc(total) as *mut pg_sys::varlena;
        pgrx::set_varsize_4b(ptr, total as i32);
        (ptr, std::slice::from_raw_parts_mut((ptr as *mut u8).add(pg_sys::VARHDRSZ), len))
    };
    match fill(data) {
        Ok(()) => Ok(Varlena(pg_sys::Datum::from(ptr))),
        Err(e) => {
            data.iter_mut().for_each(|b| *b = 0);
            // SAFETY: frees the allocation made above; `data` is not used again.
            unsafe { pg_sys::pfree(ptr.cast()) };
            Err(e)
        }
    }
}
