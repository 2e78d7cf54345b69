//! NIST CAVP AES-128-CCM vectors (SP 800-38C, CAVS 11.0): every record with our
//! parameters (13-byte nonce, 16-byte tag) must encrypt to its CT and decrypt
//! back; every DVPT `Result = Fail` record must be refused.

use pseudo_core::subject_key::SubjectKey;
use std::collections::HashMap;

#[derive(Default, Clone)]
struct Record {
    params: HashMap<String, usize>,
    key: String,
    nonce: String,
    adata: String,
    payload: Option<String>,
    ct: Option<String>,
    pass: Option<bool>,
}

/// Parses a `.rsp` file. Parameters (`Alen`, `Plen`, `Nlen`, `Tlen`) come from
/// `[...]` section lines or file-level lines; `Key` and `Nonce` may stand once
/// for many records. A record ends where the next one, a new section or a new
/// key begins.
fn parse(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut state = Record::default();
    let mut pending: Option<Record> = None;
    let flush = |pending: &mut Option<Record>, state: &Record, out: &mut Vec<Record>| {
        if let Some(mut r) = pending.take() {
            r.params = state.params.clone();
            r.key = state.key.clone();
            r.nonce = state.nonce.clone();
            out.push(r);
        }
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut pending, &state, &mut out);
            for kv in inner.split(',') {
                let (k, v) = kv.split_once('=').unwrap();
                state.params.insert(k.trim().to_string(), v.trim().parse().unwrap());
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim().to_string());
        match k {
            "Alen" | "Plen" | "Nlen" | "Tlen" => {
                state.params.insert(k.to_string(), v.parse().unwrap());
            }
            "Key" => {
                flush(&mut pending, &state, &mut out);
                state.key = v;
            }
            "Nonce" => {
                if pending.as_ref().is_some_and(|p| p.ct.is_some()) {
                    flush(&mut pending, &state, &mut out);
                }
                state.nonce = v;
            }
            "Count" => {
                flush(&mut pending, &state, &mut out);
                pending = Some(Record::default());
            }
            "Adata" => pending.as_mut().unwrap().adata = v,
            "Payload" => pending.as_mut().unwrap().payload = Some(v),
            "CT" => pending.as_mut().unwrap().ct = Some(v),
            "Result" => pending.as_mut().unwrap().pass = Some(v.starts_with("Pass")),
            _ => {}
        }
    }
    flush(&mut pending, &state, &mut out);
    out
}

fn bytes(hex_str: &str, len: usize) -> Vec<u8> {
    // A zero-length field is written as "00": take the first `len` bytes.
    hex::decode(hex_str).unwrap()[..len].to_vec()
}

fn ours(records: Vec<Record>) -> Vec<Record> {
    records.into_iter().filter(|r| r.params["Nlen"] == 13 && r.params["Tlen"] == 16).collect()
}

fn run_file(name: &str) -> (usize, usize) {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut passes, mut fails) = (0, 0);
    for (i, r) in ours(parse(&text)).into_iter().enumerate() {
        let key: [u8; 16] = hex::decode(&r.key).unwrap().try_into().unwrap();
        let nonce: [u8; 13] = hex::decode(&r.nonce).unwrap().try_into().unwrap();
        let cipher = SubjectKey::new(&key);
        let aad = bytes(&r.adata, r.params["Alen"]);
        let plen = r.params["Plen"];
        let ct = hex::decode(r.ct.as_ref().unwrap()).unwrap();
        assert_eq!(ct.len(), plen + 16, "{name} #{i}: CT length");
        if r.pass == Some(false) {
            assert!(cipher.ccm_decrypt(&nonce, &aad, &ct).is_err(), "{name} #{i}: Fail record accepted");
            fails += 1;
            continue;
        }
        let payload = bytes(r.payload.as_ref().unwrap(), plen);
        assert_eq!(cipher.ccm_encrypt(&nonce, &aad, &payload).unwrap(), ct, "{name} #{i}: encrypt");
        assert_eq!(cipher.ccm_decrypt(&nonce, &aad, &ct).unwrap(), payload, "{name} #{i}: decrypt");
        passes += 1;
    }
    (passes, fails)
}

#[test]
fn cavp_vectors_with_13_byte_nonce_and_16_byte_tag() {
    let counts: Vec<(&str, (usize, usize))> =
        ["ccmVADT128.rsp", "ccmVPT128.rsp", "ccmVNT128.rsp", "ccmVTT128.rsp", "ccmDVPT128.rsp"]
            .into_iter()
            .map(|f| (f, run_file(f)))
            .collect();
    // The counts the vectors' README gives for our parameters: a parser that
    // silently skipped records would fail here.
    assert_eq!(counts[0].1, (330, 0));
    assert_eq!(counts[1].1, (250, 0));
    assert_eq!(counts[2].1, (10, 0));
    assert_eq!(counts[3].1, (10, 0));
    assert_eq!(counts[4].1, (20, 40));
    let total: usize = counts.iter().map(|(_, (p, f))| p + f).sum();
    assert_eq!(total, 660);
    println!("CAVP: {total} vectors checked");
}
