-- pseudo_ext install script: every object, grant and comment, by hand.
-- The C symbols are the pgrx wrappers of the Rust functions in src/.

-------------------------------------------------------------------------------
-- Roles: created when missing (a restore into another database of the same
-- cluster runs this script again while they exist).
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pseudo_admin') THEN
        CREATE ROLE pseudo_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pseudo_writer') THEN
        CREATE ROLE pseudo_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pseudo_reader') THEN
        CREATE ROLE pseudo_reader NOLOGIN;
    END IF;
END
$roles$;

-------------------------------------------------------------------------------
-- The type. Storage is the envelope bytes in a varlena laid out like bytea
-- (see README "Envelope format"), so comparison and hashing reuse bytea's
-- built-in functions. STORAGE external: ciphertext does not compress, so
-- large values go out of line without a futile compression attempt.
-------------------------------------------------------------------------------
CREATE TYPE pseudo_text;

CREATE FUNCTION pseudo_text_in(cstring) RETURNS pseudo_text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_text_in_wrapper';
CREATE FUNCTION pseudo_text_out(pseudo_text) RETURNS cstring
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_text_out_wrapper';
CREATE FUNCTION pseudo_text_recv(internal) RETURNS pseudo_text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_text_recv_wrapper';
CREATE FUNCTION pseudo_text_send(pseudo_text) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_text_send_wrapper';

CREATE TYPE pseudo_text (
    INPUT = pseudo_text_in,
    OUTPUT = pseudo_text_out,
    RECEIVE = pseudo_text_recv,
    SEND = pseudo_text_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = external,
    CATEGORY = 'U'
);

COMMENT ON TYPE pseudo_text IS
    'AES-128-CCM ciphertext of a text value under its data subject''s key; text form is hex of the envelope: version (1) | key id (16) | nonce (13) | ciphertext | tag (16)';
COMMENT ON FUNCTION pseudo_text_in(cstring) IS 'pseudo_text input: hex of the envelope, either case (22P02 when malformed)';
COMMENT ON FUNCTION pseudo_text_out(pseudo_text) IS 'pseudo_text output: lowercase hex of the envelope';
COMMENT ON FUNCTION pseudo_text_recv(internal) IS 'pseudo_text binary input: the raw envelope (22P03 when malformed)';
COMMENT ON FUNCTION pseudo_text_send(pseudo_text) IS 'pseudo_text binary output: the raw envelope';

-- Byte-wise comparison of envelopes (meaningless as an order, but it gives
-- DISTINCT, GROUP BY, UNION, indexes, merge and hash joins).
CREATE FUNCTION pseudo_text_eq(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteaeq';
CREATE FUNCTION pseudo_text_ne(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteane';
CREATE FUNCTION pseudo_text_lt(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'bytealt';
CREATE FUNCTION pseudo_text_le(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteale';
CREATE FUNCTION pseudo_text_gt(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteagt';
CREATE FUNCTION pseudo_text_ge(pseudo_text, pseudo_text) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteage';
CREATE FUNCTION pseudo_text_cmp(pseudo_text, pseudo_text) RETURNS integer
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteacmp';
CREATE FUNCTION pseudo_text_hash(pseudo_text) RETURNS integer
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'hashvarlena';
CREATE FUNCTION pseudo_text_hash_extended(pseudo_text, bigint) RETURNS bigint
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'hashvarlenaextended';

COMMENT ON FUNCTION pseudo_text_eq(pseudo_text, pseudo_text) IS 'envelope bytes equal';
COMMENT ON FUNCTION pseudo_text_ne(pseudo_text, pseudo_text) IS 'envelope bytes differ';
COMMENT ON FUNCTION pseudo_text_lt(pseudo_text, pseudo_text) IS 'byte-wise order of envelopes (not of plaintexts)';
COMMENT ON FUNCTION pseudo_text_le(pseudo_text, pseudo_text) IS 'byte-wise order of envelopes (not of plaintexts)';
COMMENT ON FUNCTION pseudo_text_gt(pseudo_text, pseudo_text) IS 'byte-wise order of envelopes (not of plaintexts)';
COMMENT ON FUNCTION pseudo_text_ge(pseudo_text, pseudo_text) IS 'byte-wise order of envelopes (not of plaintexts)';
COMMENT ON FUNCTION pseudo_text_cmp(pseudo_text, pseudo_text) IS 'btree support: byte-wise comparison of envelopes';
COMMENT ON FUNCTION pseudo_text_hash(pseudo_text) IS 'hash support: hash of the envelope bytes';
COMMENT ON FUNCTION pseudo_text_hash_extended(pseudo_text, bigint) IS 'hash support: seeded hash of the envelope bytes';

CREATE OPERATOR = (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_eq,
    COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_ne,
    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
    LEFTARG = pseudo_text, RIGHTARG = pseudo_text, FUNCTION = pseudo_text_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS pseudo_text_btree_ops DEFAULT FOR TYPE pseudo_text USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 pseudo_text_cmp(pseudo_text, pseudo_text);
CREATE OPERATOR CLASS pseudo_text_hash_ops DEFAULT FOR TYPE pseudo_text USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 pseudo_text_hash(pseudo_text),
    FUNCTION 2 pseudo_text_hash_extended(pseudo_text, bigint);

-------------------------------------------------------------------------------
-- Key tables. No privileges for anyone but the owner (the role that ran
-- CREATE EXTENSION): pseudo_encrypt/pseudo_decrypt switch to the owner on a
-- key-cache miss, pseudo_shred is SECURITY DEFINER. Subjects appear only as a
-- keyed digest (HMAC-SHA256 under a key wrapped by the root key), so neither
-- the tables nor a dump hold subject identifiers in clear.
-------------------------------------------------------------------------------
CREATE SCHEMA pseudo_keys;
REVOKE ALL ON SCHEMA pseudo_keys FROM PUBLIC;
COMMENT ON SCHEMA pseudo_keys IS 'pseudo_ext key store: wrapped keys only; no access but through the extension''s functions';

CREATE TABLE pseudo_keys.root_key (
    epoch integer PRIMARY KEY CHECK (epoch > 0),
    fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    wrapped_digest_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pseudo_keys.root_key IS 'Root key epochs: a fingerprint of the root key (never the key) and the subject-digest key wrapped under it';

CREATE TABLE pseudo_keys.subject (
    subject_digest bytea PRIMARY KEY CHECK (octet_length(subject_digest) = 32),
    shredded_at timestamptz
);
COMMENT ON TABLE pseudo_keys.subject IS 'One row per data subject, by keyed digest; shredded_at set by pseudo_shred refuses later encryption';

CREATE TABLE pseudo_keys.subject_key (
    key_id uuid PRIMARY KEY,
    subject_digest bytea NOT NULL REFERENCES pseudo_keys.subject (subject_digest),
    version integer NOT NULL CHECK (version > 0),
    root_epoch integer NOT NULL REFERENCES pseudo_keys.root_key (epoch),
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (subject_digest, version)
);
COMMENT ON TABLE pseudo_keys.subject_key IS 'Subject keys, wrapped (AES-256-CCM) under the root key with the key id as associated data; the highest version is current';

CREATE TABLE pseudo_keys.shredded_key (
    key_id uuid PRIMARY KEY,
    shredded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pseudo_keys.shredded_key IS 'Ids of destroyed keys, so their values read as NULL rather than as unknown keys';

REVOKE ALL ON ALL TABLES IN SCHEMA pseudo_keys FROM PUBLIC;

-- pg_dump includes the wrapped keys: dump + root key restores everything; a
-- dump alone reveals nothing.
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.root_key', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.subject', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.subject_key', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.shredded_key', '');

-------------------------------------------------------------------------------
-- Internal functions, for pseudo_shred only.
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_keys.subject_digest(subject text) RETURNS bytea
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_subject_digest_wrapper';
CREATE FUNCTION pseudo_keys.invalidate_key_cache() RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_invalidate_key_cache_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.subject_digest(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pseudo_keys.invalidate_key_cache() FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.subject_digest(text) IS 'Internal: keyed digest naming a subject in pseudo_keys (owner only: it is a dictionary oracle)';
COMMENT ON FUNCTION pseudo_keys.invalidate_key_cache() IS 'Internal: every backend drops its cached keys at its next transaction';

-------------------------------------------------------------------------------
-- The API.
-------------------------------------------------------------------------------

-- Plain function on purpose (not SECURITY DEFINER): see src/owner_context.rs.
CREATE FUNCTION pseudo_encrypt(subject text, plaintext text) RETURNS pseudo_text
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_encrypt_wrapper';
REVOKE ALL ON FUNCTION pseudo_encrypt(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_encrypt(text, text) TO pseudo_writer;
COMMENT ON FUNCTION pseudo_encrypt(text, text) IS
    'Encrypts plaintext under the subject''s current key, created on first use (pseudo_writer). 54000: over 65,535 bytes; 55000: subject was shredded';

-- STABLE: within a statement the answer for a value does not change.
CREATE FUNCTION pseudo_decrypt(value pseudo_text) RETURNS text
    LANGUAGE c STRICT STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_decrypt_wrapper';
REVOKE ALL ON FUNCTION pseudo_decrypt(pseudo_text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_decrypt(pseudo_text) TO pseudo_reader;
COMMENT ON FUNCTION pseudo_decrypt(pseudo_text) IS
    'Decrypts a value (pseudo_reader); NULL when its key was shredded. XX001: tampered; 42704: unknown key';

CREATE FUNCTION pseudo_key_id(value pseudo_text) RETURNS uuid
    LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_key_id_wrapper';
COMMENT ON FUNCTION pseudo_key_id(pseudo_text) IS 'The id of the key a value is encrypted under; no key access';

-- SECURITY DEFINER: pseudo_admin has no rights on pseudo_keys; this function
-- runs as the extension owner with a fixed search_path, every name qualified.
CREATE FUNCTION pseudo_shred(subject text) RETURNS integer
    LANGUAGE plpgsql STRICT VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $shred$
DECLARE
    digest bytea := pseudo_keys.subject_digest(subject);
    destroyed integer;
BEGIN
    -- Locks the subject's row: waits for a concurrent first-key creation to
    -- commit, and makes later ones see shredded_at.
    INSERT INTO pseudo_keys.subject AS s (subject_digest, shredded_at)
        VALUES (digest, pg_catalog.now())
        ON CONFLICT (subject_digest)
        DO UPDATE SET shredded_at = COALESCE(s.shredded_at, EXCLUDED.shredded_at);
    WITH gone AS (
        DELETE FROM pseudo_keys.subject_key k WHERE k.subject_digest = digest RETURNING k.key_id
    )
    INSERT INTO pseudo_keys.shredded_key (key_id) SELECT gone.key_id FROM gone;
    GET DIAGNOSTICS destroyed = ROW_COUNT;
    PERFORM pseudo_keys.invalidate_key_cache();
    RETURN destroyed;
END
$shred$;
REVOKE ALL ON FUNCTION pseudo_shred(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_shred(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_shred(text) IS
    'Crypto-shredding (pseudo_admin): destroys every key of the subject and returns how many; its values then read as NULL and pseudo_encrypt refuses it (55000)';
