-- One backend, no parallel workers, warm caches (the first of 3 runs warms them).
SET max_parallel_workers_per_gather = 0;
SELECT 'baseline', bench_best('SELECT sum(octet_length(plain)) FROM bench_plain');
SELECT 'pseudo_decrypt', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_pseudo');
SELECT 'pseudo_encrypt', bench_best('SELECT count(pseudo_encrypt(subject, plain)) FROM bench_plain');
\if :have_pgcrypto
SELECT 'pgcrypto_decrypt', bench_best($$SELECT sum(octet_length(decrypt(c, '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes'))) FROM bench_pgcrypto$$);
SELECT 'pgcrypto_encrypt', bench_best($$SELECT count(encrypt(plain_bytes, '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes')) FROM bench_plain$$);
\endif
