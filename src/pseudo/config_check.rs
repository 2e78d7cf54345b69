//! The root key part of `pseudo_check_config()` (the server settings part is
//! SQL, in `sql/pseudo_ext--0.1.0--0.2.0.sql`): where the root keys live, and whether a
//! retired epoch's root key still exists.

use crate::error::PseudoError;
use crate::pg::owner_context::as_extension_owner;
use crate::pg::{backend, catalog};
use crate::pseudo::root_key_source::{self, Source};
use pgrx::prelude::*;
use std::path::{Path, PathBuf};

pub type Finding = (String, String, Option<String>);

pub fn root_key_source_findings() -> Result<Vec<Finding>, PseudoError> {
    let source = root_key_source::configured()?;
    let mut findings = Vec::new();
    match &source {
        Source::Command(_) => {
            // Until the library is loaded in a session its settings are
            // placeholders, which any role can SHOW.
            let risk = (!preloaded()).then(|| {
                "pseudo_ext is not in shared_preload_libraries: until a session loads it, any role can read the command with SHOW; preload it".to_string()
            });
            findings.push(("pseudo_ext.root_key_command".into(), "set".into(), risk));
        }
        Source::File(path) => {
            let risk = inside_data_directory(path).then(|| {
                "the root key file is inside the data directory: base backups and copies of the data directory carry the root key together with the data it protects; move it elsewhere".to_string()
            });
            findings.push(("pseudo_ext.root_key_file".into(), path.clone(), risk));
        }
    }
    if let Source::File(path) = &source {
        if let Err(e) = note_root_key_use(path) {
            findings.push((
                "root key users list".into(),
                format!("{path}.users"),
                Some(format!("{e}: pseudo_destroy_root_key in another database sharing the file cannot see that this one needs its keys")),
            ));
        }
    }
    let retired: Vec<(i32, Vec<u8>)> = as_extension_owner(|| {
        Spi::connect(|client| {
            let mut rows = Vec::new();
            for row in client.select(
                "SELECT epoch, fingerprint FROM pseudo_keys.root_key WHERE wrapped_digest_key IS NULL ORDER BY epoch",
                None,
                &[],
            )? {
                rows.push((row.get::<i32>(1)?.unwrap_or(0), row.get::<Vec<u8>>(2)?.unwrap_or_default()));
            }
            Ok(rows)
        })
    })?;
    if retired.is_empty() {
        return Ok(findings);
    }
    match root_key_source::read(&source, true) {
        Ok(Some(keys)) => {
            for (epoch, fingerprint) in retired {
                if keys.iter().any(|k| k.fingerprint()[..] == fingerprint[..]) {
                    findings.push((
                        format!("root key of retired epoch {epoch}"),
                        "still in the root key source".into(),
                        Some("destroy it (and its backups): until then data shredded before its retirement can be recovered from old backups".into()),
                    ));
                }
            }
        }
        Ok(None) => {}
        Err(_) => findings.push((
            "root key source".into(),
            "unreadable".into(),
            Some("could not check whether retired root keys were destroyed".into()),
        )),
    }
    Ok(findings)
}

/// Records this database's root keys in the list next to the file (see
/// `root_key_users`); the 0.4.0 upgrade script calls this check so that a
/// database created before 0.4.0 is listed even if it stays idle.
fn note_root_key_use(path: &str) -> Result<(), String> {
    let rows: Vec<(Vec<u8>, bool)> = as_extension_owner(|| {
        Spi::connect(|client| {
            let mut rows = Vec::new();
            for row in
                client.select("SELECT fingerprint, wrapped_digest_key IS NULL FROM pseudo_keys.root_key", None, &[])?
            {
                rows.push((row.get::<Vec<u8>>(1)?.unwrap_or_default(), row.get::<bool>(2)?.unwrap_or(false)));
            }
            Ok(rows)
        })
    })
    .map_err(|_| "the root key epochs could not be read".to_string())?;
    if rows.is_empty() || backend::recovery_in_progress() {
        return Ok(());
    }
    let list = |retired: bool| -> Vec<[u8; 32]> {
        rows.iter().filter(|(_, r)| *r == retired).filter_map(|(fp, _)| fp.as_slice().try_into().ok()).collect()
    };
    crate::pseudo::root_key_users::note(path, &list(false), &list(true)).map_err(|e| e.kind().to_string())
}

/// Whether pseudo_ext is in shared_preload_libraries.
fn preloaded() -> bool {
    let Some(value) = catalog::setting(c"shared_preload_libraries") else { return false };
    value.split(',').any(|lib| lib.trim().trim_matches('"') == "pseudo_ext")
}

/// Whether the file is in the data directory (symlinks resolved as far as
/// the path exists).
fn inside_data_directory(path: &str) -> bool {
    let Some(data_dir) = catalog::data_directory() else { return false };
    let file = if Path::new(path).is_absolute() { PathBuf::from(path) } else { data_dir.join(path) };
    let resolved = std::fs::canonicalize(&file).unwrap_or_else(|_| {
        match (file.parent().and_then(|p| std::fs::canonicalize(p).ok()), file.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => file.clone(),
        }
    });
    let data_dir = std::fs::canonicalize(&data_dir).unwrap_or(data_dir);
    resolved.starts_with(&data_dir)
}
