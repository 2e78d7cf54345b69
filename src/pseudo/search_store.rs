//! The search tables `pseudo_keys.search_key` and `pseudo_keys.search_term`,
//! read and written through SPI as the extension owner (callers run inside
//! [`crate::pg::owner_context::as_extension_owner`]), with fixed,
//! schema-qualified statements and bound parameters.
//!
//! Terms reference the subject key their value is encrypted under (ON DELETE
//! CASCADE): the shred's DELETE of a subject's keys deletes its terms in the
//! same statement. A search maps a term to its key's subject and returns every
//! key id of that subject, so a value rewrapped under a newer key version
//! stays findable.

use crate::error::PseudoError;
use crate::pg::prepared::Statement;
use crate::pseudo::key_store::{self, first_row, Keyring};
use pgrx::pg_sys::BuiltinOid::{BYTEAARRAYOID, INT4ARRAYOID, UUIDARRAYOID};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;
use pseudo_core::search_term::SearchKey;

/// A row of `pseudo_keys.search_key`: id, normalization name, root epoch
/// and the wrapped key.
pub struct SearchKeyRow {
    pub id: i32,
    pub normalization: String,
    pub root_epoch: i32,
    pub wrapped: Vec<u8>,
}

/// The index's key versions, newest (current) first; empty when no index
/// has this name.
pub fn index_keys(name: &str) -> Result<Vec<SearchKeyRow>, PseudoError> {
    Spi::connect(|client| {
        let mut rows = Vec::new();
        for row in client.select(
            "SELECT id, normalization, root_epoch, wrapped_key FROM pseudo_keys.search_key
             WHERE index_name = $1 ORDER BY version DESC",
            None,
            &[name.into()],
        )? {
            if let (Some(id), Some(normalization), Some(root_epoch), Some(wrapped)) =
                (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)
            {
                rows.push(SearchKeyRow { id, normalization, root_epoch, wrapped });
            }
        }
        Ok(rows)
    })
}

/// Adds key `version` of index `name` (a new index when 1), wrapped under the
/// current root key. The caller holds [`lock_for_new_key`]'s locks: ids are max + 1.
fn insert_key_version(
    client: &mut SpiClient<'_>,
    keyring: &Keyring,
    name: &str,
    normalization: &str,
    version: i32,
) -> Result<i32, PseudoError> {
    let id = client
        .select("SELECT COALESCE(max(id), 0) + 1 FROM pseudo_keys.search_key", None, &[])?
        .first()
        .get_one::<i32>()?
        .unwrap_or(1);
    let key = SearchKey::generate_bytes()?;
    let wrapped = keyring.current_root().wrap_search_key(id as u32, &key)?;
    client.update(
        "INSERT INTO pseudo_keys.search_key (id, index_name, normalization, version, root_epoch, wrapped_key)
         VALUES ($1, $2, $3, $4, $5, $6)",
        None,
        &[id.into(), name.into(), normalization.into(), version.into(), keyring.epoch.into(), wrapped.into()],
    )?;
    Ok(id)
}

fn lock_search_keys(client: &mut SpiClient<'_>) -> Result<(), PseudoError> {
    client.update("LOCK TABLE pseudo_keys.search_key IN SHARE ROW EXCLUSIVE MODE", None, &[])?;
    Ok(())
}

/// Before a new key: the root key epoch (against a rotation), then the
/// table. In that order, as a root key rotation takes them (it rewraps the
/// search keys while holding the epoch), so the two wait for each other
/// instead of deadlocking.
fn lock_for_new_key(client: &mut SpiClient<'_>, keyring: &Keyring) -> Result<(), PseudoError> {
    key_store::lock_current_epoch(client, keyring)?;
    lock_search_keys(client)
}

/// The current version of index `name`, if it exists (the caller holds the table lock).
fn current_version(client: &SpiClient<'_>, name: &str) -> Result<Option<(i32, String, i64)>, PseudoError> {
    Ok(first_row(client.select(
        "SELECT max(version), min(normalization), count(*) FROM pseudo_keys.search_key WHERE index_name = $1 HAVING count(*) > 0",
        None,
        &[name.into()],
    )?)?
    .map(|t| t.get_three::<i32, String, i64>())
    .transpose()?
    .and_then(|(v, n, c)| Some((v?, n?, c?))))
}

/// Creates index `name` with its first key.
pub fn create_index(keyring: &Keyring, name: &str, normalization: &str) -> Result<(), PseudoError> {
    Spi::connect_mut(|client| {
        lock_for_new_key(client, keyring)?;
        if current_version(client, name)?.is_some() {
            return Err(PseudoError::SearchIndexExists { name: name.into() });
        }
        let id = insert_key_version(client, keyring, name, normalization, 1)?;
        key_store::audit(client, "search_create", vec![], &format!("{{\"search_key\": {id}, \"version\": 1}}"))
    })
}

/// Adds the next key version of index `name`; refused while an older
/// version still holds terms (a rotation in progress). Returns the version.
pub fn rotate_index(keyring: &Keyring, name: &str) -> Result<i32, PseudoError> {
    Spi::connect_mut(|client| {
        lock_for_new_key(client, keyring)?;
        let Some((version, normalization, versions)) = current_version(client, name)? else {
            return Err(PseudoError::UnknownSearchIndex { name: name.into() });
        };
        if versions > 1 {
            return Err(PseudoError::KeyAdmin {
                message: format!("a key rotation of search index \"{name}\" is in progress"),
                hint: "Finish it first: CALL pseudo_reindex_search_column(...) for each column that uses the index.",
            });
        }
        let id = insert_key_version(client, keyring, name, &normalization, version + 1)?;
        let version = version + 1;
        key_store::audit(
            client,
            "search_rotate",
            vec![],
            &format!("{{\"search_key\": {id}, \"version\": {version}}}"),
        )?;
        Ok(version)
    })
}

/// Drops the older key versions of index `name` and (by cascade) their
/// terms; returns how many versions went.
pub fn finish_rotation(name: &str) -> Result<i32, PseudoError> {
    Spi::connect_mut(|client| {
        lock_search_keys(client)?;
        let Some((version, ..)) = current_version(client, name)? else {
            return Err(PseudoError::UnknownSearchIndex { name: name.into() });
        };
        let dropped = client
            .update(
                "DELETE FROM pseudo_keys.search_key WHERE index_name = $1 AND version < $2 RETURNING id",
                None,
                &[name.into(), version.into()],
            )?
            .len() as i32;
        if dropped > 0 {
            key_store::audit(
                client,
                "search_rotate",
                vec![],
                &format!("{{\"version\": {version}, \"versions_dropped\": {dropped}}}"),
            )?;
        }
        Ok(dropped)
    })
}

/// Drops index `name`, its keys and (by cascade) its terms.
pub fn drop_index(name: &str) -> Result<bool, PseudoError> {
    Spi::connect_mut(|client| {
        lock_search_keys(client)?;
        let dropped = client
            .update("DELETE FROM pseudo_keys.search_key WHERE index_name = $1 RETURNING id", None, &[name.into()])?
            .len();
        if dropped > 0 {
            key_store::audit(client, "search_drop", vec![], &format!("{{\"versions_dropped\": {dropped}}}"))?;
        }
        Ok(dropped > 0)
    })
}

/// Records terms: `(search key id, term, key id)` each. A term whose subject
/// key or search key is gone by now (shredded, dropped in this transaction)
/// is not recorded: no term outlives its key.
pub fn insert_terms(search_keys: Vec<i32>, terms: Vec<Vec<u8>>, key_ids: Vec<Uuid>) -> Result<(), PseudoError> {
    static INSERT_TERMS: Statement = Statement {
        sql: "INSERT INTO pseudo_keys.search_term (search_key, term, key_id)
              SELECT u.search_key, u.term, u.key_id
              FROM ROWS FROM (pg_catalog.unnest($1::int4[]), pg_catalog.unnest($2::bytea[]), pg_catalog.unnest($3::uuid[]))
                   AS u(search_key, term, key_id)
              WHERE EXISTS (SELECT FROM pseudo_keys.subject_key k WHERE k.key_id = u.key_id)
                AND EXISTS (SELECT FROM pseudo_keys.search_key s WHERE s.id = u.search_key)
              ON CONFLICT DO NOTHING",
        args: &[INT4ARRAYOID, BYTEAARRAYOID, UUIDARRAYOID],
        mutating: true,
    };
    Spi::connect_mut(|client| {
        client.update(INSERT_TERMS.plan(client)?, None, &[search_keys.into(), terms.into(), key_ids.into()])?;
        Ok(())
    })
}

/// Every key id of every subject that has one of these `(search key id,
/// term)` pairs.
pub fn key_ids_with_terms(search_keys: Vec<i32>, terms: Vec<Vec<u8>>) -> Result<Vec<Uuid>, PseudoError> {
    static FIND: Statement = Statement {
        sql: "SELECT DISTINCT k2.key_id
              FROM ROWS FROM (pg_catalog.unnest($1::int4[]), pg_catalog.unnest($2::bytea[])) AS u(search_key, term)
              JOIN pseudo_keys.search_term t ON t.search_key = u.search_key AND t.term = u.term
              JOIN pseudo_keys.subject_key k1 ON k1.key_id = t.key_id
              JOIN pseudo_keys.subject_key k2 ON k2.subject_digest = k1.subject_digest",
        args: &[INT4ARRAYOID, BYTEAARRAYOID],
        mutating: false,
    };
    Spi::connect(|client| {
        let mut ids = Vec::new();
        for row in client.select(FIND.plan(client)?, None, &[search_keys.into(), terms.into()])? {
            if let Some(id) = row.get::<Uuid>(1)? {
                ids.push(id);
            }
        }
        Ok(ids)
    })
}

/// Rewraps the search keys under `root` / `epoch` (root key rotation and
/// retirement): every key not under it, or with `only_from`, those under that
/// epoch. Nothing before the 0.4.0 SQL (no search table). Returns the count.
pub fn rewrap_search_keys(
    client: &mut SpiClient<'_>,
    ring: &Keyring,
    root: &pseudo_core::RootKey,
    epoch: i32,
    only_from: Option<i32>,
) -> Result<i64, PseudoError> {
    if !crate::pg::owner_context::relation_exists(c"search_key") {
        return Ok(0);
    }
    let mut rows: Vec<(i32, Vec<u8>, i32)> = Vec::new();
    let (sql, arg) = match only_from {
        Some(from) => {
            ("SELECT id, wrapped_key, root_epoch FROM pseudo_keys.search_key WHERE root_epoch = $1 FOR UPDATE", from)
        }
        None => {
            ("SELECT id, wrapped_key, root_epoch FROM pseudo_keys.search_key WHERE root_epoch <> $1 FOR UPDATE", epoch)
        }
    };
    for row in client.select(sql, None, &[arg.into()])? {
        if let (Some(id), Some(wrapped), Some(from)) = (row.get::<i32>(1)?, row.get::<Vec<u8>>(2)?, row.get::<i32>(3)?)
        {
            rows.push((id, wrapped, from));
        }
    }
    for (id, wrapped, from) in &rows {
        let key = ring
            .root_of(*from)?
            .unwrap_search_key(*id as u32, wrapped)
            .map_err(|_| PseudoError::SearchKeyUnwrap { id: *id })?;
        client.update(
            "UPDATE pseudo_keys.search_key SET wrapped_key = $2, root_epoch = $3 WHERE id = $1",
            None,
            &[(*id).into(), root.wrap_search_key(*id as u32, &key)?.into(), epoch.into()],
        )?;
    }
    Ok(rows.len() as i64)
}
