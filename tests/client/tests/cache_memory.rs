//! The key cache is bounded in bytes whatever the subjects look like: it
//! holds a subject by its keyed digest, never the identifier itself, and
//! evicts its least used keys past `pseudo_ext.key_cache_size`. Measured on the
//! backend's private resident memory (`RssAnon` in `/proc/<pid>/status`; the
//! tests run on the server's machine): `VmRSS` also counts the shared buffers
//! a scan touches.

use postgres::{Client, Transaction};
use pseudo_ext_client_tests::{backend_pid, connect, fresh_subject, setup};

/// The backend's private resident memory (RssAnon), in kB.
fn resident_kb(pid: i32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the backend's /proc status (run the tests on the server's machine)")
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}

/// 1,000 subjects of 1 MB each: 0.3.0 kept every subject string in the cache
/// and grew the backend by 958 MB; now each costs what a short one does.
#[test]
fn long_subjects_cost_no_more_memory_than_short_ones() {
    let mut c = connect();
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pseudo_ext").unwrap();
    let tag = fresh_subject("long");
    let pid = backend_pid(&mut c);
    // Library, keyring and plan loaded before the first measurement.
    c.query_one("SELECT pseudo_encrypt($1, 'warm up')", &[&tag]).unwrap();
    let encrypt_all =
        "SELECT count(pseudo_encrypt(repeat('x', 1000000) || $1 || i, 'v')) FROM generate_series(1, 1000) i";
    let before = resident_kb(pid);
    let count: i64 = c.query_one(encrypt_all, &[&tag]).unwrap().get(0);
    let grown = resident_kb(pid) - before;
    assert_eq!(count, 1000);
    println!("1,000 subjects of 1 MB: the backend grew by {grown} kB");
    assert!(grown < 64 * 1024, "the backend grew by {grown} kB for 1,000 cached keys");
    // They are cached: a second pass creates no key and does not grow either.
    let keys_before = c.query_one("SELECT count(*) FROM pseudo_keys.subject_keys", &[]).unwrap().get::<_, i64>(0);
    let before = resident_kb(pid);
    c.query_one(encrypt_all, &[&tag]).unwrap();
    let grown = resident_kb(pid) - before;
    let keys_after = c.query_one("SELECT count(*) FROM pseudo_keys.subject_keys", &[]).unwrap().get::<_, i64>(0);
    assert_eq!(keys_before, keys_after, "the second pass found every key again");
    assert!(grown < 16 * 1024, "the second pass grew the backend by {grown} kB");
}

/// Keys read by key id (decryption), in a session that has decrypted one
/// value (library, keyring and plans loaded): two passes over 8,000 keys
/// each grow a session with the default cache size by the keys it caches
/// (the key table loaded after a run of misses), and one with
/// `pseudo_ext.key_cache_size` at its minimum (256 kB) by almost nothing.
#[test]
fn the_cache_stays_within_key_cache_size() {
    const HALF: i32 = 8000;
    let mut c = connect();
    table_of_subjects(&mut c, "cache_bound", 2 * HALF);
    let growth = |size: Option<&str>| -> i64 {
        let mut s = connect();
        if let Some(size) = size {
            s.batch_execute(&format!("SET pseudo_ext.key_cache_size = '{size}'")).unwrap();
        }
        let pid = backend_pid(&mut s);
        let pass = |s: &mut Client, first: i32, n: i32| {
            let ok: i64 = s
                .query_one(
                    "SELECT count(*) FROM cache_bound WHERE id BETWEEN $1 AND $1 + $2 - 1 AND pseudo_decrypt(v) = 'v' || id",
                    &[&first, &n],
                )
                .unwrap()
                .get(0);
            assert_eq!(ok, n as i64);
        };
        pass(&mut s, 2 * HALF, 1);
        let before = resident_kb(pid);
        pass(&mut s, 1, HALF);
        pass(&mut s, HALF + 1, HALF);
        resident_kb(pid) - before
    };
    let default = growth(None);
    let small = growth(Some("256kB"));
    println!("16,000 keys: the backend grew by {default} kB with the default cache size, {small} kB with 256 kB");
    assert!(small < 1024, "with a 256 kB cache the backend grew by {small} kB");
    assert!(small * 3 < default, "a 256 kB cache ({small} kB) must grow far less than the default ({default} kB)");
    c.batch_execute("DROP TABLE cache_bound").unwrap();
}

/// Sequential and index scans of the key table in this transaction so far.
fn key_table_scans(t: &mut Transaction<'_>) -> (i64, i64) {
    let row = t
        .query_one(
            "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE schemaname = 'pseudo_keys' AND relname = 'subject_key'",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// A table `name` of `rows` values, each of its own new subject; returns the
/// subjects' common prefix (subject of row i: prefix || i, value 'v' || i).
fn table_of_subjects(c: &mut Client, name: &str, rows: i32) -> String {
    setup(c, name);
    let tag = fresh_subject(name);
    c.execute(
        &format!("INSERT INTO {name} SELECT i, pseudo_encrypt($1 || i, 'v' || i) FROM generate_series(1, $2) i"),
        &[&tag, &rows],
    )
    .unwrap();
    tag
}

/// A scan over many subjects in a fresh session loads the key table once
/// (one sequential scan) instead of looking each key up: counted with the
/// transaction's own table statistics. Shredded keys are not loaded. Many
/// statements of one lookup each do not load it.
#[test]
fn a_scan_over_many_subjects_loads_the_key_table_once() {
    const ROWS: i32 = 5000;
    let mut c = connect();
    let tag = table_of_subjects(&mut c, "cache_load", ROWS);
    c.execute("SELECT pseudo_shred($1 || 7)", &[&tag]).unwrap();
    let mut s = connect();
    let mut t = s.transaction().unwrap();
    let (right, shredded): (i64, i64) = {
        let row = t
            .query_one(
                "SELECT count(*) FILTER (WHERE pseudo_decrypt(v) = 'v' || id), count(*) FILTER (WHERE pseudo_decrypt(v) IS NULL) FROM cache_load",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((right, shredded), (ROWS as i64 - 1, 1));
    let (seq, idx) = key_table_scans(&mut t);
    println!("{ROWS} subjects in a fresh session: {seq} sequential and {idx} index scans of the key table");
    assert!(seq >= 1, "the key table was never scanned");
    assert!(idx < 200, "{idx} index scans: the keys were looked up one by one");
    t.commit().unwrap();
    // Small lookups, one key per statement (an application's pooled
    // connection): looked up one by one, the key table is never loaded.
    let mut s = connect();
    let mut t = s.transaction().unwrap();
    for id in 1..=100 {
        let plain: Option<String> =
            t.query_one("SELECT pseudo_decrypt(v) FROM cache_load WHERE id = $1", &[&(id * 7 + 1)]).unwrap().get(0);
        assert_eq!(plain, Some(format!("v{}", id * 7 + 1)));
    }
    let (seq, idx) = key_table_scans(&mut t);
    println!("100 statements of one subject each: {seq} sequential and {idx} index scans of the key table");
    assert_eq!(seq, 0, "small lookups loaded the whole key table");
    assert!(idx >= 100);
    t.commit().unwrap();
    c.batch_execute("DROP TABLE cache_load").unwrap();
}
