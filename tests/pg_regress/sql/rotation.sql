-- Subject key rotation and rewrap: old values keep decrypting, rewrap moves
-- them to the current key, a whole column can be rewrapped online.
CREATE TABLE rot (id int PRIMARY KEY, v pseudo_text, c pseudo_text) WITH (autovacuum_enabled = off);
INSERT INTO rot SELECT i, pseudo_encrypt('rot-' || (i % 4), 'value ' || i),
                          pseudo_encrypt('rot-' || (i % 4), 'ctx ' || i, 'rot.c')
  FROM generate_series(1, 200) i;

SELECT pseudo_rotate('rot-1') = (SELECT key_id FROM pseudo_subject_keys('rot-1') WHERE is_current) AS returns_new_current_key;
SELECT count(*) AS versions_of_rot_1 FROM pseudo_subject_keys('rot-1');
SELECT pseudo_key_id(pseudo_encrypt('rot-1', 'new')) = (SELECT key_id FROM pseudo_subject_keys('rot-1') WHERE version = 2)
  AS new_values_use_new_key;
SELECT count(*) AS old_values_decrypt FROM rot
 WHERE pseudo_decrypt(v) = 'value ' || id AND pseudo_decrypt(c, 'rot.c') = 'ctx ' || id;
SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(v)) AS v_stale,
       count(*) FILTER (WHERE pseudo_needs_rewrap(c)) AS c_stale FROM rot;

-- one value
SELECT pseudo_key_id(pseudo_rewrap(v)) <> pseudo_key_id(v) AS moved_to_new_key,
       pseudo_decrypt(pseudo_rewrap(v)) = pseudo_decrypt(v) AS same_plaintext,
       pseudo_needs_rewrap(pseudo_rewrap(v)) AS still_stale
  FROM rot WHERE id = 1;
SELECT pseudo_rewrap(v) = v AS current_value_unchanged FROM rot WHERE id = 2;
SELECT pseudo_rewrap(NULL::pseudo_text) IS NULL AS null_in_null_out,
       pseudo_rewrap(NULL::pseudo_text, 'rot.c') IS NULL AS null_in_null_out_context;
SELECT pseudo_rewrap(c) FROM rot WHERE id = 1;
SELECT pseudo_decrypt(pseudo_rewrap(c, 'rot.c'), 'rot.c') = 'ctx 1' AS context_rewrap FROM rot WHERE id = 1;
SELECT pseudo_rewrap(c, NULL) FROM rot WHERE id = 1;

-- a whole column, one committed batch per page range, with progress
CALL pseudo_rewrap_column('rot', 'v', batch_pages => 2);
CALL pseudo_rewrap_column('rot', 'c', 'rot.c');
SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(v) OR pseudo_needs_rewrap(c)) AS still_stale,
       count(*) FILTER (WHERE pseudo_decrypt(v) = 'value ' || id AND pseudo_decrypt(c, 'rot.c') = 'ctx ' || id) AS decrypt
  FROM rot;
-- resuming (calling again) finds nothing left to do
CALL pseudo_rewrap_column('rot', 'v');

-- a second rotation: values two versions old move straight to the newest key
SELECT pseudo_rotate('rot-3') IS NOT NULL AS rotated;
SELECT pseudo_rotate('rot-3') IS NOT NULL AS rotated_again;
UPDATE rot SET v = pseudo_rewrap(v) WHERE pseudo_needs_rewrap(v);
SELECT bool_and(pseudo_key_id(v) = (SELECT key_id FROM pseudo_subject_keys('rot-3') WHERE version = 3)) AS on_version_3
  FROM rot WHERE id % 4 = 3;

-- shredded values are left as they are (and read NULL)
SELECT pseudo_rotate('rot-2') IS NOT NULL AS rotated;
SELECT pseudo_shred('rot-2') AS destroyed;
SELECT bool_and(pseudo_rewrap(v) = v) AS shredded_unchanged, bool_and(NOT pseudo_needs_rewrap(v)) AS not_stale,
       bool_and(pseudo_decrypt(v) IS NULL) AS reads_null
  FROM rot WHERE id % 4 = 2;
SELECT pseudo_rotate('rot-2');

-- a subject never seen gets its first key from pseudo_rotate
SELECT pseudo_rotate('rot-fresh') = pseudo_key_id(pseudo_encrypt('rot-fresh', 'x')) AS first_key;

-- bad calls
CALL pseudo_rewrap_column('rot', 'id');
CALL pseudo_rewrap_column('rot', 'nope');
CALL pseudo_rewrap_column('rot', 'v', batch_pages => 0);
CALL pseudo_rewrap_column('no_such_table', 'v');
BEGIN;
CALL pseudo_rewrap_column('rot', 'v');
ROLLBACK;

-- rewrap needs both pseudo_reader and pseudo_writer (42501 otherwise)
CREATE ROLE regress_rot_writer IN ROLE pseudo_writer;
CREATE ROLE regress_rot_reader IN ROLE pseudo_reader;
CREATE ROLE regress_rot_both IN ROLE pseudo_reader, pseudo_writer;
GRANT SELECT ON rot TO regress_rot_writer, regress_rot_reader, regress_rot_both;
CREATE FUNCTION pg_temp.try_as(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('SET ROLE %I', r); EXECUTE stmt; RESET ROLE; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
SELECT r AS role,
       pg_temp.try_as(r, 'SELECT pseudo_rewrap(v) FROM rot WHERE id = 5') AS rewrap,
       pg_temp.try_as(r, 'SELECT pseudo_needs_rewrap(v) FROM rot WHERE id = 5') AS needs_rewrap,
       pg_temp.try_as(r, 'SELECT pseudo_rotate(''rot-0'')') AS rotate
  FROM unnest(ARRAY['regress_rot_writer', 'regress_rot_reader', 'regress_rot_both']) r;

DROP TABLE rot;
DROP ROLE regress_rot_writer, regress_rot_reader, regress_rot_both;
