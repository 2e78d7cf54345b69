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

\echo '7. Bind values to their column with a context: copied elsewhere they do not decrypt (XX001).'
INSERT INTO customer VALUES
  (3, 'user-3', pseudo_encrypt('user-3', 'Grace Hopper', 'customer.name'), pseudo_encrypt('user-3', '+1 202 555 0103', 'customer.phone'));
SELECT pseudo_decrypt(name, 'customer.name') AS name, pseudo_decrypt(phone, 'customer.phone') AS phone FROM customer WHERE id = 3;
\set ON_ERROR_STOP 0
SELECT pseudo_decrypt(phone, 'customer.name') AS phone_read_as_a_name FROM customer WHERE id = 3;
\set ON_ERROR_STOP 1

\echo '8. Find a customer by e-mail through a search index (pseudo_searcher: no decryption); the shred takes the term along.'
SELECT pseudo_create_search_index('customer_email', 'lower_trim') \g /dev/null
ALTER TABLE customer ADD COLUMN email pseudo_text;
CREATE INDEX customer_email_key ON customer (pseudo_key_id(email));
UPDATE customer SET email = pseudo_encrypt_searchable('customer_email', user_id,
    CASE id WHEN 2 THEN 'alan@example.org' ELSE 'Grace@Example.org' END) WHERE id IN (2, 3);
SELECT id, user_id FROM customer
 WHERE pseudo_key_id(email) = ANY (pseudo_search('customer_email', 'grace@example.org'))
   AND pseudo_matches('customer_email', email, 'grace@example.org');
SELECT pseudo_shred('user-3') AS keys_destroyed;
SELECT count(*) AS found_after_shred FROM customer
 WHERE pseudo_key_id(email) = ANY (pseudo_search('customer_email', 'grace@example.org'))
   AND pseudo_matches('customer_email', email, 'grace@example.org');

\echo '9. Rotate user-2''s key, then rewrap the column online (one committed batch per page range).'
SELECT pseudo_rotate('user-2') AS new_key_id;
SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(name)) AS values_on_old_keys FROM customer;
CALL pseudo_rewrap_column('customer', 'name');
SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(name)) AS values_on_old_keys, pseudo_decrypt(name) AS name
  FROM customer WHERE id = 2 GROUP BY name;

\echo '10. Rotate the root key: a new epoch, every subject key rewrapped, no data touched; retire the old epoch.'
SELECT pseudo_rotate_root_key() AS new_root_epoch;
SELECT pseudo_retire_root_key(1) AS keys_rewrapped_at_retirement;
SELECT epoch, is_current, retired_at IS NOT NULL AS retired, keys_wrapped FROM pseudo_keys.root_key_epochs ORDER BY epoch;

\echo '11. The audit log (no subject identifiers) and the configuration check.'
SELECT id, action, acting_role, cardinality(key_ids) AS key_ids, detail FROM pseudo_keys.audit_log ORDER BY id;
SELECT setting, value, risk FROM pseudo_check_config() WHERE risk IS NOT NULL;
