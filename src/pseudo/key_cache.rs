//! The backend's cache of unwrapped keys, and the rule that keeps it honest:
//! once `pseudo_shred` has committed, no transaction that starts afterwards, in
//! any session, can use the shredded keys; likewise a subject key rotation or a
//! root key rotation is seen by every session's next transaction.
//!
//! How: every change of key state sends a relcache invalidation for
//! `pseudo_keys.subject_key`, and aborts of transactions that wrote key state
//! count too; [`crate::pg::xact`] turns both into a new generation, and the
//! next access here drops the whole cache. A key fetched while the generation
//! moved is used once but not cached.
//!
//! The keys themselves are held by [`pseudo_core::cached_keys`]: compact
//! entries bounded by `pseudo_ext.key_cache_size`, evicted by CLOCK. A
//! keyring that turns out older than the database's root key epochs (a
//! rotation committed meanwhile) is dropped and the lookup retried once.

use crate::error::PseudoError;
use crate::pg::backend;
use crate::pg::owner_context::as_extension_owner;
use crate::pg::xact;
use crate::pseudo::citus::Answer;
use crate::pseudo::key_store::{self, Keyring, StoredKey};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use pseudo_core::cached_keys::{Cached, CachedKeys, BYTES_PER_KEY};
use pseudo_core::subject_key::SubjectKeyBytes;
use pseudo_core::{KeyId, SubjectKey};
use std::cell::RefCell;
use std::rc::Rc;

/// Bound on the cache's memory, in kB (`pseudo_ext.key_cache_size`); past
/// it the least used keys make room. The default holds 2^20 keys (160 MB).
pub static KEY_CACHE_SIZE_KB: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_KEY_CACHE_SIZE_KB);

const DEFAULT_KEY_CACHE_SIZE_KB: i32 = ((1 << 20) * BYTES_PER_KEY / 1024) as i32;

pub fn define_gucs() {
    GucRegistry::define_int_guc(
        c"pseudo_ext.key_cache_size",
        c"Memory for each backend's cache of unwrapped keys.",
        c"When full, the least used keys make room. Each key takes at most 160 bytes, whatever the length of its subject.",
        &KEY_CACHE_SIZE_KB,
        256,
        i32::MAX / 1024,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
}

fn max_cached_keys() -> usize {
    (KEY_CACHE_SIZE_KB.get().max(0) as usize * 1024) / BYTES_PER_KEY
}

struct KeyCache {
    generation: u64,
    keys: CachedKeys,
    keyring: Option<Rc<Keyring>>,
    /// Lookups by key id that missed in the statement that started at
    /// `missed_in`, and whether the key table was loaded.
    misses: u32,
    missed_in: pg_sys::TimestampTz,
    loaded: bool,
}

impl KeyCache {
    fn new(generation: u64) -> Self {
        KeyCache {
            generation,
            keys: CachedKeys::new(max_cached_keys()),
            keyring: None,
            misses: 0,
            missed_in: 0,
            loaded: false,
        }
    }

    /// Drops everything if an invalidation or abort happened since last use,
    /// or the size setting changed.
    fn sync(&mut self) {
        let now = xact::generation();
        if self.generation != now || self.keys.capacity() != max_cached_keys() {
            *self = KeyCache::new(now);
        }
    }
}

/// Misses by key id within one statement (a scan over many subjects) after
/// which the whole key table is loaded at once. Counted per statement so that
/// a session of small lookups (an application's pooled connection) never
/// loads keys it does not use.
const MISSES_BEFORE_LOADING: u32 = 64;

thread_local! {
    static CACHE: RefCell<KeyCache> = RefCell::new(KeyCache::new(0));
}

/// The cache's answer, or on a miss `fetch`'s, which `remember` then stores
/// unless the cache was invalidated while `fetch` ran. `fetch` runs SQL, so
/// it runs outside any borrow of the cache.
fn cached_or_fetched<T>(
    look_up: impl FnOnce(&mut KeyCache) -> Result<Option<T>, PseudoError>,
    fetch: impl FnOnce() -> Result<T, PseudoError>,
    remember: impl FnOnce(&mut KeyCache, &T) -> Result<(), PseudoError>,
) -> Result<T, PseudoError> {
    let cached = CACHE.with_borrow_mut(|c| {
        c.sync();
        look_up(c)
    })?;
    if let Some(found) = cached {
        return Ok(found);
    }
    let generation = xact::generation();
    let found = fetch()?;
    if_unchanged(generation, |c| remember(c, &found)).transpose()?;
    Ok(found)
}

/// Runs `f` on the cache unless it was invalidated since `generation`.
fn if_unchanged<R>(generation: u64, f: impl FnOnce(&mut KeyCache) -> R) -> Option<R> {
    CACHE.with_borrow_mut(|c| {
        c.sync();
        (c.generation == generation).then(|| f(c))
    })
}

/// The keyring, loaded as the extension owner on first need.
fn keyring(create: bool) -> Result<Rc<Keyring>, PseudoError> {
    // The source settings are reloadable: a changed setting means a reload.
    let source = crate::pseudo::root_key_source::configured()?;
    cached_or_fetched(
        |c| Ok(c.keyring.clone().filter(|k| k.source == source)),
        || Ok(Rc::new(key_store::load_keyring(create)?)),
        |c, ring| {
            c.keyring = Some(ring.clone());
            Ok(())
        },
    )
}

/// Runs `f` as the extension owner with the keyring. When `f` finds the
/// keyring older than the database's root key epochs (a rotation committed
/// since it was loaded), everything cached is dropped and `f` runs once more.
pub fn with_keyring<R>(create: bool, f: impl Fn(&Keyring) -> Result<R, PseudoError>) -> Result<R, PseudoError> {
    xact::watch_key_table()?;
    as_extension_owner(|| match f(&*keyring(create)?) {
        Err(PseudoError::StaleRootEpoch) => {
            xact::bump_generation();
            f(&*keyring(create)?)
        }
        other => other,
    })
}

/// Runs `f` with the key `id` names: `Some(key)` when live, `None` when shredded.
pub fn with_key_by_id<R>(id: &KeyId, f: impl FnOnce(Option<&SubjectKey>) -> R) -> Result<R, PseudoError> {
    let found = cached_or_fetched(
        |c| Ok(c.keys.get(id)),
        || {
            if bulk_load_due() {
                load_key_table()?;
                if let Some(found) = CACHE.with_borrow_mut(|c| c.keys.get(id)) {
                    return Ok(found);
                }
            }
            fetch_key(id)
        },
        |c, found| {
            match found {
                Cached::Live(key) => c.keys.insert(id, key),
                Cached::Shredded => c.keys.insert_shredded(id),
            }
            Ok(())
        },
    )?;
    Ok(call_with(found, f))
}

/// Counts a miss by key id; true at the miss after which this statement
/// should load the key table ([`MISSES_BEFORE_LOADING`], once per generation).
fn bulk_load_due() -> bool {
    CACHE.with_borrow_mut(|c| {
        let statement = backend::statement_start();
        if statement != c.missed_in {
            c.missed_in = statement;
            c.misses = 0;
        }
        c.misses += 1;
        c.misses == MISSES_BEFORE_LOADING && !c.loaded
    })
}

fn call_with<R>(found: Cached, f: impl FnOnce(Option<&SubjectKey>) -> R) -> R {
    match found {
        Cached::Live(bytes) => f(Some(&SubjectKey::new(&bytes))),
        Cached::Shredded => f(None),
    }
}

/// Loads the key table into the free part of the cache: after a run of
/// misses (a scan over many subjects, a fresh session), one sequential scan
/// and an unwrap per key instead of a query per key. Once per generation;
/// never evicts (a table larger than the cache fills it and stops).
fn load_key_table() -> Result<(), PseudoError> {
    let generation = xact::generation();
    let room = CACHE.with_borrow_mut(|c| {
        c.loaded = true;
        let room = c.keys.capacity() - c.keys.len();
        c.keys.reserve(key_store::estimated_key_count().unwrap_or(0).min(room));
        room
    });
    with_keyring(false, |ring| {
        key_store::for_each_key(ring, room, |id, key| {
            if_unchanged(generation, |c| c.keys.insert_if_room(id, key));
        })
    })
}

/// The key `id` from the key table.
fn fetch_key(id: &KeyId) -> Result<Cached, PseudoError> {
    match with_keyring(false, |ring| key_store::key_by_id(ring, id))? {
        StoredKey::Live(bytes) => Ok(Cached::Live(bytes)),
        StoredKey::Shredded => Ok(Cached::Shredded),
        StoredKey::Unknown => Err(PseudoError::UnknownKey { id: *id }),
    }
}

/// Runs `f` with the subject's current key and its id, creating the key on
/// first use.
pub fn with_current_key<R>(subject: &[u8], f: impl FnOnce(&KeyId, &SubjectKey) -> R) -> Result<R, PseudoError> {
    let (id, bytes) = cached_or_fetched(
        // Without a keyring nothing of this subject can be cached yet.
        |c| match c.keyring {
            Some(_) => Ok(c.keys.current_of_subject(subject)?),
            None => Ok(None),
        },
        || with_keyring(true, |ring| key_store::current_key(ring, &ring.digest.digest(subject))),
        |c, (id, bytes)| Ok(c.keys.insert_current_of_subject(subject, id, bytes)?),
    )?;
    Ok(f(&id, &SubjectKey::new(&bytes)))
}

/// Runs `f` with the key `id` names (`None`: shredded) and the current key of
/// its subject with that key's id (`None`: the subject has no live key).
pub fn with_key_and_current<R>(
    id: &KeyId,
    f: impl FnOnce(Option<&SubjectKey>, Option<(&KeyId, &SubjectKey)>) -> R,
) -> Result<R, PseudoError> {
    type Found = (Option<SubjectKeyBytes>, Option<(KeyId, SubjectKeyBytes)>);
    let (old, current): Found = cached_or_fetched(
        |c| {
            Ok(match c.keys.get(id) {
                None => None,
                Some(Cached::Shredded) => Some((None, None)),
                Some(Cached::Live(old)) => c.keys.current_of_key(id).map(|current| (Some(old), Some(current))),
            })
        },
        || {
            let old = match fetch_key(id)? {
                Cached::Live(key) => Some(key),
                Cached::Shredded => None,
            };
            let current = match old {
                Some(_) => with_keyring(false, |ring| key_store::current_key_of(ring, id))?,
                None => None,
            };
            Ok((old, current))
        },
        |c, (old, current)| {
            match (old, current) {
                (None, _) => c.keys.insert_shredded(id),
                (Some(old), Some((cur, cur_key))) => c.keys.insert_with_current(id, old, cur, cur_key),
                (Some(_), None) => {}
            }
            Ok(())
        },
    )?;
    let old = old.map(|bytes| SubjectKey::new(&bytes));
    let current = current.map(|(cur, bytes)| (cur, SubjectKey::new(&bytes)));
    Ok(f(old.as_ref(), current.as_ref().map(|(cur, key)| (cur, key))))
}

/// Adds a new key version for the subject (`pseudo_rotate`) and makes every
/// backend forget its cached current key.
pub fn rotate_subject(subject: &[u8]) -> Result<KeyId, PseudoError> {
    let id = with_keyring(true, |ring| key_store::rotate_subject(ring, subject))?;
    xact::invalidate_everywhere()?;
    Ok(id)
}

/// On the Citus coordinator, for a worker: the current key of the subject
/// with this digest, created on first use, wrapped again under the current
/// root key for the trip ([`crate::pseudo::citus`]).
pub fn current_key_for_worker(digest: &[u8]) -> Result<Answer, PseudoError> {
    let digest: &[u8; 32] =
        digest.try_into().map_err(|_| PseudoError::KeyStore { why: "a subject digest is 32 bytes".into() })?;
    crate::pseudo::citus::one_worker_request_at_a_time()?;
    with_keyring(true, |ring| match key_store::current_key(ring, digest) {
        Ok((id, key)) => {
            Ok(Answer::Key { id, epoch: ring.epoch, wrapped: ring.current_root().wrap_subject_key(&id, &key)? })
        }
        Err(PseudoError::SubjectShredded) => Ok(Answer::Shredded),
        Err(e) => Err(e),
    })
}

/// The keyed digest that names `subject` in the key tables.
pub fn subject_digest(subject: &[u8]) -> Result<[u8; 32], PseudoError> {
    with_keyring(true, |ring| Ok(ring.digest.digest(subject)))
}
