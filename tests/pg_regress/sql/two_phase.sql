-- Two-phase commit: a transaction that created, rotated or shredded keys
-- cannot be prepared (0A000, at PREPARE time, and nothing of it survives);
-- one that only encrypts under existing keys or decrypts can, and COMMIT
-- PREPARED / ROLLBACK PREPARED from this or another session behave as
-- for any other data. (The test cluster runs with max_prepared_transactions > 0.)

CREATE TABLE tp (id int PRIMARY KEY, v pseudo_text);
INSERT INTO tp VALUES (1, pseudo_encrypt('tp-known', 'known one'));

-- a first key for a new subject
BEGIN;
INSERT INTO tp VALUES (2, pseudo_encrypt('tp-new', 'new one'));
PREPARE TRANSACTION 'tp_first_key';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'tp_first_key';
SELECT count(*) AS rows_of_aborted FROM tp WHERE id = 2;
-- the subject's key did not survive in the cache either: a value encrypted
-- now decrypts in a new session
INSERT INTO tp VALUES (3, pseudo_encrypt('tp-new', 'after the refused prepare'));
\c
SELECT pseudo_decrypt(v) AS decrypts_in_a_new_session FROM tp WHERE id = 3;
SELECT count(*) AS keys_of_tp_new FROM pseudo_keys.subject_key
 WHERE subject_digest = pseudo_keys.subject_digest('tp-new');

-- a rotation and a shred
BEGIN;
SELECT pseudo_rotate('tp-known') IS NOT NULL AS rotated;
PREPARE TRANSACTION 'tp_rotate';
BEGIN;
SELECT pseudo_shred('tp-known') AS shredded;
PREPARE TRANSACTION 'tp_shred';
SELECT pseudo_decrypt(v) AS still_readable FROM tp WHERE id = 1;
SELECT count(*) AS versions_of_tp_known FROM pseudo_keys.subject_key
 WHERE subject_digest = pseudo_keys.subject_digest('tp-known');

-- encrypting under existing keys and decrypting: prepared, then committed
-- from another session, and rolled back from this one
BEGIN;
INSERT INTO tp VALUES (4, pseudo_encrypt('tp-known', 'prepared, committed elsewhere'));
SELECT pseudo_decrypt(v) AS read_inside FROM tp WHERE id = 1;
PREPARE TRANSACTION 'tp_commit_elsewhere';
BEGIN;
INSERT INTO tp VALUES (5, pseudo_encrypt('tp-known', 'prepared, rolled back'));
PREPARE TRANSACTION 'tp_rollback_here';
ROLLBACK PREPARED 'tp_rollback_here';
\c
COMMIT PREPARED 'tp_commit_elsewhere';
SELECT id, pseudo_decrypt(v) FROM tp ORDER BY id;
SELECT count(*) AS left_prepared FROM pg_prepared_xacts WHERE gid LIKE 'tp\_%';
DROP TABLE tp;
