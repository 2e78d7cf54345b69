//! Equality search (docs/searching.md): the backend's unwrapped search index
//! keys, the terms a transaction writes, and the answers of `pseudo_search`
//! and `pseudo_matches`.
//!
//! Terms are gathered in the backend and written in batches (before commit
//! or prepare, before this backend searches, and every [`TERMS_PER_WRITE`]):
//! one INSERT of many rows instead of a statement per value, whose executor
//! start and end would cost more than its row. They are kept per
//! subtransaction: a rolled-back savepoint takes its terms with it, as it
//! takes the rows whose values they describe.
//!
//! The index keys are dropped with the key cache's generation (a trigger on
//! `pseudo_keys.search_key` sends the same invalidation as the key tables),
//! and at once in the backend that changed them.

use crate::error::{OrRaise, PseudoError};
use crate::pg::owner_context::as_extension_owner;
use crate::pg::xact::{self, Participant};
use crate::pg::{backend, log_filter};
use crate::pseudo::{key_cache, search_store};
use pgrx::{pg_sys, Uuid};
use pseudo_core::envelope::Envelope;
use pseudo_core::search_term::{Normalization, SearchKey, Term};
use pseudo_core::KeyId;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use zeroize::Zeroizing;

/// Terms gathered before a write mid-statement.
const TERMS_PER_WRITE: usize = 10_000;

/// An index's unwrapped keys, newest (current) first, with their row ids.
pub struct IndexKeys {
    normalization: Normalization,
    keys: Vec<(i32, SearchKey)>,
}

impl IndexKeys {
    /// The normalized plaintext's terms under every key version (two while
    /// a rotation re-derives the terms).
    fn terms(&self, normalized: &[u8]) -> (Vec<i32>, Vec<Vec<u8>>) {
        self.keys.iter().map(|(id, key)| (*id, key.term(normalized).to_vec())).unzip()
    }
}

struct Pending {
    subxact: pg_sys::SubTransactionId,
    search_key: i32,
    term: Term,
    key_id: KeyId,
}

/// The candidates of the last search `pseudo_matches` needed, for the rest
/// of its statement.
struct Candidates {
    statement: pg_sys::TimestampTz,
    generation: u64,
    /// [`TERMS_NOTED`] then: a term noted since may add a candidate.
    noted: u64,
    index: String,
    terms: Vec<Vec<u8>>,
    key_ids: HashSet<KeyId>,
}

thread_local! {
    static INDEXES: RefCell<(u64, HashMap<String, Rc<IndexKeys>>)> = RefCell::new((0, HashMap::new()));
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static CANDIDATES: RefCell<Option<Candidates>> = const { RefCell::new(None) };
    /// Terms noted by this backend, ever.
    static TERMS_NOTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Registers the term batches' transaction work.
pub fn install() {
    xact::register(Participant {
        before_commit: || backend::with_active_snapshot(|| write_terms(true)),
        at_end: |_| PENDING.with_borrow_mut(Vec::clear),
        at_subtransaction_abort: |subxact| PENDING.with_borrow_mut(|p| p.retain(|t| t.subxact < subxact)),
        ..Participant::NONE
    });
}

/// The keys of index `name`, unwrapped as the extension owner on first need.
fn index_keys(name: &str) -> Result<Rc<IndexKeys>, PseudoError> {
    let generation = xact::generation();
    let cached = INDEXES.with_borrow_mut(|(gen, map)| {
        if *gen != generation {
            *gen = generation;
            map.clear();
        }
        map.get(name).cloned()
    });
    if let Some(keys) = cached {
        return Ok(keys);
    }
    let keys = key_cache::with_keyring(false, |ring| {
        let rows = search_store::index_keys(name)?;
        let Some(first) = rows.first() else {
            return Err(PseudoError::UnknownSearchIndex { name: name.into() });
        };
        let normalization = Normalization::parse(&first.normalization).ok_or_else(|| PseudoError::KeyStore {
            why: format!("search index \"{name}\" has an unknown normalization"),
        })?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let bytes = ring
                .root_of(row.root_epoch)?
                .unwrap_search_key(row.id as u32, &row.wrapped)
                .map_err(|_| PseudoError::SearchKeyUnwrap { id: row.id })?;
            keys.push((row.id, SearchKey::new(&bytes)));
        }
        Ok(Rc::new(IndexKeys { normalization, keys }))
    })?;
    INDEXES.with_borrow_mut(|(gen, map)| {
        if *gen == generation {
            map.insert(name.to_string(), keys.clone());
        }
    });
    Ok(keys)
}

/// This backend changed search keys: forget what it cached.
fn forget_index_keys() {
    INDEXES.with_borrow_mut(|(_, map)| map.clear());
    CANDIDATES.with_borrow_mut(|c| *c = None);
}

/// The normalized plaintext's term under index `name`'s current key, checked
/// before the value is encrypted (no key is created for a refused value).
pub fn current_term(name: &str, plaintext: &[u8]) -> Result<(i32, Term), PseudoError> {
    refuse_term_writes_here()?;
    let keys = index_keys(name)?;
    let normalized = keys.normalization.apply(plaintext)?;
    let (id, key) = &keys.keys[0];
    Ok((*id, key.term(&normalized)))
}

/// Terms are writes, and on a Citus worker writes to a reference table
/// from inside a shard task (Citus deadlocks; written at commit, they crash
/// its commit of the worker's part): refused before anything is encrypted.
fn refuse_term_writes_here() -> Result<(), PseudoError> {
    if backend::read_only_transaction() {
        return Err(PseudoError::ReadOnlySearchTerm);
    }
    if crate::pseudo::citus::citus_here()
        && as_extension_owner(|| pgrx::spi::Spi::connect(crate::pseudo::citus::creates_keys_on_coordinator))?
    {
        return Err(PseudoError::SearchTermOnWorker);
    }
    Ok(())
}

/// Records the term of a value encrypted under `key_id`; written with the
/// transaction.
pub fn note_term(search_key: i32, term: Term, key_id: KeyId) {
    let subxact = backend::subtransaction_id();
    TERMS_NOTED.set(TERMS_NOTED.get() + 1);
    let full = PENDING.with_borrow_mut(|p| {
        p.push(Pending { subxact, search_key, term, key_id });
        p.len() >= TERMS_PER_WRITE
    });
    if full {
        write_terms(false).or_raise();
    }
}

/// Writes the gathered terms: all of them at commit, else those of the
/// current subtransaction and its committed children (an outer one's terms
/// wait: written here, they would go if this subtransaction aborts).
fn write_terms(all: bool) -> Result<(), PseudoError> {
    let current = backend::subtransaction_id();
    let mut mine = PENDING.with_borrow_mut(|p| {
        let (mine, outer): (Vec<Pending>, Vec<Pending>) = p.drain(..).partition(|t| all || t.subxact >= current);
        *p = outer;
        mine
    });
    // The extension was dropped in this transaction: nothing to write to.
    if mine.is_empty() || !crate::pg::owner_context::relation_exists(c"search_term") {
        return Ok(());
    }
    mine.sort_unstable_by_key(|t| (t.search_key, t.term, t.key_id));
    mine.dedup_by(|a, b| (a.search_key, a.term, a.key_id) == (b.search_key, b.term, b.key_id));
    let search_keys = mine.iter().map(|t| t.search_key).collect();
    let terms = mine.iter().map(|t| t.term.to_vec()).collect();
    let key_ids = mine.iter().map(|t| Uuid::from_bytes(t.key_id)).collect();
    as_extension_owner(|| search_store::insert_terms(search_keys, terms, key_ids))
}

/// The key ids of every subject with a value equal to `plaintext` in index
/// `name` (after its normalization), and the terms searched for.
fn find(name: &str, plaintext: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<Uuid>), PseudoError> {
    // This transaction's own terms first: a search sees its writes.
    if !backend::read_only_transaction() {
        write_terms(false)?;
    }
    let keys = index_keys(name)?;
    let normalized = keys.normalization.apply(plaintext)?;
    let (search_keys, terms) = keys.terms(&normalized);
    let ids = as_extension_owner(|| search_store::key_ids_with_terms(search_keys, terms.clone()))?;
    Ok((terms, ids))
}

/// `pseudo_search`.
pub fn search(name: &str, plaintext: &[u8]) -> Result<Vec<Uuid>, PseudoError> {
    log_filter::note_plaintext_statement();
    Ok(find(name, plaintext)?.1)
}

/// `pseudo_matches`: whether `value` is a candidate of the search (its key id
/// is one `pseudo_search` returns) and equals `plaintext` after the index's
/// normalization. Never answers for a value the index does not find.
pub fn matches(name: &str, value: &[u8], plaintext: &[u8], context: &[u8]) -> Result<bool, PseudoError> {
    log_filter::note_plaintext_statement();
    let env = Envelope::parse(value).map_err(|_| PseudoError::DecryptionFailed)?;
    if !is_candidate(name, plaintext, &env.key_id())? {
        return Ok(false);
    }
    let keys = index_keys(name)?;
    let wanted = keys.normalization.apply(plaintext)?;
    key_cache::with_key_by_id(&env.key_id(), |key| {
        let Some(key) = key else { return Ok(false) };
        let mut stored = Zeroizing::new(vec![0u8; env.plaintext_len()]);
        key.open_into(&env, context, &mut stored)?;
        Ok(*keys.normalization.apply(&stored)? == *wanted)
    })?
}

/// Whether a search for `plaintext` in `name` lists `key_id`; the search
/// runs once per statement and is remembered by its terms (no plaintext).
fn is_candidate(name: &str, plaintext: &[u8], key_id: &KeyId) -> Result<bool, PseudoError> {
    let keys = index_keys(name)?;
    let (_, terms) = keys.terms(&keys.normalization.apply(plaintext)?);
    let (statement, generation, noted) = (backend::statement_start(), xact::generation(), TERMS_NOTED.get());
    let known = CANDIDATES.with_borrow(|c| {
        c.as_ref()
            .filter(|c| {
                c.statement == statement
                    && c.generation == generation
                    && c.noted == noted
                    && c.index == name
                    && c.terms == terms
            })
            .map(|c| c.key_ids.contains(key_id))
    });
    if let Some(answer) = known {
        return Ok(answer);
    }
    let (terms, ids) = find(name, plaintext)?;
    let key_ids: HashSet<KeyId> = ids.iter().map(|id| *id.as_bytes()).collect();
    let answer = key_ids.contains(key_id);
    CANDIDATES.with_borrow_mut(|c| {
        *c = Some(Candidates { statement, generation, noted, index: name.to_string(), terms, key_ids });
    });
    Ok(answer)
}

/// `pseudo_keys.index_value`: records a stored value's term under the
/// index's current key; false when its key was shredded.
pub fn index_value(name: &str, value: &[u8], context: &[u8]) -> Result<bool, PseudoError> {
    log_filter::note_plaintext_statement();
    refuse_term_writes_here()?;
    let env = Envelope::parse(value).map_err(|_| PseudoError::DecryptionFailed)?;
    let keys = index_keys(name)?;
    let (search_key, current) = &keys.keys[0];
    let term = key_cache::with_key_by_id(&env.key_id(), |key| {
        let Some(key) = key else { return Ok(None) };
        let mut stored = Zeroizing::new(vec![0u8; env.plaintext_len()]);
        key.open_into(&env, context, &mut stored)?;
        Ok::<_, PseudoError>(Some(current.term(&keys.normalization.apply(&stored)?)))
    })??;
    match term {
        Some(term) => {
            note_term(*search_key, term, env.key_id());
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Runs an administration of search keys as the extension owner with the
/// keyring (`create`: a database without keys gets its root key epoch).
pub fn administer<R>(
    create: bool,
    f: impl Fn(&crate::pseudo::key_store::Keyring) -> Result<R, PseudoError>,
) -> Result<R, PseudoError> {
    if backend::read_only_transaction() {
        return Err(PseudoError::ReadOnlySearchTerm);
    }
    let r = key_cache::with_keyring(create, f)?;
    forget_index_keys();
    Ok(r)
}

/// Checks a new index's name and normalization.
pub fn check_new_index(name: &str, normalization: &str) -> Result<(), PseudoError> {
    if name.is_empty() || name.len() > 63 {
        return Err(PseudoError::BadSearchIndex { message: "a search index name has 1 to 63 bytes".into() });
    }
    if Normalization::parse(normalization).is_none() {
        return Err(PseudoError::BadSearchIndex {
            message: format!("unknown normalization \"{normalization}\": use 'none' or 'lower_trim'"),
        });
    }
    Ok(())
}
