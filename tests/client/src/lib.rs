//! Helpers for the integration tests in `tests/`: connecting to the server
//! `scripts/test.sh` started (PSEUDO_EXT_TEST_HOST / PSEUDO_EXT_TEST_PORT).

use postgres::{Client, NoTls};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn connect() -> Client {
    connect_to(&std::env::var("PSEUDO_EXT_TEST_DB").unwrap_or_else(|_| "postgres".into()))
}

/// A session on database `db` of the test server.
pub fn connect_to(db: &str) -> Client {
    let host = std::env::var("PSEUDO_EXT_TEST_HOST").expect("PSEUDO_EXT_TEST_HOST (run through scripts/test.sh)");
    let port = std::env::var("PSEUDO_EXT_TEST_PORT").expect("PSEUDO_EXT_TEST_PORT");
    Client::connect(&format!("host={host} port={port} user=postgres dbname={db}"), NoTls).expect("connect")
}

/// Creates the extension if needed and a fresh `(id int, v pseudo_text)` table.
pub fn setup(c: &mut Client, table: &str) {
    c.batch_execute(&format!(
        "CREATE EXTENSION IF NOT EXISTS pseudo_ext;
         DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id int PRIMARY KEY, v pseudo_text)"
    ))
    .unwrap();
}

/// A subject no earlier run used, for a test that needs the subject's first
/// key or shreds it: on a reused cluster a fixed name would find the key of
/// the last run, and a race over creating it would not happen at all.
pub fn fresh_subject(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// The backend pid of a connection, to watch it from another one with
/// [`wait_until_blocked`] once the connection has moved into a thread.
pub fn backend_pid(c: &mut Client) -> i32 {
    c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
}

/// How long a race test waits for its competitor to reach the contended lock.
pub const LOCK_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `pg_stat_activity` until backend `pid` waits on a heavyweight lock
/// (`wait_event_type = 'Lock'`) and returns its `wait_event`; panics after
/// `timeout`. A race test calls it before releasing its own lock, so it knows
/// the competitor really contended instead of arriving after the release.
/// `observer` must be a connection of its own, outside any transaction:
/// pg_stat_activity is read once per transaction.
pub fn wait_until_blocked(observer: &mut Client, pid: i32, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let row = observer
            .query_opt("SELECT wait_event_type, wait_event, state, query FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .unwrap();
        if let Some(row) = &row {
            if row.get::<_, Option<String>>(0).as_deref() == Some("Lock") {
                return row.get::<_, Option<String>>(1).unwrap_or_default();
            }
        }
        let seen = row.map(|r| {
            format!(
                "wait_event_type {:?}, wait_event {:?}, state {:?}, query {:?}",
                r.get::<_, Option<String>>(0),
                r.get::<_, Option<String>>(1),
                r.get::<_, Option<String>>(2),
                r.get::<_, Option<String>>(3)
            )
        });
        assert!(
            start.elapsed() < timeout,
            "backend {pid} did not wait on a lock within {timeout:?}; last seen: {}",
            seen.as_deref().unwrap_or("not in pg_stat_activity")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
