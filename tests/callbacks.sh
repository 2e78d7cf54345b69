#!/usr/bin/env bash
# No Rust panic may unwind into PostgreSQL's C frames: every function the
# extension registers with PostgreSQL (Register*Callback, CacheRegister*Callback,
# a *_hook = Some(..)) is #[pg_guard] or runs its body through no_unwind
# (src/pg/no_unwind.rs). A negative control runs the same check on a copy of src/
# with one no_unwind taken out, which must fail.
#   tests/callbacks.sh CLUSTER_DIR PORT WORK_DIR   (only WORK_DIR is used)
set -euo pipefail
work=$3
. "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/../src" && pwd)

registered() {  # the names of the functions handed to PostgreSQL
    grep -rhoE --include='*.rs' '(Register[A-Za-z]*Callback\(Some\(|_hook = Some\()[a-z_]+' "$1" | sed -E 's/.*Some\(//' | sort -u
}
unguarded() {  # unguarded SRC_DIR: one line per registered function that is neither
    local name file
    for name in $(registered "$1"); do
        file=$(grep -rlE --include='*.rs' "fn $name\(" "$1" | sort | head -1)
        if [ -z "$file" ]; then echo "$name (definition not found)"; continue; fi
        awk -v name="$name" '
            $0 ~ "fn " name "\\(" { infn = 1; guarded = prev ~ /pg_guard/ }
            infn && /no_unwind\(/ { guarded = 1 }
            infn && /^}/ { if (!guarded) print name; exit }
            !/^ *\/\// { prev = $0 }' "$file"
    done
}

names=$(registered "$src" | tr '\n' ' ' | sed 's/ $//')
[ -n "$names" ] || { echo "FAIL: no registered callback found: the check reads nothing"; exit 1; }
# Nothing unguarded prints nothing; the control below shows the check can name one.
found=$(unguarded "$src" | tr '\n' ' ' | sed 's/ $//')
check "none" "${found:-none}" "callbacks registered with PostgreSQL ($names) are guarded or run through no_unwind"

rm -rf "$work/callbacks_src"; cp -r "$src" "$work/callbacks_src"
sed -i '0,/    no_unwind(|| {/s//    (|| {/' "$work/callbacks_src/pg/log_filter.rs"
check "hide_statement" "$(unguarded "$work/callbacks_src" | tr '\n' ' ' | sed 's/ $//')" "control: the check names hide_statement once its no_unwind is taken out"
