//! Where the backend finds root keys: the root key file, or the standard
//! output of `pseudo_ext.root_key_command`. Both hold one key per line (see
//! `pseudo_core::key_file`); several lines exist while a root key is rotated.
//!
//! * `pseudo_ext.root_key_file` (superuser-only, reloadable) names the file; a
//!   relative path is relative to the data directory, every backend's working
//!   directory. The file is created only when it does not exist *and* the
//!   database holds no wrapped keys (the caller checks that), so a lost root
//!   key is an error, never silently a new key. Root key rotation appends to
//!   it and retirement removes a line, each by replacing the whole file
//!   atomically under an exclusive lock (`<file>.lock`).
//! * `pseudo_ext.root_key_command` (superuser-only, hidden from non-superusers)
//!   wins when set: it runs through `/bin/sh -c` with no input; its standard
//!   output is the key list and is never logged; its standard error is
//!   discarded. Its output is cached per backend and read again only when a
//!   needed key is missing from it. The extension never edits that source.
//!   A command that has not finished within `pseudo_ext.root_key_command_timeout`
//!   is killed (its whole process group), and so is one whose statement is
//!   cancelled meanwhile: a hung command never holds a backend, or the lock a
//!   root key rotation takes, for longer.

use crate::error::PseudoError;
use crate::pg::{backend, os, roles};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use pseudo_core::{key_file, RootKey};
use std::cell::RefCell;
use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::rc::Rc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub static ROOT_KEY_FILE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"pseudo_ext_root.key"));
pub static ROOT_KEY_COMMAND: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ROOT_KEY_COMMAND_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// Largest source we read: thousands of keys' worth.
const MAX_SOURCE_BYTES: u64 = 1 << 20;

pub fn define_gucs() {
    GucRegistry::define_string_guc(
        c"pseudo_ext.root_key_file",
        c"File holding pseudo_ext's root keys (64 hex digits per line).",
        c"Relative paths are relative to the data directory. Keep it off the database's disks in production.",
        &ROOT_KEY_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"pseudo_ext.root_key_command",
        c"Shell command whose standard output is pseudo_ext's root keys; overrides pseudo_ext.root_key_file.",
        c"For a KMS or vault client. Its output is never logged.",
        &ROOT_KEY_COMMAND,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"pseudo_ext.root_key_command_timeout",
        c"How long pseudo_ext.root_key_command may run before it is killed.",
        c"A cancelled statement kills the command at once.",
        &ROOT_KEY_COMMAND_TIMEOUT,
        100,
        3_600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
}

/// The configured source.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    File(String),
    Command(String),
}

impl Source {
    /// Names the source in messages; a command is never echoed (it may hold
    /// credentials), and the file's path only to a role that may `SHOW` it.
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) if may_see_settings() => format!("root key file \"{path}\""),
            Source::File(_) => "root key file (pseudo_ext.root_key_file)".into(),
            Source::Command(_) => "pseudo_ext.root_key_command".into(),
        }
    }
}

/// Whether the role running the statement may read superuser-only settings:
/// a superuser or a member of pg_read_all_settings. The outer user, since key
/// access runs as the extension owner.
fn may_see_settings() -> bool {
    let user = roles::outer_user();
    roles::is_superuser(user) || roles::has_privs_of(user, pg_sys::Oid::from(pg_sys::ROLE_PG_READ_ALL_SETTINGS))
}

pub fn configured() -> Result<Source, PseudoError> {
    if let Some(cmd) = ROOT_KEY_COMMAND.get().filter(|c| !c.as_bytes().is_empty()) {
        return Ok(Source::Command(cmd.to_string_lossy().into_owned()));
    }
    match ROOT_KEY_FILE.get() {
        Some(p) if !p.as_bytes().is_empty() => Ok(Source::File(p.to_string_lossy().into_owned())),
        _ => Err(PseudoError::RootKeyRejected {
            source: "pseudo_ext.root_key_file".into(),
            why: "it is empty and pseudo_ext.root_key_command is not set",
            hint: "Set pseudo_ext.root_key_file in postgresql.conf and reload.",
        }),
    }
}

/// The keys a source held when last read.
pub type Keys = Rc<Vec<RootKey>>;

thread_local! {
    static COMMAND_CACHE: RefCell<Option<(String, Keys)>> = const { RefCell::new(None) };
}

/// Reads the source; `Ok(None)` when it is a file that does not exist. A
/// command's output is served from the backend's cache unless `fresh`.
pub fn read(source: &Source, fresh: bool) -> Result<Option<Keys>, PseudoError> {
    match source {
        Source::File(path) => Ok(read_file(path)?.map(|c| parse(source, &c)).transpose()?.map(Rc::new)),
        Source::Command(cmd) => {
            if !fresh {
                let cached =
                    COMMAND_CACHE.with_borrow(|c| c.as_ref().filter(|(k, _)| k == cmd).map(|(_, v)| v.clone()));
                if let Some(keys) = cached {
                    return Ok(Some(keys));
                }
            }
            let keys = Rc::new(parse(source, &run_command(cmd)?)?);
            COMMAND_CACHE.with_borrow_mut(|c| *c = Some((cmd.clone(), keys.clone())));
            Ok(Some(keys))
        }
    }
}

fn parse(source: &Source, contents: &[u8]) -> Result<Vec<RootKey>, PseudoError> {
    key_file::parse(contents).map_err(|e| match e {
        pseudo_core::CoreError::MalformedRootKey(why) => PseudoError::RootKeyRejected {
            source: source.describe(),
            why,
            hint: "Restore the root key file from your backup.",
        },
        other => other.into(),
    })
}

fn read_file(path: &str) -> Result<Option<Zeroizing<Vec<u8>>>, PseudoError> {
    let io = |e: std::io::Error| PseudoError::RootKeyUnreadable {
        source: Source::File(path.into()).describe(),
        why: e.kind().to_string(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    // Like PostgreSQL's check on ssl_key_file: a key others can read is refused.
    if meta.mode() & 0o077 != 0 {
        return Err(PseudoError::RootKeyRejected {
            source: Source::File(path.into()).describe(),
            why: "group or other users can access it",
            hint: "chmod 600 the file; it must be readable by the PostgreSQL server's OS user only.",
        });
    }
    // Sized once, so no reallocation leaves a copy of a key in freed memory.
    let mut contents = Zeroizing::new(Vec::with_capacity(MAX_SOURCE_BYTES as usize + 1));
    file.take(MAX_SOURCE_BYTES).read_to_end(&mut contents).map_err(io)?;
    Ok(Some(contents))
}

fn run_command(cmd: &str) -> Result<Zeroizing<Vec<u8>>, PseudoError> {
    let failed =
        |why: String| PseudoError::RootKeyUnreadable { source: Source::Command(String::new()).describe(), why };
    let timeout_ms = ROOT_KEY_COMMAND_TIMEOUT.get().max(1) as u64;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0) // its own group: killing it reaches what the shell started
        .spawn()
        .map_err(|e| failed(format!("could not start it: {}", e.kind())))?;
    let mut running = RunningCommand { child: &mut child, done: false };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    // Sized once, so no reallocation leaves a copy of a key in freed memory.
    let mut out = Zeroizing::new(vec![0u8; MAX_SOURCE_BYTES as usize]);
    let mut len = 0;
    let mut stdout = running.child.stdout.take().expect("stdout is piped");
    // Non-blocking, so a silent command cannot block the read.
    os::set_nonblocking(&stdout).map_err(|e| failed(format!("could not read its output: {}", e.kind())))?;
    loop {
        running.interrupt_or_deadline(deadline, timeout_ms)?;
        // Wakes every 100 ms to look at interrupts and the deadline.
        if !os::wait_readable(&stdout, Duration::from_millis(100)) {
            continue; // timeout or EINTR (a signal the backend handles)
        }
        match stdout.read(&mut out[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == out.len() {
                    break; // larger than any key list: parsing refuses what was read
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(failed(format!("could not read its output: {}", e.kind()))),
        }
    }
    drop(stdout);
    let status = loop {
        running.interrupt_or_deadline(deadline, timeout_ms)?;
        match running.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(failed(format!("could not wait for it: {}", e.kind()))),
        }
    };
    running.done = true;
    if !status.success() {
        return Err(failed(match status.code() {
            Some(code) => format!("it exited with status {code}"),
            None => "it was terminated by a signal".into(),
        }));
    }
    out.truncate(len);
    Ok(out)
}

/// A started root key command: killed with its process group and reaped on
/// every way out but a normal exit, so no command outlives the statement.
struct RunningCommand<'a> {
    child: &'a mut std::process::Child,
    done: bool,
}

impl RunningCommand<'_> {
    /// Kills the command on a pending cancel or timeout; a cancel is then
    /// raised as PostgreSQL's own error (57014).
    fn interrupt_or_deadline(&mut self, deadline: Instant, timeout_ms: u64) -> Result<(), PseudoError> {
        if backend::cancel_or_termination_pending() {
            self.kill();
        }
        pgrx::check_for_interrupts!();
        if Instant::now() >= deadline {
            self.kill();
            return Err(PseudoError::RootKeyUnreadable {
                source: Source::Command(String::new()).describe(),
                why: format!(
                    "it did not finish within {timeout_ms} ms (pseudo_ext.root_key_command_timeout) and was killed"
                ),
            });
        }
        Ok(())
    }

    fn kill(&mut self) {
        if !self.done {
            os::kill_process_group(self.child.id());
            let _ = self.child.wait();
            self.done = true;
        }
    }
}

impl Drop for RunningCommand<'_> {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An exclusive lock on `<path>.lock`, held while the key file is replaced,
/// so a rotation and a retirement never lose each other's edit.
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn take(path: &str) -> std::io::Result<FileLock> {
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(format!("{path}.lock"))?;
        // Released when the file closes.
        file.lock()?;
        Ok(FileLock { _file: file })
    }
}

/// [`FileLock`] on `path` (held until dropped).
pub fn lock_file(path: &str) -> std::io::Result<FileLock> {
    FileLock::take(path)
}

/// Writes `contents` as the new file: temporary file (0600), fsync, rename
/// over the old one, fsync the directory. A crash leaves the old or the new
/// file, never a mix.
/// Writes `contents` to `<path>.tmp.<pid>` (mode 0600) and syncs it; returns
/// that name. On failure nothing is left behind.
fn write_synced_temp(path: &str, contents: &[u8]) -> std::io::Result<String> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    if let Err(e) = file.write_all(contents).and_then(|_| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

pub fn replace_file(path: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = write_synced_temp(path, contents)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path);
    Ok(())
}

fn sync_parent(path: &str) {
    if let Some(dir) = std::path::Path::new(path).parent() {
        let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
}

/// Creates the file with one new random key, atomically: written and synced
/// under a temporary name, then hard-linked into place, which fails if another
/// backend got there first (then its key is read instead).
pub fn create_file(path: &str) -> Result<Keys, PseudoError> {
    let source = Source::File(path.into());
    let contents = key_file::new_contents()?;
    let io =
        |e: std::io::Error| PseudoError::RootKeyUnreadable { source: source.describe(), why: e.kind().to_string() };
    let tmp = write_synced_temp(path, &contents).map_err(io)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    read(&source, true)?.ok_or_else(|| PseudoError::RootKeyMissing { source: source.describe() })
}

/// Appends a new random key to the file (before the rotation that uses it
/// commits: an unused extra key is harmless, a missing one is not) and returns
/// its fingerprint.
pub fn append_new_key(path: &str) -> Result<[u8; 32], PseudoError> {
    let source = Source::File(path.into());
    let io =
        |e: std::io::Error| PseudoError::RootKeyUnreadable { source: source.describe(), why: e.kind().to_string() };
    let _lock = FileLock::take(path).map_err(io)?;
    let old = read_file(path)?.ok_or_else(|| PseudoError::RootKeyMissing { source: source.describe() })?;
    let (contents, key) = key_file::with_new_key(&old)?;
    replace_file(path, &contents).map_err(io)?;
    Ok(key.fingerprint())
}

/// Removes the key with this fingerprint from the file; returns whether a line
/// was removed. Runs after the retirement that made the key unneeded committed.
pub fn remove_key(path: &str, fingerprint: &[u8; 32]) -> std::io::Result<bool> {
    let _lock = FileLock::take(path)?;
    let old = match read_file(path) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(false),
        Err(_) => return Err(std::io::Error::other("the root key file cannot be read")),
    };
    let (contents, removed) = key_file::without_key(&old, fingerprint);
    if removed > 0 {
        replace_file(path, &contents)?;
    }
    Ok(removed > 0)
}
