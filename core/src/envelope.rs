//! The `pseudo_text` envelope: the exact bytes stored on disk.
//!
//! ```text
//! offset  length  field
//! 0       1       version, 0x01
//! 1       16      key_id: the subject key's UUID, in RFC 4122 byte order
//! 17      13      nonce: fresh random bytes for every value
//! 30      n       ciphertext: AES-128-CCM encryption of the UTF-8 plaintext
//! 30+n    16      tag: the CCM authentication tag (M = 16, L = 2)
//! ```
//!
//! The CCM associated data is the 17 bytes `version || key_id` followed by the
//! bytes of the value's *context* (e.g. `patient.name`; empty when none was
//! given), so neither the header nor the context can be changed without the tag
//! failing. The context is not stored: it is supplied again to decrypt. Any
//! AES-CCM library decrypts a value with `key = subject key, nonce =
//! bytes[17..30], aad = bytes[0..17] || context, ciphertext||tag = bytes[30..]`. With a 13-byte nonce CCM's length field is two
//! bytes, so a plaintext holds at most 65,535 bytes; an empty plaintext is valid
//! (46 bytes of envelope).
//!
//! The text form is the envelope in hex: lowercase on output, either case on input.
//! Length and version are checked before any cryptography.

use crate::CoreError;

/// The only version this build writes and reads.
pub const VERSION_1: u8 = 0x01;
pub const KEY_ID_LEN: usize = 16;
pub const NONCE_LEN: usize = 13;
pub const TAG_LEN: usize = 16;
/// `version || key_id`: the associated data.
pub const HEADER_LEN: usize = 1 + KEY_ID_LEN;
/// Offset of the ciphertext.
pub const BODY_OFFSET: usize = HEADER_LEN + NONCE_LEN;
/// An envelope of an empty plaintext.
pub const MIN_LEN: usize = BODY_OFFSET + TAG_LEN;
/// CCM with a 13-byte nonce has a 2-byte length field.
pub const MAX_PLAINTEXT_LEN: usize = 65_535;
pub const MAX_LEN: usize = MIN_LEN + MAX_PLAINTEXT_LEN;

/// A subject key's identifier (a UUID, as its 16 bytes).
pub type KeyId = [u8; KEY_ID_LEN];

/// A structurally valid envelope borrowed from its bytes. Holding one proves the
/// length and version were checked; it says nothing about authenticity.
#[derive(Clone, Copy)]
pub struct Envelope<'a> {
    bytes: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Checks length and version of raw envelope bytes (binary input, stored values).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CoreError> {
        if bytes.len() < MIN_LEN {
            return Err(CoreError::MalformedEnvelope("shorter than the 46-byte minimum"));
        }
        if bytes.len() > MAX_LEN {
            return Err(CoreError::MalformedEnvelope("longer than the 65,581-byte maximum"));
        }
        if bytes[0] != VERSION_1 {
            return Err(CoreError::UnsupportedVersion(bytes[0]));
        }
        Ok(Envelope { bytes })
    }

    pub fn key_id(&self) -> KeyId {
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&self.bytes[1..HEADER_LEN]);
        id
    }

    pub fn associated_data(&self) -> &'a [u8] {
        &self.bytes[..HEADER_LEN]
    }

    pub fn nonce(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..BODY_OFFSET]
    }

    pub fn ciphertext(&self) -> &'a [u8] {
        &self.bytes[BODY_OFFSET..self.bytes.len() - TAG_LEN]
    }

    pub fn tag(&self) -> &'a [u8] {
        &self.bytes[self.bytes.len() - TAG_LEN..]
    }

    pub fn plaintext_len(&self) -> usize {
        self.bytes.len() - MIN_LEN
    }
}

/// Length of the envelope that seals `plaintext_len` bytes.
pub fn sealed_len(plaintext_len: usize) -> Result<usize, CoreError> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(CoreError::PlaintextTooLong(plaintext_len));
    }
    Ok(MIN_LEN + plaintext_len)
}

/// Parses the text form (hex, either case) into envelope bytes, checking the
/// structure the same way as [`Envelope::parse`]. Errors name what is wrong and
/// never echo the input.
pub fn from_hex(text: &[u8]) -> Result<Vec<u8>, CoreError> {
    if !text.len().is_multiple_of(2) {
        return Err(CoreError::MalformedText("odd number of hex digits"));
    }
    // Length checks first: a huge input is refused before it is decoded.
    if text.len() < 2 * MIN_LEN {
        return Err(CoreError::MalformedText("shorter than the 46-byte minimum"));
    }
    if text.len() > 2 * MAX_LEN {
        return Err(CoreError::MalformedText("longer than the 65,581-byte maximum"));
    }
    let mut bytes = vec![0u8; text.len() / 2];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| CoreError::MalformedText("not a hexadecimal string"))?;
    match Envelope::parse(&bytes) {
        Ok(_) => Ok(bytes),
        Err(CoreError::UnsupportedVersion(v)) => Err(CoreError::UnsupportedVersion(v)),
        Err(_) => Err(CoreError::MalformedText("not a pseudo_text envelope")),
    }
}

/// Writes the lowercase hex form of envelope bytes into `out`, which must be
/// `2 * bytes.len()` long.
pub fn to_hex(bytes: &[u8], out: &mut [u8]) {
    hex::encode_to_slice(bytes, out).expect("caller sizes out as 2 * len");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        let mut v = vec![0xabu8; len];
        if let Some(first) = v.first_mut() {
            *first = VERSION_1;
        }
        v
    }

    #[test]
    fn layout_constants_match_the_documented_format() {
        assert_eq!(HEADER_LEN, 17);
        assert_eq!(BODY_OFFSET, 30);
        assert_eq!(MIN_LEN, 46);
        assert_eq!(MAX_LEN, 65_581);
    }

    #[test]
    fn parse_checks_length_and_version() {
        assert!(Envelope::parse(&sample(MIN_LEN)).is_ok());
        assert!(Envelope::parse(&sample(MAX_LEN)).is_ok());
        for len in 0..MIN_LEN {
            assert!(matches!(Envelope::parse(&sample(len)), Err(CoreError::MalformedEnvelope(_))), "len {len}");
        }
        assert!(matches!(Envelope::parse(&sample(MAX_LEN + 1)), Err(CoreError::MalformedEnvelope(_))));
        let mut v2 = sample(MIN_LEN);
        v2[0] = 2;
        assert_eq!(Envelope::parse(&v2).err(), Some(CoreError::UnsupportedVersion(2)));
    }

    #[test]
    fn fields_are_where_the_doc_says() {
        let mut bytes: Vec<u8> = (0..60u8).collect();
        bytes[0] = VERSION_1;
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(env.associated_data(), &bytes[0..17]);
        assert_eq!(&env.key_id()[..], &bytes[1..17]);
        assert_eq!(env.nonce(), &bytes[17..30]);
        assert_eq!(env.ciphertext(), &bytes[30..44]);
        assert_eq!(env.tag(), &bytes[44..60]);
        assert_eq!(env.plaintext_len(), 14);
    }

    #[test]
    fn hex_round_trip_accepts_both_cases_and_writes_lowercase() {
        let bytes = sample(50);
        let mut text = vec![0u8; 100];
        to_hex(&bytes, &mut text);
        assert_eq!(text, hex::encode(&bytes).into_bytes());
        assert!(text.iter().all(|c| !c.is_ascii_uppercase()));
        assert_eq!(from_hex(&text).unwrap(), bytes);
        assert_eq!(from_hex(text.to_ascii_uppercase().as_slice()).unwrap(), bytes);
    }

    #[test]
    fn hex_input_errors() {
        let good = hex::encode(sample(MIN_LEN));
        assert!(from_hex(good.as_bytes()).is_ok());
        let cases: Vec<(String, &str)> = vec![
            (good[1..].to_string(), "odd number of hex digits"),
            (String::new(), "shorter than the 46-byte minimum"),
            (good[2..].to_string(), "shorter than the 46-byte minimum"),
            (format!("{}zz", &good[2..]), "not a hexadecimal string"),
            (format!(" {}", &good[1..]), "not a hexadecimal string"),
            ("00".repeat(MAX_LEN + 1), "longer than the 65,581-byte maximum"),
        ];
        for (input, why) in cases {
            assert_eq!(from_hex(input.as_bytes()).err(), Some(CoreError::MalformedText(why)), "{why}");
        }
        let mut v9 = sample(MIN_LEN);
        v9[0] = 9;
        assert_eq!(from_hex(hex::encode(v9).as_bytes()).err(), Some(CoreError::UnsupportedVersion(9)));
    }
}
