//! The FHE key/value store through a real client: private SET and GET end to
//! end, every documented error with its SQLSTATE, ownership, concurrent SETs
//! that must not lose an update, the worker threads' signal masks (read from
//! /proc: the tests run on the server's machine), and cancel /
//! statement_timeout stopping a GET between batches without harming the
//! backend.
//!
//! One test function: the client and server keys take seconds to make, and
//! the steps share them.

use postgres::Client;
use pseudo_ext_client_tests::connect;
use pseudo_fhe::client::ClientKeys;
use std::time::{Duration, Instant};

/// Linux signal numbers (x86-64), to read /proc masks.
mod libc_sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGALRM: i32 = 14;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
}

fn sqlstate(r: Result<impl Sized, postgres::Error>) -> String {
    match r {
        Ok(_) => "no error".into(),
        Err(e) => e.code().map_or_else(|| format!("no SQLSTATE: {e}"), |c| c.code().to_string()),
    }
}

fn set(c: &mut Client, keys: &ClientKeys, store: &str, bits: usize, k: u64, v: u64) -> Result<bool, postgres::Error> {
    let (k, v) = (keys.encrypt_set_key(bits, k).unwrap(), keys.encrypt_set_value(bits, v).unwrap());
    let answer: Vec<u8> = c.query_one("SELECT pseudo_fhe_set($1, $2, $3)", &[&store, &k, &v])?.get(0);
    Ok(keys.decrypt_set(&answer).unwrap())
}

fn get(c: &mut Client, keys: &ClientKeys, store: &str, bits: usize, k: u64) -> Result<Option<u64>, postgres::Error> {
    let q = keys.encrypt(bits, k).unwrap();
    let answer: Vec<u8> = c.query_one("SELECT pseudo_fhe_get($1, $2)", &[&store, &q])?.get(0);
    Ok(keys.decrypt_get(&answer).unwrap())
}

/// The blocked-signal mask of each thread of a process, main thread first.
fn thread_masks(pid: i32) -> Vec<(i32, u64)> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    tids.sort_by_key(|&t| (t != pid, t));
    tids.into_iter()
        .map(|tid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
            let blk = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).unwrap().trim();
            (tid, u64::from_str_radix(blk, 16).unwrap())
        })
        .collect()
}

fn signal_bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

fn as_role(role: &str) -> Client {
    let mut c = connect();
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    c
}

#[test]
fn private_store_end_to_end() {
    let mut admin = connect();
    admin
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pseudo_ext;
             DROP ROLE IF EXISTS fhe_alice; DROP ROLE IF EXISTS fhe_bob; DROP ROLE IF EXISTS fhe_nobody;
             CREATE ROLE fhe_alice IN ROLE pseudo_fhe_user; CREATE ROLE fhe_bob IN ROLE pseudo_fhe_user;
             CREATE ROLE fhe_nobody;",
        )
        .unwrap();
    let keys = ClientKeys::generate().unwrap();
    let other = ClientKeys::generate().unwrap();
    let server_key = keys.server_key_blob();
    let mut alice = as_role("fhe_alice");
    let create = |c: &mut Client, name: &str, key: &[u8], cap: i32, kb: i32, vb: i32| {
        c.execute("SELECT pseudo_fhe_create_store($1, $2, $3, $4, $5)", &[&name, &key, &cap, &kb, &vb])
    };

    // End to end: insert, hit, miss, overwrite, full.
    create(&mut alice, "t4", &server_key, 4, 8, 8).unwrap();
    assert_eq!(get(&mut alice, &keys, "t4", 8, 1).unwrap(), None, "empty store");
    assert!(set(&mut alice, &keys, "t4", 8, 1, 10).unwrap());
    assert!(set(&mut alice, &keys, "t4", 8, 2, 20).unwrap());
    assert_eq!(get(&mut alice, &keys, "t4", 8, 1).unwrap(), Some(10));
    assert_eq!(get(&mut alice, &keys, "t4", 8, 2).unwrap(), Some(20));
    assert_eq!(get(&mut alice, &keys, "t4", 8, 3).unwrap(), None);
    assert!(set(&mut alice, &keys, "t4", 8, 1, 11).unwrap(), "overwrite");
    assert_eq!(get(&mut alice, &keys, "t4", 8, 1).unwrap(), Some(11));
    // Threads: the backend now has its worker pool; every worker blocks every
    // signal PostgreSQL uses, the main thread blocks none of them, and the
    // postmaster has no threads at all.
    let pid: i32 = alice.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let masks = thread_masks(pid);
    println!("backend {pid}: {} threads, SigBlk {:x?}", masks.len(), masks.iter().map(|m| m.1).collect::<Vec<_>>());
    assert!(masks.len() >= 2, "a backend that ran a GET has worker threads");
    let pg_signals = [
        libc_sig::SIGHUP,
        libc_sig::SIGINT,
        libc_sig::SIGQUIT,
        libc_sig::SIGUSR1,
        libc_sig::SIGUSR2,
        libc_sig::SIGPIPE,
        libc_sig::SIGALRM,
        libc_sig::SIGTERM,
        libc_sig::SIGCHLD,
    ];
    for &(tid, mask) in &masks[1..] {
        for sig in pg_signals {
            assert_ne!(mask & signal_bit(sig), 0, "worker thread {tid} must block signal {sig}");
        }
    }
    for sig in [libc_sig::SIGINT, libc_sig::SIGALRM, libc_sig::SIGTERM] {
        assert_eq!(masks[0].1 & signal_bit(sig), 0, "the backend's main thread must not block signal {sig}");
    }
    let postmaster: i32 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(thread_masks(postmaster).len(), 1, "the postmaster stays single-threaded");

    let row = alice
        .query_one("SELECT sets, capacity, key_bits, owner::text FROM pseudo_fhe.stores WHERE name = 't4'", &[])
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
    assert_eq!(row.get::<_, String>(3), "fhe_alice");

    // Errors, each with its documented SQLSTATE, none of which changes the store.
    let q8 = keys.encrypt(8, 1).unwrap();
    let q16 = keys.encrypt(16, 1).unwrap();
    let foreign = other.encrypt(8, 1).unwrap();
    let getq = |c: &mut Client, store: &str, q: &[u8]| c.query_one("SELECT pseudo_fhe_get($1, $2)", &[&store, &q]);
    assert_eq!(sqlstate(getq(&mut alice, "nope", &q8)), "42704", "unknown store");
    assert_eq!(sqlstate(create(&mut alice, "t4", &server_key, 4, 8, 8)), "42710", "duplicate store");
    assert_eq!(sqlstate(getq(&mut alice, "t4", &q16)), "22026", "wrong key width");
    assert_eq!(sqlstate(getq(&mut alice, "t4", &foreign)), "22023", "another client key");
    assert_eq!(sqlstate(getq(&mut alice, "t4", b"not a ciphertext")), "22P03", "garbage");
    assert_eq!(sqlstate(getq(&mut alice, "t4", &q8[..q8.len() - 1])), "22P03", "truncated");
    let setq = |c: &mut Client, k: &[u8], v: &[u8]| c.query_one("SELECT pseudo_fhe_set('t4', $1, $2)", &[&k, &v]);
    let (k8, v8, v16) = (
        keys.encrypt_set_key(8, 1).unwrap(),
        keys.encrypt_set_value(8, 1).unwrap(),
        keys.encrypt_set_value(16, 1).unwrap(),
    );
    assert_eq!(sqlstate(setq(&mut alice, &k8, &v16)), "22026", "wrong value width");
    assert_eq!(sqlstate(setq(&mut alice, &q8, &v8)), "22023", "a GET query is not a key to SET");
    assert_eq!(sqlstate(setq(&mut alice, &v8, &k8)), "22023", "key and value swapped");
    assert_eq!(sqlstate(setq(&mut alice, &k8[..k8.len() - 1], &v8)), "22P03", "truncated key to SET");
    let foreign_key = other.encrypt_set_key(8, 1).unwrap();
    assert_eq!(sqlstate(setq(&mut alice, &foreign_key, &v8)), "22023", "a key to SET from another client key");
    assert_eq!(sqlstate(create(&mut alice, "bad", b"garbage", 4, 8, 8)), "22P03", "garbage server key");
    assert_eq!(sqlstate(create(&mut alice, "bad", &q8, 4, 8, 8)), "22023", "a ciphertext is not a server key");
    assert_eq!(sqlstate(create(&mut alice, "bad", &server_key, 0, 8, 8)), "22023", "capacity 0");
    assert_eq!(sqlstate(create(&mut alice, "bad", &server_key, 4, 7, 8)), "22023", "odd key width");
    assert_eq!(sqlstate(create(&mut alice, "bad", &server_key, 4, 8, 66)), "22023", "value width over 64");
    assert_eq!(get(&mut alice, &keys, "t4", 8, 1).unwrap(), Some(11), "errors changed nothing");

    // Ownership: another pseudo_fhe_user may not use alice's store; a role
    // without pseudo_fhe_user may not call the functions at all.
    let mut bob = as_role("fhe_bob");
    // Another role's store answers like a missing one (the name does not leak).
    assert_eq!(sqlstate(getq(&mut bob, "t4", &q8)), "42704", "bob is not the owner");
    assert_eq!(sqlstate(getq(&mut bob, "no-such-store", &q8)), "42704", "the same as a store that does not exist");
    let message = |r: Result<Vec<postgres::Row>, postgres::Error>| {
        r.unwrap_err().as_db_error().unwrap().message().replace("no-such-store", "t4")
    };
    assert_eq!(
        message(bob.query("SELECT pseudo_fhe_get('t4', $1)", &[&q8])),
        message(bob.query("SELECT pseudo_fhe_get('no-such-store', $1)", &[&q8])),
        "the same message"
    );
    assert_eq!(sqlstate(bob.execute("SELECT pseudo_fhe_drop_store('t4')", &[])), "42704");
    assert_eq!(bob.query_one("SELECT count(*) FROM pseudo_fhe.stores", &[]).unwrap().get::<_, i64>(0), 0);
    assert_eq!(sqlstate(bob.query("SELECT * FROM pseudo_fhe.slot", &[])), "42501", "slots are owner-only");
    let mut nobody = as_role("fhe_nobody");
    assert_eq!(sqlstate(getq(&mut nobody, "t4", &q8)), "42501", "not pseudo_fhe_user");

    // Ownership follows the role, not its name: PostgreSQL's rules for owned
    // objects, through the store's owner token. DROP ROLE is refused while
    // the role owns a store, REASSIGN OWNED hands it over, DROP OWNED removes
    // it, and a new role of an old name gets nothing.
    for role in ["fhe_carol", "fhe_dave"] {
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                     DROP OWNED BY {role}; DROP ROLE {role}; END IF; END $$;
                 CREATE ROLE {role} IN ROLE pseudo_fhe_user;"
            ))
            .unwrap();
    }
    let mut carol = as_role("fhe_carol");
    create(&mut carol, "owned", &server_key, 1, 2, 2).unwrap();
    assert!(set(&mut carol, &keys, "owned", 2, 1, 3).unwrap());
    assert_eq!(
        sqlstate(admin.batch_execute("DROP ROLE fhe_carol")),
        "2BP01",
        "DROP ROLE refused while it owns a store"
    );
    admin.batch_execute("REASSIGN OWNED BY fhe_carol TO fhe_dave").unwrap();
    let mut dave = as_role("fhe_dave");
    assert_eq!(get(&mut dave, &keys, "owned", 2, 1).unwrap(), Some(3), "REASSIGN OWNED hands the store over");
    assert_eq!(sqlstate(get(&mut carol, &keys, "owned", 2, 1)), "42704", "and the old owner loses it");
    assert_eq!(
        dave.query_one("SELECT owner::text FROM pseudo_fhe.stores WHERE name = 'owned'", &[])
            .unwrap()
            .get::<_, String>(0),
        "fhe_dave"
    );
    drop((carol, dave));
    admin.batch_execute("DROP OWNED BY fhe_dave; DROP ROLE fhe_carol; DROP ROLE fhe_dave").unwrap();
    admin.batch_execute("CREATE ROLE fhe_dave IN ROLE pseudo_fhe_user").unwrap();
    let mut dave = as_role("fhe_dave");
    assert_eq!(
        sqlstate(get(&mut dave, &keys, "owned", 2, 1)),
        "42704",
        "a new role of the old name does not own the store"
    );
    assert_eq!(dave.query_one("SELECT count(*) FROM pseudo_fhe.stores", &[]).unwrap().get::<_, i64>(0), 0);
    create(&mut dave, "owned", &server_key, 1, 2, 2).unwrap();
    assert_eq!(get(&mut dave, &keys, "owned", 2, 1).unwrap(), None, "the name is free again: a new, empty store");
    assert_eq!(
        admin.query_one("SELECT count(*) FROM pseudo_fhe.store WHERE name = 'owned'", &[]).unwrap().get::<_, i64>(0),
        1,
        "the dropped store's rows are gone"
    );
    dave.execute("SELECT pseudo_fhe_drop_store('owned')", &[]).unwrap();
    assert_eq!(
        admin
            .query_one("SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner = 'fhe_dave'::regrole", &[])
            .unwrap()
            .get::<_, i64>(0),
        0,
        "dropping a store drops its owner token"
    );
    drop(dave);
    admin.batch_execute("DROP ROLE fhe_dave").unwrap();

    // Two SETs at once on one store: serialized, both land, keys stay unique.
    create(&mut alice, "race", &server_key, 4, 8, 8).unwrap();
    let threads: Vec<_> = [(5u64, 50u64), (6, 60)]
        .into_iter()
        .map(|(k, v)| {
            let (kc, vc) = (keys.encrypt_set_key(8, k).unwrap(), keys.encrypt_set_value(8, v).unwrap());
            std::thread::spawn(move || {
                let mut c = as_role("fhe_alice");
                c.query_one("SELECT pseudo_fhe_set('race', $1, $2)", &[&kc, &vc]).map(|r| r.get::<_, Vec<u8>>(0))
            })
        })
        .collect();
    for t in threads {
        assert!(keys.decrypt_set(&t.join().unwrap().unwrap()).unwrap());
    }
    assert_eq!(get(&mut alice, &keys, "race", 8, 5).unwrap(), Some(50), "first concurrent SET kept");
    assert_eq!(get(&mut alice, &keys, "race", 8, 6).unwrap(), Some(60), "second concurrent SET kept");
    assert!(set(&mut alice, &keys, "race", 8, 5, 51).unwrap());
    assert!(set(&mut alice, &keys, "race", 8, 7, 70).unwrap());
    assert!(set(&mut alice, &keys, "race", 8, 8, 80).unwrap());
    assert!(!set(&mut alice, &keys, "race", 8, 9, 90).unwrap(), "full: only the encrypted answer says so");
    assert_eq!(get(&mut alice, &keys, "race", 8, 5).unwrap(), Some(51), "overwrite, not a second slot");
    assert_eq!(get(&mut alice, &keys, "race", 8, 9).unwrap(), None);

    // statement_timeout and cancel stop a GET on the largest store the default
    // limit allows (pseudo_ext.fhe_max_store_bits, 16-bit keys and values)
    // within a second, including its first GET's server key decompression;
    // the backend and its worker threads keep working afterwards.
    let max_bits: i32 =
        alice.query_one("SELECT current_setting('pseudo_ext.fhe_max_store_bits')::int", &[]).unwrap().get(0);
    let capacity = max_bits / 32;
    create(&mut alice, "big", &server_key, capacity, 16, 16).unwrap();
    let q_big = keys.encrypt(16, 1).unwrap(); // the client's work is not the server's to interrupt
    alice.batch_execute("SET statement_timeout = '500ms'").unwrap();
    let t = Instant::now();
    assert_eq!(sqlstate(getq(&mut alice, "big", &q_big)), "57014", "statement_timeout");
    let stopped = t.elapsed().as_secs_f64();
    println!("GET over {capacity} slots of 16 bits: with statement_timeout 500ms it stopped after {stopped:.2} s");
    assert!(stopped < 1.5, "stopped within a second of the timeout ({stopped:.2} s)");
    alice.batch_execute("RESET statement_timeout").unwrap();

    let pid: i32 = alice.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        connect().query_one("SELECT pg_cancel_backend($1)", &[&pid]).unwrap().get::<_, bool>(0)
    });
    let t = Instant::now();
    assert_eq!(sqlstate(getq(&mut alice, "big", &q_big)), "57014", "pg_cancel_backend");
    let stopped = t.elapsed().as_secs_f64();
    assert!(canceller.join().unwrap());
    println!("cancelled after {stopped:.2} s (cancel sent at 0.7 s)");
    assert!(stopped < 1.7, "cancel stops the GET within a second ({stopped:.2} s)");
    assert_eq!(get(&mut alice, &keys, "t4", 8, 2).unwrap(), Some(20), "same backend works after the interrupts");

    // Dropping removes the store and its slots.
    for store in ["t4", "race", "big"] {
        alice.execute("SELECT pseudo_fhe_drop_store($1)", &[&store]).unwrap();
    }
    assert_eq!(admin.query_one("SELECT count(*) FROM pseudo_fhe.slot", &[]).unwrap().get::<_, i64>(0), 0);
    assert_eq!(sqlstate(getq(&mut alice, "t4", &q8)), "42704");
}
