-- The malformed-input matrix: families of bad inputs, each counted by the
-- SQLSTATE it got (bad_input.sql shows the single messages). Nothing may
-- crash and nothing may be accepted that should not be.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE stmt; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
-- 'NULL', 'true' or 'false' for a boolean (so a round trip that compares
-- shows a wrong plaintext), 'value' for anything else, or the SQLSTATE of a
-- one-column statement
CREATE FUNCTION pg_temp.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN EXECUTE stmt INTO v;
RETURN CASE WHEN v IS NULL THEN 'NULL' WHEN v IN ('true', 'false') THEN v ELSE 'value' END;
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
SELECT setseed(0.25);
CREATE TEMP TABLE good AS
  SELECT pseudo_encrypt('mf-alice', 'alice data') AS a, pseudo_encrypt('mf-bob', 'bob data') AS b,
         pseudo_encrypt('mf-alice', 'alice ctx', 'mf.ctx') AS c;

-- Type input: every length 0..60 bytes of random hex, of crafted envelopes
-- (version 01), of non-hex text, and valid hex with whitespace around it.
SELECT family, sqlstate, count(*) FROM (
  SELECT 'random hex, 0..60 bytes, first byte not 01' AS family,
         pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', coalesce(
           (SELECT string_agg(lpad(to_hex(CASE WHEN k = 1 THEN 2 + (random() * 253)::int ELSE (random() * 255)::int END), 2, '0'), '')
              FROM generate_series(1, n) k), ''))) AS sqlstate
    FROM generate_series(0, 60) n
  UNION ALL
  SELECT 'version 01, 1..45 bytes',
         pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', '01' || repeat('ab', n - 1)))
    FROM generate_series(1, 45) n
  UNION ALL
  SELECT 'version 01, 46..60 bytes: well-formed, unknown key',
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)', '01' || repeat('ab', n - 1)))
    FROM generate_series(46, 60) n
  UNION ALL
  SELECT 'non-hex characters, 1..60',
         pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', repeat('g', n)))
    FROM generate_series(1, 60) n
  UNION ALL
  SELECT 'whitespace around valid hex',
         pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', w || a::text))
    FROM good, unnest(ARRAY[' ', E'\t', E'\n', '  ']) w
  UNION ALL
  SELECT 'huge input (10 MB of hex)', pg_temp.sqlstate_of($q$SELECT repeat('01', 5000000)::pseudo_text$q$)
) t GROUP BY 1, 2 ORDER BY 1, 2;

-- Envelopes: every single-byte tamper (bit flip at each position after the
-- version), another subject's key id, wrong versions, truncation at every length.
SELECT family, sqlstate, count(*) FROM (
  SELECT 'tamper: key id bytes (another id)' AS family,
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)',
           encode(set_byte(pseudo_text_send(a), i, get_byte(pseudo_text_send(a), i) # 1), 'hex'))) AS sqlstate
    FROM good, generate_series(1, 16) i
  UNION ALL
  SELECT 'tamper: nonce, ciphertext, tag bytes',
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)',
           encode(set_byte(pseudo_text_send(a), i, get_byte(pseudo_text_send(a), i) # 1), 'hex')))
    FROM good, generate_series(17, octet_length(pseudo_text_send(a)) - 1) i
  UNION ALL
  SELECT 'key id of another subject',
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)',
           encode(overlay(pseudo_text_send(a) PLACING substring(pseudo_text_send(b) FROM 2 FOR 16) FROM 2), 'hex')))
    FROM good
  UNION ALL
  SELECT 'version byte 00, 02..ff',
         pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', lpad(to_hex(v), 2, '0') || substring(a::text FROM 3)))
    FROM good, generate_series(0, 255) v WHERE v <> 1
  UNION ALL
  SELECT 'truncated below 46 bytes',
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)', left(a::text, 2 * n)))
    FROM good, generate_series(0, 45) n
  UNION ALL
  SELECT 'truncated at 46 bytes or more',
         pg_temp.sqlstate_of(format('SELECT pseudo_decrypt(%L::pseudo_text)', left(a::text, 2 * n)))
    FROM good, generate_series(46, octet_length(pseudo_text_send(a)) - 1) n
  UNION ALL
  SELECT 'context value without its context', pg_temp.sqlstate_of('SELECT pseudo_decrypt(c) FROM good')
  UNION ALL
  SELECT 'untampered (control)', pg_temp.sqlstate_of('SELECT pseudo_decrypt(a), pseudo_decrypt(c, ''mf.ctx'') FROM good')
) t GROUP BY 1, 2 ORDER BY 1, 2;

-- NULLs and empty strings everywhere: NULL in gives NULL out, except a NULL
-- context (22004); empty strings are values.
SELECT stmt, pg_temp.outcome(stmt) AS outcome FROM (VALUES
  ($q$SELECT pseudo_encrypt(NULL, 'x')$q$), ($q$SELECT pseudo_encrypt('s', NULL)$q$),
  ($q$SELECT pseudo_encrypt(NULL, NULL, 'c')$q$), ($q$SELECT pseudo_encrypt('mf-alice', 'x', NULL)$q$),
  ($q$SELECT pseudo_decrypt(NULL)$q$), ($q$SELECT pseudo_decrypt(NULL, NULL)$q$),
  ($q$SELECT pseudo_decrypt(c, NULL) FROM good$q$),
  ($q$SELECT pseudo_rewrap(NULL)$q$), ($q$SELECT pseudo_rewrap(NULL, 'c')$q$), ($q$SELECT pseudo_needs_rewrap(NULL)$q$),
  ($q$SELECT pseudo_key_id(NULL)$q$), ($q$SELECT pseudo_rotate(NULL)$q$), ($q$SELECT pseudo_shred(NULL)$q$),
  ($q$SELECT pseudo_retire_root_key(NULL)$q$), ($q$SELECT pseudo_destroy_root_key(NULL)$q$),
  ($q$SELECT NULL::pseudo_text$q$),
  ($q$SELECT pseudo_encrypt('', '')$q$),
  ($q$SELECT pseudo_decrypt(pseudo_encrypt('mf-empty', '')) = ''$q$),
  ($q$SELECT pseudo_decrypt(pseudo_encrypt('mf-empty', '', ''), '') = ''$q$),
  ($q$SELECT ''::pseudo_text$q$),
  ($q$SELECT 'control: a wrong plaintext' = 'x'$q$)
) AS t(stmt);

-- Plaintext length limit; invalid UTF-8 never reaches pseudo_ext
SELECT label, pg_temp.outcome(stmt) AS outcome FROM (VALUES
  ('65,535 bytes', $q$SELECT pseudo_decrypt(pseudo_encrypt('mf-alice', repeat('a', 65535))) = repeat('a', 65535)$q$),
  ('65,536 bytes', $q$SELECT pseudo_encrypt('mf-alice', repeat('a', 65536))$q$),
  ('65,535 two-byte characters (131,070 bytes)', $q$SELECT pseudo_encrypt('mf-alice', repeat('é', 65535))$q$),
  ('invalid UTF-8 plaintext via convert_from', $q$SELECT pseudo_encrypt('mf-alice', convert_from('\xc3'::bytea, 'UTF8'))$q$),
  ('invalid UTF-8 context via convert_from', $q$SELECT pseudo_encrypt('mf-alice', 'x', convert_from('\xff'::bytea, 'UTF8'))$q$)
) AS t(label, stmt);

SELECT 1 AS backend_still_alive;
