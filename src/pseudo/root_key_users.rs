//! Which databases use which keys of a root key file. Every database of a
//! cluster shares the default root key file, and a file may be shared on
//! purpose (or by a restored copy of a cluster): one database must not
//! destroy a key another one still needs.
//!
//! Each database keeps a list next to the file,
//! `<root key file>.users/<system identifier>-<database oid>`, of the
//! fingerprints of the root keys its live epochs use. A fingerprint is added
//! before the epoch that uses it commits (first epoch, rotation) and whenever
//! the database loads its keyring; it is removed only once the database
//! retired that epoch, which never reverts. So a list can hold more than the
//! database needs (after a rotation that rolled back), never less while the
//! database keeps using pseudo_ext. `pseudo_destroy_root_key` refuses while
//! another list holds the key; the list of a database that was dropped since
//! (same system identifier, no such database) is removed then. Lists of
//! another cluster sharing the file count like any other.
//!
//! Not covered: a database that has not loaded its keys since this library
//! was installed and has not run `ALTER EXTENSION pseudo_ext UPDATE` (which
//! registers it) has no list yet.

use crate::error::PseudoError;
use crate::pg::{backend, catalog};
use crate::pseudo::root_key_source::{lock_file, replace_file};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;

pub type Fingerprint = [u8; 32];

/// A database whose list holds a key.
pub enum User {
    /// A database of this cluster, by OID.
    Here(pg_sys::Oid),
    /// A database of another cluster sharing the file.
    Elsewhere { system: u64, database: u32 },
}

thread_local! {
    /// What this backend last wrote or found in its list, so a keyring load
    /// that changes nothing touches no file.
    static NOTED: RefCell<Option<(String, BTreeSet<Fingerprint>)>> = const { RefCell::new(None) };
}

fn dir(path: &str) -> String {
    format!("{path}.users")
}

fn entry_name(system: u64, database: u32) -> String {
    format!("{system}-{database}")
}

fn own_entry(path: &str) -> String {
    let database = backend::database_id().to_u32();
    format!("{}/{}", dir(path), entry_name(backend::system_identifier(), database))
}

fn parse(contents: &str) -> BTreeSet<Fingerprint> {
    contents
        .lines()
        .filter_map(|line| {
            let bytes = hex::decode(line.trim()).ok()?;
            bytes.try_into().ok()
        })
        .collect()
}

fn format(list: &BTreeSet<Fingerprint>) -> String {
    list.iter().map(|fp| format!("{}\n", hex::encode(fp))).collect()
}

fn read_list(entry: &str) -> std::io::Result<BTreeSet<Fingerprint>> {
    match std::fs::read_to_string(entry) {
        Ok(contents) => Ok(parse(&contents)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e),
    }
}

/// This database's list becomes (list ∪ `live`) ∖ `retired`.
pub fn note(path: &str, live: &[Fingerprint], retired: &[Fingerprint]) -> std::io::Result<()> {
    let entry = own_entry(path);
    let unchanged = NOTED.with_borrow(|noted| {
        noted.as_ref().is_some_and(|(e, list)| {
            *e == entry && live.iter().all(|fp| list.contains(fp)) && retired.iter().all(|fp| !list.contains(fp))
        })
    });
    if unchanged {
        return Ok(());
    }
    std::fs::DirBuilder::new().mode(0o700).recursive(true).create(dir(path))?;
    let _lock = lock_file(&entry)?;
    let old = read_list(&entry)?;
    let mut new = old.clone();
    new.extend(live.iter().copied());
    for fp in retired {
        new.remove(fp);
    }
    if new != old {
        replace_file(&entry, format(&new).as_bytes())?;
    }
    NOTED.set(Some((entry, new)));
    Ok(())
}

/// Every other database whose list holds `fingerprint`. Lists of databases
/// of this cluster that no longer exist are removed on the way.
pub fn others_using(path: &str, fingerprint: &Fingerprint) -> Result<Vec<User>, PseudoError> {
    let io = |e: std::io::Error| PseudoError::RootKeyUsers { why: e.kind().to_string() };
    let own = own_entry(path);
    let entries = match std::fs::read_dir(dir(path)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let this_system = backend::system_identifier();
    let mut users = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((system, database)) =
            name.split_once('-').and_then(|(s, d)| Some((s.parse::<u64>().ok()?, d.parse::<u32>().ok()?)))
        else {
            continue; // lock files, temporary files
        };
        let entry_path = format!("{}/{name}", dir(path));
        if entry_path == own || !read_list(&entry_path).map_err(io)?.contains(fingerprint) {
            continue;
        }
        if system != this_system {
            users.push(User::Elsewhere { system, database });
            continue;
        }
        let oid = pg_sys::Oid::from(database);
        if catalog::database_exists(oid) {
            users.push(User::Here(oid));
        } else {
            // Dropped: its keys went with it.
            let _lock = lock_file(&entry_path).map_err(io)?;
            let _ = std::fs::remove_file(&entry_path);
        }
    }
    Ok(users)
}

/// How a user is named in an error: a database's name, or where it lives.
pub fn describe(user: &User) -> String {
    match user {
        User::Here(oid) => match catalog::database_name(*oid) {
            Some(name) => format!("\"{name}\""),
            None => format!("database OID {}", oid.to_u32()),
        },
        User::Elsewhere { system, database } => {
            format!("database OID {database} of another cluster (system identifier {system})")
        }
    }
}
