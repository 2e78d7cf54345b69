-- Equality search (docs/searching.md): exact results against two oracles on
-- random data with duplicates across and within subjects, normalization,
-- values written without a term, transactions, rotations, errors, roles and
-- the shred property. Booleans and SQLSTATEs only: no ciphertext, no key id.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE stmt; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
CREATE FUNCTION pg_temp.plan_has(query text, node text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF position(node IN line) > 0 THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
END $$;

SELECT pseudo_create_search_index('sr_email', 'lower_trim');
SELECT pseudo_create_search_index('sr_phone');
SELECT name, normalization, key_version, key_versions FROM pseudo_keys.search_indexes WHERE name LIKE 'sr_%' ORDER BY name;

-- 600 rows of 97 subjects (about 6 each), values drawn from 40 bases: equal
-- values within a subject and across subjects. E-mails in four spellings of
-- one address (lower_trim folds them); phones with a context. Rows 1-60 also
-- carry another address written without a term (plain pseudo_encrypt).
SELECT setseed(0.19);
CREATE TABLE sr_truth AS
    SELECT i AS id, 'sr-' || (i % 97) AS subject, floor(random() * 40)::int AS base, floor(random() * 4)::int AS spelling
    FROM generate_series(1, 600) i;
CREATE FUNCTION pg_temp.email(base int, spelling int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE spelling WHEN 0 THEN 'user' || base || '@example.com'
                         WHEN 1 THEN 'USER' || base || '@EXAMPLE.COM'
                         WHEN 2 THEN E' \tuser' || base || '@example.com  '
                         ELSE 'User' || base || '@Example.Com' END $$;
CREATE FUNCTION pg_temp.phone(base int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '+41 79 555 ' || lpad(base::text, 2, '0') $$;
CREATE TABLE sr_customer (id int PRIMARY KEY, email pseudo_text, phone pseudo_text, unindexed pseudo_text);
INSERT INTO sr_customer
    SELECT id, pseudo_encrypt_searchable('sr_email', subject, pg_temp.email(base, spelling)),
               pseudo_encrypt_searchable('sr_phone', subject, pg_temp.phone(base), 'phone'),
               CASE WHEN id <= 60 THEN pseudo_encrypt(subject, 'other' || base || '@example.com') END
    FROM sr_truth;
CREATE INDEX sr_customer_email_key ON sr_customer (pseudo_key_id(email));
CREATE INDEX sr_customer_phone_key ON sr_customer (pseudo_key_id(phone));
ANALYZE sr_customer;

-- The documented query pattern, for an e-mail as a user would type it.
CREATE FUNCTION pg_temp.found_email(typed text) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM sr_customer
    WHERE pseudo_key_id(email) = ANY (pseudo_search('sr_email', typed))
      AND pseudo_matches('sr_email', email, typed) $$;
CREATE FUNCTION pg_temp.found_phone(typed text) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM sr_customer
    WHERE pseudo_key_id(phone) = ANY (pseudo_search('sr_phone', typed))
      AND pseudo_matches('sr_phone', phone, typed, 'phone') $$;
-- Oracle 1: the rows generated with that value. Oracle 2: decrypt every row
-- and compare (normalized as lower_trim does, for these ASCII addresses).
CREATE FUNCTION pg_temp.generated(b int) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM sr_truth WHERE base = b $$;
CREATE FUNCTION pg_temp.decrypted_email(b int) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM sr_customer
    WHERE lower(btrim(pseudo_decrypt(email), E' \t')) = 'user' || b || '@example.com' $$;
CREATE FUNCTION pg_temp.decrypted_phone(b int) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(id ORDER BY id), '{}') FROM sr_customer
    WHERE pseudo_decrypt(phone, 'phone') = pg_temp.phone(b) $$;

-- the data has what the test needs: duplicates within and across subjects
SELECT count(*) FILTER (WHERE n > 1) > 10 AS values_repeated_within_a_subject
FROM (SELECT subject, base, count(*) n FROM sr_truth GROUP BY 1, 2) s;
SELECT bool_and(n > 1) AS every_value_held_by_several_subjects
FROM (SELECT base, count(DISTINCT subject) n FROM sr_truth GROUP BY 1) s;

-- exact results for every value (and one nobody has), in every spelling
SELECT bool_and(pg_temp.found_email(pg_temp.email(b, s)) = pg_temp.generated(b)) AS email_search_equals_generated,
       bool_and(pg_temp.found_email(pg_temp.email(b, s)) = pg_temp.decrypted_email(b)) AS email_search_equals_decrypt_and_compare
FROM generate_series(0, 40) b, generate_series(0, 3) s;
SELECT bool_and(pg_temp.found_phone(pg_temp.phone(b)) = pg_temp.generated(b)) AS phone_search_equals_generated,
       bool_and(pg_temp.found_phone(pg_temp.phone(b)) = pg_temp.decrypted_phone(b)) AS phone_search_equals_decrypt_and_compare
FROM generate_series(0, 40) b;
SELECT pg_temp.found_email('user40@example.com') = '{}' AS unknown_value_finds_nothing;
-- the candidates (a subject's every row) hold false positives that the recheck removes
SELECT bool_or(candidates > found) AS recheck_removes_candidates
FROM (SELECT b, cardinality(pg_temp.found_email(pg_temp.email(b, 0))) AS found,
             (SELECT count(*) FROM sr_customer WHERE pseudo_key_id(email) = ANY (pseudo_search('sr_email', pg_temp.email(b, 0)))) AS candidates
      FROM generate_series(0, 39) b) x;

-- normalization: lower_trim folds case and outer white space, nothing else;
-- 'none' compares byte for byte
SELECT pg_temp.found_email('USER7@example.COM') = pg_temp.generated(7) AS case_folded,
       pg_temp.found_email(E'\n user7@example.com ') = pg_temp.generated(7) AS trimmed,
       pg_temp.found_email('user 7@example.com') = '{}' AS inner_space_kept,
       pg_temp.found_phone('+41795550 7') = '{}' AS none_is_byte_for_byte,
       pg_temp.found_phone('+41 79 555 07') = pg_temp.generated(7) AS none_finds_exact;

-- values written without a term are not found (though decrypting finds them)
SELECT bool_and(NOT EXISTS (SELECT FROM sr_customer WHERE id <= 60 AND unindexed IS NOT NULL
                              AND pseudo_key_id(unindexed) = ANY (pseudo_search('sr_email', 'other' || b || '@example.com'))
                              AND pseudo_matches('sr_email', unindexed, 'other' || b || '@example.com'))) AS unindexed_not_found,
       bool_and(EXISTS (SELECT FROM sr_customer WHERE pseudo_decrypt(unindexed) = 'other' || b || '@example.com')) AS decrypt_finds_them
FROM (SELECT DISTINCT base AS b FROM sr_truth WHERE id <= 60) x;

-- through the expression index, not a scan of the table
SET enable_seqscan = off;
SELECT pg_temp.plan_has($q$SELECT id FROM sr_customer WHERE pseudo_key_id(email) = ANY (pseudo_search('sr_email', 'user7@example.com')) AND pseudo_matches('sr_email', email, 'user7@example.com')$q$,
                        'sr_customer_email_key') AS uses_the_index;
RESET enable_seqscan;

-- a transaction sees its own terms; a rolled-back savepoint takes its terms with it
BEGIN;
INSERT INTO sr_customer VALUES (1001, pseudo_encrypt_searchable('sr_email', 'sr-new-1', 'fresh@example.com'));
SELECT pg_temp.found_email('fresh@example.com') = '{1001}' AS own_write_found;
SAVEPOINT sp;
INSERT INTO sr_customer VALUES (1002, pseudo_encrypt_searchable('sr_email', 'sr-new-2', 'rolled@example.com'));
ROLLBACK TO SAVEPOINT sp;
COMMIT;
SELECT pg_temp.found_email('fresh@example.com') = '{1001}' AS committed_write_found,
       cardinality(pseudo_search('sr_email', 'rolled@example.com')) = 0 AS rolled_back_term_gone;
-- a subject encrypted and shredded in one transaction: it commits, no term remains
BEGIN;
INSERT INTO sr_customer VALUES (1003, pseudo_encrypt_searchable('sr_email', 'sr-new-3', 'brief@example.com'));
SELECT pseudo_shred('sr-new-3') AS shredded_in_same_transaction;
COMMIT;
SELECT cardinality(pseudo_search('sr_email', 'brief@example.com')) = 0 AS no_term_for_shredded_key;
-- a changed value: the old address no longer finds the row, the new one does
UPDATE sr_customer SET email = pseudo_encrypt_searchable('sr_email', 'sr-new-1', 'moved@example.com') WHERE id = 1001;
SELECT pg_temp.found_email('fresh@example.com') = '{}' AS old_value_not_found,
       pg_temp.found_email('moved@example.com') = '{1001}' AS new_value_found;
-- within one statement (a function): a recheck after a write sees the write
DO $$
BEGIN
    PERFORM pseudo_matches('sr_email', email, 'memo@example.com') FROM sr_customer WHERE id = 1;
    INSERT INTO sr_customer VALUES (1005, pseudo_encrypt_searchable('sr_email', 'sr-new-5', 'memo@example.com'));
    IF NOT EXISTS (SELECT FROM sr_customer WHERE id = 1005 AND pseudo_matches('sr_email', email, 'memo@example.com')) THEN
        RAISE EXCEPTION 'a value written in this statement was not matched';
    END IF;
END $$;
DELETE FROM sr_customer WHERE id > 1000;

-- subject key rotation and pseudo_rewrap keep values findable
SELECT count(*) > 0 AS rotated FROM (SELECT pseudo_rotate(subject) FROM sr_truth WHERE id % 3 = 0 GROUP BY subject) r;
UPDATE sr_customer SET email = pseudo_rewrap(email) WHERE id % 2 = 0;
SELECT bool_and(pg_temp.found_email(pg_temp.email(b, 1)) = pg_temp.generated(b)) AS found_after_subject_rotation
FROM generate_series(0, 39) b;

-- index key rotation: both keys searched until the terms are re-derived;
-- writes meanwhile use the new key; the reindex drops the old key's terms
SELECT pseudo_rotate_search_index('sr_email') AS new_version;
SELECT pg_temp.sqlstate_of($$SELECT pseudo_rotate_search_index('sr_email')$$) AS rotate_again_refused;
SELECT key_versions FROM pseudo_keys.search_indexes WHERE name = 'sr_email';
INSERT INTO sr_customer VALUES (1004, pseudo_encrypt_searchable('sr_email', 'sr-new-4', 'during@example.com'));
SELECT pg_temp.found_email('during@example.com') = '{1004}' AS written_during_rotation_found,
       pg_temp.found_email(pg_temp.email(3, 0)) = pg_temp.generated(3) AS old_terms_still_found;
SET client_min_messages = warning;
CALL pseudo_reindex_search_column('sr_email', 'sr_customer', 'email', batch_pages => 2);
RESET client_min_messages;
SELECT key_version, key_versions FROM pseudo_keys.search_indexes WHERE name = 'sr_email';
SELECT NOT EXISTS (SELECT FROM pseudo_keys.search_term t JOIN pseudo_keys.search_key k ON k.id = t.search_key
                   WHERE k.index_name = 'sr_email' AND k.version < 2) AS old_key_terms_gone;
SELECT bool_and(pg_temp.found_email(pg_temp.email(b, 2)) = pg_temp.generated(b)) AS found_after_index_rotation
FROM generate_series(0, 39) b;
SELECT pg_temp.found_email('during@example.com') = '{1004}' AS during_found_after;
DELETE FROM sr_customer WHERE id > 1000;

-- root key rotation and retirement rewrap the index keys too
SELECT pseudo_rotate_root_key() > 1 AS root_rotated;
SELECT pseudo_retire_root_key(e) >= 0 AS retired FROM (SELECT min(epoch) e FROM pseudo_keys.root_key WHERE retired_at IS NULL) x;
SELECT NOT EXISTS (SELECT FROM pseudo_keys.search_key WHERE root_epoch <> (SELECT max(epoch) FROM pseudo_keys.root_key)) AS search_keys_under_current_root;
SELECT bool_and(pg_temp.found_phone(pg_temp.phone(b)) = pg_temp.generated(b)) AS found_after_root_rotation
FROM generate_series(0, 39) b;

-- errors
SELECT pg_temp.sqlstate_of($$SELECT pseudo_search('sr_nope', 'x')$$) AS unknown_index,
       pg_temp.sqlstate_of($$SELECT pseudo_encrypt_searchable('sr_nope', 's', 'x')$$) AS unknown_index_write,
       pg_temp.sqlstate_of($$SELECT pseudo_create_search_index('sr_email')$$) AS exists,
       pg_temp.sqlstate_of($$SELECT pseudo_create_search_index('sr_x', 'upper')$$) AS bad_normalization,
       pg_temp.sqlstate_of($$SELECT pseudo_create_search_index('', 'none')$$) AS empty_name,
       pg_temp.sqlstate_of($$SELECT pseudo_encrypt_searchable('sr_phone', 's', 'x', NULL)$$) AS null_context,
       pg_temp.sqlstate_of($$SELECT pseudo_matches('sr_phone', phone, 'x', NULL) FROM sr_customer$$) AS null_context_matches,
       pg_temp.sqlstate_of($$SELECT pseudo_rotate_search_index('sr_nope')$$) AS rotate_unknown,
       pg_temp.sqlstate_of($$CALL pseudo_reindex_search_column('sr_email', 'sr_customer', 'id')$$) AS reindex_not_pseudo_text;
SELECT pseudo_create_search_index('sr_email', 'none');
SELECT pseudo_search('sr_nope', 'x');
-- a wrong context is a decryption failure, not a silent no
SELECT pg_temp.sqlstate_of($$SELECT pseudo_matches('sr_phone', phone, pg_temp.phone(base), 'other') FROM sr_customer JOIN sr_truth USING (id)$$) AS wrong_context;
BEGIN READ ONLY;
SELECT pg_temp.found_phone(pg_temp.phone(5)) = pg_temp.generated(5) AS search_in_read_only;
SELECT pg_temp.sqlstate_of($$SELECT pseudo_encrypt_searchable('sr_phone', 'sr-1', 'x', 'phone')$$) AS write_read_only;
ROLLBACK;

-- roles: pseudo_searcher searches and rechecks, and cannot decrypt or write;
-- the others cannot search
CREATE ROLE regress_sr_searcher IN ROLE pseudo_searcher;
CREATE ROLE regress_sr_reader IN ROLE pseudo_reader;
CREATE ROLE regress_sr_writer IN ROLE pseudo_writer;
GRANT SELECT ON sr_customer, sr_truth TO regress_sr_searcher, regress_sr_reader, regress_sr_writer;
CREATE FUNCTION pg_temp.try_as(r text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('SET ROLE %I', r); EXECUTE stmt; RESET ROLE; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RESET ROLE; RETURN SQLSTATE; END $$;
SELECT stmt,
       pg_temp.try_as('regress_sr_searcher', stmt) AS searcher,
       pg_temp.try_as('regress_sr_reader', stmt) AS reader,
       pg_temp.try_as('regress_sr_writer', stmt) AS writer
FROM (VALUES
  ($$SELECT count(*) FROM sr_customer WHERE pseudo_key_id(email) = ANY (pseudo_search('sr_email', 'user1@example.com')) AND pseudo_matches('sr_email', email, 'user1@example.com')$$),
  ($$SELECT pseudo_decrypt(email) FROM sr_customer$$),
  ($$SELECT pseudo_encrypt_searchable('sr_email', 'sr-1', 'x@example.com')$$),
  ($$SELECT count(*) FROM pseudo_keys.search_term$$)
) AS t(stmt);
-- pseudo_matches answers only for candidates of its search: not an oracle
-- over values the index does not find (the unindexed column's addresses)
SET ROLE regress_sr_searcher;
SELECT count(*) FILTER (WHERE pseudo_matches('sr_email', unindexed, 'other' || t.base || '@example.com')) = 0 AS no_answer_for_unindexed
FROM sr_customer c JOIN sr_truth t USING (id) WHERE c.id <= 60;
RESET ROLE;

-- The shred property. Subject sr-5 also gets values nobody else has (two
-- rows with one address, a third with another), so some of its terms are its
-- own; the others are shared with subjects that stay.
INSERT INTO sr_truth VALUES (701, 'sr-5', 100, 0), (702, 'sr-5', 100, 1), (703, 'sr-5', 101, 2);
INSERT INTO sr_customer
    SELECT id, pseudo_encrypt_searchable('sr_email', subject, pg_temp.email(base, spelling)),
               pseudo_encrypt_searchable('sr_phone', subject, pg_temp.phone(base), 'phone')
    FROM sr_truth WHERE id > 700;
SELECT pg_temp.found_email('user100@example.com') = '{701,702}' AS own_value_found;
-- Its terms with the key ids they name, read as superuser before the shred;
-- "shared": another subject has the same term.
CREATE TEMP TABLE sr_gone AS
    SELECT t.term, t.key_id,
           EXISTS (SELECT FROM pseudo_keys.search_term o JOIN pseudo_keys.subject_key ok ON ok.key_id = o.key_id
                   WHERE o.term = t.term AND ok.subject_digest <> k.subject_digest) AS shared
    FROM pseudo_keys.search_term t JOIN pseudo_keys.subject_key k ON k.key_id = t.key_id
    WHERE k.subject_digest = pseudo_keys.subject_digest('sr-5');
CREATE TEMP TABLE sr_gone_rows AS SELECT id, base FROM sr_truth WHERE subject = 'sr-5';
SELECT count(*) FILTER (WHERE NOT shared) >= 4 AS has_own_terms, count(*) FILTER (WHERE shared) > 0 AS has_shared_terms FROM sr_gone;
-- A term of the subject: one of its own terms, or any of its terms next to
-- one of its key ids (a term row: search key, term, key id).
-- Every ordinary table and index file of this database, read from disk.
CREATE FUNCTION pg_temp.files_holding_terms() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0; bytes bytea;
BEGIN
    CHECKPOINT;
    FOR r IN SELECT c.oid FROM pg_class c
             WHERE c.relkind IN ('r', 'i', 't', 'm') AND c.relpersistence <> 't' AND pg_relation_filenode(c.oid) IS NOT NULL
               AND c.reltablespace = 0 AND pg_relation_size(c.oid) > 0 LOOP
        bytes := pg_read_binary_file(pg_relation_filepath(r.oid));
        IF EXISTS (SELECT FROM sr_gone g WHERE position(g.term || uuid_send(g.key_id) IN bytes) > 0
                                            OR (NOT g.shared AND position(g.term IN bytes) > 0)) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
-- Every row of every table, as text (bytea shows as hex).
CREATE FUNCTION pg_temp.rows_holding_terms() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0; found boolean;
BEGIN
    FOR r IN SELECT c.oid::regclass AS tab FROM pg_class c
             WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't' AND c.relnamespace <> 'pg_toast'::regnamespace LOOP
        EXECUTE format($q$SELECT EXISTS (SELECT FROM %s x, sr_gone g
                                          WHERE position(encode(g.term, 'hex') IN x::text) > 0
                                            AND (NOT g.shared OR position(g.key_id::text IN x::text) > 0))$q$, r.tab) INTO found;
        IF found THEN n := n + 1; END IF;
    END LOOP;
    RETURN n;
END $$;
ANALYZE pseudo_keys.search_term;
-- controls: before the shred both scans find its terms
SELECT pg_temp.rows_holding_terms() > 0 AS rows_hold_terms_before, pg_temp.files_holding_terms() > 0 AS files_hold_terms_before;
SELECT pseudo_shred('sr-5') > 0 AS shredded;
-- at once: no row of any table holds a term of the subject
SELECT pg_temp.rows_holding_terms() = 0 AS no_row_holds_a_term;
-- searches find none of its rows, in any spelling; nothing tells that two of
-- them had equal values
SELECT bool_and(NOT (g.id = ANY (pg_temp.found_email(pg_temp.email(g.base, s))))) AS shredded_rows_not_found
FROM sr_gone_rows g, generate_series(0, 3) s;
SELECT bool_and(NOT (g.id = ANY (pg_temp.found_phone(pg_temp.phone(g.base))))) AS shredded_phones_not_found
FROM sr_gone_rows g;
SELECT count(*) = 0 AS no_candidate_keys
FROM sr_customer c JOIN sr_gone_rows g USING (id)
WHERE pseudo_key_id(c.email) = ANY (pseudo_search('sr_email', pg_temp.email(g.base, 0)))
   OR pseudo_key_id(c.phone) = ANY (pseudo_search('sr_phone', pg_temp.phone(g.base)));
SELECT cardinality(pseudo_search('sr_email', 'user100@example.com')) = 0 AS own_value_finds_nothing,
       (SELECT a.email <> b.email FROM sr_customer a, sr_customer b WHERE a.id = 701 AND b.id = 702) AS equal_values_differ_as_stored;
-- the other subjects with the same values are still found
SELECT bool_and(pg_temp.found_email(pg_temp.email(b, 0)) = ARRAY(SELECT id FROM sr_truth WHERE base = b AND subject <> 'sr-5' ORDER BY id)) AS others_still_found
FROM (SELECT DISTINCT base AS b FROM sr_gone_rows) x;
-- on disk, once the table is rewritten (docs/searching.md: deleted rows'
-- bytes stay in the table's pages after a plain VACUUM, until PostgreSQL
-- reuses the space, as deleted keys' do)
VACUUM FULL pseudo_keys.search_term;
SELECT pg_temp.files_holding_terms() = 0 AS no_file_holds_a_term;

-- dropping an index drops its keys and terms
SELECT pseudo_drop_search_index('sr_phone') AS dropped, pseudo_drop_search_index('sr_phone') AS dropped_again;
SELECT NOT EXISTS (SELECT FROM pseudo_keys.search_key WHERE index_name = 'sr_phone') AS phone_keys_gone;
SELECT pg_temp.sqlstate_of($$SELECT pseudo_search('sr_phone', 'x')$$) AS search_dropped_index;

DROP TABLE sr_customer, sr_truth;
SELECT pseudo_drop_search_index('sr_email');
DROP OWNED BY regress_sr_searcher, regress_sr_reader, regress_sr_writer;
DROP ROLE regress_sr_searcher, regress_sr_reader, regress_sr_writer;
