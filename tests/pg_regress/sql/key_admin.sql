-- Key administration: admin views (never key bytes), per-subject lookup,
-- root key epochs, configuration check, and who may use them.
CREATE ROLE regress_ka_admin IN ROLE pseudo_admin;
CREATE ROLE regress_ka_writer IN ROLE pseudo_writer;
CREATE ROLE regress_ka_reader IN ROLE pseudo_reader;
CREATE ROLE regress_ka_plain;
CREATE FUNCTION pg_temp.try_as(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('SET ROLE %I', r); EXECUTE stmt; RESET ROLE; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;

SELECT stmt,
       pg_temp.try_as('regress_ka_admin', stmt) AS admin,
       pg_temp.try_as('regress_ka_writer', stmt) AS writer,
       pg_temp.try_as('regress_ka_reader', stmt) AS reader,
       pg_temp.try_as('regress_ka_plain', stmt) AS plain
FROM (VALUES
  ('SELECT count(*) FROM pseudo_keys.subject_keys'),
  ('SELECT count(*) FROM pseudo_keys.key_counts'),
  ('SELECT count(*) FROM pseudo_keys.root_key_epochs'),
  ('SELECT count(*) FROM pseudo_keys.audit_log'),
  ('SELECT count(*) FROM pseudo_keys.subject_key'),
  ('SELECT count(*) FROM pseudo_subject_keys(''ka-x'')'),
  ('SELECT count(*) FROM pseudo_check_config()'),
  ('SELECT pseudo_rotate(''ka-x'')'),
  ('SELECT pseudo_keys.root_key_source_check()')
) AS t(stmt);
SELECT f AS function,
       has_function_privilege('pseudo_admin', f, 'EXECUTE') AS admin,
       has_function_privilege('pseudo_writer', f, 'EXECUTE') AS writer,
       has_function_privilege('pseudo_reader', f, 'EXECUTE') AS reader,
       has_function_privilege('public', f, 'EXECUTE') AS public
  FROM unnest(ARRAY['pseudo_rotate_root_key()', 'pseudo_retire_root_key(integer)', 'pseudo_destroy_root_key(integer)',
                    'pseudo_rewrap(pseudo_text)', 'pseudo_rewrap(pseudo_text,text)', 'pseudo_needs_rewrap(pseudo_text)',
                    'pseudo_rewrap_column(regclass,name,text,integer)']) f;

-- The views show ids, versions, epochs, times and counts; never key bytes.
SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS columns
  FROM information_schema.columns
 WHERE table_schema = 'pseudo_keys' AND table_name IN ('subject_keys', 'key_counts', 'root_key_epochs')
 GROUP BY table_name ORDER BY table_name;

-- keys per subject, before and after rotation
SELECT pseudo_encrypt('ka-alice', 'a') IS NOT NULL AS encrypted;
SELECT version, is_current, root_epoch = (SELECT max(epoch) FROM pseudo_keys.root_key) AS current_epoch
  FROM pseudo_subject_keys('ka-alice');
SELECT pseudo_rotate('ka-alice') IS NOT NULL AS rotated;
SELECT version, is_current FROM pseudo_subject_keys('ka-alice');
SELECT count(*) AS view_rows_for_alice FROM pseudo_keys.subject_keys
 WHERE subject_digest = pseudo_keys.subject_digest('ka-alice');
SELECT count(*) AS unknown_subject_keys FROM pseudo_subject_keys('ka-nobody');

-- counts follow shredding
CREATE TEMP TABLE counts_before AS SELECT * FROM pseudo_keys.key_counts;
SELECT pseudo_shred('ka-alice') AS destroyed;
SELECT k.shredded_keys - b.shredded_keys AS more_shredded_keys,
       k.live_keys - b.live_keys AS live_key_change,
       k.shredded_subjects - b.shredded_subjects AS more_shredded_subjects
  FROM pseudo_keys.key_counts k, counts_before b;
SELECT count(*) AS keys_left_for_alice FROM pseudo_subject_keys('ka-alice');

-- Root key rotation: a new epoch, every key rewrapped, every value readable.
CREATE TABLE ka (v pseudo_text);
INSERT INTO ka SELECT pseudo_encrypt('ka-' || i, 'value ' || i) FROM generate_series(1, 20) i;
SELECT max(epoch) AS old_epoch FROM pseudo_keys.root_key \gset
SELECT pseudo_rotate_root_key() = :old_epoch + 1 AS new_epoch;
SELECT epoch = :old_epoch + 1 AS is_new, is_current, keys_wrapped = (SELECT count(*) FROM pseudo_keys.subject_key) AS all_keys
  FROM pseudo_keys.root_key_epochs WHERE is_current;
SELECT keys_wrapped AS left_under_old_epoch, superseded_at IS NOT NULL AS superseded
  FROM pseudo_keys.root_key_epochs WHERE epoch = :old_epoch;
SELECT pseudo_keys.invalidate_key_cache();
SELECT count(*) AS readable_after_root_rotation FROM ka WHERE pseudo_decrypt(v) LIKE 'value %';
SELECT pseudo_encrypt('ka-new', 'x') IS NOT NULL AS new_subject;
SELECT root_epoch = :old_epoch + 1 AS new_key_under_new_epoch FROM pseudo_subject_keys('ka-new');
-- retirement: nothing left to rewrap; the epoch's wrapped digest key is erased
SELECT pseudo_retire_root_key(:old_epoch) AS rewrapped_at_retirement;
SELECT retired_at IS NOT NULL AS retired FROM pseudo_keys.root_key_epochs WHERE epoch = :old_epoch;
SELECT wrapped_digest_key IS NULL AS digest_key_erased FROM pseudo_keys.root_key WHERE epoch = :old_epoch;
SELECT pseudo_retire_root_key(:old_epoch) AS retiring_again;
SELECT pseudo_keys.invalidate_key_cache();
SELECT count(*) AS readable_after_retirement FROM ka WHERE pseudo_decrypt(v) LIKE 'value %';
-- refused: the current epoch, an unknown epoch, destroying an epoch not retired, REPEATABLE READ
SELECT pseudo_retire_root_key(:old_epoch + 1);
SELECT pseudo_retire_root_key(999);
SELECT pseudo_destroy_root_key(:old_epoch + 1);
SELECT pseudo_destroy_root_key(999);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pseudo_rotate_root_key();
ROLLBACK;

-- pseudo_check_config flags settings that log plaintext, and the default
-- root key file inside the data directory.
SET log_statement = 'all';
SET log_min_duration_statement = 0;
SET log_min_error_statement = 'panic';
SET log_parameter_max_length = 0;
SET ROLE regress_ka_admin;
SELECT setting, risk IS NOT NULL AS flagged FROM pseudo_check_config()
 WHERE setting NOT IN ('auto_explain', 'pgaudit') ORDER BY setting;
RESET ROLE;
SET log_statement = 'ddl';
SET log_min_duration_statement = -1;
SELECT setting, risk IS NOT NULL AS flagged FROM pseudo_check_config()
 WHERE setting IN ('log_statement', 'log_min_duration_statement') ORDER BY setting;
-- auto_explain logs slow statements' text: flagged once loaded with a duration
LOAD 'auto_explain';
SELECT value, risk IS NOT NULL AS flagged FROM pseudo_check_config() WHERE setting = 'auto_explain';
SET auto_explain.log_min_duration = 0;
SELECT value, risk IS NOT NULL AS flagged FROM pseudo_check_config() WHERE setting = 'auto_explain';
RESET auto_explain.log_min_duration;
-- pgaudit (not installed here; its settings are read by name, so placeholders stand in)
SET pgaudit.log = 'write';
SELECT value, risk LIKE '%statement text%' AS flagged FROM pseudo_check_config() WHERE setting = 'pgaudit';
SET pgaudit.log_parameter = 'on';
SELECT value, risk LIKE '%bind parameter%' AS flagged FROM pseudo_check_config() WHERE setting = 'pgaudit';
SET pgaudit.log = 'none';
SET pgaudit.log_parameter = 'off';
SELECT value, risk IS NOT NULL AS flagged FROM pseudo_check_config() WHERE setting = 'pgaudit';
RESET log_statement;
RESET log_min_duration_statement;
RESET log_min_error_statement;
RESET log_parameter_max_length;

DROP TABLE ka;
DROP ROLE regress_ka_admin, regress_ka_writer, regress_ka_reader, regress_ka_plain;
