-- Malformed input: each case names its SQLSTATE; nothing crashes.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;

-- The messages, once each
SELECT ''::pseudo_text;
SELECT 'abc'::pseudo_text;
SELECT repeat('zz', 46)::pseudo_text;
SELECT ('02' || repeat('00', 45))::pseudo_text;
SELECT repeat('01', 45)::pseudo_text;
SELECT (' 01' || repeat('00', 45))::pseudo_text;
SELECT ('01' || repeat('00', 65581))::pseudo_text;

-- The SQLSTATEs
SELECT label, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
  ('empty',                    $q$SELECT ''::pseudo_text$q$),
  ('odd length',               $q$SELECT 'abc'::pseudo_text$q$),
  ('non-hex',                  $q$SELECT repeat('zz', 46)::pseudo_text$q$),
  ('hex with 0x prefix',       $q$SELECT ('0x01' || repeat('00', 44))::pseudo_text$q$),
  ('backslash-x bytea form',   $q$SELECT ('\x01' || repeat('00', 45))::pseudo_text$q$),
  ('trailing newline',         $q$SELECT ('01' || repeat('00', 45) || E'\n')::pseudo_text$q$),
  ('45 bytes',                 $q$SELECT repeat('01', 45)::pseudo_text$q$),
  ('version 0',                $q$SELECT ('00' || repeat('00', 45))::pseudo_text$q$),
  ('version 2',                $q$SELECT ('02' || repeat('00', 45))::pseudo_text$q$),
  ('version ff',               $q$SELECT ('ff' || repeat('00', 45))::pseudo_text$q$),
  ('65,582 bytes',             $q$SELECT ('01' || repeat('00', 65581))::pseudo_text$q$),
  ('1 MB of hex',              $q$SELECT repeat('0', 1000000)::pseudo_text$q$),
  ('46 bytes, well-formed',    $q$SELECT ('01' || repeat('00', 45))::pseudo_text$q$),
  ('65,581 bytes, well-formed',$q$SELECT ('01' || repeat('00', 65580))::pseudo_text$q$),
  ('decrypt, unknown key',     $q$SELECT pseudo_decrypt(('01' || repeat('00', 45))::pseudo_text)$q$),
  ('encrypt 65,535 bytes',     $q$SELECT pseudo_encrypt('bad-input', repeat('a', 65535))$q$),
  ('encrypt 65,536 bytes',     $q$SELECT pseudo_encrypt('bad-input', repeat('a', 65536))$q$),
  ('encrypt invalid UTF-8',    $q$SELECT pseudo_encrypt('bad-input', convert_from('\xff'::bytea, 'UTF8'))$q$),
  ('encrypt empty subject',    $q$SELECT pseudo_encrypt('', 'x')$q$)
) AS t(label, stmt);

-- every length from 0 to 60 bytes of zeros after version 01: too short below 46
SELECT n, pg_temp.sqlstate_of(format('SELECT %L::pseudo_text', '01' || repeat('00', n - 1))) AS sqlstate
FROM generate_series(1, 60) n
WHERE n IN (1, 45, 46, 47, 60);

-- the backend survived all of it
SELECT 1 AS still_alive;
