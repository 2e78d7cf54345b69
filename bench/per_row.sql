-- One subject per row (a customer table): :n rows of bench_plain, each row
-- its own subject. Run after measure.sql, in one session except where a
-- case says otherwise. Prints "name seconds".
SET max_parallel_workers_per_gather = 0;
-- First keys: every row creates its subject's first key (timed once: a
-- second run would find the keys).
SELECT 'per_row_first_keys', bench_best($$CREATE TABLE bench_customer AS
    SELECT id, pseudo_encrypt('customer-' || id, plain) AS v FROM bench_plain WHERE id <= $$ || :n, 1);
-- The floor under first keys: PostgreSQL's own work for the rows they write
-- (per subject a subject row and a key row, with the key tables' indexes,
-- checks and foreign keys), set-based in one statement, into copies of the
-- key tables; no crypto beyond random bytes. What one statement per new
-- subject costs on top of it is the price of deciding each key as its row
-- is encrypted.
CREATE TABLE bench_floor_subject (LIKE pseudo_keys.subject INCLUDING ALL);
CREATE TABLE bench_floor_key (LIKE pseudo_keys.subject_key INCLUDING ALL,
    FOREIGN KEY (subject_digest) REFERENCES bench_floor_subject,
    FOREIGN KEY (root_epoch) REFERENCES pseudo_keys.root_key (epoch));
SELECT 'per_row_key_rows_floor', bench_best($$WITH s AS (
        INSERT INTO bench_floor_subject (subject_digest)
        SELECT sha256(convert_to('customer-' || id, 'UTF8')) FROM bench_plain WHERE id <= $$ || :n || $$
        RETURNING subject_digest)
    INSERT INTO bench_floor_key (key_id, subject_digest, version, root_epoch, wrapped_key)
    SELECT gen_random_uuid(), subject_digest, 1, (SELECT max(epoch) FROM pseudo_keys.root_key),
           substr(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 1, 46)
    FROM s$$, 1);
DROP TABLE bench_floor_key, bench_floor_subject;
VACUUM ANALYZE bench_customer;
\if :have_pgcrypto
SELECT 'per_row_pgcrypto_encrypt', bench_best($$SELECT count(encrypt(plain_bytes, '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes'))
    FROM bench_plain WHERE id <= $$ || :n);
SELECT 'per_row_pgcrypto_decrypt', bench_best($$SELECT sum(octet_length(decrypt(c, '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes')))
    FROM bench_pgcrypto WHERE id <= $$ || :n);
\endif
-- The per-row baseline: the same rows' plaintexts, no crypto.
SELECT 'per_row_baseline', bench_best($$SELECT sum(octet_length(plain)) FROM bench_plain WHERE id <= $$ || :n);
SELECT 'per_row_decrypt_warm', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_customer');
-- A mixed session: the 10,000-subject lookups of measure.sql (first 100,000
-- rows), warm, then again right after the big per-row scan.
SELECT 'mixed_small_warm', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_pseudo WHERE id <= 100000');
SELECT sum(octet_length(pseudo_decrypt(v))) IS NOT NULL AS scanned FROM bench_customer \g /dev/null
SELECT 'mixed_small_after_scan', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_pseudo WHERE id <= 100000', 1);
-- Two parallel workers, plan forced parallel.
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT 'per_row_decrypt_2_workers', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_customer');
