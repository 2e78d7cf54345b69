//! The FHE key/value stores in the `pseudo_fhe` tables: what a GET or SET
//! reads and writes around the computation of `pseudo_fhe::Store`.
//!
//! Reads and writes run as the extension owner (the tables are not granted
//! to anyone); the caller must have the privileges of the role that created
//! the store. The computation runs with no SPI connection open, on the
//! worker pool of [`crate::fhe::pool`], pausing between batches to check for
//! cancel and `statement_timeout`.
//!
//! A SET locks its store's row (`FOR NO KEY UPDATE`) before it reads the
//! slots and updates that row when it writes them: concurrent SETs on one
//! store run one after the other, each on its predecessor's slots (READ
//! COMMITTED), or fail with 40001 (REPEATABLE READ and SERIALIZABLE); no
//! update is lost. GETs do not wait: they read one consistent snapshot.

use crate::error::PseudoError;
use crate::fhe::pool;
use crate::pg::owner_context::as_extension_owner;
use crate::pg::{catalog, roles};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use pseudo_fhe::store::KEY_CLEAN_PERIOD;
use pseudo_fhe::tfhe::integer::ServerKey;
use pseudo_fhe::wire::{self, KeyId, Kind};
use pseudo_fhe::{params, FheError, Pace, SetOperands, Store};
use std::cell::RefCell;
use std::rc::Rc;

/// Most slots a store may have (64 slots of 16-bit keys and values take
/// about 17 MB; see docs/fhe.md for sizes).
pub const MAX_CAPACITY: i32 = 1024;

/// Largest store: capacity x (key_bits + value_bits). A GET costs about 9
/// bootstraps per slot at 16+16 bits, so the default (128 such slots) bounds
/// one call to tens of seconds of CPU and about 20 MB of slots.
pub static MAX_STORE_BITS: GucSetting<i32> = GucSetting::<i32>::new(4096);
/// Stores one role may own.
pub static MAX_STORES_PER_ROLE: GucSetting<i32> = GucSetting::<i32>::new(16);

pub fn define_gucs() {
    GucRegistry::define_int_guc(
        c"pseudo_ext.fhe_max_store_bits",
        c"Largest FHE store that pseudo_fhe_create_store accepts: capacity x (key_bits + value_bits).",
        c"Existing stores stay usable when it is lowered.",
        &MAX_STORE_BITS,
        4,
        MAX_CAPACITY * 2 * params::MAX_BITS as i32,
        GucContext::Suset,
        GucFlags::empty(),
    );
    GucRegistry::define_int_guc(
        c"pseudo_ext.fhe_max_stores_per_role",
        c"How many FHE stores one role may own.",
        c"Checked when a store is created.",
        &MAX_STORES_PER_ROLE,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::empty(),
    );
}

/// A store's row, without its server key.
struct StoreRow {
    id: i32,
    key_id: KeyId,
    capacity: usize,
    key_bits: usize,
    value_bits: usize,
}

thread_local! {
    /// The last server key this backend decompressed, by store id: about
    /// 170 MiB, so one is kept.
    static SERVER_KEY: RefCell<Option<(i32, Rc<ServerKey>)>> = const { RefCell::new(None) };
}

/// The caller's role (before any switch to the extension owner).
struct Caller(pg_sys::Oid);

impl Caller {
    fn current() -> Caller {
        Caller(roles::current_user())
    }

    /// Whether the caller may use a store whose owner token belongs to
    /// `owner` (None: the token was dropped, so the store is gone).
    fn may_use(&self, owner: Option<pg_sys::Oid>) -> bool {
        owner.is_some_and(|owner| roles::has_privs_of(self.0, owner))
    }
}

/// The store table as this library reads it (0.4.0, with owner tokens):
/// while the SQL of 0.3.0 is still installed, a clear 55000 instead of a
/// failing query.
fn require_owner_tokens() -> Result<(), PseudoError> {
    let present =
        catalog::relation_oid(c"pseudo_fhe", c"store").is_some_and(|store| catalog::has_column(store, c"owner_token"));
    if present {
        Ok(())
    } else {
        Err(PseudoError::KeyAdmin {
            message: "the FHE store tables are older than the pseudo_ext library".into(),
            hint: "Run ALTER EXTENSION pseudo_ext UPDATE.",
        })
    }
}

fn find(client: &mut SpiClient<'_>, caller: &Caller, name: &str, lock: bool) -> Result<StoreRow, PseudoError> {
    // The owner is the owner token's owner; a dropped token leaves NULL.
    const FIND: &str = "SELECT s.id, m.lomowner, s.client_key_id, s.capacity, s.key_bits, s.value_bits \
                        FROM pseudo_fhe.store s \
                        LEFT JOIN pg_catalog.pg_largeobject_metadata m ON m.oid = s.owner_token \
                        WHERE s.name = $1";
    const FIND_FOR_SET: &str = "SELECT s.id, m.lomowner, s.client_key_id, s.capacity, s.key_bits, s.value_bits \
                                FROM pseudo_fhe.store s \
                                LEFT JOIN pg_catalog.pg_largeobject_metadata m ON m.oid = s.owner_token \
                                WHERE s.name = $1 FOR NO KEY UPDATE OF s";
    // `update` (not `select`): the lock needs a read-write query, and later
    // queries then take fresh snapshots, so a SET that waited reads the
    // slots its predecessor committed.
    let table = if lock {
        client.update(FIND_FOR_SET, None, &[name.into()])?
    } else {
        client.select(FIND, None, &[name.into()])?
    };
    if table.is_empty() {
        return Err(PseudoError::UnknownStore { name: name.to_string() });
    }
    let row = table.first();
    let owner = row.get::<pg_sys::Oid>(2)?;
    // Another role's store answers like a missing one: names do not leak.
    if !caller.may_use(owner) {
        return Err(PseudoError::UnknownStore { name: name.to_string() });
    }
    let key_id = row.get::<Vec<u8>>(3)?.unwrap_or_default();
    let int = |n: usize| -> Result<usize, PseudoError> { Ok(row.get::<i32>(n)?.unwrap_or(0).max(0) as usize) };
    Ok(StoreRow {
        id: row.get::<i32>(1)?.unwrap_or(0),
        key_id: key_id.as_slice().try_into().map_err(|_| PseudoError::KeyStore { why: "bad client_key_id".into() })?,
        capacity: int(4)?,
        key_bits: int(5)?,
        value_bits: int(6)?,
    })
}

/// The store's server key, decompressed (once per backend and store).
fn server_key(client: &SpiClient<'_>, row: &StoreRow) -> Result<Rc<ServerKey>, PseudoError> {
    if let Some(key) = SERVER_KEY.with_borrow(|c| c.as_ref().filter(|(id, _)| *id == row.id).map(|(_, k)| k.clone())) {
        return Ok(key);
    }
    let blob = client
        .select("SELECT server_key FROM pseudo_fhe.store WHERE id = $1", None, &[row.id.into()])?
        .first()
        .get::<Vec<u8>>(1)?
        .unwrap_or_default();
    let (_, compressed) = wire::decode_server_key(&blob)?;
    let key = Rc::new(pool::decompress(compressed));
    SERVER_KEY.with_borrow_mut(|c| *c = Some((row.id, key.clone())));
    Ok(key)
}

fn load_slots(client: &SpiClient<'_>, row: &StoreRow) -> Result<Store, PseudoError> {
    let mut store = Store { keys: Vec::new(), values: Vec::new(), occupied: Vec::new() };
    let table = client.select(
        "SELECT slot, key, value, occupied FROM pseudo_fhe.slot WHERE store_id = $1 ORDER BY slot",
        None,
        &[row.id.into()],
    )?;
    for (expected, slot) in table.enumerate() {
        pool::check_for_interrupts(); // decoding a large store takes a while
        if slot.get::<i32>(1)? != Some(expected as i32) {
            return Err(PseudoError::KeyStore { why: "store slots are not numbered 0..capacity".into() });
        }
        let bytes = |n: usize| -> Result<Vec<u8>, PseudoError> { Ok(slot.get::<Vec<u8>>(n)?.unwrap_or_default()) };
        store.keys.push(wire::read_slot_key(&bytes(2)?, row.key_bits)?);
        store.values.push(wire::read_slot_value(&bytes(3)?, row.value_bits)?);
        store.occupied.push(wire::read_slot_flag(&bytes(4)?)?);
    }
    if store.capacity() != row.capacity {
        return Err(PseudoError::KeyStore { why: "store has the wrong number of slots".into() });
    }
    Ok(store)
}

fn pace() -> Pace<'static> {
    Pace::per_thread(pool::check_for_interrupts)
}

fn check_shape(capacity: i32, key_bits: i32, value_bits: i32) -> Result<(), PseudoError> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(FheError::Unsupported(format!("capacity must be between 1 and {MAX_CAPACITY}")).into());
    }
    for (what, bits) in [("key_bits", key_bits), ("value_bits", value_bits)] {
        if !params::bits_supported(bits.max(0) as usize) {
            return Err(FheError::Unsupported(format!(
                "{what} must be even and between {} and {}",
                params::MIN_BITS,
                params::MAX_BITS
            ))
            .into());
        }
    }
    Ok(())
}

/// `pseudo_fhe_create_store`: a store of `capacity` empty slots.
pub fn create(name: &str, server_key: &[u8], capacity: i32, key_bits: i32, value_bits: i32) -> Result<(), PseudoError> {
    require_owner_tokens()?;
    check_shape(capacity, key_bits, value_bits)?;
    let bits = capacity * (key_bits + value_bits);
    if bits > MAX_STORE_BITS.get() {
        return Err(PseudoError::FheLimit { message: format!("an FHE store of {bits} bits (capacity x (key_bits + value_bits)) exceeds pseudo_ext.fhe_max_store_bits ({})", MAX_STORE_BITS.get()), hint: "Create a smaller store, or ask a superuser to raise pseudo_ext.fhe_max_store_bits." });
    }
    let caller = Caller::current();
    let owned = as_extension_owner(|| {
        Spi::connect(|client| {
            Ok::<_, PseudoError>(
                client
                    .select(
                        "SELECT count(*) FROM pseudo_fhe.store s \
                         JOIN pg_catalog.pg_largeobject_metadata m ON m.oid = s.owner_token \
                         WHERE m.lomowner = $1",
                        None,
                        &[caller.0.into()],
                    )?
                    .first()
                    .get_one::<i64>()?
                    .unwrap_or(0),
            )
        })
    })?;
    if owned >= MAX_STORES_PER_ROLE.get() as i64 {
        return Err(PseudoError::FheLimit {
            message: format!(
                "the role already owns {owned} FHE stores; pseudo_ext.fhe_max_stores_per_role allows {}",
                MAX_STORES_PER_ROLE.get()
            ),
            hint: "Drop a store first, or ask a superuser to raise pseudo_ext.fhe_max_stores_per_role.",
        });
    }
    let (key_id, compressed) = wire::decode_server_key(server_key)?;
    pool::ensure()?;
    let sks = pool::decompress(compressed);
    let empty = Store::empty(&sks, capacity as usize, key_bits as usize, value_bits as usize);
    // Empty slots differ only in their keys' noise bookkeeping, which
    // repeats every KEY_CLEAN_PERIOD slots (Store::empty).
    let keys: Vec<Vec<u8>> = empty.keys.iter().take(KEY_CLEAN_PERIOD).map(wire::slot_key).collect();
    let keys_len = keys.len();
    let (value, flag) = (wire::slot_value(&empty.values[0]), wire::slot_flag(&empty.occupied[0]));
    let token = create_owner_token()?;
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            // Stores whose owner token was dropped (DROP OWNED, lo_unlink)
            // are gone: their rows go now, and their names are free again.
            client.update(
                "DELETE FROM pseudo_fhe.store s WHERE NOT EXISTS \
                 (SELECT FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = s.owner_token)",
                None,
                &[],
            )?;
            let id = client.update(
                "INSERT INTO pseudo_fhe.store (name, owner_token, client_key_id, server_key, capacity, key_bits, value_bits) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id",
                None,
                &[
                    name.into(),
                    token.into(),
                    key_id.as_slice().into(),
                    server_key.into(),
                    capacity.into(),
                    key_bits.into(),
                    value_bits.into(),
                ],
            )?;
            if id.is_empty() {
                return Err(PseudoError::StoreExists { name: name.to_string() });
            }
            let id = id.first().get::<i32>(1)?.unwrap_or(0);
            client.update(
                "INSERT INTO pseudo_fhe.slot (store_id, slot, key, value, occupied) \
                 SELECT $1, s, $2[s % $6 + 1], $3, $4 FROM pg_catalog.generate_series(0, $5 - 1) AS s",
                None,
                &[
                    id.into(),
                    keys.into(),
                    value.as_slice().into(),
                    flag.as_slice().into(),
                    capacity.into(),
                    (keys_len as i32).into(),
                ],
            )?;
            Ok(())
        })
    })
}

/// A new owner token: an empty large object created as the caller, so owned
/// by it, with a comment for whoever lists large objects. Its OID is the
/// store's `owner_token`; PostgreSQL's ownership rules (DROP ROLE, REASSIGN
/// OWNED, DROP OWNED) then apply to the store.
fn create_owner_token() -> Result<pg_sys::Oid, PseudoError> {
    let token = Spi::connect_mut(|client| {
        client.update("SELECT pg_catalog.lo_create(0)", None, &[])?.first().get_one::<pg_sys::Oid>()
    })?
    .ok_or_else(|| PseudoError::KeyStore { why: "lo_create returned no OID".into() })?;
    catalog::comment_on_large_object(
        token,
        c"pseudo_ext: owner token of an FHE store (drop the store with pseudo_fhe_drop_store, not lo_unlink)",
    );
    Ok(token)
}

/// `pseudo_fhe_get`: the encrypted value and found flag for an encrypted key.
pub fn get(name: &str, query: &[u8]) -> Result<Vec<u8>, PseudoError> {
    require_owner_tokens()?;
    pool::ensure()?;
    let caller = Caller::current();
    let (row, query, sks, store) = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let row = find(client, &caller, name, false)?;
            let query = wire::decode_radix(query, &row.key_id, "key", row.key_bits)?;
            let sks = server_key(client, &row)?;
            let store = load_slots(client, &row)?;
            Ok((row, query, sks, store))
        })
    })?;
    let answer = store.get(&sks, &query, &mut pace());
    Ok(wire::encode_get_answer(&row.key_id, row.value_bits, &answer))
}

/// `pseudo_fhe_set`: stores an encrypted pair; the encrypted "stored" flag.
pub fn set(name: &str, key: &[u8], value: &[u8]) -> Result<Vec<u8>, PseudoError> {
    require_owner_tokens()?;
    pool::ensure()?;
    let caller = Caller::current();
    let (row, operands, sks, mut store) = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let row = find(client, &caller, name, true)?;
            let operands = SetOperands {
                key: wire::decode_boxed(key, Kind::SetKey, &row.key_id, "key", row.key_bits)?,
                value: wire::decode_boxed(value, Kind::SetValue, &row.key_id, "value", row.value_bits)?,
            };
            let sks = server_key(client, &row)?;
            let store = load_slots(client, &row)?;
            Ok((row, operands, sks, store))
        })
    })?;
    let stored = store.set(&sks, &operands, &mut pace());
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            // Every slot is rewritten, changed or not: which one changed is the secret.
            for i in 0..store.capacity() {
                pool::check_for_interrupts();
                client.update(
                    "UPDATE pseudo_fhe.slot SET key = $3, value = $4, occupied = $5 \
                     WHERE store_id = $1 AND slot = $2",
                    None,
                    &[
                        row.id.into(),
                        (i as i32).into(),
                        wire::slot_key(&store.keys[i]).as_slice().into(),
                        wire::slot_value(&store.values[i]).as_slice().into(),
                        wire::slot_flag(&store.occupied[i]).as_slice().into(),
                    ],
                )?;
            }
            client.update(
                "UPDATE pseudo_fhe.store SET sets = sets + 1, last_set_at = pg_catalog.now() WHERE id = $1",
                None,
                &[row.id.into()],
            )?;
            Ok(())
        })
    })?;
    Ok(wire::encode_set_answer(&row.key_id, &stored))
}

/// `pseudo_fhe_drop_store`: removes a store and its slots.
pub fn drop(name: &str) -> Result<(), PseudoError> {
    require_owner_tokens()?;
    let caller = Caller::current();
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let row = find(client, &caller, name, true)?;
            client.update(
                "SELECT pg_catalog.lo_unlink(owner_token) FROM pseudo_fhe.store WHERE id = $1",
                None,
                &[row.id.into()],
            )?;
            client.update("DELETE FROM pseudo_fhe.store WHERE id = $1", None, &[row.id.into()])?;
            Ok(())
        })
    })
}
