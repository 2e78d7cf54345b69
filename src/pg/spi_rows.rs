//! Reading a fetched SPI batch in place: one deform per row instead of
//! several guarded calls per column, and `bytea` values borrowed, not copied.
//! For the bulk load of the key cache, which reads every key of a fresh
//! session's table.

use crate::error::PseudoError;
use pgrx::pg_sys;
use pgrx::pg_sys::BuiltinOid::{BYTEAOID, INT4OID, UUIDOID};
use pgrx::spi::SpiTupleTable;
use pgrx::varlena::{varatt_is_1b, varatt_is_1b_e, varatt_is_4b_u, varlena_to_byte_slice};

/// Hands each row of `batch` (the result of a cursor fetch, columns `uuid,
/// bytea, int4`) to `f`, then frees the batch. Rows with a NULL, or with a
/// compressed or out-of-line `bytea`, are skipped.
pub fn for_each_uuid_bytea_int4(
    batch: SpiTupleTable<'_>,
    mut f: impl FnMut(&[u8; 16], &[u8], i32),
) -> Result<(), PseudoError> {
    let rows = batch.len();
    // SAFETY: the batch just fetched is SPI's current result (pgrx's fetch
    // sets SPI_tuptable); only its header is read here.
    let table = unsafe { pg_sys::SPI_tuptable.as_ref() }
        .filter(|t| t.numvals as usize == rows)
        .ok_or_else(|| PseudoError::KeyStore { why: "the fetched rows are not SPI's current result".into() })?;
    // SAFETY: the result's tuple descriptor, valid while the result is;
    // borrowed, not freed.
    let desc = unsafe { pgrx::PgTupleDesc::from_pg_unchecked(table.tupdesc) };
    let types: Vec<pg_sys::Oid> = desc.iter().map(|att| att.atttypid).collect();
    if types != [UUIDOID.value(), BYTEAOID.value(), INT4OID.value()] {
        return Err(PseudoError::KeyStore { why: "the fetched rows are not (uuid, bytea, int4)".into() });
    }
    for i in 0..rows {
        let mut values = [pg_sys::Datum::from(0usize); 3];
        let mut nulls = [false; 3];
        // SAFETY: row i of the current result (i < numvals), deformed with
        // its own descriptor into arrays of natts (3) entries.
        unsafe {
            pg_sys::heap_deform_tuple(*table.vals.add(i), table.tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr())
        };
        if nulls.contains(&true) {
            continue;
        }
        let wrapped = values[1].cast_mut_ptr::<pg_sys::varlena>();
        // SAFETY: a non-NULL bytea datum points to a varlena header.
        let inline = unsafe { varatt_is_4b_u(wrapped) || (varatt_is_1b(wrapped) && !varatt_is_1b_e(wrapped)) };
        if !inline {
            continue;
        }
        // SAFETY: a non-NULL uuid datum points to its 16 bytes; an inline,
        // uncompressed varlena's bytes are its data; both live in the
        // batch, which outlives this loop.
        let (id, wrapped) = unsafe { (&*values[0].cast_mut_ptr::<[u8; 16]>(), varlena_to_byte_slice(wrapped)) };
        f(id, wrapped, values[2].value() as i32);
    }
    // SAFETY: frees the batch just read (SPI keeps every result until the
    // connection ends otherwise); `batch` was moved in, nothing refers to it.
    unsafe { pg_sys::SPI_freetuptable(pg_sys::SPI_tuptable) };
    Ok(())
}
