-- pseudo_text: text and binary I/O, operators, operator classes.
-- Ciphertext is random: only booleans and counts are printed.
CREATE TABLE io_values (id int PRIMARY KEY, v pseudo_text NOT NULL);
INSERT INTO io_values SELECT i, pseudo_encrypt('io-subject', 'value ' || i) FROM generate_series(1, 5) i;

-- text form: lowercase hex of version 01 | key id | nonce | ciphertext | tag
SELECT bool_and(v::text::pseudo_text = v) AS text_round_trip,
       bool_and(upper(v::text)::pseudo_text = v) AS uppercase_accepted,
       bool_and(v::text = lower(v::text)) AS output_lowercase,
       bool_and(octet_length(v::text) = 2 * (46 + octet_length('value ' || id))) AS hex_length,
       bool_and(left(v::text, 2) = '01') AS version_byte,
       bool_and(replace(pseudo_key_id(v)::text, '-', '') = substr(v::text, 3, 32)) AS key_id_bytes
FROM io_values;

-- binary form: send returns the raw envelope; COPY BINARY round-trips through recv
SELECT bool_and(pseudo_text_send(v) = decode(v::text, 'hex')) AS send_is_raw_envelope FROM io_values;
\copy io_values TO '/tmp/pseudo_ext_regress_io.bin' WITH (FORMAT binary)
CREATE TABLE io_copy (LIKE io_values);
\copy io_copy FROM '/tmp/pseudo_ext_regress_io.bin' WITH (FORMAT binary)
-- the file goes at once: a file left by another OS user would block the next run
\! rm -f /tmp/pseudo_ext_regress_io.bin
SELECT count(*) AS binary_round_trip FROM io_values a JOIN io_copy b USING (id) WHERE a.v = b.v;
SELECT bool_and(pseudo_decrypt(v) = 'value ' || id) AS copied_values_decrypt FROM io_copy;

-- equality, DISTINCT, GROUP BY, UNION
SELECT count(*) AS eq_rows FROM io_values a JOIN io_values b ON a.v = b.v;
SELECT count(*) AS ne_rows FROM io_values a JOIN io_values b ON a.v <> b.v;
SELECT count(DISTINCT v) AS distinct_values FROM (SELECT v FROM io_values UNION ALL SELECT v FROM io_values) s;
SELECT count(*) AS union_rows FROM (SELECT v FROM io_values UNION SELECT v FROM io_values) s;
SELECT count(*) AS groups FROM (SELECT v, count(*) FROM (SELECT v FROM io_values UNION ALL SELECT v FROM io_values) s GROUP BY v) g;
SELECT bool_and(a.v < b.v OR a.v > b.v OR a.id = b.id) AS total_order FROM io_values a, io_values b;

-- hash join, merge join, hash aggregate and btree/hash indexes use the opclasses
-- (whether a plan holds a node: plan text differs between PostgreSQL versions)
CREATE FUNCTION pg_temp.plan_has(query text, node text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF position(node IN line) > 0 THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
END $$;
SET enable_nestloop = off;
SET enable_mergejoin = off;
SELECT pg_temp.plan_has('SELECT count(*) FROM io_values a JOIN io_copy b ON a.v = b.v', 'Hash Join') AS hash_join_planned;
SELECT count(*) AS hash_join_rows FROM io_values a JOIN io_copy b ON a.v = b.v;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
SELECT pg_temp.plan_has('SELECT count(*) FROM io_values a JOIN io_copy b ON a.v = b.v', 'Merge Join') AS merge_join_planned;
SELECT count(*) AS merge_join_rows FROM io_values a JOIN io_copy b ON a.v = b.v;
RESET enable_nestloop; RESET enable_mergejoin; RESET enable_hashjoin;
SET enable_sort = off;
SELECT pg_temp.plan_has('SELECT v, count(*) FROM io_values GROUP BY v', 'HashAggregate') AS hash_aggregate_planned;
RESET enable_sort;
-- each index kind on its own, its use shown by the plan
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE INDEX io_values_btree ON io_values (v);
SELECT pg_temp.plan_has('SELECT id FROM io_values WHERE v = (SELECT v FROM io_copy WHERE id = 3)',
                        'Index Scan using io_values_btree on io_values') AS btree_index_scan;
SELECT id AS found_by_btree FROM io_values WHERE v = (SELECT v FROM io_copy WHERE id = 3);
DROP INDEX io_values_btree;
CREATE INDEX io_values_hash ON io_values USING hash (v);
SELECT pg_temp.plan_has('SELECT id FROM io_values WHERE v = (SELECT v FROM io_copy WHERE id = 3)',
                        'Index Scan using io_values_hash on io_values') AS hash_index_scan;
SELECT id AS found_by_hash FROM io_values WHERE v = (SELECT v FROM io_copy WHERE id = 3);
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE io_values, io_copy;
