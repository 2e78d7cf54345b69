-- The audit log: every key action appends a row (when, which session and
-- acting role, which key ids); it never names a subject; nobody can change it.
CREATE ROLE regress_au_admin IN ROLE pseudo_admin;
CREATE ROLE regress_au_writer IN ROLE pseudo_writer, pseudo_reader;
CREATE FUNCTION pg_temp.try_as(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('SET ROLE %I', r); EXECUTE stmt; RESET ROLE; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
SELECT coalesce(max(id), 0) AS start, clock_timestamp() AS t0 FROM pseudo_keys.audit_log \gset

CREATE TABLE au (v pseudo_text) WITH (autovacuum_enabled = off);
GRANT SELECT, INSERT, UPDATE ON au TO regress_au_writer;
SET ROLE regress_au_writer;
INSERT INTO au SELECT pseudo_encrypt('au-bob', 'bob ' || i) FROM generate_series(1, 3) i;
RESET ROLE;
SET ROLE regress_au_admin;
SELECT pseudo_rotate('au-bob') IS NOT NULL AS rotated;
RESET ROLE;
SET ROLE regress_au_writer;
CALL pseudo_rewrap_column('au', 'v');
RESET ROLE;
SET ROLE regress_au_admin;
SELECT pseudo_shred('au-bob') AS destroyed;
RESET ROLE;

SELECT action, cardinality(key_ids) AS key_ids, acting_role, session_role = session_user AS session_recorded,
       at BETWEEN :'t0' AND clock_timestamp() AS at_recorded, detail
  FROM pseudo_keys.audit_log WHERE id > :start ORDER BY id;
-- the shred row names exactly the destroyed keys; the create and rotate rows name them too
SELECT (SELECT key_ids FROM pseudo_keys.audit_log WHERE id > :start AND action = 'shred')
     @> ARRAY(SELECT key_id FROM pseudo_keys.audit_log a, unnest(a.key_ids) key_id
               WHERE a.id > :start AND a.action IN ('create', 'rotate')) AS shred_lists_every_key;
-- no trace of the subject: neither its identifier nor its digest
SELECT count(*) AS rows_naming_subject FROM pseudo_keys.audit_log a
 WHERE a::text LIKE '%au-bob%'
    OR a::text LIKE '%' || encode(pseudo_keys.subject_digest('au-bob'), 'hex') || '%';

-- Append-only, for everyone: pseudo_admin lacks the privileges; the owner
-- (even a superuser) is stopped by the trigger.
SELECT stmt,
       pg_temp.try_as('regress_au_admin', stmt) AS admin,
       pg_temp.try_as('regress_au_writer', stmt) AS writer,
       pg_temp.try_as(current_user, stmt) AS owner_superuser
FROM (VALUES
  ('UPDATE pseudo_keys.audit_log SET action = ''create'''),
  ('DELETE FROM pseudo_keys.audit_log'),
  ('TRUNCATE pseudo_keys.audit_log'),
  ('INSERT INTO pseudo_keys.audit_log (action) VALUES (''shred'')')
) AS t(stmt);
-- (MAINTAIN, PostgreSQL 17+: VACUUM, ANALYZE, REINDEX, changes no row)
SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS owner_privileges
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = 'pseudo_keys.audit_log'::regclass AND a.grantee = c.relowner AND a.privilege_type <> 'MAINTAIN';
SELECT has_table_privilege('pseudo_admin', 'pseudo_keys.audit_log', 'SELECT') AS admin_select,
       has_table_privilege('pseudo_admin', 'pseudo_keys.audit_log', 'DELETE') AS admin_delete;
SELECT count(*) AS rows_kept FROM pseudo_keys.audit_log WHERE id > :start;

-- Rewrap rows come only from the code that rewrapped: one row per
-- transaction with the count, the new key ids and the tables written.
-- No function lets a writer append one with made-up numbers.
SELECT pg_temp.try_as('regress_au_writer', $$SELECT pseudo_keys.log_rewrap_batch('au', 'v', 1000000, '{}')$$) AS forged_rewrap_row;
SELECT p.oid::regprocedure AS writer_may_call_in_pseudo_keys FROM pg_proc p
 WHERE p.pronamespace = 'pseudo_keys'::regnamespace AND has_function_privilege('pseudo_writer', p.oid, 'EXECUTE')
 ORDER BY 1;
CREATE TABLE au2 (id int, v pseudo_text);
GRANT SELECT, INSERT, UPDATE ON au2 TO regress_au_writer;
INSERT INTO au2 SELECT i, pseudo_encrypt('au-carol-' || (i % 2), 'carol ' || i) FROM generate_series(1, 4) i;
SELECT pseudo_rotate('au-carol-0') IS NOT NULL AND pseudo_rotate('au-carol-1') IS NOT NULL AS rotated;
SELECT max(id) AS before_rewraps FROM pseudo_keys.audit_log \gset
CREATE FUNCTION pg_temp.rewrapped_since(after bigint) RETURNS TABLE (action text, key_ids int, detail jsonb)
    LANGUAGE sql AS $$ SELECT action, cardinality(key_ids), detail FROM pseudo_keys.audit_log WHERE id > after ORDER BY id $$;
-- rolled back, by a savepoint or the whole transaction: no row
BEGIN;
SAVEPOINT s;
UPDATE au2 SET v = pseudo_rewrap(v);
ROLLBACK TO SAVEPOINT s;
COMMIT;
BEGIN;
UPDATE au2 SET v = pseudo_rewrap(v);
ROLLBACK;
SELECT count(*) AS rows_after_rollbacks FROM pg_temp.rewrapped_since(:before_rewraps);
-- a plain UPDATE by a writer: one row, however many values
SET ROLE regress_au_writer;
UPDATE au2 SET v = pseudo_rewrap(v) WHERE id <= 2;
RESET ROLE;
SELECT * FROM pg_temp.rewrapped_since(:before_rewraps);
-- already current values are not counted; a rewrap through a SQL function
-- called per row is still one row; the kept part of a transaction with a
-- failed subtransaction is counted, the failed part is not
CREATE FUNCTION pg_temp.rewrapped(v pseudo_text) RETURNS pseudo_text LANGUAGE sql VOLATILE AS $$ SELECT pseudo_rewrap(v) $$;
SELECT max(id) AS before_rewraps FROM pseudo_keys.audit_log \gset
BEGIN;
UPDATE au2 SET v = pg_temp.rewrapped(v) WHERE id = 3;
SAVEPOINT s;
UPDATE au2 SET v = pseudo_rewrap(v) WHERE id = 4;
ROLLBACK TO SAVEPOINT s;
UPDATE au2 SET v = pg_temp.rewrapped(v);
COMMIT;
SELECT * FROM pg_temp.rewrapped_since(:before_rewraps);
-- a rewrap outside any executor (a PL/pgSQL assignment): written at commit
SELECT pseudo_rotate('au-carol-0') IS NOT NULL AS rotated;
SELECT max(id) AS before_rewraps FROM pseudo_keys.audit_log \gset
DO $$
DECLARE v pseudo_text;
BEGIN
    SELECT au2.v INTO v FROM au2 WHERE id = 2;
    v := pseudo_rewrap(v);
END $$;
SELECT * FROM pg_temp.rewrapped_since(:before_rewraps);
-- a rewrap that would re-encrypt is refused where its row cannot be written
BEGIN READ ONLY;
SELECT pseudo_rewrap(v) FROM au2 WHERE id = 2;
ROLLBACK;
BEGIN READ ONLY;
SELECT pseudo_rewrap(v) = v AS current_value_unchanged_read_only FROM au2 WHERE id = 1;
ROLLBACK;
-- the row of the DO block names the subject's new current key
SELECT a.key_ids = ARRAY(SELECT k.key_id FROM pseudo_keys.subject_keys k
                          WHERE k.subject_digest = pseudo_keys.subject_digest('au-carol-0') AND k.is_current)
       AS names_the_current_key
  FROM pseudo_keys.audit_log a WHERE a.id > :before_rewraps AND a.action = 'rewrap';

-- first keys: one create row per transaction with the count, the key ids and
-- the table written; none for a rolled-back savepoint; more than 10,000 keys
-- in one statement are written in rows of at most 10,000 ids as it runs
SELECT max(id) AS before_creates FROM pseudo_keys.audit_log \gset
CREATE TABLE au3 (id int, v pseudo_text);
BEGIN;
INSERT INTO au3 SELECT i, pseudo_encrypt('au-dave-' || i, 'x') FROM generate_series(1, 3) i;
SAVEPOINT s;
INSERT INTO au3 SELECT i, pseudo_encrypt('au-erin-' || i, 'x') FROM generate_series(1, 2) i;
ROLLBACK TO SAVEPOINT s;
INSERT INTO au3 VALUES (4, pseudo_encrypt('au-dave-1', 'same subject, no new key'));
COMMIT;
SELECT * FROM pg_temp.rewrapped_since(:before_creates);
SELECT a.key_ids = ARRAY(SELECT DISTINCT pseudo_key_id(v) FROM au3 ORDER BY 1) AS names_the_keys_created
  FROM pseudo_keys.audit_log a WHERE a.id > :before_creates;
SELECT count(*) AS keys_of_the_rolled_back_savepoint FROM pseudo_keys.subject_keys k
 WHERE k.subject_digest IN (pseudo_keys.subject_digest('au-erin-1'), pseudo_keys.subject_digest('au-erin-2'));
SELECT max(id) AS before_creates FROM pseudo_keys.audit_log \gset
INSERT INTO au3 SELECT i, pseudo_encrypt('au-many-' || i, 'x') FROM generate_series(1, 10001) i;
SELECT action, cardinality(key_ids) AS key_ids, detail->'keys' AS keys FROM pseudo_keys.audit_log
 WHERE id > :before_creates ORDER BY id;
SELECT count(DISTINCT k) = 10001 AS every_key_listed_once
  FROM pseudo_keys.audit_log a, unnest(a.key_ids) k WHERE a.id > :before_creates;

DROP TABLE au, au2, au3;
DROP ROLE regress_au_admin, regress_au_writer;
