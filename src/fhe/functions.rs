//! SQL-callable functions of the FHE key/value store: one-line wrappers over
//! [`crate::fhe::store`]. Grants (role `pseudo_fhe_user`) are in `sql/`.

use crate::error::OrRaise;
use crate::fhe::store;
use pgrx::prelude::*;

#[pg_extern(sql = false)]
fn pseudo_fhe_create_store(name: &str, server_key: &[u8], capacity: i32, key_bits: i32, value_bits: i32) {
    store::create(name, server_key, capacity, key_bits, value_bits).or_raise()
}

#[pg_extern(sql = false)]
fn pseudo_fhe_get(name: &str, query: &[u8]) -> Vec<u8> {
    store::get(name, query).or_raise()
}

#[pg_extern(sql = false)]
fn pseudo_fhe_set(name: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
    store::set(name, key, value).or_raise()
}

#[pg_extern(sql = false)]
fn pseudo_fhe_drop_store(name: &str) {
    store::drop(name).or_raise()
}
