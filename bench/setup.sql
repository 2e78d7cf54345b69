-- Data for bench/run.sh: :rows rows over :subjects subjects, 32-byte plaintexts.
CREATE EXTENSION pseudo_ext;
\if :have_pgcrypto
CREATE EXTENSION pgcrypto;
\endif
CREATE TABLE bench_plain AS
  SELECT i AS id, 'subject-' || (i % :subjects) AS subject, md5(i::text) AS plain, convert_to(md5(i::text), 'UTF8') AS plain_bytes
  FROM generate_series(1, :rows) i;
CREATE TABLE bench_pseudo AS SELECT id, pseudo_encrypt(subject, plain) AS v FROM bench_plain;
\if :have_pgcrypto
CREATE TABLE bench_pgcrypto AS
  SELECT id, encrypt(plain_bytes, '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes') AS c FROM bench_plain;
VACUUM ANALYZE bench_pgcrypto;
\endif
VACUUM ANALYZE bench_plain, bench_pseudo;
-- Best of n runs of a query, in seconds.
CREATE FUNCTION bench_best(q text, n int DEFAULT 3) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8 := 'infinity';
BEGIN
  FOR i IN 1..n LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    best := least(best, extract(epoch FROM clock_timestamp() - t0));
  END LOOP;
  RETURN best;
END $$;
