//! pseudo_text through a real client (`postgres`, the blocking face of
//! tokio-postgres) over every path a driver uses: the text protocol (simple
//! query), the extended protocol with text and binary parameters and results,
//! and COPY in text and BINARY format both ways. Every path must carry the
//! envelope byte for byte, so the values still decrypt.

use bytes::{BufMut, BytesMut};
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::SimpleQueryMessage;
use pseudo_ext_client_tests::{connect, setup};
use std::error::Error;
use std::io::{Read, Write};

/// A pseudo_text in its binary form (the envelope bytes), as an application
/// type: `pseudo_text_send` produces it, `pseudo_text_recv` takes it.
#[derive(Debug, Clone, PartialEq)]
struct PseudoText(Vec<u8>);

impl ToSql for PseudoText {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "pseudo_text"
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PseudoText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(PseudoText(raw.to_vec()))
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "pseudo_text"
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn pseudo_text_over_text_binary_and_copy() {
    let mut c = connect();
    setup(&mut c, "protocols");
    c.batch_execute("INSERT INTO protocols SELECT i, pseudo_encrypt('proto-' || i, 'protocol value ' || i) FROM generate_series(1, 3) i")
        .unwrap();

    // Binary results: the envelope bytes, identical to pseudo_text_send.
    let row = c.query_one("SELECT v, pseudo_text_send(v) FROM protocols WHERE id = 1", &[]).unwrap();
    let (bin, sent): (PseudoText, Vec<u8>) = (row.get(0), row.get(1));
    assert_eq!(bin.0, sent, "binary result = pseudo_text_send");
    assert_eq!(bin.0[0], 1, "envelope version byte");

    // Text results (simple query protocol): the hex of the same bytes.
    let text = c
        .simple_query("SELECT v FROM protocols WHERE id = 1")
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap();
    assert_eq!(text, hex(&bin.0), "text result = hex of the envelope");

    // Binary parameter in, typed as pseudo_text: stored byte for byte, decrypts.
    c.execute("INSERT INTO protocols VALUES (10, $1)", &[&bin]).unwrap();
    let (same, plain): (bool, String) = {
        let r = c
            .query_one(
                "SELECT v = (SELECT v FROM protocols WHERE id = 1), pseudo_decrypt(v) FROM protocols WHERE id = 10",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(same, "binary parameter stored byte for byte");
    assert_eq!(plain, "protocol value 1");

    // Text parameter in (hex, cast by the server).
    c.execute("INSERT INTO protocols VALUES (11, $1::text::pseudo_text)", &[&text]).unwrap();
    let plain: String = c.query_one("SELECT pseudo_decrypt(v) FROM protocols WHERE id = 11", &[]).unwrap().get(0);
    assert_eq!(plain, "protocol value 1", "text parameter");

    // COPY TO / FROM in text format.
    let mut out = String::new();
    c.copy_out("COPY (SELECT id, v FROM protocols WHERE id <= 3 ORDER BY id) TO STDOUT")
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out.lines().count(), 3);
    let shifted: String = out
        .lines()
        .map(|l| {
            let (id, v) = l.split_once('\t').unwrap();
            format!("{}\t{v}\n", id.parse::<i32>().unwrap() + 20)
        })
        .collect();
    let mut w = c.copy_in("COPY protocols (id, v) FROM STDIN").unwrap();
    w.write_all(shifted.as_bytes()).unwrap();
    w.finish().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM protocols WHERE id BETWEEN 21 AND 23 AND pseudo_decrypt(v) = 'protocol value ' || (id - 20)", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "COPY text round trip decrypts");

    // COPY TO / FROM in BINARY format.
    let mut binary = Vec::new();
    c.copy_out("COPY (SELECT id + 30, v FROM protocols WHERE id <= 3 ORDER BY id) TO STDOUT (FORMAT binary)")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    assert!(binary.starts_with(b"PGCOPY\n\xff\r\n\0"), "binary COPY signature");
    assert!(!binary.windows(14).any(|w| w == b"protocol value"), "no plaintext in the binary COPY");
    let mut w = c.copy_in("COPY protocols (id, v) FROM STDIN (FORMAT binary)").unwrap();
    w.write_all(&binary).unwrap();
    w.finish().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM protocols WHERE id BETWEEN 31 AND 33 AND pseudo_decrypt(v) = 'protocol value ' || (id - 30)", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "COPY BINARY round trip decrypts");
    let same: bool = c
        .query_one(
            "SELECT bool_and(a.v = b.v) FROM protocols a JOIN protocols b ON b.id = a.id + 30 WHERE a.id <= 3",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(same, "COPY BINARY carries the envelopes byte for byte");

    // A hand-built binary COPY row with a truncated envelope is refused (22P03).
    let mut bad = BytesMut::new();
    bad.put_slice(b"PGCOPY\n\xff\r\n\0");
    bad.put_i32(0);
    bad.put_i32(0);
    bad.put_i16(2);
    bad.put_i32(4);
    bad.put_i32(99);
    bad.put_i32(10);
    bad.put_slice(&bin.0[..10]);
    bad.put_i16(-1);
    let mut w = c.copy_in("COPY protocols (id, v) FROM STDIN (FORMAT binary)").unwrap();
    w.write_all(&bad).unwrap();
    let err = w.finish().unwrap_err();
    assert_eq!(err.code().map(|s| s.code().to_string()), Some("22P03".into()), "truncated envelope in COPY BINARY");
    c.batch_execute("DROP TABLE protocols").unwrap();
}
