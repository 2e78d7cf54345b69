//! #[pg_test]s of the glue, run inside a real backend by `cargo pgrx test`.
//! They live in an inline module: `#[pg_schema]` needs the module's body.

#[pgrx::pg_schema]
#[allow(clippy::unwrap_used)]
mod tests {
    use pgrx::prelude::*;

    fn enc(subject: &str, plaintext: &str) -> String {
        Spi::get_one_with_args::<String>("SELECT pseudo_encrypt($1, $2)::text", &[subject.into(), plaintext.into()])
            .unwrap()
            .unwrap()
    }

    #[pg_test]
    fn encrypt_then_decrypt_round_trips() {
        let hex = enc("alice", "Zoë Müller");
        let back =
            Spi::get_one_with_args::<String>("SELECT pseudo_decrypt($1::pseudo_text)", &[hex.as_str().into()]).unwrap();
        assert_eq!(back.as_deref(), Some("Zoë Müller"));
    }

    #[pg_test]
    fn empty_plaintext_round_trips() {
        let hex = enc("bob", "");
        assert_eq!(hex.len(), 92);
        let back =
            Spi::get_one_with_args::<String>("SELECT pseudo_decrypt($1::pseudo_text)", &[hex.as_str().into()]).unwrap();
        assert_eq!(back.as_deref(), Some(""));
    }

    #[pg_test]
    fn one_key_per_subject_and_distinct_keys_across_subjects() {
        let a1 = enc("carol", "x");
        let a2 = enc("carol", "y");
        let b = enc("dave", "x");
        assert_eq!(&a1[2..34], &a2[2..34], "same subject, same key id");
        assert_ne!(&a1[2..34], &b[2..34], "different subjects, different key ids");
        let keys = Spi::get_one::<i64>("SELECT count(*) FROM pseudo_keys.subject_key").unwrap().unwrap();
        assert_eq!(keys, 2);
    }

    #[pg_test]
    fn shred_makes_values_read_null_and_blocks_encryption() {
        let hex = enc("erin", "secret");
        let n = Spi::get_one::<i32>("SELECT pseudo_shred('erin')").unwrap();
        assert_eq!(n, Some(1));
        let back =
            Spi::get_one_with_args::<String>("SELECT pseudo_decrypt($1::pseudo_text)", &[hex.as_str().into()]).unwrap();
        assert_eq!(back, None);
        assert_eq!(Spi::get_one::<i32>("SELECT pseudo_shred('erin')").unwrap(), Some(0));
    }

    #[pg_test(error = "pseudo_ext: subject was shredded: no new data can be encrypted for it")]
    fn encrypt_after_shred_fails() {
        enc("frank", "a");
        Spi::run("SELECT pseudo_shred('frank')").unwrap();
        enc("frank", "b");
    }

    #[pg_test(
        error = "pseudo_ext: pseudo_text value could not be decrypted: it was altered or does not belong to its key"
    )]
    fn tampered_value_fails_opaquely() {
        let mut hex = enc("gina", "payload").into_bytes();
        let last = hex.len() - 1;
        hex[last] = if hex[last] == b'0' { b'1' } else { b'0' };
        let hex = String::from_utf8(hex).unwrap();
        Spi::get_one_with_args::<String>("SELECT pseudo_decrypt($1::pseudo_text)", &[hex.as_str().into()]).unwrap();
    }

    #[pg_test(error = "pseudo_ext: invalid input syntax for type pseudo_text: odd number of hex digits")]
    fn odd_hex_is_rejected() {
        Spi::run("SELECT 'abc'::pseudo_text").unwrap();
    }

    #[pg_test]
    fn key_table_holds_no_subject_in_clear() {
        enc("subject-identifier-marker", "v");
        let found = Spi::get_one::<bool>(
            "SELECT bool_or(position(convert_to('subject-identifier-marker', 'UTF8') in subject_digest) > 0) FROM pseudo_keys.subject",
        )
        .unwrap();
        assert_eq!(found, Some(false));
    }
}
