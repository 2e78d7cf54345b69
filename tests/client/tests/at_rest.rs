//! No plaintext and no key bytes at rest or in the server log: after
//! encrypting known markers (as literals and as bind parameters) and
//! provoking errors in statements that carry them, with PostgreSQL's default
//! `log_min_error_statement = error`, every file of the data directory (heap,
//! indexes, WAL, ...) and the server log are scanned for the markers, the root
//! key and every subject key (raw and hex): none may be found. A control value
//! stored in clear must be found, so the scan is known to work.
//! Needs PSEUDO_EXT_TEST_DATA and PSEUDO_EXT_TEST_LOG (set by scripts/test.sh).

use postgres::{Client, NoTls};
use pseudo_core::key_file;
use pseudo_ext_client_tests::connect;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn connect_to(db: &str) -> Client {
    let host = std::env::var("PSEUDO_EXT_TEST_HOST").unwrap();
    let port = std::env::var("PSEUDO_EXT_TEST_PORT").unwrap();
    Client::connect(&format!("host={host} port={port} user=postgres dbname={db}"), NoTls).expect("connect")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// Occurrences of each pattern (all at least 8 bytes) in the files.
fn scan(files: &[PathBuf], patterns: &[Vec<u8>]) -> Vec<usize> {
    let mut by_prefix: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
    for (i, p) in patterns.iter().enumerate() {
        by_prefix.entry(p[..8].try_into().unwrap()).or_default().push(i);
    }
    let mut found = vec![0; patterns.len()];
    for file in files {
        let Ok(bytes) = std::fs::read(file) else { continue }; // files may vanish meanwhile
        for start in 0..bytes.len().saturating_sub(7) {
            let prefix: [u8; 8] = bytes[start..start + 8].try_into().unwrap();
            if let Some(candidates) = by_prefix.get(&prefix) {
                for &i in candidates {
                    if bytes[start..].starts_with(&patterns[i]) {
                        found[i] += 1;
                    }
                }
            }
        }
    }
    found
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    c.batch_execute("CREATE EXTENSION pseudo_ext; CREATE TABLE t (id int PRIMARY KEY, v pseudo_text, c pseudo_text, control text)")
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
    let control = format!("PXCONTROL-{run}-stored-in-clear");
    c.execute("INSERT INTO t VALUES (1000, NULL, NULL, $1)", &[&control]).unwrap();
    c.batch_execute("SELECT pseudo_rotate('subject-1'); UPDATE t SET v = pseudo_rewrap(v) WHERE pseudo_needs_rewrap(v)").unwrap();
    c.query_one("SELECT pseudo_shred('subject-0')", &[]).unwrap();

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

    c.batch_execute("CHECKPOINT; SELECT pg_switch_wal()").unwrap();

    // Key material: the root key (from its file) and every subject key,
    // unwrapped here with the core library.
    let root_text = std::fs::read(&key_file).expect("root key file");
    let root_hex: Vec<String> = String::from_utf8(root_text.clone())
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| l.len() == 64)
        .collect();
    assert_eq!(root_hex.len(), 1);
    let roots = key_file::parse(&root_text).unwrap();
    let mut subject_keys = Vec::new();
    for row in c.query("SELECT key_id::text, wrapped_key FROM pseudo_keys.subject_key", &[]).unwrap() {
        let id_text: String = row.get(0);
        let id: [u8; 16] = unhex(&id_text.replace('-', "")).try_into().unwrap();
        let wrapped: Vec<u8> = row.get(1);
        subject_keys.push(roots[0].unwrap_subject_key(&id, &wrapped).expect("unwrap with the database's root key"));
    }
    assert!(subject_keys.len() >= 20, "one key per subject, two for the rotated one");

    let mut files = Vec::new();
    files_under(&data, &mut files);
    files.push(log.clone());
    let mut patterns: Vec<Vec<u8>> = markers.iter().map(|m| m.as_bytes().to_vec()).collect();
    let n_markers = patterns.len();
    patterns.push(control.as_bytes().to_vec());
    for h in &root_hex {
        patterns.push(h.as_bytes().to_vec());
        patterns.push(h.to_uppercase().into_bytes());
        patterns.push(unhex(h));
    }
    for key in &subject_keys {
        patterns.push(key.to_vec());
        patterns.push(hex(&key[..]).into_bytes());
        patterns.push(hex(&key[..]).to_uppercase().into_bytes());
    }
    let found = scan(&files, &patterns);
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    assert!(found[n_markers] > 0, "the control value stored in clear must be found: the scan does not work");
    let leaks: Vec<String> = found
        .iter()
        .enumerate()
        .filter(|(i, &n)| *i != n_markers && n > 0)
        .map(|(i, n)| format!("pattern {i} ({} bytes) found {n} times", patterns[i].len()))
        .collect();
    println!(
        "at-rest scan: {} files, {} MB, {} markers, {} key patterns: {} found",
        files.len(),
        total_bytes / 1_000_000,
        n_markers,
        patterns.len() - n_markers - 1,
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:?}");
}
