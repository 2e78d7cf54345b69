-- pseudo_ext 0.2.0 -> 0.3.0: the private key/value store on fully homomorphic
-- encryption (TFHE-rs). The client keeps the secret key; the database holds a
-- server (evaluation) key and encrypted slots, and answers GET and SET on
-- ciphertexts without learning keys, values or whether a key was found.
--
-- A fresh 0.3.0 install runs the 0.1.0 and 0.2.0 scripts and then this one
-- (see src/lib.rs); tests/upgrade.sh checks an upgraded database equals it.
\echo Use "ALTER EXTENSION pseudo_ext UPDATE TO '0.3.0'" to load this file. \quit

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pseudo_fhe_user') THEN
        CREATE ROLE pseudo_fhe_user NOLOGIN;
    END IF;
END
$roles$;

-------------------------------------------------------------------------------
-- Stores and slots. Nobody but the extension owner can read or write them:
-- the functions below reach them as the owner, after checking that the
-- caller has the privileges of the role that created the store. Every value
-- in them is a ciphertext or public metadata. STORAGE external: ciphertexts
-- do not compress.
-------------------------------------------------------------------------------
CREATE SCHEMA pseudo_fhe;
REVOKE ALL ON SCHEMA pseudo_fhe FROM PUBLIC;
COMMENT ON SCHEMA pseudo_fhe IS 'pseudo_ext''s FHE key/value stores: server keys and encrypted slots (owner only)';

CREATE TABLE pseudo_fhe.store (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (pg_catalog.length(name) BETWEEN 1 AND 63),
    owner name NOT NULL,
    client_key_id bytea NOT NULL CHECK (pg_catalog.length(client_key_id) = 16),
    server_key bytea NOT NULL,
    capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 1024),
    key_bits integer NOT NULL CHECK (key_bits BETWEEN 2 AND 64 AND key_bits % 2 = 0),
    value_bits integer NOT NULL CHECK (value_bits BETWEEN 2 AND 64 AND value_bits % 2 = 0),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    sets bigint NOT NULL DEFAULT 0,
    last_set_at timestamptz
);
ALTER TABLE pseudo_fhe.store ALTER COLUMN server_key SET STORAGE EXTERNAL;
COMMENT ON TABLE pseudo_fhe.store IS
    'FHE key/value stores: the compressed TFHE server key of the client that created each, its shape and the role that owns it';

CREATE TABLE pseudo_fhe.slot (
    store_id integer NOT NULL REFERENCES pseudo_fhe.store (id) ON DELETE CASCADE,
    slot integer NOT NULL CHECK (slot >= 0),
    key bytea NOT NULL,
    value bytea NOT NULL,
    occupied bytea NOT NULL,
    PRIMARY KEY (store_id, slot)
);
ALTER TABLE pseudo_fhe.slot
    ALTER COLUMN key SET STORAGE EXTERNAL,
    ALTER COLUMN value SET STORAGE EXTERNAL,
    ALTER COLUMN occupied SET STORAGE EXTERNAL;
COMMENT ON TABLE pseudo_fhe.slot IS
    'The slots of each FHE store: encrypted key (4-bit chunks) and value (halves of its 4-bit chunks), encrypted occupied flag; every SET rewrites all of them';

REVOKE ALL ON pseudo_fhe.store, pseudo_fhe.slot FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pseudo_fhe.store', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_fhe.slot', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_fhe.store_id_seq', '');

-------------------------------------------------------------------------------
-- Functions (pseudo_fhe_user). Not SECURITY DEFINER: they check the caller's
-- roles, then reach the tables as the extension owner with a pinned
-- search_path (src/owner_context.rs).
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_fhe_create_store(name text, server_key bytea, capacity integer, key_bits integer, value_bits integer)
    RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_fhe_create_store_wrapper';
REVOKE ALL ON FUNCTION pseudo_fhe_create_store(text, bytea, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_fhe_create_store(text, bytea, integer, integer, integer) TO pseudo_fhe_user;
COMMENT ON FUNCTION pseudo_fhe_create_store(text, bytea, integer, integer, integer) IS
    'Creates an FHE key/value store of capacity empty slots for key_bits-bit keys and value_bits-bit values under a client''s compressed server key (pseudo_fhe_user; the caller owns it). 42710: exists; 22P03: malformed or foreign-parameter server key; 22023: capacity or widths unsupported';

CREATE FUNCTION pseudo_fhe_get(name text, query bytea) RETURNS bytea
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_fhe_get_wrapper';
REVOKE ALL ON FUNCTION pseudo_fhe_get(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_fhe_get(text, bytea) TO pseudo_fhe_user;
COMMENT ON FUNCTION pseudo_fhe_get(text, bytea) IS
    'Private GET (pseudo_fhe_user): the encrypted value and encrypted found flag for an encrypted key, computed without decrypting anything. 42704: no such store; 42501: not the store''s owner; 22P03: malformed; 22026: wrong key width; 22023: another client key; 57014: cancelled';

CREATE FUNCTION pseudo_fhe_set(name text, key bytea, value bytea) RETURNS bytea
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_fhe_set_wrapper';
REVOKE ALL ON FUNCTION pseudo_fhe_set(text, bytea, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_fhe_set(text, bytea, bytea) TO pseudo_fhe_user;
COMMENT ON FUNCTION pseudo_fhe_set(text, bytea, bytea) IS
    'Private idempotent SET (pseudo_fhe_user): overwrites the slot holding the encrypted key or fills the first free one; returns the encrypted "stored" flag (false only when full). Key and value are the client''s SET encryptions (ClientKeys::encrypt_set_key/encrypt_set_value, pseudo-fhe encrypt-set-key/encrypt-set-value), not GET queries. SETs on one store are serialized. Same errors as pseudo_fhe_get; 22023 also for a blob of the wrong kind';

CREATE FUNCTION pseudo_fhe_drop_store(name text) RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_fhe_drop_store_wrapper';
REVOKE ALL ON FUNCTION pseudo_fhe_drop_store(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_fhe_drop_store(text) TO pseudo_fhe_user;
COMMENT ON FUNCTION pseudo_fhe_drop_store(text) IS
    'Drops an FHE store and its slots (pseudo_fhe_user, the store''s owner). 42704; 42501';

-- Public metadata of the stores the caller may use; never keys or slots.
CREATE VIEW pseudo_fhe.stores AS
    SELECT s.name, s.owner, s.capacity, s.key_bits, s.value_bits,
           pg_catalog.length(s.server_key) AS server_key_bytes,
           s.created_at, s.sets, s.last_set_at
    FROM pseudo_fhe.store s
    WHERE EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname = s.owner AND pg_catalog.pg_has_role(r.oid, 'USAGE'));
REVOKE ALL ON pseudo_fhe.stores FROM PUBLIC;
GRANT USAGE ON SCHEMA pseudo_fhe TO pseudo_fhe_user;
GRANT SELECT ON pseudo_fhe.stores TO pseudo_fhe_user;
COMMENT ON VIEW pseudo_fhe.stores IS
    'The FHE stores the current role may use (pseudo_fhe_user): name, owner, shape, server key size, creation and SET count';

-------------------------------------------------------------------------------
-- psql as a reference: every member object has a comment (\dx+ pseudo_ext,
-- \do+, \dAc+); pg_regress `comments` fails on any object without one.
-------------------------------------------------------------------------------
COMMENT ON OPERATOR = (pseudo_text, pseudo_text) IS
    'Equal envelope bytes (not plaintexts: two encryptions of one plaintext differ)';
COMMENT ON OPERATOR <> (pseudo_text, pseudo_text) IS 'Different envelope bytes';
COMMENT ON OPERATOR < (pseudo_text, pseudo_text) IS 'Envelope byte order (meaningless for plaintexts; for indexes and sorting)';
COMMENT ON OPERATOR <= (pseudo_text, pseudo_text) IS 'Envelope byte order (meaningless for plaintexts; for indexes and sorting)';
COMMENT ON OPERATOR > (pseudo_text, pseudo_text) IS 'Envelope byte order (meaningless for plaintexts; for indexes and sorting)';
COMMENT ON OPERATOR >= (pseudo_text, pseudo_text) IS 'Envelope byte order (meaningless for plaintexts; for indexes and sorting)';
COMMENT ON OPERATOR CLASS pseudo_text_btree_ops USING btree IS
    'Default btree class of pseudo_text: envelope bytes, for indexes, DISTINCT, merge joins';
COMMENT ON OPERATOR FAMILY pseudo_text_btree_ops USING btree IS 'Btree operators of pseudo_text (envelope bytes)';
COMMENT ON OPERATOR CLASS pseudo_text_hash_ops USING hash IS
    'Default hash class of pseudo_text: envelope bytes, for hash joins and hash aggregation';
COMMENT ON OPERATOR FAMILY pseudo_text_hash_ops USING hash IS 'Hash operators of pseudo_text (envelope bytes)';
COMMENT ON SEQUENCE pseudo_keys.audit_log_id_seq IS 'Ids of pseudo_keys.audit_log rows';
COMMENT ON SEQUENCE pseudo_fhe.store_id_seq IS 'Ids of pseudo_fhe.store rows';
