-- Who may do what. Roles named regress_*; results are SQLSTATEs ('ok' when allowed).
CREATE ROLE regress_plain LOGIN;
CREATE ROLE regress_writer LOGIN IN ROLE pseudo_writer;
CREATE ROLE regress_reader LOGIN IN ROLE pseudo_reader;
CREATE ROLE regress_admin LOGIN IN ROLE pseudo_admin;
CREATE SCHEMA regress_util;
GRANT USAGE ON SCHEMA regress_util TO PUBLIC;
CREATE TABLE regress_util.sample (v pseudo_text);
INSERT INTO regress_util.sample SELECT pseudo_encrypt('ac-subject', 'reader may see this');
GRANT SELECT ON regress_util.sample TO PUBLIC;

-- Runs a statement as a role; returns 'ok' or the SQLSTATE it failed with.
CREATE FUNCTION regress_util.as_role(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET ROLE %I', r);
  EXECUTE stmt;
  RESET ROLE;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;

SELECT stmt,
       regress_util.as_role('regress_plain', stmt)  AS plain,
       regress_util.as_role('regress_writer', stmt) AS writer,
       regress_util.as_role('regress_reader', stmt) AS reader,
       regress_util.as_role('regress_admin', stmt)  AS admin
FROM (VALUES
  ('SELECT pseudo_encrypt(''ac-other'', ''x'')'),
  ('SELECT pseudo_decrypt(v) FROM regress_util.sample'),
  ('SELECT pseudo_key_id(v) FROM regress_util.sample'),
  ('SELECT v::text::pseudo_text FROM regress_util.sample'),
  ('SELECT pseudo_shred(''ac-nobody'')'),
  ('SELECT pseudo_keys.subject_digest(''ac-subject'')'),
  ('SELECT pseudo_keys.invalidate_key_cache()'),
  ('SELECT count(*) FROM pseudo_keys.subject_key'),
  ('SELECT count(*) FROM pseudo_keys.subject'),
  ('SELECT count(*) FROM pseudo_keys.root_key'),
  ('SELECT count(*) FROM pseudo_keys.shredded_key'),
  ('DELETE FROM pseudo_keys.subject_key'),
  ('CREATE TABLE pseudo_keys.intruder (x int)')
) AS t(stmt);

-- The reader decrypts even with a hostile search_path: an '=' operator for
-- uuid and bytea placed before pg_catalog is never used by the key lookup.
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.hijack(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR regress_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_evil.hijack);
CREATE FUNCTION regress_evil.hijack_b(bytea, bytea) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR regress_evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = regress_evil.hijack_b);
GRANT USAGE ON SCHEMA regress_evil TO PUBLIC;
SELECT pseudo_keys.invalidate_key_cache();   -- force the next decrypt to miss the cache
SET ROLE regress_reader;
SET search_path = regress_evil, pg_catalog, public;
SELECT public.pseudo_decrypt(v) AS decrypted_with_hostile_search_path FROM regress_util.sample;
RESET search_path;
RESET ROLE;

-- pseudo_shred (SECURITY DEFINER) with the same hostile search_path and a temp
-- table shadowing a key table name
SET ROLE regress_admin;
SET search_path = regress_evil, pg_catalog, public;
CREATE TEMP TABLE subject_key (key_id uuid);
SELECT public.pseudo_shred('ac-shred-me') AS shred_with_hostile_search_path;
DROP TABLE pg_temp.subject_key;
RESET search_path;
RESET ROLE;

-- A plain login role cannot SET ROLE to the extension's roles
SET SESSION AUTHORIZATION regress_plain;
SET ROLE pseudo_reader;
SET ROLE pseudo_admin;
SELECT pseudo_decrypt(v) FROM regress_util.sample;
RESET SESSION AUTHORIZATION;

-- The root key file setting is superuser-only
SET ROLE regress_admin;
SET pseudo_ext.root_key_file = '/tmp/attacker.key';
-- (by SQLSTATE: the message differs between PostgreSQL versions)
DO $$ BEGIN
    PERFORM current_setting('pseudo_ext.root_key_file');
    RAISE NOTICE 'root_key_file readable';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'reading root_key_file refused: %', SQLSTATE;
END $$;
RESET ROLE;

-- The install script granted nothing on the key tables to anyone; pseudo_admin
-- may read the admin views and the audit log
SELECT table_name, grantee, privilege_type
  FROM information_schema.table_privileges WHERE table_schema = 'pseudo_keys' AND grantee <> 'postgres'
 ORDER BY 1, 2, 3;
-- Functions anyone may call: the type's support functions and pseudo_key_id only
SELECT p.oid::regprocedure AS callable_by_public
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pseudo_ext'
 WHERE has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT proname, prosecdef, proconfig FROM pg_proc WHERE prosecdef AND pronamespace IN (
  SELECT n.oid FROM pg_namespace n WHERE nspname IN ('public', 'pseudo_keys')) ORDER BY proname;

-- Every SECURITY DEFINER function and the C admin functions, with look-alike
-- functions in a schema searched first and temp tables named like key tables:
-- none is used (each would raise 'hijacked').
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION regress_evil.cardinality(anyarray) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION regress_evil.jsonb_build_object(text, integer) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION regress_evil.current_setting(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE FUNCTION regress_evil.max(integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'hijacked'; END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA regress_evil TO PUBLIC;
SET ROLE regress_admin;
SET search_path = regress_evil, public, pg_catalog;
CREATE TEMP TABLE audit_log (action text);
CREATE TEMP TABLE subject_keys (key_id uuid);
CREATE TEMP TABLE root_key (epoch int);
SELECT public.pseudo_rotate('ac-subject') IS NOT NULL AS rotate_ignores_lookalikes;
SELECT count(*) >= 1 AS subject_keys_ignores_lookalikes FROM public.pseudo_subject_keys('ac-subject');
SELECT count(*) > 5 AS check_config_ignores_lookalikes FROM public.pseudo_check_config();
SELECT public.pseudo_shred('ac-evil') AS shred_ignores_lookalikes;
DROP TABLE pg_temp.audit_log, pg_temp.subject_keys, pg_temp.root_key;
RESET search_path;
RESET ROLE;
-- The rewrap audit row, written at commit as the extension owner.
CREATE TEMP TABLE ac_stale AS SELECT public.pseudo_encrypt('ac-rewrap', 'stale') AS v;
SELECT public.pseudo_rotate('ac-rewrap') IS NOT NULL AS rotated;
SET search_path = regress_evil, public, pg_catalog;
CREATE TEMP TABLE audit_log (action text);
SELECT public.pseudo_decrypt(public.pseudo_rewrap(v)) = 'stale' AS rewrap_audit_ignores_lookalikes FROM ac_stale;
DROP TABLE pg_temp.audit_log, pg_temp.ac_stale;
RESET search_path;
SELECT count(*) AS hijacked_audit_rows FROM pseudo_keys.audit_log WHERE action NOT IN
  ('create', 'rotate', 'rewrap', 'shred', 'root_rotate', 'root_retire', 'root_destroy');

DROP SCHEMA regress_evil CASCADE;
DROP SCHEMA regress_util CASCADE;
DROP ROLE regress_plain, regress_writer, regress_reader, regress_admin;
