-- PostgreSQL's own "permission denied" errors on pseudo_ext's objects carry a
-- HINT naming the role to grant (src/pg/role_hints.rs). The hook that adds it is
-- installed when the library loads: with shared_preload_libraries from the
-- first statement; here LOAD stands in for that.
LOAD 'pseudo_ext';
CREATE TEMP TABLE hint_t (v pseudo_text);
INSERT INTO hint_t VALUES (NULL);
CREATE ROLE regress_hint_plain;
GRANT SELECT ON hint_t TO regress_hint_plain;
SET ROLE regress_hint_plain;
SELECT pseudo_encrypt('hint-subject', 'x');
SELECT pseudo_decrypt(v) FROM hint_t;
SELECT pseudo_rewrap(v) FROM hint_t;
SELECT pseudo_needs_rewrap(v) FROM hint_t;
SELECT pseudo_search('hint_index', 'x');
SELECT pseudo_encrypt_searchable('hint_index', 'hint-subject', 'x');
SELECT pseudo_create_search_index('hint_index');
SELECT pseudo_shred('hint-subject');
SELECT pseudo_rotate_root_key();
SELECT * FROM pseudo_check_config();
SELECT pseudo_fhe_get('store', '\x00');
SELECT count(*) FROM pseudo_keys.subject_key;
SELECT count(*) FROM pseudo_fhe.stores;
CALL pseudo_rewrap_column('pg_class', 'relname');
-- other permission errors get none
SELECT count(*) FROM pg_authid;
RESET ROLE;
DROP TABLE hint_t;
DROP ROLE regress_hint_plain;
