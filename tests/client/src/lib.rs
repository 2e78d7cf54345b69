//! Helpers for the integration tests in `tests/`: connecting to the server
//! `scripts/test.sh` started (PSEUDO_EXT_TEST_HOST / PSEUDO_EXT_TEST_PORT).

use postgres::{Client, NoTls};

pub fn connect() -> Client {
    let host = std::env::var("PSEUDO_EXT_TEST_HOST").expect("PSEUDO_EXT_TEST_HOST (run through scripts/test.sh)");
    let port = std::env::var("PSEUDO_EXT_TEST_PORT").expect("PSEUDO_EXT_TEST_PORT");
    let db = std::env::var("PSEUDO_EXT_TEST_DB").unwrap_or_else(|_| "postgres".into());
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
