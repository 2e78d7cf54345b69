//! The root key file: where the backend finds the root key, and how it is
//! created on first use.
//!
//! `pseudo_ext.root_key_file` (superuser-only, reloadable) names the file; a
//! relative path is relative to the data directory, which is every backend's
//! working directory. The file holds 64 hex digits. It is created only when it
//! does not exist *and* the database holds no wrapped keys (the caller checks
//! the second condition), so a lost root key is an error, never silently a new
//! key.

use crate::error::PseudoError;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use pseudo_core::RootKey;
use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

pub static ROOT_KEY_FILE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"pseudo_ext_root.key"));

pub fn define_guc() {
    GucRegistry::define_string_guc(
        c"pseudo_ext.root_key_file",
        c"File holding pseudo_ext's root key (64 hex digits).",
        c"Relative paths are relative to the data directory. Keep it off the database's disks in production.",
        &ROOT_KEY_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
}

/// The configured path.
pub fn configured_path() -> Result<String, PseudoError> {
    match ROOT_KEY_FILE.get() {
        Some(p) if !p.as_bytes().is_empty() => Ok(p.to_string_lossy().into_owned()),
        _ => Err(PseudoError::RootKeyRejected(
            String::new(),
            "pseudo_ext.root_key_file is empty",
            "Set pseudo_ext.root_key_file in postgresql.conf and reload.",
        )),
    }
}

/// Reads the root key; `Ok(None)` when the file does not exist.
pub fn read(path: &str) -> Result<Option<RootKey>, PseudoError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PseudoError::RootKeyUnreadable(path.into(), e.kind().to_string())),
    };
    let meta = file.metadata().map_err(|e| PseudoError::RootKeyUnreadable(path.into(), e.kind().to_string()))?;
    // Like PostgreSQL's check on ssl_key_file: a key others can read is refused.
    if meta.mode() & 0o077 != 0 {
        return Err(PseudoError::RootKeyRejected(
            path.into(),
            "group or other users can access it",
            "chmod 600 the file; it must be readable by the PostgreSQL server's OS user only.",
        ));
    }
    let mut contents = zeroize::Zeroizing::new(Vec::with_capacity(80));
    file.take(4096)
        .read_to_end(&mut contents)
        .map_err(|e| PseudoError::RootKeyUnreadable(path.into(), e.kind().to_string()))?;
    RootKey::from_file_contents(&contents).map(Some).map_err(|_| {
        PseudoError::RootKeyRejected(path.into(), "it does not hold 64 hexadecimal digits", "Restore the root key file from your backup.")
    })
}

/// Creates the file with a new random key, atomically: the key is written and
/// synced under a temporary name, then hard-linked into place, which fails if
/// another backend got there first (then its key is read instead).
pub fn create(path: &str) -> Result<RootKey, PseudoError> {
    let contents = RootKey::generate_file_contents().map_err(|_| PseudoError::Randomness)?;
    let tmp = format!("{path}.tmp.{}", std::process::id());
    let io = |e: std::io::Error| PseudoError::RootKeyUnreadable(path.into(), e.kind().to_string());
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    file.write_all(contents.as_bytes()).and_then(|_| file.sync_all()).map_err(io)?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = std::path::Path::new(path).parent() {
                let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    read(path)?.ok_or_else(|| PseudoError::RootKeyMissing(path.into()))
}
