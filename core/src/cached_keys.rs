//! A bounded set of unwrapped subject keys, as the extension caches them in
//! each backend: compact entries (the key id and the 16 raw key bytes; the
//! AES key schedule is expanded per use, tens of nanoseconds) in fixed-size
//! chunks, found by key id and, for encryption, by a tag of the subject's
//! keyed digest. Pure data structure: when to drop everything (a shred, a
//! rotation) is the extension's business.
//!
//! Eviction is CLOCK with a usage count (PostgreSQL's buffer replacement): a
//! hit raises an entry's count up to [`MAX_USAGE`], the clock hand lowers it
//! and takes the first entry at zero. A new entry starts at zero, so a scan
//! over more keys than fit replaces its own entries first, and a small
//! working set in use keeps its place for [`MAX_USAGE`] sweeps of the hand.
//!
//! Subjects are found by a [`TagKey`] tag: a keyed 128-bit PRF of the subject
//! under a random key of this cache (AES CBC-MAC with the length first, a
//! few AES blocks), not the HMAC-SHA256 digest that names the subject in the
//! key tables: this runs on every encryption and costs a third of an HMAC.
//!
//! Key bytes never move: chunks are allocated once and never reallocated
//! (a growing `Vec` would leave copies in freed memory); an entry's bytes
//! are overwritten when it is evicted and zeroized on drop.

use crate::envelope::KeyId;
use crate::subject_key::{SubjectKeyBytes, KEY_LEN};
use crate::{random, CoreError};
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use zeroize::{Zeroize, Zeroizing};

/// Names a subject in the cache, whatever the length of the subject: a PRF
/// output of 128 bits never collides in practice (2^-88 for a million
/// subjects), and nobody without the key can aim for a collision.
pub type SubjectTag = [u8; 16];

/// The random key of a cache's subject tags. Its AES key schedule is
/// zeroized on drop (the `aes` crate's `zeroize` feature); no `Debug`.
pub struct TagKey {
    cipher: Aes128Enc,
}

impl TagKey {
    pub fn generate() -> Result<Self, CoreError> {
        let key = Zeroizing::new(random::bytes::<16>()?);
        Ok(TagKey { cipher: Aes128Enc::new(key.as_ref().into()) })
    }

    /// CBC-MAC of the subject's length (a block) then the subject, zero
    /// padded: with the length first no message is a prefix of another, which
    /// makes CBC-MAC a PRF for messages of any length.
    pub fn tag(&self, subject: &[u8]) -> SubjectTag {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&(subject.len() as u64).to_le_bytes());
        self.cipher.encrypt_block((&mut block).into());
        for chunk in subject.chunks(16) {
            block.iter_mut().zip(chunk).for_each(|(b, c)| *b ^= c);
            self.cipher.encrypt_block((&mut block).into());
        }
        block
    }
}

/// Highest usage count: how many sweeps of the hand an unused entry survives.
pub const MAX_USAGE: u8 = 5;

const CHUNK: usize = 1024;
const NONE: u32 = u32::MAX;

/// Most bytes one cached key costs: its entry plus its places in the two
/// hash indexes (a hash table right after doubling is 7/16 full, so an
/// index entry and its control byte can take 16/7 of their size).
pub const BYTES_PER_KEY: usize =
    std::mem::size_of::<Entry>() + 2 * (16 * (std::mem::size_of::<(KeyId, u32)>() + 1)).div_ceil(7);

/// Key ids and digest tags are random: their first 8 bytes are a good hash.
#[derive(Default)]
pub struct RandomBytesHasher(u64);

impl Hasher for RandomBytesHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

type Index<K> = HashMap<K, u32, BuildHasherDefault<RandomBytesHasher>>;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Free,
    Live,
    Shredded,
}

/// A reference to another entry that is void once that slot is reused.
#[derive(Clone, Copy)]
struct Ref {
    slot: u32,
    stamp: u32,
}

pub struct Entry {
    id: KeyId,
    key: [u8; KEY_LEN],
    /// Set when `by_subject` points here: the entry is its subject's current key.
    subject: Option<SubjectTag>,
    /// The current key of this key's subject, when known (rewrap path).
    current: Ref,
    /// Bumped whenever the slot is reused.
    stamp: u32,
    state: State,
    usage: u8,
}

impl Entry {
    fn empty() -> Self {
        Entry {
            id: [0; 16],
            key: [0; KEY_LEN],
            subject: None,
            current: Ref { slot: NONE, stamp: 0 },
            stamp: 0,
            state: State::Free,
            usage: 0,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// What the cache knows about a key id.
pub enum Cached {
    Live(SubjectKeyBytes),
    Shredded,
}

pub struct CachedKeys {
    chunks: Vec<Box<[Entry]>>,
    len: u32,
    capacity: u32,
    hand: u32,
    by_id: Index<KeyId>,
    by_subject: Index<SubjectTag>,
    /// Made on first use by subject.
    tags: Option<TagKey>,
}

impl CachedKeys {
    /// An empty cache that holds at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        CachedKeys {
            chunks: Vec::new(),
            len: 0,
            capacity: capacity.clamp(1, NONE as usize - 1) as u32,
            hand: 0,
            by_id: Index::default(),
            by_subject: Index::default(),
            tags: None,
        }
    }

    fn tag(&mut self, subject: &[u8]) -> Result<SubjectTag, CoreError> {
        if self.tags.is_none() {
            self.tags = Some(TagKey::generate()?);
        }
        Ok(self.tags.as_ref().expect("made above").tag(subject))
    }

    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    fn entry(&self, slot: u32) -> &Entry {
        &self.chunks[slot as usize / CHUNK][slot as usize % CHUNK]
    }

    fn entry_mut(&mut self, slot: u32) -> &mut Entry {
        &mut self.chunks[slot as usize / CHUNK][slot as usize % CHUNK]
    }

    /// Reads an entry as a hit: raises its usage count.
    fn use_entry(&mut self, slot: u32) -> Cached {
        let entry = self.entry_mut(slot);
        entry.usage = (entry.usage + 1).min(MAX_USAGE);
        match entry.state {
            State::Live => Cached::Live(Zeroizing::new(entry.key)),
            _ => Cached::Shredded,
        }
    }

    /// Makes room in the index for `additional` more keys (up to the
    /// capacity) at once, before a bulk load: growing step by step rehashes
    /// the whole index each time it doubles.
    pub fn reserve(&mut self, additional: usize) {
        self.by_id.reserve(additional.min(self.capacity as usize - self.len as usize));
    }

    /// Caches a live key if there is a free slot (or the key is cached):
    /// a bulk load never evicts.
    pub fn insert_if_room(&mut self, id: &KeyId, key: &[u8; KEY_LEN]) {
        if !self.is_full() || self.by_id.contains_key(id) {
            self.put(id, State::Live, key);
        }
    }

    /// The key `id` names, if cached.
    pub fn get(&mut self, id: &KeyId) -> Option<Cached> {
        let slot = *self.by_id.get(id)?;
        Some(self.use_entry(slot))
    }

    /// The current key of `subject`, and its id, if cached.
    pub fn current_of_subject(&mut self, subject: &[u8]) -> Result<Option<(KeyId, SubjectKeyBytes)>, CoreError> {
        let tag = self.tag(subject)?;
        Ok(self.current_of_tag(&tag))
    }

    fn current_of_tag(&mut self, tag: &SubjectTag) -> Option<(KeyId, SubjectKeyBytes)> {
        let slot = *self.by_subject.get(tag)?;
        let id = self.entry(slot).id;
        match self.use_entry(slot) {
            Cached::Live(key) => Some((id, key)),
            Cached::Shredded => None,
        }
    }

    /// The current key of the subject that key `id` belongs to, if cached.
    pub fn current_of_key(&mut self, id: &KeyId) -> Option<(KeyId, SubjectKeyBytes)> {
        let current = self.entry(*self.by_id.get(id)?).current;
        if current.slot == NONE || self.entry(current.slot).stamp != current.stamp {
            return None;
        }
        let cur_id = self.entry(current.slot).id;
        match self.use_entry(current.slot) {
            Cached::Live(key) => Some((cur_id, key)),
            Cached::Shredded => None,
        }
    }

    /// Caches a live key.
    pub fn insert(&mut self, id: &KeyId, key: &[u8; KEY_LEN]) {
        self.put(id, State::Live, key);
    }

    /// Caches that `id`'s key was shredded.
    pub fn insert_shredded(&mut self, id: &KeyId) {
        self.put(id, State::Shredded, &[0; KEY_LEN]);
    }

    /// Caches the subject's current key.
    pub fn insert_current_of_subject(
        &mut self,
        subject: &[u8],
        id: &KeyId,
        key: &[u8; KEY_LEN],
    ) -> Result<(), CoreError> {
        let tag = self.tag(subject)?;
        self.insert_current_of_tag(&tag, id, key);
        Ok(())
    }

    fn insert_current_of_tag(&mut self, tag: &SubjectTag, id: &KeyId, key: &[u8; KEY_LEN]) {
        let slot = self.put(id, State::Live, key);
        if let Some(old) = self.by_subject.insert(*tag, slot) {
            if old != slot {
                self.entry_mut(old).subject = None;
            }
        }
        self.entry_mut(slot).subject = Some(*tag);
    }

    /// Caches key `id` and its subject's current key `cur_id` (rewrap path).
    pub fn insert_with_current(&mut self, id: &KeyId, key: &[u8; KEY_LEN], cur_id: &KeyId, cur_key: &[u8; KEY_LEN]) {
        let cur = self.put(cur_id, State::Live, cur_key);
        let stamp = self.entry(cur).stamp;
        // Raised so that caching `id` cannot evict it.
        self.entry_mut(cur).usage = self.entry(cur).usage.max(1);
        let slot = self.put(id, State::Live, key);
        self.entry_mut(slot).current = Ref { slot: cur, stamp };
    }

    /// Puts `id` in a slot (its own if cached, else a free or evicted one).
    fn put(&mut self, id: &KeyId, state: State, key: &[u8; KEY_LEN]) -> u32 {
        if let Some(&slot) = self.by_id.get(id) {
            let entry = self.entry_mut(slot);
            entry.state = state;
            entry.key = *key;
            return slot;
        }
        let slot = if self.len < self.capacity { self.grow() } else { self.evict() };
        let entry = self.entry_mut(slot);
        entry.id = *id;
        entry.key = *key;
        entry.state = state;
        entry.usage = 0;
        self.by_id.insert(*id, slot);
        slot
    }

    fn grow(&mut self) -> u32 {
        let slot = self.len;
        if slot as usize / CHUNK == self.chunks.len() {
            let size = CHUNK.min(self.capacity as usize - slot as usize);
            self.chunks.push((0..size).map(|_| Entry::empty()).collect());
        }
        self.len += 1;
        slot
    }

    /// Frees the slot the clock hand stops at: the first with usage zero,
    /// lowering the counts it passes.
    fn evict(&mut self) -> u32 {
        let slot = loop {
            let slot = self.hand;
            self.hand = (self.hand + 1) % self.len;
            let entry = self.entry_mut(slot);
            if entry.usage == 0 {
                break slot;
            }
            entry.usage -= 1;
        };
        let entry = self.entry_mut(slot);
        let (id, subject) = (entry.id, entry.subject.take());
        entry.key.zeroize();
        entry.state = State::Free;
        entry.current = Ref { slot: NONE, stamp: 0 };
        entry.stamp = entry.stamp.wrapping_add(1);
        self.by_id.remove(&id);
        if let Some(tag) = subject {
            self.by_subject.remove(&tag);
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> KeyId {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_le_bytes());
        id[4..8].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_le_bytes());
        id
    }

    fn key(n: u32) -> [u8; 16] {
        let mut k = [0xa5u8; 16];
        k[12..].copy_from_slice(&n.to_be_bytes());
        k
    }

    fn live(c: &mut CachedKeys, n: u32) -> Option<[u8; 16]> {
        match c.get(&id(n))? {
            Cached::Live(k) => Some(*k),
            Cached::Shredded => None,
        }
    }

    #[test]
    fn holds_at_most_its_capacity_and_finds_what_it_holds() {
        let mut c = CachedKeys::new(3000);
        for n in 0..10_000 {
            c.insert(&id(n), &key(n));
            assert!(c.len() <= 3000);
        }
        assert_eq!(c.len(), 3000);
        assert_eq!(c.by_id.len(), 3000);
        let found = (0..10_000).filter(|&n| live(&mut c, n).is_some()).count();
        assert_eq!(found, 3000);
        for n in 0..10_000 {
            if let Some(k) = live(&mut c, n) {
                assert_eq!(k, key(n), "key {n} came back with another key's bytes");
            }
        }
    }

    #[test]
    fn a_working_set_in_use_survives_a_scan_over_more_keys_than_fit() {
        let mut c = CachedKeys::new(1000);
        for n in 0..100 {
            c.insert(&id(n), &key(n));
        }
        for _ in 0..MAX_USAGE {
            (0..100).for_each(|n| assert!(live(&mut c, n).is_some()));
        }
        // A scan of 3,000 new keys, three times the capacity.
        for n in 1_000..4_000 {
            if live(&mut c, n).is_none() {
                c.insert(&id(n), &key(n));
            }
        }
        let kept = (0..100).filter(|&n| live(&mut c, n) == Some(key(n))).count();
        assert_eq!(kept, 100, "the working set was evicted by the scan");
        // Control: without the uses, the same scan evicts it.
        let mut c = CachedKeys::new(1000);
        (0..100).for_each(|n| c.insert(&id(n), &key(n)));
        (1_000..4_000).for_each(|n| c.insert(&id(n), &key(n)));
        assert_eq!((0..100).filter(|&n| live(&mut c, n).is_some()).count(), 0);
    }

    #[test]
    fn the_subject_index_forgets_an_evicted_key() {
        let mut c = CachedKeys::new(10);
        c.insert_current_of_subject(b"one", &id(1), &key(1)).unwrap();
        assert_eq!(c.current_of_subject(b"one").unwrap().map(|(i, k)| (i, *k)), Some((id(1), key(1))));
        for n in 100..130 {
            c.insert(&id(n), &key(n));
        }
        assert!(c.current_of_subject(b"one").unwrap().is_none());
        assert!(c.by_subject.is_empty(), "an evicted key left its subject entry behind");
    }

    #[test]
    fn a_new_current_key_replaces_the_old_one_for_its_subject() {
        let mut c = CachedKeys::new(10);
        c.insert_current_of_subject(b"one", &id(1), &key(1)).unwrap();
        c.insert_current_of_subject(b"one", &id(2), &key(2)).unwrap();
        assert_eq!(c.current_of_subject(b"one").unwrap().map(|(i, _)| i), Some(id(2)));
        assert!(c.entry(*c.by_id.get(&id(1)).unwrap()).subject.is_none());
    }

    #[test]
    fn a_current_key_reference_dies_with_the_slot_it_named() {
        let mut c = CachedKeys::new(4);
        c.insert_with_current(&id(1), &key(1), &id(2), &key(2));
        assert_eq!(c.current_of_key(&id(1)).map(|(i, k)| (i, *k)), Some((id(2), key(2))));
        // Keep id 1 in use while others push id 2 out.
        for n in 10..40 {
            assert!(c.get(&id(1)).is_some());
            c.insert(&id(n), &key(n));
        }
        assert!(c.get(&id(2)).is_none());
        assert!(c.current_of_key(&id(1)).is_none(), "a reused slot answered for the evicted current key");
    }

    #[test]
    fn tags_tell_subjects_apart() {
        let k = TagKey::generate().unwrap();
        let subjects: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"\0a".to_vec(),
            vec![0; 16],
            vec![0; 32],
            b"customer-1".to_vec(),
            b"customer-10".to_vec(),
            vec![b'x'; 1_000_000],
        ];
        let tags: std::collections::HashSet<SubjectTag> = subjects.iter().map(|s| k.tag(s)).collect();
        assert_eq!(tags.len(), subjects.len(), "two subjects share a tag");
        assert_eq!(k.tag(b"customer-1"), k.tag(b"customer-1"));
        let other = TagKey::generate().unwrap();
        assert_ne!(k.tag(b"customer-1"), other.tag(b"customer-1"), "the tag does not depend on the key");
        let many: std::collections::HashSet<SubjectTag> =
            (0..100_000).map(|n| k.tag(format!("customer-{n}").as_bytes())).collect();
        assert_eq!(many.len(), 100_000);
    }

    #[test]
    fn shredded_entries_are_remembered() {
        let mut c = CachedKeys::new(4);
        c.insert_shredded(&id(7));
        assert!(matches!(c.get(&id(7)), Some(Cached::Shredded)));
        assert!(c.get(&id(8)).is_none());
    }

    #[test]
    fn an_evicted_entry_keeps_no_key_bytes() {
        let mut c = CachedKeys::new(1);
        c.insert(&id(1), &key(1));
        c.insert_shredded(&id(2));
        assert_eq!(c.entry(0).key, [0; 16]);
    }
}
