-- pseudo_ext 0.1.0 -> 0.2.0: the key lifecycle. Subject key rotation and
-- rewrap, context-bound values, root key epochs (rotation, retirement), an
-- append-only audit log, admin views and pseudo_check_config().
--
-- A fresh 0.2.0 install runs the frozen 0.1.0 script and then this one (see
-- src/lib.rs), so an upgraded database and a fresh one get the same objects
-- from the same text; tests/upgrade.sh checks it on a real 0.1.0 install.
\echo Use "ALTER EXTENSION pseudo_ext UPDATE TO '0.2.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Root key epochs. The newest epoch is current: new keys are wrapped under
-- its root key. Rotation supersedes it; retirement erases the digest key
-- wrapped under an old epoch once no subject key is wrapped under it.
-------------------------------------------------------------------------------
ALTER TABLE pseudo_keys.root_key
    ADD COLUMN superseded_at timestamptz,
    ADD COLUMN retired_at timestamptz,
    ALTER COLUMN wrapped_digest_key DROP NOT NULL,
    ADD CONSTRAINT root_key_retired_has_no_wrapped_key
        CHECK ((retired_at IS NULL) = (wrapped_digest_key IS NOT NULL));
COMMENT ON TABLE pseudo_keys.root_key IS
    'Root key epochs: a fingerprint of each root key (never the key) and the subject-digest key wrapped under it (erased when the epoch is retired)';

-------------------------------------------------------------------------------
-- Audit log: one row per key action. Append-only: no UPDATE, DELETE or
-- TRUNCATE privilege for anyone (the owner's are revoked too) and a trigger
-- refusing them; only a superuser who disables the trigger can rewrite it.
-- Holds key ids and counts, never subject identifiers or key bytes.
-------------------------------------------------------------------------------
CREATE TABLE pseudo_keys.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL DEFAULT SESSION_USER,
    acting_role name NOT NULL DEFAULT (
        CASE pg_catalog.current_setting('role')
            WHEN 'none' THEN SESSION_USER
            ELSE pg_catalog.current_setting('role')::name
        END),
    action text NOT NULL
        CHECK (action IN ('create', 'rotate', 'rewrap', 'shred', 'root_rotate', 'root_retire', 'root_destroy')),
    key_ids uuid[] NOT NULL DEFAULT '{}',
    detail jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE pseudo_keys.audit_log IS
    'Append-only log of key actions: when, which session and acting role, which key ids; never subject identifiers';

CREATE FUNCTION pseudo_keys.refuse_audit_log_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $refuse$
BEGIN
    RAISE EXCEPTION 'pseudo_ext: pseudo_keys.audit_log is append-only'
        USING ERRCODE = '42501', HINT = 'Audit rows cannot be updated, deleted or truncated.';
END
$refuse$;
REVOKE ALL ON FUNCTION pseudo_keys.refuse_audit_log_change() FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.refuse_audit_log_change() IS 'Internal: keeps pseudo_keys.audit_log append-only';
CREATE TRIGGER audit_log_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON pseudo_keys.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION pseudo_keys.refuse_audit_log_change();

REVOKE ALL ON pseudo_keys.audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON pseudo_keys.audit_log FROM CURRENT_USER;
REVOKE ALL ON SEQUENCE pseudo_keys.audit_log_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('pseudo_keys.audit_log_id_seq', '');

-------------------------------------------------------------------------------
-- Views for pseudo_admin: what exists, never key bytes. pseudo_admin gets
-- USAGE on pseudo_keys for them, and SELECT on nothing else there.
-------------------------------------------------------------------------------
CREATE VIEW pseudo_keys.subject_keys AS
    SELECT k.subject_digest, k.key_id, k.version,
           k.version = pg_catalog.max(k.version) OVER (PARTITION BY k.subject_digest) AS is_current,
           k.root_epoch, k.created_at
    FROM pseudo_keys.subject_key k;
COMMENT ON VIEW pseudo_keys.subject_keys IS
    'Live keys per subject (by keyed digest): id, version, whether current, root key epoch, creation time; never key bytes';

CREATE VIEW pseudo_keys.key_counts AS
    SELECT (SELECT pg_catalog.count(*) FROM pseudo_keys.subject) AS subjects,
           (SELECT pg_catalog.count(*) FROM pseudo_keys.subject s WHERE s.shredded_at IS NOT NULL) AS shredded_subjects,
           (SELECT pg_catalog.count(*) FROM pseudo_keys.subject_key) AS live_keys,
           (SELECT pg_catalog.count(*) FROM pseudo_keys.shredded_key) AS shredded_keys,
           (SELECT pg_catalog.max(r.epoch) FROM pseudo_keys.root_key r) AS current_root_epoch;
COMMENT ON VIEW pseudo_keys.key_counts IS 'Counts of subjects, shredded subjects, live and shredded keys, and the current root key epoch';

CREATE VIEW pseudo_keys.root_key_epochs AS
    SELECT r.epoch,
           r.epoch = pg_catalog.max(r.epoch) OVER () AS is_current,
           r.created_at, r.superseded_at, r.retired_at,
           (SELECT pg_catalog.count(*) FROM pseudo_keys.subject_key k WHERE k.root_epoch = r.epoch) AS keys_wrapped
    FROM pseudo_keys.root_key r;
COMMENT ON VIEW pseudo_keys.root_key_epochs IS
    'Root key epochs: current or not, when superseded and retired, how many subject keys are wrapped under each';

GRANT USAGE ON SCHEMA pseudo_keys TO pseudo_admin, pseudo_writer;
REVOKE ALL ON pseudo_keys.subject_keys, pseudo_keys.key_counts, pseudo_keys.root_key_epochs FROM PUBLIC;
GRANT SELECT ON pseudo_keys.subject_keys, pseudo_keys.key_counts, pseudo_keys.root_key_epochs,
                pseudo_keys.audit_log TO pseudo_admin;

-------------------------------------------------------------------------------
-- Context: bound as associated data (version || key id || context bytes), so
-- a value copied to another column or row does not decrypt there. Not STRICT:
-- a NULL context is an error (22004), not a silently unbound value.
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_encrypt(subject text, plaintext text, context text) RETURNS pseudo_text
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_encrypt_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_encrypt(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_encrypt(text, text, text) TO pseudo_writer;
COMMENT ON FUNCTION pseudo_encrypt(text, text, text) IS
    'Encrypts plaintext for the subject with context bound as associated data (pseudo_writer); decrypt with the same context. NULL subject or plaintext: NULL. 22004: NULL context; 54000; 55000';

CREATE FUNCTION pseudo_decrypt(value pseudo_text, context text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_decrypt_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_decrypt(pseudo_text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_decrypt(pseudo_text, text) TO pseudo_reader;
COMMENT ON FUNCTION pseudo_decrypt(pseudo_text, text) IS
    'Decrypts a value encrypted with this context (pseudo_reader); NULL when shredded. XX001: wrong context or tampered; 22004: NULL context; 42704';

-------------------------------------------------------------------------------
-- Subject key rotation and rewrap.
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_rotate(subject text) RETURNS uuid
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_rotate_wrapper';
REVOKE ALL ON FUNCTION pseudo_rotate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_rotate(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_rotate(text) IS
    'Key rotation (pseudo_admin): a new key version becomes the subject''s current key and its id is returned; older values still decrypt. 55000: subject was shredded';

-- Checks inside that the caller has the privileges of both pseudo_reader and
-- pseudo_writer (42501 otherwise): rewrapping decrypts and encrypts.
CREATE FUNCTION pseudo_rewrap(value pseudo_text) RETURNS pseudo_text
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_rewrap_wrapper';
CREATE FUNCTION pseudo_rewrap(value pseudo_text, context text) RETURNS pseudo_text
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_rewrap_in_context_wrapper';
REVOKE ALL ON FUNCTION pseudo_rewrap(pseudo_text), pseudo_rewrap(pseudo_text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_rewrap(pseudo_text), pseudo_rewrap(pseudo_text, text) TO pseudo_reader, pseudo_writer;
COMMENT ON FUNCTION pseudo_rewrap(pseudo_text) IS
    'Re-encrypts a value under its subject''s current key (needs pseudo_reader and pseudo_writer); unchanged when already current or shredded. 42501; XX001; 42704';
COMMENT ON FUNCTION pseudo_rewrap(pseudo_text, text) IS
    'pseudo_rewrap of a value encrypted with this context. 22004: NULL context; 42501; XX001; 42704';

CREATE FUNCTION pseudo_needs_rewrap(value pseudo_text) RETURNS boolean
    LANGUAGE c STRICT STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'pseudo_needs_rewrap_wrapper';
REVOKE ALL ON FUNCTION pseudo_needs_rewrap(pseudo_text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_needs_rewrap(pseudo_text) TO pseudo_reader, pseudo_writer, pseudo_admin;
COMMENT ON FUNCTION pseudo_needs_rewrap(pseudo_text) IS
    'Whether pseudo_rewrap would change the value: its key is live but no longer its subject''s current key. 42704';

CREATE FUNCTION pseudo_keys.log_rewrap_batch(tab regclass, col name, rewrapped bigint, key_ids uuid[]) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $log$
    INSERT INTO pseudo_keys.audit_log (action, key_ids, detail)
    VALUES ('rewrap', COALESCE(key_ids, '{}'),
            pg_catalog.jsonb_build_object('table', tab::text, 'column', col, 'values', rewrapped));
$log$;
REVOKE ALL ON FUNCTION pseudo_keys.log_rewrap_batch(regclass, name, bigint, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_keys.log_rewrap_batch(regclass, name, bigint, uuid[]) TO pseudo_writer;
COMMENT ON FUNCTION pseudo_keys.log_rewrap_batch(regclass, name, bigint, uuid[]) IS
    'Internal, for pseudo_rewrap_column: records one committed rewrap batch (SECURITY DEFINER: pseudo_writer cannot write the audit log)';

-- Not SECURITY DEFINER (it runs with the caller's rights on the table) and
-- no SET clause (a procedure with one cannot COMMIT): every name is
-- qualified instead. Rows are visited in ranges of pages (TID range scans),
-- one transaction per range.
CREATE PROCEDURE pseudo_rewrap_column(tab regclass, col name, context text DEFAULT NULL, batch_pages integer DEFAULT 100)
    LANGUAGE plpgsql
AS $rewrap$
DECLARE
    col_type oid;
    pages bigint;
    first_page bigint := 0;
    batch_rows bigint;
    batch_ids uuid[];
    total bigint := 0;
    stmt text;
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
    stmt := pg_catalog.format(
        'WITH done AS (UPDATE %s SET %I = @extschema@.pseudo_rewrap(%I%s)
                       WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2
                         AND @extschema@.pseudo_needs_rewrap(%I)
                       RETURNING @extschema@.pseudo_key_id(%I) AS key_id)
         SELECT pg_catalog.count(*), pg_catalog.array_agg(DISTINCT done.key_id) FROM done',
        tab, col, col, CASE WHEN context IS NULL THEN '' ELSE ', $3' END, col, col);
    pages := pg_catalog.pg_relation_size(tab) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::bigint;
    WHILE first_page OPERATOR(pg_catalog.<) pages LOOP
        EXECUTE stmt INTO batch_rows, batch_ids
            USING pg_catalog.format('(%s,0)', first_page)::pg_catalog.tid,
                  pg_catalog.format('(%s,0)', first_page OPERATOR(pg_catalog.+) batch_pages)::pg_catalog.tid,
                  context;
        IF batch_rows OPERATOR(pg_catalog.>) 0 THEN
            PERFORM pseudo_keys.log_rewrap_batch(tab, col, batch_rows, batch_ids);
        END IF;
        total := total OPERATOR(pg_catalog.+) batch_rows;
        first_page := first_page OPERATOR(pg_catalog.+) batch_pages;
        RAISE NOTICE 'pseudo_rewrap_column: %.%: % of % pages done, % values rewrapped',
            tab, col, LEAST(first_page, pages), pages, total;
        COMMIT;
    END LOOP;
END
$rewrap$;
REVOKE ALL ON PROCEDURE pseudo_rewrap_column(regclass, name, text, integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE pseudo_rewrap_column(regclass, name, text, integer) TO pseudo_writer;
COMMENT ON PROCEDURE pseudo_rewrap_column(regclass, name, text, integer) IS
    'Rewraps a pseudo_text column online, one committed transaction per batch of pages with a progress NOTICE; stop it any time and CALL it again to resume. CALL outside a transaction block';

-------------------------------------------------------------------------------
-- Root key epochs: rotation and retirement (C, as the extension owner).
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_rotate_root_key() RETURNS integer
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_rotate_root_key_wrapper';
REVOKE ALL ON FUNCTION pseudo_rotate_root_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_rotate_root_key() TO pseudo_admin;
COMMENT ON FUNCTION pseudo_rotate_root_key() IS
    'Root key rotation (pseudo_admin): a new root key epoch (key appended to the root key file, or the one new key of the root key command), every subject key rewrapped under it; returns the epoch. 55000';

CREATE FUNCTION pseudo_retire_root_key(epoch integer) RETURNS bigint
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_retire_root_key_wrapper';
REVOKE ALL ON FUNCTION pseudo_retire_root_key(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_retire_root_key(integer) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_retire_root_key(integer) IS
    'Retires an old root key epoch (pseudo_admin): rewraps keys still under it and erases what it wraps; returns keys rewrapped. 55000: current epoch; 42704';

-- Separate from retirement: every database of a cluster shares the default
-- root key file, so a key may only be destroyed once all of them retired it.
CREATE FUNCTION pseudo_destroy_root_key(epoch integer) RETURNS boolean
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_destroy_root_key_wrapper';
REVOKE ALL ON FUNCTION pseudo_destroy_root_key(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_destroy_root_key(integer) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_destroy_root_key(integer) IS
    'Destroys the root key of a retired epoch (pseudo_admin): its line is removed from the root key file when the transaction commits; returns whether the file held it. Irreversible; other databases sharing the file must have retired the epoch too. 55000; 42704';

-------------------------------------------------------------------------------
-- Admin lookups and configuration check.
-------------------------------------------------------------------------------
CREATE FUNCTION pseudo_subject_keys(subject text)
    RETURNS TABLE (key_id uuid, version integer, is_current boolean, root_epoch integer, created_at timestamptz)
    LANGUAGE sql STRICT VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $keys$
    SELECT v.key_id, v.version, v.is_current, v.root_epoch, v.created_at
    FROM pseudo_keys.subject_keys v
    WHERE v.subject_digest = pseudo_keys.subject_digest(subject)
    ORDER BY v.version;
$keys$;
REVOKE ALL ON FUNCTION pseudo_subject_keys(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_subject_keys(text) TO pseudo_admin;
COMMENT ON FUNCTION pseudo_subject_keys(text) IS
    'The live keys of one subject (pseudo_admin; SECURITY DEFINER because the subject digest key is owner-only): id, version, current or not, root epoch';

CREATE FUNCTION pseudo_keys.root_key_source_check()
    RETURNS TABLE (setting text, value text, risk text)
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'pseudo_root_key_source_check_wrapper';
REVOKE ALL ON FUNCTION pseudo_keys.root_key_source_check() FROM PUBLIC;
COMMENT ON FUNCTION pseudo_keys.root_key_source_check() IS
    'Internal, for pseudo_check_config: root key file location and retired root keys still present';

-- SECURITY DEFINER: the settings it reads (data_directory, the root key
-- settings, preload libraries) are visible to superusers only.
CREATE FUNCTION pseudo_check_config() RETURNS TABLE (setting text, value text, risk text)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $check$
DECLARE
    libraries text := concat_ws(',', current_setting('shared_preload_libraries'),
                                current_setting('session_preload_libraries'),
                                current_setting('local_preload_libraries'));
    raw text;
BEGIN
    setting := 'log_statement'; value := current_setting(setting);
    risk := CASE WHEN value IN ('mod', 'all') THEN
        'statements are logged with their literals: pseudo_encrypt(''subject'', ''plaintext'') writes the plaintext to the server log; use none or ddl' END;
    RETURN NEXT;

    setting := 'log_min_duration_statement'; value := current_setting(setting);
    SELECT s.setting INTO raw FROM pg_settings s WHERE s.name = 'log_min_duration_statement';
    risk := CASE WHEN raw::integer >= 0 THEN
        'statements slower than this are logged with their text and literals; use -1, or bind parameters with log_parameter_max_length = 0' END;
    RETURN NEXT;

    -- pseudo_ext hides the text of failing statements that mention its
    -- functions (src/log_filter.rs), but only in sessions that loaded it.
    setting := 'log_min_error_statement'; value := current_setting(setting);
    risk := CASE WHEN value <> 'panic' AND NOT 'pseudo_ext' = ANY (pg_catalog.string_to_array(
                          pg_catalog.replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
        'a failing statement is logged with its text, literals included; pseudo_ext hides statements that call it only once a session has loaded it: add pseudo_ext to shared_preload_libraries, or set panic' END;
    RETURN NEXT;

    setting := 'log_parameter_max_length'; value := current_setting(setting);
    risk := CASE WHEN value <> '0' THEN
        'bind parameter values (plaintexts) are printed with every logged statement; set 0' END;
    RETURN NEXT;

    setting := 'log_parameter_max_length_on_error'; value := current_setting(setting);
    risk := CASE WHEN value <> '0' THEN
        'bind parameter values (plaintexts) are printed with failing statements; set 0' END;
    RETURN NEXT;

    FOREACH setting IN ARRAY ARRAY['debug_print_parse', 'debug_print_rewritten', 'debug_print_plan'] LOOP
        value := current_setting(setting);
        risk := CASE WHEN value = 'on' THEN 'query trees, constants included, are written to the server log; set off' END;
        RETURN NEXT;
    END LOOP;

    setting := 'auto_explain';
    raw := current_setting('auto_explain.log_min_duration', true);
    value := CASE WHEN raw IS NULL AND libraries NOT LIKE '%auto_explain%' THEN 'not loaded'
                  ELSE 'loaded, log_min_duration = ' || COALESCE(raw, 'default') END;
    risk := CASE WHEN value <> 'not loaded' AND COALESCE(raw, '-1') <> '-1' THEN
        'auto_explain logs the text of slow statements with their plans, constants included' END;
    RETURN NEXT;

    setting := 'pgaudit';
    raw := current_setting('pgaudit.log', true);
    value := CASE WHEN raw IS NULL AND libraries NOT LIKE '%pgaudit%' THEN 'not loaded'
                  ELSE 'pgaudit.log = ' || COALESCE(raw, 'default') || ', pgaudit.log_parameter = '
                       || COALESCE(current_setting('pgaudit.log_parameter', true), 'default') END;
    risk := CASE
        WHEN value = 'not loaded' THEN NULL
        WHEN current_setting('pgaudit.log_parameter', true) = 'on' THEN
            'pgaudit logs bind parameter values (plaintexts); set pgaudit.log_parameter = off'
        WHEN COALESCE(raw, 'none') <> 'none' THEN
            'pgaudit logs statement text with its literals for the classes in pgaudit.log' END;
    RETURN NEXT;

    RETURN QUERY SELECT c.setting, c.value, c.risk FROM pseudo_keys.root_key_source_check() c;
END
$check$;
REVOKE ALL ON FUNCTION pseudo_check_config() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pseudo_check_config() TO pseudo_admin;
COMMENT ON FUNCTION pseudo_check_config() IS
    'Settings that would put plaintext into server logs, and root key storage risks (pseudo_admin): one row per check, risk NULL when fine';

-------------------------------------------------------------------------------
-- Shredding, now audited (same behaviour as 0.1.0).
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pseudo_shred(subject text) RETURNS integer
    LANGUAGE plpgsql STRICT VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $shred$
DECLARE
    digest bytea := pseudo_keys.subject_digest(subject);
    destroyed uuid[];
BEGIN
    -- Locks the subject's row: waits for a concurrent first-key creation to
    -- commit, and makes later ones see shredded_at.
    INSERT INTO pseudo_keys.subject AS s (subject_digest, shredded_at)
        VALUES (digest, pg_catalog.now())
        ON CONFLICT (subject_digest)
        DO UPDATE SET shredded_at = COALESCE(s.shredded_at, EXCLUDED.shredded_at);
    WITH gone AS (
        DELETE FROM pseudo_keys.subject_key k WHERE k.subject_digest = digest RETURNING k.key_id
    ), recorded AS (
        INSERT INTO pseudo_keys.shredded_key (key_id) SELECT gone.key_id FROM gone RETURNING key_id
    )
    SELECT COALESCE(pg_catalog.array_agg(recorded.key_id), '{}') INTO destroyed FROM recorded;
    -- Key ids only: the audit log must not identify a shredded subject.
    INSERT INTO pseudo_keys.audit_log (action, key_ids, detail)
        VALUES ('shred', destroyed, pg_catalog.jsonb_build_object('keys', pg_catalog.cardinality(destroyed)));
    PERFORM pseudo_keys.invalidate_key_cache();
    RETURN pg_catalog.cardinality(destroyed);
END
$shred$;
