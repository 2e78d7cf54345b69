//! The key cache is bounded in bytes whatever the subjects look like: it
//! holds a subject by its 32-byte keyed digest, never the identifier itself,
//! and starts over past `pseudo_ext.key_cache_size`. Measured on the
//! backend's private resident memory (`RssAnon` in `/proc/<pid>/status`; the
//! tests run on the server's machine): `VmRSS` also counts the shared buffers
//! a scan touches.

use postgres::Client;
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
    let encrypt_all = "SELECT count(pseudo_encrypt(repeat('x', 1000000) || $1 || i, 'v')) FROM generate_series(1, 1000) i";
    let before = resident_kb(pid);
    let count: i64 = c.query_one(encrypt_all, &[&tag]).unwrap().get(0);
    let grown = resident_kb(pid) - before;
    assert_eq!(count, 1000);
    println!("1,000 subjects of 1 MB: the backend grew by {grown} kB");
    assert!(grown < 64 * 1024, "the backend grew by {grown} kB for 1,000 cached keys (bound: 64 MB)");
    // They are cached: a second pass creates no key and does not grow either.
    let keys_before = c.query_one("SELECT count(*) FROM pseudo_keys.subject_keys", &[]).unwrap().get::<_, i64>(0);
    let before = resident_kb(pid);
    c.query_one(encrypt_all, &[&tag]).unwrap();
    let grown = resident_kb(pid) - before;
    let keys_after = c.query_one("SELECT count(*) FROM pseudo_keys.subject_keys", &[]).unwrap().get::<_, i64>(0);
    assert_eq!(keys_before, keys_after, "the second pass found every key again");
    assert!(grown < 16 * 1024, "the second pass grew the backend by {grown} kB");
}

/// Keys read by key id (decryption): after a first pass over 8,000 keys
/// (which also brings the backend's catalog and plan caches to their size),
/// a pass over 8,000 other keys grows a session with the default cache size
/// by their cached keys, and one with `pseudo_ext.key_cache_size` at its
/// minimum (256 kB) by almost nothing.
#[test]
fn the_cache_stays_within_key_cache_size() {
    const HALF: i32 = 8000;
    let mut c = connect();
    setup(&mut c, "cache_bound");
    let tag = fresh_subject("bound");
    c.execute(
        "INSERT INTO cache_bound SELECT i, pseudo_encrypt($1 || i, 'v' || i) FROM generate_series(1, $2) i",
        &[&tag, &(2 * HALF)],
    )
    .unwrap();
    let second_pass_growth = |size: Option<&str>| -> i64 {
        let mut s = connect();
        if let Some(size) = size {
            s.batch_execute(&format!("SET pseudo_ext.key_cache_size = '{size}'")).unwrap();
        }
        let pid = backend_pid(&mut s);
        let pass = |s: &mut Client, first: i32| {
            let ok: i64 = s
                .query_one(
                    "SELECT count(*) FROM cache_bound WHERE id BETWEEN $1 AND $1 + $2 - 1 AND pseudo_decrypt(v) = 'v' || id",
                    &[&first, &HALF],
                )
                .unwrap()
                .get(0);
            assert_eq!(ok, HALF as i64);
        };
        pass(&mut s, 1);
        let before = resident_kb(pid);
        pass(&mut s, HALF + 1);
        resident_kb(pid) - before
    };
    let default = second_pass_growth(None);
    let small = second_pass_growth(Some("256kB"));
    println!("8,000 more keys: the backend grew by {default} kB with the default cache size, {small} kB with 256 kB");
    assert!(small < 1024, "with a 256 kB cache the backend grew by {small} kB");
    assert!(small * 3 < default, "a 256 kB cache ({small} kB) must grow far less than the default ({default} kB)");
    c.batch_execute("DROP TABLE cache_bound").unwrap();
}
