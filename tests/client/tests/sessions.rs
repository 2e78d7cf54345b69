//! pseudo_ext seen through a real client, with several sessions at once.
//! Needs a server with the extension installed: `scripts/test.sh` starts one
//! and sets PSEUDO_EXT_TEST_HOST / PSEUDO_EXT_TEST_PORT.

use postgres::Client;
use pseudo_ext_client_tests::{
    backend_pid, connect, connect_to, fresh_subject, setup, wait_until_blocked, LOCK_WAIT_TIMEOUT,
};
use std::thread;

fn decrypt(c: &mut Client, table: &str, id: i32) -> Option<String> {
    c.query_one(&format!("SELECT pseudo_decrypt(v) FROM {table} WHERE id = $1"), &[&id]).unwrap().get(0)
}

#[test]
fn shred_in_one_session_is_seen_by_the_next_transaction_of_another() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "sess_shred");
    let alice = fresh_subject("sess-alice");
    a.execute("INSERT INTO sess_shred VALUES (1, pseudo_encrypt($1, 'alice@example.org'))", &[&alice]).unwrap();
    // A warms its key cache.
    assert_eq!(decrypt(&mut a, "sess_shred", 1).as_deref(), Some("alice@example.org"));
    assert_eq!(decrypt(&mut a, "sess_shred", 1).as_deref(), Some("alice@example.org"));
    // B shreds and commits.
    let destroyed: i32 = b.query_one("SELECT pseudo_shred($1)", &[&alice]).unwrap().get(0);
    assert_eq!(destroyed, 1);
    // A's next transaction cannot decrypt, although the key was in its cache.
    assert_eq!(decrypt(&mut a, "sess_shred", 1), None);
    let err = a.execute("SELECT pseudo_encrypt($1, 'again')", &[&alice]).unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("55000"));
}

#[test]
fn rolled_back_shred_in_another_session_changes_nothing() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "sess_rollback");
    let bob = fresh_subject("sess-bob");
    a.execute("INSERT INTO sess_rollback VALUES (1, pseudo_encrypt($1, 'bob'))", &[&bob]).unwrap();
    assert_eq!(decrypt(&mut a, "sess_rollback", 1).as_deref(), Some("bob"));
    let mut tx = b.transaction().unwrap();
    tx.query_one("SELECT pseudo_shred($1)", &[&bob]).unwrap();
    tx.rollback().unwrap();
    assert_eq!(decrypt(&mut a, "sess_rollback", 1).as_deref(), Some("bob"));
}

#[test]
fn concurrent_first_use_creates_exactly_one_key() {
    let mut a = connect();
    setup(&mut a, "sess_first_use");
    let carol = fresh_subject("sess-carol");
    let mut tx = a.transaction().unwrap();
    tx.execute("INSERT INTO sess_first_use VALUES (1, pseudo_encrypt($1, 'from A'))", &[&carol]).unwrap();
    // B's first use of the same subject waits for A's transaction.
    let mut b = connect();
    let b_pid = backend_pid(&mut b);
    let b_subject = carol.clone();
    let waiter = thread::spawn(move || {
        b.execute("INSERT INTO sess_first_use VALUES (2, pseudo_encrypt($1, 'from B'))", &[&b_subject]).unwrap();
    });
    wait_until_blocked(&mut connect(), b_pid, LOCK_WAIT_TIMEOUT);
    tx.commit().unwrap();
    waiter.join().unwrap();
    let keys: i64 = a.query_one("SELECT count(DISTINCT pseudo_key_id(v)) FROM sess_first_use", &[]).unwrap().get(0);
    assert_eq!(keys, 1, "both sessions must use the one key");
    let rows: i64 = a
        .query_one(
            "SELECT count(*) FROM pseudo_keys.subject_key WHERE subject_digest = pseudo_keys.subject_digest($1)",
            &[&carol],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    assert_eq!(decrypt(&mut a, "sess_first_use", 2).as_deref(), Some("from B"));
}

#[test]
fn shred_waits_for_a_concurrent_first_key_and_destroys_it() {
    let mut a = connect();
    setup(&mut a, "sess_race");
    let dave = fresh_subject("sess-dave");
    let mut tx = a.transaction().unwrap();
    tx.execute("INSERT INTO sess_race VALUES (1, pseudo_encrypt($1, 'dave'))", &[&dave]).unwrap();
    let mut b = connect();
    let b_pid = backend_pid(&mut b);
    let shredder = thread::spawn(move || b.query_one("SELECT pseudo_shred($1)", &[&dave]).unwrap().get::<_, i32>(0));
    // The shred must have reached A's uncommitted key, not run after the commit.
    wait_until_blocked(&mut connect(), b_pid, LOCK_WAIT_TIMEOUT);
    tx.commit().unwrap();
    assert_eq!(shredder.join().unwrap(), 1, "the shred must see and destroy the key created concurrently");
    assert_eq!(decrypt(&mut a, "sess_race", 1), None);
}

#[test]
fn binary_protocol_round_trips_the_raw_envelope() {
    let mut a = connect();
    setup(&mut a, "sess_binary");
    a.execute("INSERT INTO sess_binary VALUES (1, pseudo_encrypt('sess-erin', 'binary'))", &[]).unwrap();
    // pseudo_text_send as bytea gives the raw envelope; the hex text form matches it.
    let row = a.query_one("SELECT pseudo_text_send(v), v::text FROM sess_binary", &[]).unwrap();
    let raw: Vec<u8> = row.get(0);
    let hex: String = row.get(1);
    assert_eq!(raw.len(), 46 + "binary".len());
    assert_eq!(raw[0], 1);
    let hex_of_raw: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex_of_raw, hex);
}

/// `DROP EXTENSION` + `CREATE EXTENSION` (as `pg_restore --clean` does) gives
/// the key tables new OIDs: a session that used the extension before must
/// still see the next shred.
#[test]
fn shred_is_seen_by_a_session_that_outlived_a_recreated_extension() {
    let db = "sess_recreate";
    let mut admin = connect();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let (mut a, mut b) = (connect_to(db), connect_to(db));
    a.batch_execute("CREATE EXTENSION pseudo_ext; CREATE TABLE t (id int PRIMARY KEY, v pseudo_text)").unwrap();
    a.execute("INSERT INTO t VALUES (1, pseudo_encrypt('rc-alice', 'before'))", &[]).unwrap();
    assert_eq!(decrypt(&mut a, "t", 1).as_deref(), Some("before"));

    b.batch_execute("DROP TABLE t; DROP EXTENSION pseudo_ext; CREATE EXTENSION pseudo_ext; CREATE TABLE t (id int PRIMARY KEY, v pseudo_text)")
        .unwrap();
    a.execute("INSERT INTO t VALUES (2, pseudo_encrypt('rc-alice', 'after'))", &[]).unwrap();
    assert_eq!(decrypt(&mut a, "t", 2).as_deref(), Some("after"), "A uses (and caches) the new key");

    let destroyed: i32 = b.query_one("SELECT pseudo_shred('rc-alice')", &[]).unwrap().get(0);
    assert_eq!(destroyed, 1);
    assert_eq!(decrypt(&mut a, "t", 2), None, "A's next transaction must not decrypt the shredded value");
    drop((a, b));
    admin.batch_execute(&format!("DROP DATABASE {db}")).unwrap();
}

/// Each backend draws value nonces from its own generator (seeded per
/// process, see core/src/nonce.rs): four sessions, each a backend forked from
/// the postmaster, encrypt 10,000 values each under one subject key at the
/// same time, and no nonce (bytes 17..30 of the envelope) repeats.
#[test]
fn nonces_never_repeat_across_backends() {
    let mut c = connect();
    setup(&mut c, "nonce_spread");
    c.batch_execute("ALTER TABLE nonce_spread DROP CONSTRAINT nonce_spread_pkey").unwrap();
    let subject = fresh_subject("nonces");
    c.query_one("SELECT pseudo_encrypt($1, 'first key')", &[&subject]).unwrap();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let subject = subject.clone();
            thread::spawn(move || {
                let mut s = connect();
                let pid = backend_pid(&mut s);
                s.execute(
                    "INSERT INTO nonce_spread SELECT $2, pseudo_encrypt($1, 'same plaintext') FROM generate_series(1, 10000)",
                    &[&subject, &w],
                )
                .unwrap();
                pid
            })
        })
        .collect();
    let pids: std::collections::HashSet<i32> = workers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(pids.len(), 4, "four backends");
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT substr(pseudo_text_send(v), 18, 13)), count(DISTINCT pseudo_key_id(v))
               FROM nonce_spread",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 40_000);
    assert_eq!(row.get::<_, i64>(2), 1, "one subject key");
    assert_eq!(row.get::<_, i64>(1), 40_000, "every nonce distinct");
    c.batch_execute("DROP TABLE nonce_spread").unwrap();
}

/// Rows of `table` that decrypt, counted by a plan of `workers` parallel
/// workers and no leader participation (0: the session's own backend), and
/// the number of workers PostgreSQL launched for it.
fn decrypted_rows(c: &mut Client, table: &str, workers: i32) -> (i64, i64) {
    c.batch_execute(&format!(
        "SET max_parallel_workers_per_gather = {workers}; SET parallel_leader_participation = {};
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0",
        if workers == 0 { "on" } else { "off" }
    ))
    .unwrap();
    let query = format!("SELECT count(pseudo_decrypt(v)) FROM {table}");
    let rows: i64 = c.query_one(&query, &[]).unwrap().get(0);
    let plan: Vec<String> =
        c.query(&format!("EXPLAIN (ANALYZE) {query}"), &[]).unwrap().iter().map(|r| r.get(0)).collect();
    let launched = plan
        .iter()
        .find_map(|line| line.split("Workers Launched:").nth(1))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0);
    c.batch_execute("RESET ALL").unwrap();
    (rows, launched)
}

#[test]
fn shred_is_seen_by_parallel_workers_and_by_the_leaders_cached_keys() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "sess_parallel");
    // 300 subjects with 10 rows each: each worker misses more than the 64
    // keys after which it loads the key table in one scan.
    let prefix = fresh_subject("sess-par");
    a.execute(
        "INSERT INTO sess_parallel SELECT i, pseudo_encrypt($1 || '-' || (i % 300), 'value ' || i) FROM generate_series(1, 3000) i",
        &[&prefix],
    )
    .unwrap();
    a.batch_execute("ANALYZE sess_parallel").unwrap();
    assert_eq!(decrypted_rows(&mut a, "sess_parallel", 0), (3000, 0), "A's own backend, keys now cached");
    let (rows, launched) = decrypted_rows(&mut a, "sess_parallel", 2);
    assert_eq!(rows, 3000);
    assert!(launched >= 1, "the plan ran in parallel workers");
    // B shreds one subject; A's leader still has its key cached.
    let destroyed: i32 = b.query_one("SELECT pseudo_shred($1 || '-7')", &[&prefix]).unwrap().get(0);
    assert_eq!(destroyed, 1);
    assert_eq!(decrypted_rows(&mut a, "sess_parallel", 0).0, 2990, "the leader's cached key is gone");
    let (rows, launched) = decrypted_rows(&mut a, "sess_parallel", 2);
    assert!(launched >= 1, "the plan ran in parallel workers");
    assert_eq!(rows, 2990, "no worker decrypts the shredded subject's rows");
}

/// A search index of its own for a test, and the number of terms naming the
/// key of value `id` of `table`.
fn search_index(c: &mut Client) -> String {
    let name = fresh_subject("sx");
    c.execute("SELECT pseudo_create_search_index($1)", &[&name]).unwrap();
    name
}

fn terms_of_key_of(c: &mut Client, table: &str, id: i32) -> i64 {
    c.query_one(
        &format!(
            "SELECT count(*) FROM pseudo_keys.search_term t, {table} x WHERE x.id = $1 AND t.key_id = pseudo_key_id(x.v)"
        ),
        &[&id],
    )
    .unwrap()
    .get(0)
}

#[test]
fn shred_committed_while_a_term_is_pending_leaves_no_term() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "sess_term_pending");
    let index = search_index(&mut a);
    let dora = fresh_subject("sess-dora");
    let write = "INSERT INTO sess_term_pending VALUES ($1, pseudo_encrypt_searchable($2, $3, $4))";
    a.execute(write, &[&1i32, &index, &dora, &"first"]).unwrap();
    assert_eq!(terms_of_key_of(&mut a, "sess_term_pending", 1), 1, "setup: the first value's term");
    // A writes a second value under the cached key: its term waits for A's commit.
    let mut tx = a.transaction().unwrap();
    tx.execute(write, &[&2i32, &index, &dora, &"second"]).unwrap();
    // B shreds meanwhile (nothing of A's holds the key) and commits.
    let destroyed: i32 = b.query_one("SELECT pseudo_shred($1)", &[&dora]).unwrap().get(0);
    assert_eq!(destroyed, 1);
    // A commits: the term of a key gone by then is not written.
    tx.commit().unwrap();
    assert_eq!(terms_of_key_of(&mut a, "sess_term_pending", 2), 0, "a term outlived its shredded key");
    let found: i64 = a.query_one("SELECT cardinality(pseudo_search($1, 'second'))::int8", &[&index]).unwrap().get(0);
    assert_eq!(found, 0);
}

#[test]
fn shred_waits_for_a_written_term_and_deletes_it() {
    let mut a = connect();
    setup(&mut a, "sess_term_written");
    let index = search_index(&mut a);
    let emil = fresh_subject("sess-emil");
    let write = "INSERT INTO sess_term_written VALUES ($1, pseudo_encrypt_searchable($2, $3, $4))";
    a.execute(write, &[&1i32, &index, &emil, &"first"]).unwrap();
    let mut tx = a.transaction().unwrap();
    tx.execute(write, &[&2i32, &index, &emil, &"second"]).unwrap();
    // A search in A's transaction writes its pending term: its foreign key
    // now holds the subject key's row.
    let own: i64 = tx.query_one("SELECT cardinality(pseudo_search($1, 'second'))::int8", &[&index]).unwrap().get(0);
    assert_eq!(own, 1, "a transaction's search sees its own term");
    let mut b = connect();
    let b_pid = backend_pid(&mut b);
    let subject = emil.clone();
    let shredder = thread::spawn(move || b.query_one("SELECT pseudo_shred($1)", &[&subject]).unwrap().get::<_, i32>(0));
    wait_until_blocked(&mut connect(), b_pid, LOCK_WAIT_TIMEOUT);
    tx.commit().unwrap();
    assert_eq!(shredder.join().unwrap(), 1);
    assert_eq!(terms_of_key_of(&mut a, "sess_term_written", 2), 0, "the shred left the term written before it");
}

#[test]
fn repeatable_read_writer_fails_rather_than_keep_a_shredded_keys_term() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "sess_term_rr");
    let index = search_index(&mut a);
    let fritz = fresh_subject("sess-fritz");
    let write = "INSERT INTO sess_term_rr VALUES ($1, pseudo_encrypt_searchable($2, $3, $4))";
    a.execute(write, &[&1i32, &index, &fritz, &"first"]).unwrap();
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
    a.execute(write, &[&2i32, &index, &fritz, &"second"]).unwrap();
    let destroyed: i32 = b.query_one("SELECT pseudo_shred($1)", &[&fritz]).unwrap().get(0);
    assert_eq!(destroyed, 1);
    // A's snapshot still sees the key; the foreign key check does not.
    let err = a.batch_execute("COMMIT").unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("40001"), "{err}");
    assert_eq!(terms_of_key_of(&mut a, "sess_term_rr", 1), 0);
    let rows: i64 = a.query_one("SELECT count(*) FROM sess_term_rr", &[]).unwrap().get(0);
    assert_eq!(rows, 1, "the failed transaction wrote nothing");
}
