//! No plaintext and no key bytes at rest or in the server log: after
//! encrypting known markers (as literals and as bind parameters) and
//! provoking errors in statements that carry them, with PostgreSQL's default
//! `log_min_error_statement = error`, every file of the data directory (heap,
//! indexes, WAL, ...) and the server log are scanned for the markers (raw and
//! hex), the root key, the subject-digest key and every subject key, among
//! them the shredded subject's, unwrapped before the shred (raw and hex):
//! none may be found.
//! The scan is shown to work where it matters: a control value stored in
//! clear must be found in the table's own heap file, in the WAL and in the
//! server log, each separately, raw and as SQL's own hex; and every searched
//! pattern must be found in a file planted with all of them.
//! Needs PSEUDO_EXT_TEST_DATA and PSEUDO_EXT_TEST_LOG (set by scripts/test.sh).

use postgres::{Client, NoTls};
use pseudo_core::key_file;
use pseudo_ext_client_tests::connect;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

fn connect_to(db: &str) -> Client {
    let host = std::env::var("PSEUDO_EXT_TEST_HOST").unwrap();
    let port = std::env::var("PSEUDO_EXT_TEST_PORT").unwrap();
    Client::connect(&format!("host={host} port={port} user=postgres dbname={db}"), NoTls).expect("connect")
}

/// Every regular file under `dir`, following symbolic links (pg_wal and
/// tablespaces may be links). A directory removed meanwhile (a temporary one)
/// is skipped; any other error fails the test, so nothing is skipped unseen.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = entry.path();
        let kind = match std::fs::metadata(&path) {
            Ok(meta) => meta.file_type(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot stat {}: {e}", path.display()),
        };
        if kind.is_dir() {
            files_under(&path, out);
        } else if kind.is_file() {
            out.push(path);
        } else {
            panic!("{} is neither a file nor a directory: not scanned", path.display());
        }
    }
}

struct Scan {
    /// Occurrences by (file index, pattern index); absent means none.
    hits: HashMap<(usize, usize), usize>,
    files_read: usize,
    bytes_read: u64,
    /// Files removed between listing and reading (a recycled WAL segment, a
    /// temporary file): the only read error tolerated.
    vanished: Vec<PathBuf>,
}

impl Scan {
    fn in_files(&self, pattern: usize, files: impl Fn(usize) -> bool) -> usize {
        self.hits.iter().filter(|((f, p), _)| *p == pattern && files(*f)).map(|(_, n)| n).sum()
    }
}

/// Occurrences of each pattern (all at least 8 bytes) in each file.
fn scan(files: &[PathBuf], patterns: &[Vec<u8>]) -> Scan {
    let mut by_prefix: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
    for (i, p) in patterns.iter().enumerate() {
        by_prefix.entry(p[..8].try_into().unwrap()).or_default().push(i);
    }
    let mut result = Scan { hits: HashMap::new(), files_read: 0, bytes_read: 0, vanished: Vec::new() };
    for (f, file) in files.iter().enumerate() {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                result.vanished.push(file.clone());
                continue;
            }
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        result.files_read += 1;
        result.bytes_read += bytes.len() as u64;
        for start in 0..bytes.len().saturating_sub(7) {
            let prefix: [u8; 8] = bytes[start..start + 8].try_into().unwrap();
            if let Some(candidates) = by_prefix.get(&prefix) {
                for &i in candidates {
                    if bytes[start..].starts_with(&patterns[i]) {
                        *result.hits.entry((f, i)).or_default() += 1;
                    }
                }
            }
        }
    }
    result
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key as it could leak: raw, and as lower- and upper-case hex.
fn key_forms(key: &[u8]) -> [Vec<u8>; 3] {
    [key.to_vec(), hex(key).into_bytes(), hex(key).to_uppercase().into_bytes()]
}

fn must_fail(c: &mut Client, sql: &str, sqlstate: &str) {
    let err = c.simple_query(sql).expect_err(sql);
    assert_eq!(err.code().map(|c| c.code()), Some(sqlstate), "{sql}");
}

#[test]
fn no_plaintext_or_key_bytes_at_rest_or_in_the_server_log() {
    let data = PathBuf::from(std::env::var("PSEUDO_EXT_TEST_DATA").expect("PSEUDO_EXT_TEST_DATA"));
    let log = PathBuf::from(std::env::var("PSEUDO_EXT_TEST_LOG").expect("PSEUDO_EXT_TEST_LOG"));
    let run = std::process::id();
    let key_dir = std::env::temp_dir().join(format!("pseudo_ext_at_rest_{run}"));
    std::fs::create_dir_all(&key_dir).unwrap();
    assert!(std::process::Command::new("chown").arg("postgres:postgres").arg(&key_dir).status().unwrap().success());
    let key_file = key_dir.join("root.key");

    let mut admin = connect();
    admin.batch_execute("DROP DATABASE IF EXISTS at_rest").unwrap();
    admin.batch_execute("CREATE DATABASE at_rest").unwrap();
    admin
        .batch_execute(&format!("ALTER DATABASE at_rest SET pseudo_ext.root_key_file = '{}'", key_file.display()))
        .unwrap();
    let log_min_error: String = admin.query_one("SHOW log_min_error_statement", &[]).unwrap().get(0);
    assert_eq!(log_min_error, "error", "the test needs PostgreSQL's default");

    let mut c = connect_to("at_rest");
    c.batch_execute(
        "CREATE EXTENSION pseudo_ext; CREATE TABLE t (id int PRIMARY KEY, v pseudo_text, c pseudo_text, control text)",
    )
    .unwrap();
    let marker = |i: usize| format!("PXMARK-{run}-{i:05}-plaintext");
    let mut markers = Vec::new();
    for i in 0..200 {
        let m = marker(i);
        if i % 2 == 0 {
            // literal in the statement text
            c.simple_query(&format!(
                "INSERT INTO t VALUES ({i}, pseudo_encrypt('subject-{}', '{m}'), pseudo_encrypt('subject-{}', '{m}', 't.c'), NULL)",
                i % 20,
                i % 20
            ))
            .unwrap();
        } else {
            let subject = format!("subject-{}", i % 20);
            c.execute(
                "INSERT INTO t VALUES ($1, pseudo_encrypt($2, $3), pseudo_encrypt($2, $3, 't.c'), NULL)",
                &[&(i as i32), &subject, &m],
            )
            .unwrap();
        }
        markers.push(m);
    }
    // Not secret: stored in clear (raw, and hex-encoded by SQL itself) and
    // written to the server log, so each place shows it was scanned.
    let control = format!("PXCONTROL-{run}-stored-in-clear");
    let control_hex = hex(control.as_bytes());
    let store_control = |c: &mut Client, id: i32| {
        c.execute("INSERT INTO t VALUES ($1, NULL, NULL, $2)", &[&id, &control]).unwrap();
        c.execute(
            "INSERT INTO t VALUES ($1, NULL, NULL, encode(convert_to($2, 'UTF8'), 'hex'))",
            &[&(id + 1), &control],
        )
        .unwrap();
    };
    store_control(&mut c, 1000);
    c.batch_execute(&format!(
        "DO $$ BEGIN RAISE LOG '{control}'; RAISE LOG '%', encode(convert_to('{control}', 'UTF8'), 'hex'); END $$"
    ))
    .unwrap();
    c.batch_execute(
        "SELECT pseudo_rotate('subject-1'); UPDATE t SET v = pseudo_rewrap(v) WHERE pseudo_needs_rewrap(v)",
    )
    .unwrap();

    // Key material, collected before the shred so that the shredded subject's
    // key, whose survival anywhere would defeat shredding, is searched for:
    // the root key (from its file), the subject-digest key and every subject
    // key, unwrapped here with the core library.
    let root_text = std::fs::read(&key_file).expect("root key file");
    let root_hex: Vec<String> = String::from_utf8(root_text.clone())
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| l.len() == 64)
        .collect();
    assert_eq!(root_hex.len(), 1);
    let roots = key_file::parse(&root_text).unwrap();
    let digest_rows = c.query("SELECT epoch, wrapped_digest_key FROM pseudo_keys.root_key", &[]).unwrap();
    assert_eq!(digest_rows.len(), 1, "one root key epoch");
    let (epoch, wrapped): (i32, Vec<u8>) = (digest_rows[0].get(0), digest_rows[0].get(1));
    let digest_key = roots[0].unwrap_digest_key(epoch as u32, &wrapped).expect("unwrap the digest key");
    let shredded_digest: Vec<u8> = c.query_one("SELECT pseudo_keys.subject_digest('subject-0')", &[]).unwrap().get(0);
    assert_eq!(digest_key.digest(b"subject-0").to_vec(), shredded_digest, "the digest key the database uses");
    let digest_key = *roots[0].unwrap_digest_key_bytes(epoch as u32, &wrapped).expect("unwrap the digest key");
    let mut subject_keys = Vec::new();
    let mut shredded_ids = Vec::new();
    for row in c
        .query(
            "SELECT key_id::text, wrapped_key, subject_digest = $1 FROM pseudo_keys.subject_key",
            &[&shredded_digest],
        )
        .unwrap()
    {
        let id_text: String = row.get(0);
        let id: [u8; 16] = unhex(&id_text.replace('-', "")).try_into().unwrap();
        let wrapped: Vec<u8> = row.get(1);
        let key = roots[0].unwrap_subject_key(&id, &wrapped).expect("unwrap with the database's root key");
        if row.get::<_, bool>(2) {
            shredded_ids.push(id_text);
            subject_keys.insert(0, key);
        } else {
            subject_keys.push(key);
        }
    }
    assert_eq!(subject_keys.len(), 21, "one key per subject, two for the rotated one");
    assert_eq!(shredded_ids.len(), 1, "subject-0's one key, first in subject_keys");

    c.query_one("SELECT pseudo_shred('subject-0')", &[]).unwrap();
    let left: i64 = c
        .query_one("SELECT count(*) FROM pseudo_keys.subject_key WHERE key_id::text = $1", &[&shredded_ids[0]])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the shred deletes the key searched for below");

    // Failing statements that carry plaintext literals.
    let err = |i: usize| format!("PXMARK-{run}-error-{i}-plaintext");
    must_fail(&mut c, &format!("SELECT pseudo_encrypt('subject-0', '{}')", err(1)), "55000");
    must_fail(&mut c, &format!("SELECT pseudo_encrypt('subject-1', '{}'), 1/0", err(2)), "22012");
    must_fail(&mut c, &format!("SELECT pseudo_encrypt('subject-1', repeat('{}', 3000))", err(3)), "54000");
    must_fail(&mut c, &format!("SELECT pseudo_encrypt('subject-1', '{}', NULL)", err(4)), "22004");
    must_fail(&mut c, &format!("SELECT pseudo_decrypt(c, '{}') FROM t WHERE id = 1", err(5)), "XX001");
    must_fail(&mut c, &format!("INSERT INTO t VALUES (1, pseudo_encrypt('subject-1', '{}'))", err(6)), "23505");
    must_fail(&mut c, &format!("SELECT pseudo_encrypt('subject-1', '{}'", err(7)), "42601");
    markers.extend((1..=7).map(err));

    // The checkpoint flushes the table's pages to its heap file; WAL written
    // after it cannot have been recycled yet.
    c.batch_execute("CHECKPOINT").unwrap();
    store_control(&mut c, 1002);
    c.batch_execute("SELECT pg_switch_wal()").unwrap();
    let heap_file = data.join(c.query_one("SELECT pg_relation_filepath('t')", &[]).unwrap().get::<_, String>(0));
    let wal_dir = data.join("pg_wal");

    // Patterns: 0 and 1 are the controls, then the markers, then the keys;
    // each named for the report.
    let mut patterns: Vec<Vec<u8>> = vec![control.clone().into_bytes(), control_hex.into_bytes()];
    let mut names: Vec<String> = vec!["control (raw)".into(), "control (hex)".into()];
    let n_controls = patterns.len();
    for (i, m) in markers.iter().enumerate() {
        patterns.extend([m.as_bytes().to_vec(), hex(m.as_bytes()).into_bytes()]);
        names.extend([format!("marker {i} (raw)"), format!("marker {i} (hex)")]);
    }
    let n_markers = markers.len();
    let mut add_key = |name: &str, key: &[u8]| {
        patterns.extend(key_forms(key));
        names.extend(["raw", "hex", "HEX"].map(|form| format!("{name} ({form})")));
    };
    add_key("root key", &unhex(&root_hex[0]));
    add_key("digest key", &digest_key);
    for (i, key) in subject_keys.iter().enumerate() {
        add_key(&if i == 0 { "shredded subject's key".to_string() } else { format!("subject key {i}") }, &key[..]);
    }

    // Every secret pattern is found where it is written: the scan would see
    // the shredded key, the digest key or a hex marker if they were present.
    let planted = key_dir.join("planted");
    let filler = vec![b'.'; 4096];
    let mut contents = filler.clone();
    for p in &patterns[n_controls..] {
        contents.extend_from_slice(p);
        contents.extend_from_slice(&filler);
    }
    std::fs::write(&planted, contents).unwrap();
    let in_planted = scan(&[planted], &patterns);
    let unseen: Vec<&str> = (n_controls..patterns.len())
        .filter(|&i| in_planted.in_files(i, |_| true) == 0)
        .map(|i| &names[i][..])
        .collect();
    assert!(unseen.is_empty(), "patterns {unseen:?} not found where they were planted");

    let mut files = Vec::new();
    files_under(&data, &mut files);
    files.push(log.clone());
    let result = scan(&files, &patterns);
    let heap = files.iter().position(|f| *f == heap_file);
    let log_index = files.iter().position(|f| *f == log);
    let in_wal = |f: usize| files[f].starts_with(&wal_dir);
    let wal_files = (0..files.len()).filter(|&f| in_wal(f)).count();
    println!(
        "at-rest scan: {} files listed, {} read ({} in pg_wal), {} MB read, {} vanished; {} markers, {} key patterns",
        files.len(),
        result.files_read,
        wal_files,
        result.bytes_read / 1_000_000,
        result.vanished.len(),
        n_markers,
        patterns.len() - n_controls - 2 * n_markers
    );
    for (i, form) in [(0, "raw"), (1, "hex")] {
        let heap_hits = result.in_files(i, |f| Some(f) == heap);
        assert!(heap_hits > 0, "control ({form}) not found in the table's heap file {}", heap_file.display());
        assert!(result.in_files(i, in_wal) > 0, "control ({form}) not found in the WAL");
        assert!(result.in_files(i, |f| Some(f) == log_index) > 0, "control ({form}) not found in the server log");
    }
    // Plausible: a cluster of four databases has hundreds of files, the WAL
    // at least one 16 MB segment; few files vanish between listing and reading.
    assert!(result.files_read >= 500, "only {} files read", result.files_read);
    assert!(result.bytes_read >= 16 << 20, "only {} bytes read", result.bytes_read);
    assert!(wal_files >= 1, "no WAL segment listed");
    assert!(result.vanished.len() <= result.files_read / 100, "vanished: {:?}", result.vanished);
    let mut leaks: Vec<String> = result
        .hits
        .iter()
        .filter(|((_, p), _)| *p >= n_controls)
        .map(|((f, p), n)| format!("{} found {n} times in {}", names[*p], files[*f].display()))
        .collect();
    leaks.sort();
    println!("{} leaks", leaks.len());
    assert!(leaks.is_empty(), "{leaks:#?}");
    std::fs::remove_dir_all(&key_dir).unwrap();
}

/// Decrypted plaintext in PostgreSQL's own messages (a cast, a unique or check
/// violation, a trigger's RAISE), also when the statement reaches
/// pseudo_decrypt only through a view or a SQL function: the client gets the
/// whole error, the server log only its level and SQLSTATE. A failing
/// statement that does not use pseudo_ext is logged as usual (the control:
/// the log is written and read, and the redaction is selective).
#[test]
fn decrypted_plaintext_in_errors_reaches_the_client_but_not_the_server_log() {
    let log = PathBuf::from(std::env::var("PSEUDO_EXT_TEST_LOG").expect("PSEUDO_EXT_TEST_LOG"));
    let run = std::process::id();
    let secret = |i: usize| format!("PXLOGLEAK-{run}-{i}-plaintext");
    let mut admin = connect();
    admin.batch_execute("DROP DATABASE IF EXISTS log_redaction").unwrap();
    admin.batch_execute("CREATE DATABASE log_redaction").unwrap();
    let mut c = connect_to("log_redaction");
    c.batch_execute(
        "CREATE EXTENSION pseudo_ext;
         CREATE TABLE leaks (id int PRIMARY KEY, v pseudo_text);
         CREATE TEMP TABLE uniq (e text UNIQUE);
         CREATE TABLE chk (e text CHECK (e NOT LIKE 'PXLOGLEAK%'));
         CREATE TABLE trig (id int, v pseudo_text);
         CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN RAISE EXCEPTION 'refused value %', pseudo_decrypt(NEW.v); END$$;
         CREATE TRIGGER refuse BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION refuse();
         CREATE VIEW revealed AS SELECT id, pseudo_decrypt(v) AS p FROM leaks;
         CREATE FUNCTION reveal(pseudo_text) RETURNS text LANGUAGE sql AS 'SELECT pseudo_decrypt($1)';
         SELECT pseudo_create_search_index('leak_idx');
         CREATE FUNCTION find(text) RETURNS SETOF int LANGUAGE sql AS
           $$SELECT id FROM leaks WHERE pseudo_key_id(v) = ANY (pseudo_search('leak_idx', $1))
                                    AND pseudo_matches('leak_idx', v, $1)$$;",
    )
    .unwrap();
    for i in 1..=6 {
        c.execute("INSERT INTO leaks VALUES ($1, pseudo_encrypt('log-subject', $2))", &[&(i as i32), &secret(i)])
            .unwrap();
    }
    c.batch_execute("INSERT INTO uniq SELECT pseudo_decrypt(v) FROM leaks WHERE id = 2").unwrap();
    let log_start = std::fs::metadata(&log).unwrap().len();

    let cases: [(&str, &str, usize); 6] = [
        ("SELECT pseudo_decrypt(v)::int FROM leaks WHERE id = 1", "22P02", 1),
        ("INSERT INTO uniq SELECT pseudo_decrypt(v) FROM leaks WHERE id = 2", "23505", 2),
        ("INSERT INTO chk SELECT pseudo_decrypt(v) FROM leaks WHERE id = 3", "23514", 3),
        ("INSERT INTO trig SELECT id, v FROM leaks WHERE id = 4", "P0001", 4),
        ("SELECT p::int FROM revealed WHERE id = 5", "22P02", 5),
        ("SELECT reveal(v)::int FROM leaks WHERE id = 6", "22P02", 6),
    ];
    for (sql, sqlstate, i) in cases {
        let err = c.simple_query(sql).expect_err(sql);
        let db = err.as_db_error().expect(sql);
        assert_eq!(db.code().code(), sqlstate, "{sql}");
        let whole = format!("{} {}", db.message(), db.detail().unwrap_or(""));
        assert!(whole.contains(&secret(i)), "the client gets the whole error for {sql}: {whole}");
    }
    // A search through a SQL function: the statement holds the plaintext
    // searched for but not the word pseudo_; its error is not logged whole
    // either.
    let searched = secret(7);
    let err = c.simple_query(&format!("SELECT count(*) / 0 FROM find('{searched}')")).expect_err("search");
    assert_eq!(err.code().map(|c| c.code()), Some("22012"));
    let control = format!("PXLOGCONTROL-{run}-not-secret");
    let err = c.simple_query(&format!("SELECT '{control}'::int")).expect_err("control");
    assert_eq!(err.code().map(|c| c.code()), Some("22P02"));
    drop(c);
    admin.batch_execute("DROP DATABASE log_redaction").unwrap();

    let bytes = std::fs::read(&log).unwrap();
    let written = String::from_utf8_lossy(&bytes[log_start as usize..]);
    assert!(written.contains(&control), "control: a statement without pseudo_ext is logged as usual");
    for (sql, sqlstate, i) in cases {
        assert!(!written.contains(&secret(i)), "decrypted value {i} in the server log ({sql})");
        assert!(
            written.contains(&format!("pseudo_ext: ERROR {sqlstate} in a statement that uses pseudo_ext")),
            "the redacted line for {sql}"
        );
    }
    assert!(!written.contains(&searched), "a searched plaintext in the server log");
    let redacted = written.matches("in a statement that uses pseudo_ext; message not logged").count();
    assert_eq!(redacted, cases.len() + 1, "one redacted line per failing statement");
}
