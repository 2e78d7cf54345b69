-- pseudo_encrypt / pseudo_decrypt / pseudo_key_id
CREATE TABLE ed (id int, subject text, plain text, v pseudo_text);
INSERT INTO ed (id, subject, plain) VALUES
  (1, 'ed-alice', 'Zoë Müller'),
  (2, 'ed-alice', ''),
  (3, 'ed-alice', '+33 1 23 45 67 89'),
  (4, 'ed-bob', '12 rue de la Paix, 75002 Paris'),
  (5, 'ed-Bob', 'subjects compare byte for byte'),
  (6, 'ed-carol', repeat('€', 21845)),
  (7, 'ed-carol', repeat('x', 65535));
UPDATE ed SET v = pseudo_encrypt(subject, plain);

SELECT id, pseudo_decrypt(v) = plain AS round_trip FROM ed ORDER BY id;
SELECT octet_length(plain) AS max_plaintext_bytes FROM ed WHERE id = 7;

-- one key per subject; subjects are distinct byte strings
SELECT subject, count(DISTINCT pseudo_key_id(v)) AS keys FROM ed GROUP BY subject ORDER BY subject;
SELECT count(DISTINCT pseudo_key_id(v)) AS distinct_keys FROM ed;

-- a fresh nonce each call: same plaintext, same key, different ciphertext
SELECT pseudo_encrypt('ed-alice', 'same') <> pseudo_encrypt('ed-alice', 'same') AS fresh_nonce;
SELECT substr(pseudo_encrypt('ed-alice', 'same')::text, 35, 26) <> substr(pseudo_encrypt('ed-alice', 'same')::text, 35, 26) AS nonce_differs;

-- NULL in, NULL out (STRICT)
SELECT pseudo_encrypt(NULL, 'x') IS NULL AS null_subject,
       pseudo_encrypt('ed-alice', NULL) IS NULL AS null_plaintext,
       pseudo_decrypt(NULL) IS NULL AS null_value,
       pseudo_key_id(NULL) IS NULL AS null_key_id;

-- plaintext over 65,535 bytes: 54000, and no key is created for the subject
SELECT pseudo_encrypt('ed-too-long', repeat('x', 65536));
SELECT count(*) AS keys_after_refusal FROM pseudo_keys.subject s
 WHERE s.subject_digest = pseudo_keys.subject_digest('ed-too-long');

-- tampering: any changed byte fails with one opaque XX001 message
SELECT pseudo_decrypt(overlay(v::text placing (CASE WHEN right(v::text, 1) = '0' THEN '1' ELSE '0' END) from octet_length(v::text) for 1)::pseudo_text)
  FROM ed WHERE id = 1;
SELECT pseudo_decrypt(overlay(v::text placing (CASE WHEN substr(v::text, 70, 1) = '0' THEN '1' ELSE '0' END) from 70 for 1)::pseudo_text)
  FROM ed WHERE id = 1;
-- key id swapped for another subject's existing key: still XX001 (key id is authenticated)
SELECT pseudo_decrypt(overlay(a.v::text placing substr(b.v::text, 3, 32) from 3 for 32)::pseudo_text)
  FROM ed a, ed b WHERE a.id = 1 AND b.id = 4;
-- a key id that never existed: 42704
SELECT pseudo_decrypt(overlay(v::text placing repeat('0', 32) from 3 for 32)::pseudo_text)
  FROM ed WHERE id = 1;

-- the plaintext never appears in the stored form
SELECT bool_or(position(convert_to(plain, 'UTF8') in decode(v::text, 'hex')) > 0) AS plaintext_visible
  FROM ed WHERE plain <> '';

DROP TABLE ed;
