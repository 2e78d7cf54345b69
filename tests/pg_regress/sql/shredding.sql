-- pseudo_shred: crypto-shredding one subject
CREATE TABLE sh (id int, subject text, v pseudo_text);
INSERT INTO sh VALUES
  (1, 'sh-dora', pseudo_encrypt('sh-dora', 'dora@example.org')),
  (2, 'sh-dora', pseudo_encrypt('sh-dora', '+49 30 1234567')),
  (3, 'sh-emil', pseudo_encrypt('sh-emil', 'emil@example.org'));
SELECT id, pseudo_decrypt(v) IS NOT NULL AS readable FROM sh ORDER BY id;

-- a rolled-back shred destroys nothing (also for this backend's key cache)
BEGIN;
SELECT pseudo_shred('sh-dora') AS destroyed;
SELECT pseudo_decrypt(v) IS NULL AS null_inside_transaction FROM sh WHERE id = 1;
ROLLBACK;
SELECT id, pseudo_decrypt(v) IS NOT NULL AS readable_after_rollback FROM sh ORDER BY id;

-- the same inside a savepoint
BEGIN;
SAVEPOINT s1;
SELECT pseudo_shred('sh-dora') AS destroyed;
ROLLBACK TO SAVEPOINT s1;
SELECT pseudo_decrypt(v) = 'dora@example.org' AS readable_after_savepoint_rollback FROM sh WHERE id = 1;
COMMIT;

-- shred for real
SELECT pseudo_shred('sh-dora') AS destroyed;
SELECT id, subject, pseudo_decrypt(v) IS NULL AS reads_null FROM sh ORDER BY id;
-- idempotent
SELECT pseudo_shred('sh-dora') AS destroyed_again;
-- no new data for a shredded subject (55000)
SELECT pseudo_encrypt('sh-dora', 'new data');
-- other subjects are untouched
SELECT pseudo_decrypt(v) = 'emil@example.org' AS emil_readable FROM sh WHERE id = 3;

-- a subject never seen before can be shredded too, and is refused afterwards
SELECT pseudo_shred('sh-never-seen') AS destroyed;
SELECT pseudo_encrypt('sh-never-seen', 'x');

-- right after first keys of new subjects (the backend then tries creating
-- before reading): a shredded subject is still refused, a known one keeps its key
CREATE TEMP TABLE sh_new AS SELECT i, pseudo_encrypt('sh-new-' || i, 'x') AS v FROM generate_series(1, 3) i;
SELECT pseudo_shred('sh-flush') AS keys_destroyed;  -- drops this backend's cached keys too
SELECT pseudo_key_id(pseudo_encrypt('sh-new-1', 'y')) = pseudo_key_id(v) AS known_subject_keeps_its_key
  FROM sh_new WHERE i = 1;
SELECT pseudo_encrypt('sh-new-4', 'x') IS NOT NULL AS new_subject_encrypted;
SELECT pseudo_encrypt('sh-dora', 'new data');
SELECT count(*) AS keys_of_new_subjects FROM pseudo_keys.subject_key
 WHERE subject_digest IN (SELECT pseudo_keys.subject_digest('sh-new-' || i) FROM generate_series(1, 4) i);

-- the destroyed key ids are recorded, their wrapped keys are gone
SELECT count(*) AS recorded_shredded FROM pseudo_keys.shredded_key k
  JOIN sh ON pseudo_key_id(sh.v) = k.key_id WHERE sh.subject = 'sh-dora';
SELECT count(*) AS wrapped_keys_left FROM pseudo_keys.subject_key k
  JOIN sh ON pseudo_key_id(sh.v) = k.key_id WHERE sh.subject = 'sh-dora';

-- no table of the extension holds the subject identifier in clear
SELECT
  (SELECT count(*) FROM pseudo_keys.subject WHERE position(convert_to('sh-dora', 'UTF8') in subject_digest) > 0)
+ (SELECT count(*) FROM pseudo_keys.subject_key WHERE position(convert_to('sh-dora', 'UTF8') in subject_digest || wrapped_key) > 0)
+ (SELECT count(*) FROM pseudo_keys.root_key WHERE position(convert_to('sh-dora', 'UTF8') in fingerprint || wrapped_digest_key) > 0)
  AS rows_with_subject_in_clear;
SELECT bool_and(shredded_at IS NOT NULL) AS marked_shredded FROM pseudo_keys.subject
 WHERE subject_digest IN (pseudo_keys.subject_digest('sh-dora'), pseudo_keys.subject_digest('sh-never-seen'));

-- ANALYZE copies sample values of a table into pg_statistic, which a shred
-- does not reach: no wrapped key (or other key material) may be sampled
-- there, or a root key holder could unwrap a shredded key from it
CREATE TABLE sh_stats AS SELECT i, pseudo_encrypt('sh-stats-' || i, 'x') AS v FROM generate_series(1, 20) i;
CREATE TEMP TABLE sh_stats_wrapped AS SELECT k.wrapped_key FROM pseudo_keys.subject_key k
    JOIN sh_stats s ON k.key_id = pseudo_key_id(s.v) WHERE s.i = 7;
ANALYZE pseudo_keys.subject_key, pseudo_keys.root_key;
SELECT pseudo_shred('sh-stats-7') AS destroyed;
SELECT count(*) AS statistics_holding_the_shredded_wrapped_key FROM pg_statistic s, sh_stats_wrapped w
 WHERE s.starelid = 'pseudo_keys.subject_key'::regclass
   AND position(encode(w.wrapped_key, 'hex') IN concat(s.stavalues1, s.stavalues2, s.stavalues3, s.stavalues4, s.stavalues5)) > 0;
SELECT count(*) AS sampled_key_columns FROM pg_statistic s JOIN pg_attribute a ON a.attrelid = s.starelid AND a.attnum = s.staattnum
 WHERE s.starelid IN ('pseudo_keys.subject_key'::regclass, 'pseudo_keys.root_key'::regclass)
   AND a.attname IN ('wrapped_key', 'wrapped_digest_key');
DROP TABLE sh_stats;

DROP TABLE sh;
