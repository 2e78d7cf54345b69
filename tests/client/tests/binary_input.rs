//! Binary input (binary protocol parameters, i.e. `pseudo_text_recv`) with
//! truncated, oversized and wrong-version buffers, and invalid UTF-8 in binary
//! text parameters: each gets its documented SQLSTATE and the backend lives on.

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use pseudo_ext_client_tests::{connect, setup};
use std::error::Error;

/// Raw bytes sent as the binary form of whatever type the server asks for.
#[derive(Debug)]
struct Raw(Vec<u8>);

impl ToSql for Raw {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn sqlstate(r: Result<Vec<postgres::Row>, postgres::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}")),
    }
}

#[test]
fn binary_pseudo_text_input_is_checked_before_use() {
    let mut c = connect();
    setup(&mut c, "binary_input");
    let good: Vec<u8> =
        c.query_one("SELECT pseudo_text_send(pseudo_encrypt('bin-a', 'binary value'))", &[]).unwrap().get(0);
    let recv = |c: &mut postgres::Client, bytes: Vec<u8>| {
        sqlstate(c.query("SELECT pseudo_key_id($1::pseudo_text)", &[&Raw(bytes)]))
    };
    let decrypt = |c: &mut postgres::Client, bytes: Vec<u8>| {
        sqlstate(c.query("SELECT pseudo_decrypt($1::pseudo_text)", &[&Raw(bytes)]))
    };

    assert_eq!(decrypt(&mut c, good.clone()), "ok", "control");
    for len in 0..good.len() {
        let want = if len < 46 { "22P03" } else { "XX001" };
        assert_eq!(decrypt(&mut c, good[..len].to_vec()), want, "truncated to {len} bytes");
    }
    for len in 0..=60usize {
        let mut bytes = vec![0xabu8; len];
        if let Some(b) = bytes.first_mut() {
            *b = 1;
        }
        assert_eq!(recv(&mut c, bytes), if len < 46 { "22P03" } else { "ok" }, "{len} bytes, version 01");
    }
    let mut oversized = vec![0u8; 65_582];
    oversized[0] = 1;
    assert_eq!(recv(&mut c, oversized), "22P03", "over the 65,581-byte maximum");
    let mut max = vec![0u8; 65_581];
    max[0] = 1;
    assert_eq!(recv(&mut c, max), "ok", "exactly the maximum");
    for version in [0u8, 2, 0x7f, 0xff] {
        let mut bytes = good.clone();
        bytes[0] = version;
        assert_eq!(recv(&mut c, bytes), "22P03", "version {version}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(decrypt(&mut c, longer), "XX001", "one byte appended");

    // Invalid UTF-8 in binary text parameters is refused by PostgreSQL (22021)
    // before pseudo_ext sees it.
    let r = c.query("SELECT pseudo_encrypt($1::text, $2::text)", &[&"bin-a", &Raw(vec![b'a', 0xff, 0xfe])]);
    assert_eq!(sqlstate(r), "22021");
    let r = c.query("SELECT pseudo_encrypt($1::text, 'x', $2::text)", &[&"bin-a", &Raw(vec![0xc3])]);
    assert_eq!(sqlstate(r), "22021");

    let alive: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(alive, 1);
}
