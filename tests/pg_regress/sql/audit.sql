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
SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS owner_privileges
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = 'pseudo_keys.audit_log'::regclass AND a.grantee = c.relowner;
SELECT has_table_privilege('pseudo_admin', 'pseudo_keys.audit_log', 'SELECT') AS admin_select,
       has_table_privilege('pseudo_admin', 'pseudo_keys.audit_log', 'DELETE') AS admin_delete;
SELECT count(*) AS rows_kept FROM pseudo_keys.audit_log WHERE id > :start;

DROP TABLE au;
DROP ROLE regress_au_admin, regress_au_writer;
