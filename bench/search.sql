-- Equality search (docs/searching.md), after per_row.sql made the :n
-- subjects 'customer-<id>'. Its own session. Prints "name value" lines:
-- seconds, or counts where the name says so.
SET max_parallel_workers_per_gather = 0;
SELECT pseudo_create_search_index('bench_email', 'lower_trim') \g /dev/null
-- Writing, one new subject per row (the shape of per_row.sql's first keys,
-- 'per_row_first_keys'): :n rows, each a new subject's first value, with
-- its term. Timed with its commit (the terms are written with the
-- transaction). The search measurements below run on this table.
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
CREATE TABLE bench_w_search AS
    SELECT id, pseudo_encrypt_searchable('bench_email', 'searcher-' || id, 'user' || id || '@example.com') AS v
    FROM bench_plain WHERE id <= :n;
SELECT 'search_write_new_subjects', extract(epoch FROM clock_timestamp()) - :t0;

-- Writing for known subjects (their keys cached): the same :n rows with
-- pseudo_encrypt and with pseudo_encrypt_searchable, each timed with its
-- commit, after an untimed pass that caches every subject's current key.
CREATE TABLE bench_w_plain (id int, v pseudo_text);
CREATE TABLE bench_w_known (id int, v pseudo_text);
SELECT count(pseudo_encrypt('searcher-' || id, 'warm')) FROM bench_plain WHERE id <= :n \g /dev/null
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
INSERT INTO bench_w_plain SELECT id, pseudo_encrypt('searcher-' || id, 'other' || id || '@example.com') FROM bench_plain WHERE id <= :n;
SELECT 'search_write_known_plain', extract(epoch FROM clock_timestamp()) - :t0;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
INSERT INTO bench_w_known SELECT id, pseudo_encrypt_searchable('bench_email', 'searcher-' || id, 'other' || id || '@example.com') FROM bench_plain WHERE id <= :n;
SELECT 'search_write_known_searchable', extract(epoch FROM clock_timestamp()) - :t0;
-- The same values again (an ORM's UPDATE writes every column, changed or
-- not): the terms exist, so no term row is written.
TRUNCATE bench_w_known;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
INSERT INTO bench_w_known SELECT id, pseudo_encrypt_searchable('bench_email', 'searcher-' || id, 'other' || id || '@example.com') FROM bench_plain WHERE id <= :n;
SELECT 'search_write_known_unchanged', extract(epoch FROM clock_timestamp()) - :t0;
DROP TABLE bench_w_plain, bench_w_known;

-- Many rows per subject: 1,000,000 rows of the 10,000 subjects of
-- bench_plain, nine in ten of a subject's rows with one address, the tenth
-- with another (an orders table with shipping addresses).
CREATE TABLE bench_orders AS
    SELECT id, pseudo_encrypt_searchable('bench_email', subject,
               'addr-' || subject || CASE WHEN id % 10 = 0 THEN '-b' ELSE '' END) AS v
    FROM bench_plain;
CREATE INDEX bench_w_search_key ON bench_w_search (pseudo_key_id(v));
CREATE INDEX bench_orders_key ON bench_orders (pseudo_key_id(v));
VACUUM ANALYZE bench_w_search, bench_orders;

-- The plan: an index scan on the expression index, not a scan of the table.
CREATE FUNCTION bench_plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; nodes text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ 'Scan' THEN nodes := nodes || regexp_replace(btrim(regexp_replace(line, '^[ ->]*', '')), ' ', '_', 'g') || ';'; END IF;
    END LOOP;
    RETURN nodes;
END $$;
SELECT 'search_plan', bench_plan($$SELECT id FROM bench_w_search WHERE pseudo_key_id(v) = ANY (pseudo_search('bench_email', 'user7@example.com')) AND pseudo_matches('bench_email', v, 'user7@example.com')$$);

-- Search latency: k searches of random rows, each timed alone, every answer
-- checked against what was written. Returns the median, and the 95th
-- percentile in the second column.
CREATE FUNCTION bench_searches(tab text, k int, make text, expect text) RETURNS TABLE (median float8, p95 float8)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; times float8[] := '{}'; id int; wanted text; got bigint; want bigint;
BEGIN
    PERFORM setseed(0.19);
    FOR i IN 1..k LOOP
        EXECUTE 'SELECT 1 + floor(random() * (SELECT max(id) FROM ' || tab || '))::int' INTO id;
        EXECUTE 'SELECT ' || make USING id INTO wanted;
        t0 := clock_timestamp();
        EXECUTE format('SELECT count(*) FROM %s WHERE pseudo_key_id(v) = ANY (pseudo_search(''bench_email'', $1))
                        AND pseudo_matches(''bench_email'', v, $1)', tab) USING wanted INTO got;
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8;
        EXECUTE expect USING id INTO want;
        IF got <> want THEN RAISE EXCEPTION 'search for row % found % rows, % expected', id, got, want; END IF;
    END LOOP;
    RETURN QUERY SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t), percentile_cont(0.95) WITHIN GROUP (ORDER BY t)
                 FROM unnest(times) t;
END $$;
SELECT 'search_one_per_subject', median, p95 FROM bench_searches('bench_w_search', 200,
    $$'  USER' || $1 || '@Example.com'$$, 'SELECT 1::bigint');
SELECT 'search_many_per_subject', median, p95 FROM bench_searches('bench_orders', 100,
    $$(SELECT 'addr-' || subject FROM bench_plain WHERE id = $1)$$,
    $$SELECT count(*) FROM bench_plain WHERE subject = (SELECT subject FROM bench_plain WHERE id = $1) AND id % 10 <> 0$$);
-- The same questions by decrypting every row and comparing, best of 3.
SELECT 'search_scan_one_per_subject', bench_best($$SELECT count(*) FROM bench_w_search WHERE lower(btrim(pseudo_decrypt(v))) = 'user7@example.com'$$);
SELECT 'search_scan_many_per_subject', bench_best($$SELECT count(*) FROM bench_orders WHERE pseudo_decrypt(v) = 'addr-subject-7'$$);
SELECT 'search_terms_rows', count(*) FROM pseudo_keys.search_term;
SELECT 'search_terms_mb', pg_total_relation_size('pseudo_keys.search_term') / 1e6;
