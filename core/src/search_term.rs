//! Search terms: what makes a value findable by equality without decrypting
//! every row. A named search index has a random key (wrapped under the root
//! key like a subject key); a value's term is
//! `HMAC-SHA256(index key, normalize(plaintext))` truncated to
//! [`TERM_LEN`] bytes. Equal plaintexts (after normalization) give equal
//! terms; without the index key a term says nothing about its plaintext.
//!
//! The extension keeps terms next to the key ids they belong to, in the key
//! schema, so that shredding a subject's keys deletes its terms too.

use crate::random;
use crate::CoreError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Length of a search index key.
pub const SEARCH_KEY_LEN: usize = 32;
/// Length of a stored term: 128 bits of the HMAC. A collision only adds a
/// candidate row, which the recheck removes.
pub const TERM_LEN: usize = 16;

/// A term, as stored.
pub type Term = [u8; TERM_LEN];

/// How a plaintext is made comparable before its term is computed, chosen
/// when the index is created.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// Byte for byte.
    None,
    /// Unicode lowercase (Rust's `str::to_lowercase`) of the text with
    /// leading and trailing white space removed: e-mail addresses.
    LowerTrim,
}

impl Normalization {
    /// The name SQL uses (`pseudo_create_search_index`'s argument).
    pub fn parse(name: &str) -> Option<Normalization> {
        match name {
            "none" => Some(Normalization::None),
            "lower_trim" => Some(Normalization::LowerTrim),
            _ => None,
        }
    }

    /// The normalized form of `plaintext`; text that is not UTF-8 cannot be
    /// lowercased and is refused by `LowerTrim`.
    pub fn apply(self, plaintext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        match self {
            Normalization::None => Ok(Zeroizing::new(plaintext.to_vec())),
            Normalization::LowerTrim => {
                let text = std::str::from_utf8(plaintext).map_err(|_| CoreError::NotUtf8)?;
                Ok(Zeroizing::new(text.trim().to_lowercase().into_bytes()))
            }
        }
    }
}

/// A search index key. No `Debug`; the key and its HMAC state are wiped
/// when dropped (see `root_key`'s note on the `zeroize` features).
pub struct SearchKey {
    mac: HmacSha256,
}

impl SearchKey {
    pub fn new(bytes: &[u8; SEARCH_KEY_LEN]) -> Self {
        SearchKey { mac: <HmacSha256 as KeyInit>::new_from_slice(bytes).expect("HMAC takes keys of any length") }
    }

    /// 32 fresh bytes from the OS CSPRNG.
    pub fn generate_bytes() -> Result<Zeroizing<[u8; SEARCH_KEY_LEN]>, CoreError> {
        Ok(Zeroizing::new(random::bytes::<SEARCH_KEY_LEN>()?))
    }

    /// The term of an already normalized plaintext.
    pub fn term(&self, normalized: &[u8]) -> Term {
        let mut mac = self.mac.clone();
        mac.update(normalized);
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut term = [0u8; TERM_LEN];
        term.copy_from_slice(&full[..TERM_LEN]);
        term
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SearchKey {
        SearchKey::new(&[byte; SEARCH_KEY_LEN])
    }

    fn term_of(k: &SearchKey, n: Normalization, text: &str) -> Term {
        k.term(&n.apply(text.as_bytes()).unwrap())
    }

    #[test]
    fn equal_plaintexts_have_equal_terms_under_one_key_only() {
        let (a, b) = (key(1), key(2));
        assert_eq!(term_of(&a, Normalization::None, "x"), term_of(&a, Normalization::None, "x"));
        assert_ne!(term_of(&a, Normalization::None, "x"), term_of(&a, Normalization::None, "y"));
        assert_ne!(term_of(&a, Normalization::None, "x"), term_of(&b, Normalization::None, "x"));
    }

    /// The term is the first 16 bytes of HMAC-SHA256 (RFC 4231 test case 2,
    /// with the key zero-padded as HMAC pads it).
    #[test]
    fn term_is_truncated_hmac_sha256() {
        let mut bytes = [0u8; SEARCH_KEY_LEN];
        bytes[..4].copy_from_slice(b"Jefe");
        let expected = "5bdcc146bf60754e6a042426089575c7";
        assert_eq!(hex::encode(SearchKey::new(&bytes).term(b"what do ya want for nothing?")), expected);
    }

    #[test]
    fn lower_trim_folds_case_and_outer_space_only() {
        let k = key(3);
        let t = |s| term_of(&k, Normalization::LowerTrim, s);
        assert_eq!(t("Alice@Example.COM"), t("alice@example.com"));
        assert_eq!(t(" \talice@example.com\n"), t("alice@example.com"));
        assert_eq!(t("ÉLODIE@EXAMPLE.FR"), t("élodie@example.fr"));
        assert_ne!(t("a lice@example.com"), t("alice@example.com"));
        assert_ne!(term_of(&k, Normalization::None, "Alice"), term_of(&k, Normalization::None, "alice"));
        assert!(matches!(Normalization::LowerTrim.apply(b"\xff\xfe"), Err(CoreError::NotUtf8)));
        // Bytes that are not UTF-8 are fine without normalization.
        assert!(Normalization::None.apply(b"\xff").is_ok());
    }

    #[test]
    fn normalization_names() {
        assert!(Normalization::parse("none") == Some(Normalization::None));
        assert!(Normalization::parse("lower_trim") == Some(Normalization::LowerTrim));
        assert!(Normalization::parse("LOWER_TRIM").is_none());
        assert!(Normalization::parse("").is_none());
    }
}
