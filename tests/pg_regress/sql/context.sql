-- Context binding: a value decrypts only with the context it was encrypted
-- with, so a value copied into another column or row reads as tampered (XX001).
CREATE TABLE ctx (id int, name pseudo_text, phone pseudo_text);
INSERT INTO ctx VALUES
  (1, pseudo_encrypt('ctx-ann', 'Ann Smith', 'ctx.name'), pseudo_encrypt('ctx-ann', '+44 20 7946 0000', 'ctx.phone')),
  (2, pseudo_encrypt('ctx-ben', 'Ben Jones', 'ctx.name'), pseudo_encrypt('ctx-ben', '+44 20 7946 0001', 'ctx.phone'));
SELECT id, pseudo_decrypt(name, 'ctx.name') LIKE '% %' AS name_ok,
       pseudo_decrypt(phone, 'ctx.phone') LIKE '+44 %' AS phone_ok FROM ctx ORDER BY id;

-- a value copied into another column does not decrypt there
UPDATE ctx SET phone = name WHERE id = 1;
SELECT pseudo_decrypt(phone, 'ctx.phone') FROM ctx WHERE id = 1;
-- wrong, missing or differently spelled context
SELECT pseudo_decrypt(name) FROM ctx WHERE id = 2;
SELECT pseudo_decrypt(name, 'ctx.Name') FROM ctx WHERE id = 2;
SELECT pseudo_decrypt(name, 'ctx.name ') FROM ctx WHERE id = 2;
-- a value without context does not decrypt with one
SELECT pseudo_decrypt(pseudo_encrypt('ctx-ann', 'plain'), 'ctx.name');
-- the context can bind the row too: copied to another row, it fails
SELECT pseudo_decrypt(pseudo_encrypt('ctx-ann', 'row 7', 'ctx.name:7'), 'ctx.name:7') = 'row 7' AS same_row;
SELECT pseudo_decrypt(pseudo_encrypt('ctx-ann', 'row 7', 'ctx.name:7'), 'ctx.name:8');

-- the empty context is no context (documented)
SELECT pseudo_decrypt(pseudo_encrypt('ctx-ann', 'e', '')) = 'e' AS empty_is_none,
       pseudo_decrypt(pseudo_encrypt('ctx-ann', 'f'), '') = 'f' AS none_is_empty;
-- non-ASCII and long contexts
SELECT pseudo_decrypt(pseudo_encrypt('ctx-ann', 'ü', 'таблица.имя'), 'таблица.имя') = 'ü' AS utf8_context,
       pseudo_decrypt(pseudo_encrypt('ctx-ann', 'l', repeat('c', 5000)), repeat('c', 5000)) = 'l' AS long_context;

-- same envelope format: 46 bytes of overhead, the same key as without context
SELECT octet_length(pseudo_text_send(pseudo_encrypt('ctx-ann', 'abc', 'ctx.name'))) = 46 + 3 AS same_size,
       pseudo_key_id(pseudo_encrypt('ctx-ann', 'abc', 'ctx.name')) = pseudo_key_id(pseudo_encrypt('ctx-ann', 'abc')) AS same_key;

-- NULL subject or plaintext: NULL, as in the two-argument form; NULL context: 22004
SELECT pseudo_encrypt(NULL, 'x', 'c') IS NULL AS null_subject,
       pseudo_encrypt('ctx-ann', NULL, 'c') IS NULL AS null_plaintext,
       pseudo_decrypt(NULL, 'c') IS NULL AS null_value;
SELECT pseudo_encrypt('ctx-ann', 'x', NULL);
SELECT pseudo_decrypt(name, NULL) FROM ctx WHERE id = 2;

-- shredded: NULL with or without the right context, as without context
SELECT pseudo_shred('ctx-ben') AS destroyed;
SELECT pseudo_decrypt(name, 'ctx.name') IS NULL AS shredded_reads_null FROM ctx WHERE id = 2;
SELECT pseudo_encrypt('ctx-ben', 'x', 'ctx.name');

DROP TABLE ctx;
