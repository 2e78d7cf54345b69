//! The text format of a root key source (the root key file, or the output of
//! `pseudo_ext.root_key_command`): one root key per line as 64 hex digits.
//! Blank lines and lines starting with `#` are ignored, and surrounding
//! whitespace is trimmed. Several keys are present while a root key is being
//! rotated or retired; each is matched to its epoch by fingerprint, so their
//! order does not matter.
//!
//! Edits ([`with_new_key`], [`without_key`]) return the whole new contents so
//! the caller can replace the file atomically; other lines (comments, keys)
//! are kept byte for byte. Errors name a line number, never its contents.

use crate::root_key::{RootKey, ROOT_KEY_LEN};
use crate::{random, CoreError};
use zeroize::Zeroizing;

/// One parsed line: the key and the line's index in the contents.
fn key_lines(contents: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    contents
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with(b"#"))
}

fn parse_line(line: &[u8]) -> Option<RootKey> {
    if line.len() != 2 * ROOT_KEY_LEN {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
    hex::decode_to_slice(line, bytes.as_mut()).ok()?;
    Some(RootKey::from_bytes(&bytes))
}

/// Every root key in the contents; at least one.
pub fn parse(contents: &[u8]) -> Result<Vec<RootKey>, CoreError> {
    let mut keys = Vec::new();
    for (i, line) in key_lines(contents) {
        match parse_line(line) {
            Some(key) => keys.push(key),
            None => return Err(CoreError::MalformedRootKey(line_error(i))),
        }
    }
    if keys.is_empty() {
        return Err(CoreError::MalformedRootKey("it holds no root key (expected lines of 64 hexadecimal digits)"));
    }
    Ok(keys)
}

/// Static messages keep key material out of errors; the line number is coarse.
fn line_error(index: usize) -> &'static str {
    match index {
        0 => "line 1 is not 64 hexadecimal digits",
        1 => "line 2 is not 64 hexadecimal digits",
        2 => "line 3 is not 64 hexadecimal digits",
        _ => "a line past the third is not 64 hexadecimal digits",
    }
}

/// The contents of a new source holding one fresh random key.
pub fn new_contents() -> Result<Zeroizing<Vec<u8>>, CoreError> {
    with_new_key(b"").map(|(contents, _)| contents)
}

/// `contents` with a fresh random key appended on its own line, and that key.
pub fn with_new_key(contents: &[u8]) -> Result<(Zeroizing<Vec<u8>>, RootKey), CoreError> {
    let bytes = Zeroizing::new(random::bytes::<ROOT_KEY_LEN>()?);
    let line = Zeroizing::new(hex::encode(&bytes[..]));
    let mut out = Zeroizing::new(Vec::with_capacity(contents.len() + line.len() + 2));
    out.extend_from_slice(contents);
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    Ok((out, RootKey::from_bytes(&bytes)))
}

/// `contents` without the line(s) holding the key with this fingerprint, and
/// how many lines were removed.
pub fn without_key(contents: &[u8], fingerprint: &[u8; 32]) -> (Zeroizing<Vec<u8>>, usize) {
    let doomed: Vec<usize> = key_lines(contents)
        .filter(|(_, line)| parse_line(line).is_some_and(|k| &k.fingerprint() == fingerprint))
        .map(|(i, _)| i)
        .collect();
    let mut out = Zeroizing::new(Vec::with_capacity(contents.len()));
    let kept = contents.split(|&b| b == b'\n').enumerate().filter(|(i, _)| !doomed.contains(i));
    for (n, (_, line)) in kept.enumerate() {
        if n > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
    }
    (out, doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const B: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    fn fp(hex_key: &str) -> [u8; 32] {
        parse(hex_key.as_bytes()).unwrap()[0].fingerprint()
    }

    #[test]
    fn parses_one_key_per_line_ignoring_blanks_comments_and_whitespace() {
        let text = format!("# pseudo_ext root keys\n\n  {A}\r\n{}\n", B.to_uppercase());
        let keys = parse(text.as_bytes()).unwrap();
        assert_eq!(keys.iter().map(|k| k.fingerprint()).collect::<Vec<_>>(), vec![fp(A), fp(B)]);
    }

    #[test]
    fn a_single_key_file_of_0_1_parses() {
        assert_eq!(parse(format!("{A}\n").as_bytes()).unwrap().len(), 1);
        assert_eq!(parse(A.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed_lines_and_empty_sources() {
        let long = "0".repeat(65);
        let short = "0".repeat(63);
        let not_hex = "g".repeat(64);
        for bad in ["", "\n\n", "# only a comment\n", "00", &short, &long, &not_hex, &format!("{A}\n{A}x")] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        match parse(format!("{A}\nnot a key\n").as_bytes()) {
            Err(CoreError::MalformedRootKey(why)) => assert_eq!(why, "line 2 is not 64 hexadecimal digits"),
            _ => panic!("line 2 accepted"),
        }
    }

    #[test]
    fn new_key_is_appended_and_everything_else_kept() {
        let original = format!("# keep me\n{A}");
        let (contents, key) = with_new_key(original.as_bytes()).unwrap();
        let text = std::str::from_utf8(&contents).unwrap();
        assert!(text.starts_with(&format!("# keep me\n{A}\n")));
        assert!(text.ends_with('\n'));
        let keys = parse(&contents).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].fingerprint(), key.fingerprint());
        assert_ne!(key.fingerprint(), fp(A));
        let fresh = new_contents().unwrap();
        assert_eq!(fresh.len(), 65);
        assert_eq!(parse(&fresh).unwrap().len(), 1);
    }

    #[test]
    fn removing_a_key_keeps_the_other_lines() {
        let text = format!("# root keys\n{A}\n\n{B}\n");
        let (out, removed) = without_key(text.as_bytes(), &fp(A));
        assert_eq!(removed, 1);
        assert_eq!(std::str::from_utf8(&out).unwrap(), format!("# root keys\n\n{B}\n"));
        let (same, removed) = without_key(text.as_bytes(), &[0u8; 32]);
        assert_eq!(removed, 0);
        assert_eq!(&same[..], text.as_bytes());
        let (last, _) = without_key(format!("{A}\n{B}").as_bytes(), &fp(B));
        assert_eq!(std::str::from_utf8(&last).unwrap(), A);
    }
}
