\pset null '(null)'
\echo '1. Install the extension and store two customers'' personal data, each under its own key.'
CREATE EXTENSION pseudo_ext;
CREATE TABLE customer (id int PRIMARY KEY, user_id text NOT NULL, name pseudo_text, phone pseudo_text);
INSERT INTO customer VALUES
  (1, 'user-1', pseudo_encrypt('user-1', 'Ada Lovelace'),  pseudo_encrypt('user-1', '+44 20 7946 0001')),
  (2, 'user-2', pseudo_encrypt('user-2', 'Alan Turing'),   pseudo_encrypt('user-2', '+44 20 7946 0002'));

\echo '2. What the table holds: ciphertext (hex envelope, shortened here).'
SELECT id, user_id, left(name::text, 36) || '...' AS name_on_disk, pseudo_key_id(name) AS key_id FROM customer ORDER BY id;

\echo '3. Decrypt (a role with pseudo_reader may do this; the demo runs as superuser).'
SELECT id, user_id, pseudo_decrypt(name) AS name, pseudo_decrypt(phone) AS phone FROM customer ORDER BY id;

\echo '4. Right to erasure for user-1: one call destroys every key of that subject.'
SELECT pseudo_shred('user-1') AS keys_destroyed;

\echo '5. user-1''s data now reads as NULL; user-2 is untouched.'
SELECT id, user_id, pseudo_decrypt(name) AS name, pseudo_decrypt(phone) AS phone FROM customer ORDER BY id;

\echo '6. New data for a shredded subject is refused (SQLSTATE 55000):'
\set ON_ERROR_STOP 0
SELECT pseudo_encrypt('user-1', 'Ada again');
\set ON_ERROR_STOP 1
