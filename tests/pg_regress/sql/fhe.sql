-- The FHE key/value store's refusals that need no client key: every one a
-- clear message with its SQLSTATE, and the privileges around the store.
-- (GET and SET on real ciphertexts: tests/client/tests/fhe.rs and tests/fhe_cli.sh.)
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
CREATE ROLE regress_fhe_user IN ROLE pseudo_fhe_user;
CREATE ROLE regress_fhe_plain;
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO regress_fhe_user, regress_fhe_plain;

-- The messages, once each
SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 8);
SELECT pseudo_fhe_create_store('s', '\x00', 0, 8, 8);
SELECT pseudo_fhe_create_store('s', '\x00', 4, 7, 8);
SELECT pseudo_fhe_get('nope', '\x00');
SELECT pseudo_fhe_drop_store('nope');

-- The SQLSTATEs, as a pseudo_fhe_user
SET ROLE regress_fhe_user;
SELECT label, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
  ('server key: one byte', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 8)$$),
  ('server key: header only', $$SELECT pseudo_fhe_create_store('s', '\x50584601' || '\x01'::bytea || pg_catalog.decode(repeat('00', 17), 'hex'), 4, 8, 8)$$),
  ('server key: unknown kind', $$SELECT pseudo_fhe_create_store('s', '\x50584601' || '\x09'::bytea || pg_catalog.decode(repeat('00', 17), 'hex'), 4, 8, 8)$$),
  ('server key: format 2', $$SELECT pseudo_fhe_create_store('s', '\x50584602' || '\x01'::bytea || pg_catalog.decode(repeat('00', 17), 'hex'), 4, 8, 8)$$),
  ('a ciphertext header where a server key belongs', $$SELECT pseudo_fhe_create_store('s', '\x50584601' || '\x02'::bytea || pg_catalog.decode(repeat('00', 17), 'hex'), 4, 8, 8)$$),
  ('capacity 0', $$SELECT pseudo_fhe_create_store('s', '\x00', 0, 8, 8)$$),
  ('capacity 1025', $$SELECT pseudo_fhe_create_store('s', '\x00', 1025, 8, 8)$$),
  ('key_bits 7', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 7, 8)$$),
  ('key_bits 0', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 0, 8)$$),
  ('value_bits 66', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 66)$$),
  ('value_bits -2', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, -2)$$),
  ('GET: unknown store', $$SELECT pseudo_fhe_get('nope', '\x00')$$),
  ('SET: unknown store', $$SELECT pseudo_fhe_set('nope', '\x00', '\x00')$$),
  ('drop: unknown store', $$SELECT pseudo_fhe_drop_store('nope')$$),
  ('read the slots table', $$SELECT count(*) FROM pseudo_fhe.slot$$),
  ('read the stores table', $$SELECT count(*) FROM pseudo_fhe.store$$),
  ('read the stores view', $$SELECT count(*) FROM pseudo_fhe.stores$$)
) AS t(label, stmt);
RESET ROLE;

-- Limits (superuser settings; checked before the server key is decoded):
-- at most pseudo_ext.fhe_max_store_bits of capacity x (key_bits + value_bits),
-- and pseudo_ext.fhe_max_stores_per_role stores per role (53400).
SHOW pseudo_ext.fhe_max_store_bits;
SHOW pseudo_ext.fhe_max_stores_per_role;
SHOW pseudo_ext.fhe_threads;
SET pseudo_ext.fhe_max_store_bits = 64;
SELECT pseudo_fhe_create_store('s', '\x00', 5, 8, 8);
SET pseudo_ext.fhe_max_stores_per_role = 0;
SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 8);
SET ROLE regress_fhe_user;
SELECT label, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
  ('no store allowed for the role', $$SELECT pseudo_fhe_create_store('s', '\x00', 1, 8, 8)$$),
  ('a user cannot raise the limits', $$SET pseudo_ext.fhe_max_stores_per_role = 10$$)
) AS t(label, stmt);
RESET ROLE;
SET pseudo_ext.fhe_max_stores_per_role = 16;
SET ROLE regress_fhe_user;
SELECT label, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
  ('64 bits: within the limit (the one-byte server key is refused next)', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 8)$$),
  ('80 bits: over it', $$SELECT pseudo_fhe_create_store('s', '\x00', 5, 8, 8)$$),
  ('64 bits, other shape', $$SELECT pseudo_fhe_create_store('s', '\x00', 2, 16, 16)$$)
) AS t(label, stmt);
RESET ROLE;
RESET pseudo_ext.fhe_max_store_bits;
RESET pseudo_ext.fhe_max_stores_per_role;

-- STRICT: NULL in, NULL out, no store touched
SELECT pseudo_fhe_get(NULL, '\x00') IS NULL AS get_null, pseudo_fhe_set('s', NULL, '\x00') IS NULL AS set_null;

-- A role without pseudo_fhe_user cannot call the functions or see the schema
SET ROLE regress_fhe_plain;
SELECT label, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
  ('create', $$SELECT pseudo_fhe_create_store('s', '\x00', 4, 8, 8)$$),
  ('GET', $$SELECT pseudo_fhe_get('nope', '\x00')$$),
  ('SET', $$SELECT pseudo_fhe_set('nope', '\x00', '\x00')$$),
  ('drop', $$SELECT pseudo_fhe_drop_store('nope')$$),
  ('stores view', $$SELECT count(*) FROM pseudo_fhe.stores$$)
) AS t(label, stmt);
RESET ROLE;

-- Nothing was created by any of the above
SELECT count(*) = 0 AS no_stores, (SELECT count(*) FROM pseudo_fhe.slot) = 0 AS no_slots FROM pseudo_fhe.store;
DROP FUNCTION pg_temp.sqlstate_of(text);
DROP ROLE regress_fhe_user, regress_fhe_plain;
