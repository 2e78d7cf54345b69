//! Concurrency load driver and invariant checker for pseudo_ext.
//!
//!   load run   HOST PORT DB SECONDS CLIENTS SUBJECTS [crash]
//!   load check HOST PORT DB
//!
//! `run` starts CLIENTS sessions for SECONDS seconds, each looping over a
//! random mix of operations on SUBJECTS subjects: encrypt (the first one of a
//! subject creates its key), decrypt-and-compare, subject key rotation, and
//! rarely a shred. Every encrypted value is stored with its plaintext in
//! `load_data` (a test table; the plaintext column is the oracle). Every
//! rotation's new key id and every shred is recorded by the client in the same
//! transaction (`load_keys_seen`, `load_shreds`), so the records survive a
//! crash exactly when the key action does. It prints operations/s and errors
//! by SQLSTATE, and fails on a wrong decryption, an unexpected error, too many
//! expected ones, or too little work of any kind. With `crash` the server is
//! expected to be killed midway: then every client must see it go away (a
//! lost connection or 57P01, which ends the client), else none may.
//!
//! `check` verifies, after a run (or after a crash and restart):
//! * there are values of live subjects and shredded subjects, and the
//!   subjects shredded are exactly those the clients recorded shredding;
//! * every value of a subject that is not shredded decrypts to its plaintext
//!   (no committed key lost, none half-written);
//! * every value of a shredded subject reads NULL (so no encryption succeeded
//!   for a subject after its shred committed: its key would be live);
//! * each live subject's current key is the one the clients saw last: the key
//!   of its last recorded rotation, or else the one key all its values carry;
//!   and no other subject has keys;
//! * versions are dense from 1 (no duplicated or lost key version).

use postgres::{Client, NoTls};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn connect(host: &str, port: &str, db: &str) -> Result<Client, postgres::Error> {
    Client::connect(&format!("host={host} port={port} user=postgres dbname={db}"), NoTls)
}

/// xorshift64*: reproducible per thread, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Stats {
    ops: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    /// Decryptions that returned a value and compared it with the plaintext.
    compared: u64,
    /// Clients that stopped because the server went away.
    lost: u64,
    /// Subjects shredded by a committed `pseudo_shred`.
    shredded: BTreeSet<String>,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        for (k, v) in other.ops {
            *self.ops.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.compared += other.compared;
        self.lost += other.lost;
        self.shredded.extend(other.shredded);
    }
    fn ops_of(&self, op: &str) -> u64 {
        self.ops.get(op).copied().unwrap_or(0)
    }
    /// Errors whose key ("OP CODE") satisfies `pick`.
    fn errors_where(&self, pick: impl Fn(&str, &str) -> bool) -> u64 {
        self.errors
            .iter()
            .filter(|(k, _)| {
                let (op, code) = k.split_once(' ').unwrap_or((k.as_str(), ""));
                pick(op, code)
            })
            .map(|(_, n)| n)
            .sum()
    }
}

/// Least successful operations of each kind for a run to count. The crash
/// test's run until its kill (15 s) did 35,000-70,000 operations on 2 cores,
/// 45% encrypts, 45% decrypts, 10% rotations, 35-70 shreds (0.1%); a run
/// below these floors did not exercise the concurrency it is meant to.
const MIN_OPS: [(&str, u64); 4] = [("encrypt", 5000), ("decrypt", 5000), ("rotate", 500), ("shred", 5)];
const MIN_COMPARED: u64 = 2500;

fn setup(host: &str, port: &str, db: &str) {
    let mut c = connect(host, port, db).expect("connect");
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pseudo_ext;
         DROP TABLE IF EXISTS load_data, load_keys_seen, load_shreds;
         DROP SEQUENCE IF EXISTS load_seen_seq;
         CREATE TABLE load_data (id bigserial PRIMARY KEY, subject text NOT NULL, plaintext text NOT NULL, v pseudo_text NOT NULL);
         CREATE SEQUENCE load_seen_seq;
         CREATE TABLE load_keys_seen (subject text NOT NULL, key_id uuid NOT NULL, seq bigint NOT NULL);
         CREATE TABLE load_shreds (subject text NOT NULL)",
    )
    .expect("setup");
}

// pseudo_rotate runs first (the function scan) and holds the subject's row lock
// until commit; nextval comes after it, so for one subject seq order is the
// order of the rotations' commits, i.e. of their key versions.
const ROTATE: &str =
    "INSERT INTO load_keys_seen (subject, key_id, seq) SELECT $1, k, nextval('load_seen_seq') FROM pseudo_rotate($1) AS k";
const SHRED: &str = "INSERT INTO load_shreds (subject) SELECT $1 FROM pseudo_shred($1)";

fn run(host: &str, port: &str, db: &str, seconds: u64, clients: usize, subjects: u64, crash: bool) -> bool {
    setup(host, port, db);
    let stop = Arc::new(AtomicBool::new(false));
    let max_id = Arc::new(AtomicU64::new(0));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let wrong = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            let (host, port, db) = (host.to_string(), port.to_string(), db.to_string());
            let (stop, max_id, stats, wrong) = (stop.clone(), max_id.clone(), stats.clone(), wrong.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
                let mut local = Stats::default();
                let Ok(mut c) = connect(&host, &port, &db) else {
                    local.errors.insert("connect".into(), 1);
                    stats.lock().unwrap().add(local);
                    return;
                };
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let subject = format!("load-{}", rng.below(subjects));
                    let pick = rng.below(1000);
                    let (op, result): (&'static str, Result<(), postgres::Error>) = if pick < 450 {
                        seq += 1;
                        let plaintext = format!("value {n}-{seq} of {subject}");
                        let r = c
                            .query_one(
                                "INSERT INTO load_data (subject, plaintext, v) VALUES ($1, $2, pseudo_encrypt($1, $2)) RETURNING id",
                                &[&subject, &plaintext],
                            )
                            .map(|row| {
                                max_id.fetch_max(row.get::<_, i64>(0) as u64, Ordering::Relaxed);
                            });
                        ("encrypt", r)
                    } else if pick < 900 {
                        let id = 1 + rng.below(max_id.load(Ordering::Relaxed).max(1)) as i64;
                        let r = c
                            .query_opt("SELECT pseudo_decrypt(v), plaintext FROM load_data WHERE id = $1", &[&id])
                            .map(|row| {
                                // NULL: shredded, which check verifies afterwards.
                                let Some(row) = row else { return };
                                if let Some(decrypted) = row.get::<_, Option<String>>(0) {
                                    local.compared += 1;
                                    if decrypted != row.get::<_, String>(1) {
                                        wrong.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            });
                        ("decrypt", r)
                    } else if pick < 999 {
                        ("rotate", c.execute(ROTATE, &[&subject]).map(|_| ()))
                    } else {
                        let r = c.execute(SHRED, &[&subject]).map(|_| ());
                        if r.is_ok() {
                            local.shredded.insert(subject);
                        }
                        ("shred", r)
                    };
                    match result {
                        Ok(()) => *local.ops.entry(op).or_default() += 1,
                        Err(e) => {
                            let code = e.code().map(|c| c.code().to_string()).unwrap_or_else(|| "connection".into());
                            *local.errors.entry(format!("{op} {code}")).or_default() += 1;
                            // An error without SQLSTATE is the connection's (closed,
                            // reset); 57P01 is a backend that saw its postmaster die.
                            // Either way the server is gone (crash test): stop, so
                            // each client reports one such error at most.
                            if e.code().is_none() || code == "57P01" {
                                local.lost += 1;
                                break;
                            }
                        }
                    }
                }
                stats.lock().unwrap().add(local);
            })
        })
        .collect();
    while started.elapsed() < Duration::from_secs(seconds) && handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = stats.lock().unwrap();
    let total: u64 = s.ops.values().sum();
    let wrong = wrong.load(Ordering::Relaxed);
    println!(
        "load: {clients} clients, {subjects} subjects, {elapsed:.1} s: {total} operations ({:.0}/s) {:?}",
        total as f64 / elapsed,
        s.ops
    );
    println!("load: errors by operation and SQLSTATE: {:?}", s.errors);
    println!("load: decryptions compared with the plaintext: {}, wrong: {wrong}", s.compared);
    let mut failures = Vec::new();
    if wrong > 0 {
        failures.push(format!("{wrong} wrong decryptions"));
    }
    for (op, least) in MIN_OPS {
        if s.ops_of(op) < least {
            failures.push(format!("{} successful {op}s, want at least {least}", s.ops_of(op)));
        }
    }
    if s.compared < MIN_COMPARED {
        failures.push(format!("{} decryptions compared, want at least {MIN_COMPARED}", s.compared));
    }
    // 55000: encrypt or rotate of a subject shredded meanwhile, as designed.
    // Subjects are picked uniformly and the shredded share only grows, so the
    // share refused is below the share shredded at the end (about half of it).
    let writes = s.ops_of("encrypt") + s.ops_of("rotate") + s.errors_where(|op, _| op == "encrypt" || op == "rotate");
    let refused = s.errors_where(|_, code| code == "55000");
    let most_refused = writes * s.shredded.len() as u64 / subjects;
    if refused > most_refused {
        failures.push(format!(
            "{refused} encrypts and rotations refused as shredded (55000) of {writes}, want at most {most_refused} \
             ({} of {subjects} subjects shredded)",
            s.shredded.len()
        ));
    }
    // 40001: a serialization failure the client may retry; rare in READ COMMITTED.
    let attempts = total + s.errors.values().sum::<u64>();
    let serialization = s.errors_where(|_, code| code == "40001");
    if serialization * 1000 > attempts {
        failures.push(format!(
            "{serialization} serialization failures (40001) of {attempts} operations, want at most 0.1%"
        ));
    }
    // The server goes away only when it is killed (crash test), and then
    // under every client, after they all connected.
    let connect = s.errors_where(|op, _| op == "connect");
    if connect > 0 {
        failures.push(format!("{connect} clients could not connect"));
    }
    if !crash && s.lost > 0 {
        failures.push(format!("{} clients lost the server without a crash", s.lost));
    }
    if crash && s.lost != clients as u64 {
        failures.push(format!("{} of {clients} clients saw the server go away, want all", s.lost));
    }
    let unexpected: Vec<_> = s
        .errors
        .keys()
        .filter(|k| {
            !(k.ends_with(" 55000")
                || k.ends_with(" 40001")
                || k.ends_with(" 57P01")
                || k.ends_with(" connection")
                || k.as_str() == "connect")
        })
        .collect();
    if !unexpected.is_empty() {
        failures.push(format!("unexpected errors: {unexpected:?}"));
    }
    for f in &failures {
        println!("load: FAILED: {f}");
    }
    failures.is_empty()
}

fn check(host: &str, port: &str, db: &str) -> bool {
    let mut c = connect(host, port, db).expect("connect");
    let row = c
        .query_one(
            "WITH s AS (SELECT subject FROM load_data UNION SELECT subject FROM load_keys_seen UNION SELECT subject FROM load_shreds),
                  shredded AS (SELECT s.subject FROM s JOIN pseudo_keys.subject ps
                                 ON ps.subject_digest = pseudo_keys.subject_digest(s.subject)
                                WHERE ps.shredded_at IS NOT NULL)
             SELECT count(*) FILTER (WHERE d.subject NOT IN (SELECT subject FROM shredded)),
                    count(*) FILTER (WHERE d.subject NOT IN (SELECT subject FROM shredded)
                                       AND pseudo_decrypt(d.v) IS NOT DISTINCT FROM d.plaintext),
                    count(*) FILTER (WHERE d.subject IN (SELECT subject FROM shredded)),
                    count(*) FILTER (WHERE d.subject IN (SELECT subject FROM shredded) AND pseudo_decrypt(d.v) IS NULL),
                    (SELECT count(*) FROM shredded),
                    (SELECT count(DISTINCT subject) FROM load_shreds),
                    (SELECT count(*) FROM shredded WHERE subject IN (SELECT subject FROM load_shreds)),
                    (SELECT count(*) FROM pseudo_keys.subject WHERE shredded_at IS NOT NULL)
             FROM load_data d",
            &[],
        )
        .expect("check values");
    let [live, live_ok, shredded, shredded_null, shredded_subjects, recorded, recorded_shredded, all_shredded]: [i64;
        8] = std::array::from_fn(|i| row.get(i));
    // The current key by the clients' records, not by the key table: the last
    // rotation recorded (seq order is commit order per subject), or else the
    // one key that every value of a never rotated subject carries.
    let current = c
        .query_one(
            "WITH shredded AS (SELECT DISTINCT subject FROM load_shreds),
                  last_rotation AS (SELECT DISTINCT ON (subject) subject, key_id FROM load_keys_seen ORDER BY subject, seq DESC),
                  never_rotated AS (SELECT subject, (array_agg(DISTINCT pseudo_key_id(v)))[1] AS key_id,
                                           count(DISTINCT pseudo_key_id(v)) AS keys
                                    FROM load_data WHERE subject NOT IN (SELECT subject FROM load_keys_seen) GROUP BY subject),
                  expected AS (SELECT pseudo_keys.subject_digest(subject) AS digest, key_id
                               FROM (SELECT subject, key_id FROM last_rotation
                                     UNION ALL SELECT subject, key_id FROM never_rotated WHERE keys = 1) e
                               WHERE subject NOT IN (SELECT subject FROM shredded)),
                  current AS (SELECT subject_digest AS digest, key_id FROM pseudo_keys.subject_keys WHERE is_current)
             SELECT (SELECT count(*) FROM never_rotated WHERE keys <> 1 AND subject NOT IN (SELECT subject FROM shredded)),
                    count(*) FILTER (WHERE e.digest IS NOT NULL),
                    count(*) FILTER (WHERE e.digest IS NOT NULL AND e.key_id IS DISTINCT FROM c.key_id),
                    count(*) FILTER (WHERE e.digest IS NULL)
             FROM expected e FULL JOIN current c ON c.digest = e.digest",
            &[],
        )
        .expect("check current keys");
    let [several_keys, expected, wrong_current, unexpected_keys]: [i64; 4] = std::array::from_fn(|i| current.get(i));
    // "Exactly one current key" holds by the view's definition (is_current is
    // version = max(version)); gaps are what a lost or duplicated version leaves.
    let gaps: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT subject_digest FROM pseudo_keys.subject_keys
                                   GROUP BY subject_digest HAVING max(version) <> count(*)) k",
            &[],
        )
        .expect("check versions")
        .get(0);
    println!("check: {live} values of live subjects, {live_ok} decrypt to what was written");
    println!("check: {shredded} values of {shredded_subjects} shredded subjects, {shredded_null} read NULL");
    println!("check: {all_shredded} subjects shredded; the clients recorded shredding {recorded}, {recorded_shredded} of them are");
    println!(
        "check: {expected} live subjects with keys: {wrong_current} whose current key is not the one the clients saw last, \
         {several_keys} never rotated with values under several keys; {unexpected_keys} other subjects with keys"
    );
    println!("check: subjects with missing key versions: {gaps}");
    let ok = live > 0
        && live == live_ok
        && shredded_subjects > 0
        && shredded == shredded_null
        && recorded_shredded == recorded
        && all_shredded == recorded
        && expected > 0
        && wrong_current == 0
        && several_keys == 0
        && unexpected_keys == 0
        && gaps == 0;
    if !ok {
        println!("check: FAILED");
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ok = match args.get(1).map(String::as_str) {
        Some("run") if args.len() == 8 || (args.len() == 9 && args[8] == "crash") => run(
            &args[2],
            &args[3],
            &args[4],
            args[5].parse().expect("seconds"),
            args[6].parse().expect("clients"),
            args[7].parse().expect("subjects"),
            args.len() == 9,
        ),
        Some("check") if args.len() == 5 => check(&args[2], &args[3], &args[4]),
        _ => {
            eprintln!("usage: load run HOST PORT DB SECONDS CLIENTS SUBJECTS [crash] | load check HOST PORT DB");
            std::process::exit(2);
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}
