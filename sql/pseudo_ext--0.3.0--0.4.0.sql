-- pseudo_ext 0.3.0 -> 0.4.0: audit rows only from the code that did the work,
-- and FHE stores owned by a role (not by a role's name).
--
-- A fresh 0.4.0 install runs the 0.1.0, 0.2.0 and 0.3.0 scripts and then
-- this one (see src/lib.rs); tests/upgrade.sh checks an upgraded database
-- equals it.
\echo Use "ALTER EXTENSION pseudo_ext UPDATE TO '0.4.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Rewrap audit. pseudo_keys.log_rewrap_batch let any pseudo_writer append
-- rewrap rows with made-up tables and counts. pseudo_rewrap itself now
-- records its work: one audit row per statement that rewrapped values (their
-- count, new key ids and the table written), inserted by the extension as
-- the owner of the audit log, in the same transaction as the work.
-------------------------------------------------------------------------------
CREATE OR REPLACE PROCEDURE pseudo_rewrap_column(tab regclass, col name, context text DEFAULT NULL, batch_pages integer DEFAULT 100)
    LANGUAGE plpgsql
AS $rewrap$
DECLARE
    col_type oid;
    pages bigint;
    first_page bigint := 0;
    batch_rows bigint;
    total bigint := 0;
    stmt text;
    shard record;
    distributed boolean := false;
BEGIN
    IF batch_pages IS NULL OR batch_pages < 1 THEN
        RAISE EXCEPTION 'pseudo_ext: batch_pages must be a positive number of pages' USING ERRCODE = '22023';
    END IF;
    SELECT a.atttypid INTO col_type FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = tab AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pseudo_ext: column "%" of relation % does not exist', col, tab USING ERRCODE = '42703';
    END IF;
    IF col_type OPERATOR(pg_catalog.<>) '@extschema@.pseudo_text'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'pseudo_ext: column "%" of relation % is not of type pseudo_text', col, tab USING ERRCODE = '42804';
    END IF;
    -- Citus: the rows are in the shards on the workers; each shard is one
    -- batch, rewrapped on its worker in a transaction of its own.
    -- (Dynamic SQL: without Citus its catalog does not exist.)
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1)'
            INTO distributed USING tab;
    END IF;
    IF distributed THEN
        stmt := pg_catalog.format(
            'UPDATE %%s SET %I = @extschema@.pseudo_rewrap(%I%s) WHERE @extschema@.pseudo_needs_rewrap(%I)',
            col, col, CASE WHEN context IS NULL THEN '' ELSE ', ' OPERATOR(pg_catalog.||) pg_catalog.quote_literal(context) END, col);
        FOR shard IN SELECT r.shardid, r.success, r.result
                     FROM pg_catalog.run_command_on_shards(tab, stmt, false) r ORDER BY r.shardid LOOP
            IF NOT shard.success THEN
                RAISE EXCEPTION 'pseudo_ext: rewrapping shard % of % failed: %', shard.shardid, tab, shard.result
                    USING ERRCODE = '58000', HINT = 'CALL it again: the shards done so far are committed.';
            END IF;
            total := total OPERATOR(pg_catalog.+) 1;
            RAISE NOTICE 'pseudo_rewrap_column: %.%: shard % done (% of the table''s shards)', tab, col, shard.shardid, total;
        END LOOP;
        RETURN;
    END IF;
    stmt := pg_catalog.format(
        'UPDATE %s SET %I = @extschema@.pseudo_rewrap(%I%s)
          WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2
            AND @extschema@.pseudo_needs_rewrap(%I)',
        tab, col, col, CASE WHEN context IS NULL THEN '' ELSE ', $3' END, col);
    pages := pg_catalog.pg_relation_size(tab) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::bigint;
    WHILE first_page OPERATOR(pg_catalog.<) pages LOOP
        EXECUTE stmt
            USING pg_catalog.format('(%s,0)', first_page)::pg_catalog.tid,
                  pg_catalog.format('(%s,0)', first_page OPERATOR(pg_catalog.+) batch_pages)::pg_catalog.tid,
                  context;
        GET DIAGNOSTICS batch_rows = ROW_COUNT;
        total := total OPERATOR(pg_catalog.+) batch_rows;
        first_page := first_page OPERATOR(pg_catalog.+) batch_pages;
        RAISE NOTICE 'pseudo_rewrap_column: %.%: % of % pages done, % values rewrapped',
            tab, col, LEAST(first_page, pages), pages, total;
        COMMIT;
    END LOOP;
END
$rewrap$;

DROP FUNCTION pseudo_keys.log_rewrap_batch(regclass, name, bigint, uuid[]);

COMMENT ON FUNCTION pseudo_rewrap(pseudo_text) IS
    'Re-encrypts a value under its subject''s current key (needs pseudo_reader and pseudo_writer); unchanged when already current or shredded. Audited: one rewrap row per statement (count, new key ids, table written). 42501; XX001; 42704; 25006: read-only transaction';
COMMENT ON PROCEDURE pseudo_rewrap_column(regclass, name, text, integer) IS
    'Rewraps a pseudo_text column online, one committed transaction per batch of pages (one rewrap audit row each) with a progress NOTICE; on a Citus distributed table one transaction per shard, on its worker; stop it any time and CALL it again to resume. CALL outside a transaction block. 58000: a shard failed';

-------------------------------------------------------------------------------
-- Root keys shared by several databases: each database lists the root keys
-- it uses next to the file (src/root_key_users.rs), and
-- pseudo_destroy_root_key refuses a key another database lists. A database
-- lists its keys whenever it loads them; the root key check does it too, so
-- that this update lists a database that stays idle afterwards.
-------------------------------------------------------------------------------
SELECT count(*) FROM pseudo_keys.root_key_source_check();
COMMENT ON FUNCTION pseudo_destroy_root_key(integer) IS
    'Destroys the root key of a retired epoch (pseudo_admin): its line is removed from the root key file when the transaction commits; returns whether the file held it. Irreversible. Refused while another database sharing the file still uses the key. 55000: not retired, root_key_command, or still used elsewhere; 42704; 58030: the list of databases using the file is unreadable';

-------------------------------------------------------------------------------
-- FHE store ownership. 0.3.0 kept the owner's role name: after DROP ROLE and
-- CREATE ROLE of the same name, the new role owned the old stores. Each
-- store now has an owner token, an empty large object created by (so owned
-- by) the role that created the store, and the store's owner is the token's
-- owner. PostgreSQL then does for stores what it does for owned objects:
-- DROP ROLE is refused while the role owns one (2BP01), REASSIGN OWNED hands
-- them over, DROP OWNED drops the token (the store is then gone: it answers
-- 42704 and its rows are removed by the next pseudo_fhe_create_store), and
-- pg_dump keeps the token's OID and owner.
--
-- Existing stores get a token owned by the role of their recorded name; a
-- store whose role no longer exists gets one owned by the role running this
-- update (a superuser), which can ALTER LARGE OBJECT ... OWNER TO a role.
-------------------------------------------------------------------------------
ALTER TABLE pseudo_fhe.store ADD COLUMN owner_token oid;

DO $tokens$
DECLARE
    s record;
    token oid;
BEGIN
    FOR s IN SELECT id, owner FROM pseudo_fhe.store ORDER BY id LOOP
        token := pg_catalog.lo_create(0);
        IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) s.owner) THEN
            EXECUTE pg_catalog.format('ALTER LARGE OBJECT %s OWNER TO %I', token, s.owner);
        END IF;
        EXECUTE pg_catalog.format('COMMENT ON LARGE OBJECT %s IS %L', token,
            'pseudo_ext: owner token of an FHE store (drop the store with pseudo_fhe_drop_store, not lo_unlink)');
        UPDATE pseudo_fhe.store SET owner_token = token WHERE id OPERATOR(pg_catalog.=) s.id;
    END LOOP;
END
$tokens$;

CREATE OR REPLACE VIEW pseudo_fhe.stores AS
    SELECT s.name, pg_catalog.pg_get_userbyid(m.lomowner) AS owner, s.capacity, s.key_bits, s.value_bits,
           pg_catalog.length(s.server_key) AS server_key_bytes,
           s.created_at, s.sets, s.last_set_at
    FROM pseudo_fhe.store s
    JOIN pg_catalog.pg_largeobject_metadata m ON m.oid OPERATOR(pg_catalog.=) s.owner_token
    WHERE pg_catalog.pg_has_role(m.lomowner, 'USAGE');

ALTER TABLE pseudo_fhe.store
    ALTER COLUMN owner_token SET NOT NULL,
    ADD CONSTRAINT store_owner_token_key UNIQUE (owner_token),
    DROP COLUMN owner;

COMMENT ON COLUMN pseudo_fhe.store.owner_token IS
    'Large object created by the store''s creator: its owner (pg_largeobject_metadata.lomowner) owns the store';
COMMENT ON TABLE pseudo_fhe.store IS
    'FHE key/value stores: the compressed TFHE server key of the client that created each, its shape and its owner token';
COMMENT ON FUNCTION pseudo_fhe_create_store(text, bytea, integer, integer, integer) IS
    'Creates an FHE key/value store of capacity empty slots for key_bits-bit keys and value_bits-bit values under a client''s compressed server key (pseudo_fhe_user; the caller owns it through an owner token, a large object). 42710: name taken (store names are one namespace per database); 22P03: malformed or foreign-parameter server key; 22023: capacity or widths unsupported; 53400: over a limit; 25006: read-only';
COMMENT ON FUNCTION pseudo_fhe_get(text, bytea) IS
    'Private GET (pseudo_fhe_user): the encrypted value and encrypted found flag for an encrypted key, computed without decrypting anything. 42704: no such store, or not one of the caller''s roles'' (the same error); 22P03: malformed; 22026: wrong key width; 22023: another client key; 57014: cancelled';
COMMENT ON FUNCTION pseudo_fhe_drop_store(text) IS
    'Drops an FHE store, its slots and its owner token (pseudo_fhe_user, the store''s owner). 42704: no such store, or not the caller''s';
COMMENT ON VIEW pseudo_fhe.stores IS
    'The FHE stores the current role may use (pseudo_fhe_user): name, owner (the owner token''s owner), shape, server key size, creation and SET count';

-------------------------------------------------------------------------------
-- Citus (docs/citus.md). pseudo_distribute_keys() makes the key tables Citus
-- reference tables: a copy on every node, written on all of them in one
-- distributed transaction. A change of key state reaches every backend's key
-- cache through the triggers below, on whichever node applies the change
-- (Citus copies them to each node's copy of the table); on one server they
-- add an invalidation where pseudo_shred and pseudo_rotate already send one.
-- Workers create keys through the coordinator
-- (pseudo_keys.coordinator_current_key).
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_keys.key_state_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'pseudo_key_state_changed_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.key_state_changed() FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.key_state_changed() IS
    'Internal trigger: every backend of this server drops its cached keys at its next transaction after this one commits';

CREATE TRIGGER key_state_changed AFTER UPDATE OR DELETE OR TRUNCATE ON pseudo_keys.subject_key
    FOR EACH STATEMENT EXECUTE FUNCTION pseudo_keys.key_state_changed();
CREATE TRIGGER key_rotated AFTER INSERT ON pseudo_keys.subject_key
    FOR EACH ROW WHEN (NEW.version OPERATOR(pg_catalog.>) 1) EXECUTE FUNCTION pseudo_keys.key_state_changed();
CREATE TRIGGER key_state_changed AFTER UPDATE OR DELETE OR TRUNCATE ON pseudo_keys.subject
    FOR EACH STATEMENT EXECUTE FUNCTION pseudo_keys.key_state_changed();
CREATE TRIGGER key_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pseudo_keys.root_key
    FOR EACH STATEMENT EXECUTE FUNCTION pseudo_keys.key_state_changed();

CREATE FUNCTION pseudo_keys.coordinator_current_key(subject_digest bytea) RETURNS text
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_coordinator_current_key_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.coordinator_current_key(bytea) FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.coordinator_current_key(bytea) IS
    'Internal, called by Citus workers on the coordinator (owner only): the current key of a subject, by digest, created on first use and wrapped under the root key';

CREATE FUNCTION pseudo_keys.holds_root_key(fingerprint bytea) RETURNS boolean
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_holds_root_key_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.holds_root_key(bytea) FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.holds_root_key(bytea) IS
    'Internal, asked by the Citus coordinator before a root key rotation (owner only): whether this server''s root key source holds the root key with this fingerprint';

-- Plain function (not SECURITY DEFINER): only the owner of the key tables
-- (the role that created the extension) may make them Citus tables.
CREATE FUNCTION pseudo_distribute_keys() RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
AS $distribute$
DECLARE
    key_table text;
    saved_fk_setting text;
    made integer := 0;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'pseudo_ext: Citus is not installed in this database' USING ERRCODE = '0A000';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'pseudo_ext: pseudo_distribute_keys() runs on the Citus coordinator' USING ERRCODE = '0A000';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node n WHERE n.groupid OPERATOR(pg_catalog.=) 0) THEN
        RAISE EXCEPTION 'pseudo_ext: the coordinator is not in the Citus metadata'
            USING ERRCODE = '55000',
                  HINT = 'Run SELECT citus_set_coordinator_host(''<host>'', <port>) first: the coordinator needs its own copy of the keys too.';
    END IF;
    -- Keys a worker created in its own tables before this would be hidden
    -- behind the reference tables' copies, and their values lost.
    IF EXISTS (SELECT FROM pg_catalog.run_command_on_workers('SELECT count(*) FROM pseudo_keys.root_key') w
               WHERE NOT w.success OR w.result OPERATOR(pg_catalog.<>) '0') THEN
        RAISE EXCEPTION 'pseudo_ext: a worker holds keys of its own, or could not be asked'
            USING ERRCODE = '55000',
                  HINT = 'Those keys exist on that worker only: decrypt its values there, and encrypt them again once the keys are distributed (docs/citus.md).';
    END IF;
    -- Their foreign keys would otherwise make Citus convert the tables one by
    -- one, which the extension's views on them do not allow.
    saved_fk_setting := pg_catalog.current_setting('citus.enable_local_reference_table_foreign_keys');
    PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
    FOREACH key_table IN ARRAY ARRAY['pseudo_keys.subject', 'pseudo_keys.root_key',
                                     'pseudo_keys.subject_key', 'pseudo_keys.shredded_key',
                                     'pseudo_keys.search_key', 'pseudo_keys.search_term'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                       WHERE p.logicalrelid OPERATOR(pg_catalog.=) key_table::pg_catalog.regclass) THEN
            PERFORM pg_catalog.create_reference_table(key_table::pg_catalog.regclass);
            made := made OPERATOR(pg_catalog.+) 1;
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', saved_fk_setting, true);
    RETURN made;
END
$distribute$;
REVOKE ALL ON FUNCTION pseudo_distribute_keys() FROM PUBLIC;
COMMENT ON FUNCTION pseudo_distribute_keys() IS
    'Citus: makes the key tables reference tables, so every node holds every wrapped key (run once on the coordinator, as the extension''s owner); returns how many it converted. 0A000: not Citus, or not the coordinator; 55000: coordinator not in the metadata, or a worker has keys of its own';

-------------------------------------------------------------------------------
-- Equality search (docs/searching.md). A named search index has a random
-- key, wrapped under the root key like a subject key (and rewrapped with
-- them by root key rotation); pseudo_encrypt_searchable records the term
-- HMAC(index key, normalized plaintext) of a value next to the value's key
-- id. Terms live here, in the key schema, and reference their subject key:
-- the shred's DELETE of a subject's keys takes its terms with it (ON DELETE
-- CASCADE), in the same transaction. Searching (pseudo_search, then
-- pseudo_matches on the candidate rows) reveals equality, not plaintext:
-- its own role, pseudo_searcher.
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pseudo_searcher') THEN
        CREATE ROLE pseudo_searcher NOLOGIN;
    END IF;
END
$roles$;

CREATE TABLE pseudo_keys.search_key (
    id integer PRIMARY KEY CHECK (id > 0),
    index_name text NOT NULL CHECK (index_name <> ''),
    normalization text NOT NULL CHECK (normalization IN ('none', 'lower_trim')),
    version integer NOT NULL CHECK (version > 0),
    root_epoch integer NOT NULL REFERENCES pseudo_keys.root_key (epoch),
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (index_name, version)
);
COMMENT ON TABLE pseudo_keys.search_key IS
    'Search index keys (HMAC-SHA256), wrapped under the root key with the row id as associated data; an index''s highest version is current, older ones are kept until its terms are re-derived';

CREATE TABLE pseudo_keys.search_term (
    search_key integer NOT NULL REFERENCES pseudo_keys.search_key (id) ON DELETE CASCADE,
    term bytea NOT NULL CHECK (octet_length(term) = 16),
    key_id uuid NOT NULL REFERENCES pseudo_keys.subject_key (key_id) ON DELETE CASCADE,
    PRIMARY KEY (search_key, term, key_id)
);
-- The shred's cascade finds a key's terms through this index.
CREATE INDEX search_term_key_id_idx ON pseudo_keys.search_term (key_id);
COMMENT ON TABLE pseudo_keys.search_term IS
    'Search terms: HMAC of a normalized plaintext under a search key, for the subject key its value is encrypted under; deleted with the subject key (crypto-shredding)';

REVOKE ALL ON pseudo_keys.search_key, pseudo_keys.search_term FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.search_key', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.search_term', '');

-- Every backend drops its cached search keys when they change (as for the
-- other key tables, on every node of a Citus cluster).
CREATE TRIGGER key_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pseudo_keys.search_key
    FOR EACH STATEMENT EXECUTE FUNCTION pseudo_keys.key_state_changed();

ALTER TABLE pseudo_keys.audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE pseudo_keys.audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('create', 'rotate', 'rewrap', 'shred', 'root_rotate', 'root_retire', 'root_destroy',
                      'search_create', 'search_rotate', 'search_drop'));

CREATE VIEW pseudo_keys.search_indexes AS
    SELECT k.index_name AS name, pg_catalog.min(k.normalization) AS normalization,
           pg_catalog.max(k.version) AS key_version, pg_catalog.count(*) AS key_versions,
           pg_catalog.min(k.created_at) AS created_at
    FROM pseudo_keys.search_key k
    GROUP BY k.index_name;
REVOKE ALL ON pseudo_keys.search_indexes FROM PUBLIC;
GRANT SELECT ON pseudo_keys.search_indexes TO pseudo_admin;
COMMENT ON VIEW pseudo_keys.search_indexes IS
    'Search indexes (pseudo_admin): name, normalization, current key version and how many versions hold terms (2 while a rotation is re-deriving them)';

CREATE FUNCTION pseudo_create_search_index(name text, normalization text DEFAULT 'none') RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_create_search_index_wrapper';
REVOKE ALL ON FUNCTION pseudo_create_search_index(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_create_search_index(text, text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_create_search_index(text, text) IS
    'Creates a search index with a new random key wrapped under the root key (pseudo_admin); normalization ''none'' (byte for byte) or ''lower_trim'' (Unicode lowercase, outer white space trimmed: e-mail addresses). Audited. 42710: exists; 22023: bad name or normalization; 25006: read-only';

CREATE FUNCTION pseudo_drop_search_index(name text) RETURNS boolean
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_drop_search_index_wrapper';
REVOKE ALL ON FUNCTION pseudo_drop_search_index(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_drop_search_index(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_drop_search_index(text) IS
    'Drops a search index: its keys and every term (pseudo_admin); returns whether it existed. Audited';

CREATE FUNCTION pseudo_rotate_search_index(name text) RETURNS integer
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_rotate_search_index_wrapper';
REVOKE ALL ON FUNCTION pseudo_rotate_search_index(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_rotate_search_index(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_rotate_search_index(text) IS
    'Starts a search index key rotation (pseudo_admin): a new key version, used by new writes; searches look under both until pseudo_reindex_search_column re-derives the terms and drops the old key. Returns the new version. Audited. 42704: no such index; 55000: a rotation is already in progress';

CREATE FUNCTION pseudo_keys.index_value(name text, value pseudo_text) RETURNS boolean
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_index_value_wrapper';
CREATE FUNCTION pseudo_keys.index_value(name text, value pseudo_text, context text) RETURNS boolean
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_index_value_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.index_value(text, pseudo_text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pseudo_keys.index_value(text, pseudo_text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_keys.index_value(text, pseudo_text) TO pseudo_admin;
GRANT EXECUTE ON FUNCTION pseudo_keys.index_value(text, pseudo_text, text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_keys.index_value(text, pseudo_text) IS
    'Internal, for pseudo_reindex_search_column (pseudo_admin): records a stored value''s term under the index''s current key; false when its key was shredded';
COMMENT ON FUNCTION pseudo_keys.index_value(text, pseudo_text, text) IS
    'Internal, for pseudo_reindex_search_column (pseudo_admin): pseudo_keys.index_value of a value encrypted with a context';

CREATE FUNCTION pseudo_keys.finish_search_rotation(name text) RETURNS integer
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_finish_search_rotation_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.finish_search_rotation(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_keys.finish_search_rotation(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_keys.finish_search_rotation(text) IS
    'Internal, for pseudo_reindex_search_column (pseudo_admin): drops the index''s older key versions and their terms; returns how many versions went';

-- Invoker's rights (a procedure that commits cannot be SECURITY DEFINER):
-- the caller needs pseudo_admin and SELECT on the table.
CREATE PROCEDURE pseudo_reindex_search_column(name text, tab regclass, col name, context text DEFAULT NULL,
                                              batch_pages integer DEFAULT 100, finish boolean DEFAULT true)
    LANGUAGE plpgsql
AS $reindex$
DECLARE
    col_type oid;
    pages bigint;
    first_page bigint := 0;
    batch_rows bigint;
    total bigint := 0;
    stmt text;
    distributed boolean := false;
BEGIN
    IF batch_pages IS NULL OR batch_pages < 1 THEN
        RAISE EXCEPTION 'pseudo_ext: batch_pages must be a positive number of pages' USING ERRCODE = '22023';
    END IF;
    SELECT a.atttypid INTO col_type FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = tab AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pseudo_ext: column "%" of relation % does not exist', col, tab USING ERRCODE = '42703';
    END IF;
    IF col_type OPERATOR(pg_catalog.<>) '@extschema@.pseudo_text'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'pseudo_ext: column "%" of relation % is not of type pseudo_text', col, tab USING ERRCODE = '42804';
    END IF;
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1)'
            INTO distributed USING tab;
        IF distributed THEN
            RAISE EXCEPTION 'pseudo_ext: pseudo_reindex_search_column does not run on a Citus distributed table'
                USING ERRCODE = '0A000', HINT = 'See docs/searching.md, "On Citus".';
        END IF;
    END IF;
    stmt := pg_catalog.format(
        'SELECT pg_catalog.count(*) FILTER (WHERE pseudo_keys.index_value($3, %I%s)) FROM %s
          WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2',
        col, CASE WHEN context IS NULL THEN '' ELSE ', $4' END, tab);
    pages := pg_catalog.pg_relation_size(tab) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::bigint;
    WHILE first_page OPERATOR(pg_catalog.<) pages LOOP
        EXECUTE stmt INTO batch_rows
            USING pg_catalog.format('(%s,0)', first_page)::pg_catalog.tid,
                  pg_catalog.format('(%s,0)', first_page OPERATOR(pg_catalog.+) batch_pages)::pg_catalog.tid,
                  name, context;
        total := total OPERATOR(pg_catalog.+) batch_rows;
        first_page := first_page OPERATOR(pg_catalog.+) batch_pages;
        RAISE NOTICE 'pseudo_reindex_search_column: %: %.%: % of % pages done, % values indexed',
            name, tab, col, LEAST(first_page, pages), pages, total;
        COMMIT;
    END LOOP;
    IF finish THEN
        PERFORM pseudo_keys.finish_search_rotation(name);
    END IF;
END
$reindex$;
REVOKE ALL ON PROCEDURE pseudo_reindex_search_column(text, regclass, name, text, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE pseudo_reindex_search_column(text, regclass, name, text, integer, boolean) TO pseudo_admin;
COMMENT ON PROCEDURE pseudo_reindex_search_column(text, regclass, name, text, integer, boolean) IS
    'Records the term of every live value of a pseudo_text column under the index''s current key, one committed transaction per batch of pages with a progress NOTICE (pseudo_admin, with SELECT on the table); then, with finish, drops older key versions and their terms. Builds an index over existing values, and completes a pseudo_rotate_search_index. CALL outside a transaction block. 42704; 42703; 42804; 0A000: a Citus distributed table';

CREATE FUNCTION pseudo_encrypt_searchable(search_index text, subject text, plaintext text) RETURNS pseudo_text
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_encrypt_searchable_wrapper';
CREATE FUNCTION pseudo_encrypt_searchable(search_index text, subject text, plaintext text, context text) RETURNS pseudo_text
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_encrypt_searchable_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_encrypt_searchable(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pseudo_encrypt_searchable(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_encrypt_searchable(text, text, text) TO pseudo_writer;
GRANT EXECUTE ON FUNCTION pseudo_encrypt_searchable(text, text, text, text) TO pseudo_writer;
COMMENT ON FUNCTION pseudo_encrypt_searchable(text, text, text) IS
    'pseudo_encrypt that also records the value''s search term in the named index, so pseudo_search finds it (pseudo_writer); the term is written with the transaction and shredded with the subject. 42704: no such index; 22021: lower_trim index and text not UTF-8; 25006: read-only; and pseudo_encrypt''s';
COMMENT ON FUNCTION pseudo_encrypt_searchable(text, text, text, text) IS
    'pseudo_encrypt_searchable with a context bound as associated data (pseudo_writer). 22004: NULL context';

CREATE FUNCTION pseudo_search(search_index text, plaintext text) RETURNS uuid[]
    LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'pseudo_search_wrapper';
REVOKE ALL ON FUNCTION pseudo_search(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_search(text, text) TO pseudo_searcher;
COMMENT ON FUNCTION pseudo_search(text, text) IS
    'The key ids of every subject with a value of this plaintext in the index (pseudo_searcher): candidates for WHERE pseudo_key_id(col) = ANY (pseudo_search(...)) AND pseudo_matches(...). 42704: no such index; 22021';

CREATE FUNCTION pseudo_matches(search_index text, value pseudo_text, plaintext text) RETURNS boolean
    LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'pseudo_matches_wrapper';
CREATE FUNCTION pseudo_matches(search_index text, value pseudo_text, plaintext text, context text) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'pseudo_matches_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_matches(text, pseudo_text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pseudo_matches(text, pseudo_text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_matches(text, pseudo_text, text) TO pseudo_searcher;
GRANT EXECUTE ON FUNCTION pseudo_matches(text, pseudo_text, text, text) TO pseudo_searcher;
COMMENT ON FUNCTION pseudo_matches(text, pseudo_text, text) IS
    'Whether a candidate value equals the plaintext after the index''s normalization (pseudo_searcher): false unless pseudo_search would list the value''s key id; decrypts inside, returns only the answer. 42704; 22021; XX001: tampered';
COMMENT ON FUNCTION pseudo_matches(text, pseudo_text, text, text) IS
    'pseudo_matches of a value encrypted with a context (pseudo_searcher). 22004: NULL context';

-------------------------------------------------------------------------------
-- Statistics. ANALYZE (autovacuum's too) copies sample values of every column
-- into pg_statistic, which a shred does not reach: a wrapped key sampled
-- there outlived pseudo_shred, and a root key holder could unwrap it; a
-- search term sampled there outlived the subject's terms. The key tables'
-- secret columns are no longer sampled, and what earlier ANALYZEs sampled of
-- them is removed. (The planner needs no statistics for them: they are only
-- looked up by key.)
-------------------------------------------------------------------------------
ALTER TABLE pseudo_keys.subject_key ALTER COLUMN wrapped_key SET STATISTICS 0;
ALTER TABLE pseudo_keys.root_key ALTER COLUMN wrapped_digest_key SET STATISTICS 0;
ALTER TABLE pseudo_keys.search_key ALTER COLUMN wrapped_key SET STATISTICS 0;
ALTER TABLE pseudo_keys.search_term ALTER COLUMN term SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic s
    USING pg_catalog.pg_attribute a
    WHERE a.attrelid OPERATOR(pg_catalog.=) s.starelid AND a.attnum OPERATOR(pg_catalog.=) s.staattnum
      AND (a.attrelid, a.attname) IN (('pseudo_keys.subject_key'::pg_catalog.regclass, 'wrapped_key'),
                                      ('pseudo_keys.root_key'::pg_catalog.regclass, 'wrapped_digest_key'));
