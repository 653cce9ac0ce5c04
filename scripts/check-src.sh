#!/usr/bin/env bash
# check-src.sh — the source tree's rules, checked (make check-src; CI runs it).
#
# 1. Every source file lives in a layer folder src/LAYER/; no two headers
#    share a name (headers are included by bare name).
# 2. Who may include whom.  Layers, lowest first:
#        core  <  config  <  shared  <  dialect
#              <  {cache route structured keys ledger}  <  call  <  server  <  batch
#    (shared/ is the state several processes will share: budgets and rate
#    counters, caches, key changes, prefix evidence; shared.h.)
#    A file may include headers of its own folder and of lower layers; the
#    five middle layers are peers and may not include each other.  sim/
#    depends on core/ only (it stands in for a provider, so it must not share
#    the gateway's code), and cli/ may include anything.
#    Known violations are listed in scripts/check-src.allow (the debt the
#    architecture issue pays down): a violation not listed fails, and so does
#    a listed one that no longer exists, so the list only shrinks.
# 3. Banned functions (unbounded or not thread-safe): atoi atol atoll sprintf
#    vsprintf strcat strcpy strncpy gets strtok tmpnam; and realloc outside
#    core/arena.c (use fg_xrealloc or the vec.h helpers: a failed raw realloc
#    leaks the old block and leaves a NULL to write through).
# 4. One file = one prefix: every fg_* function a header declares is named
#    fg_<header>_... or fg_<defining .c file>_... (scripts/check-names.pl);
#    *_internal.h headers hold folder-internal names; the few tree-wide
#    exceptions are listed in scripts/check-src.names.
set -euo pipefail
cd "$(dirname "$0")/.."
allow=scripts/check-src.allow
fail=0

rank() {
    case $1 in
        core) echo 0 ;; config) echo 1 ;; shared) echo 2 ;; dialect) echo 3 ;;
        cache | route | structured | keys | ledger) echo 4 ;;
        call) echo 5 ;; server) echo 6 ;; batch) echo 7 ;; cli) echo 9 ;;
        sim) echo 8 ;; *) echo -1 ;;
    esac
}

# 1. layout
flat=$(find src -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) | sort)
if [ -n "$flat" ]; then
    echo "check-src: files outside a layer folder (move them into src/LAYER/):"
    echo "$flat" | sed 's/^/  /'
    fail=1
fi
declare -A home
for h in src/*/*.h; do
    d=${h#src/}; d=${d%%/*}; b=${h##*/}
    if [ "$(rank "$d")" = -1 ]; then
        echo "check-src: $h: unknown layer folder '$d' (add it to scripts/check-src.sh)"; fail=1
    fi
    if [ -n "${home[$b]:-}" ]; then
        echo "check-src: header name $b used twice: src/${home[$b]}/$b and $h"; fail=1
    fi
    home[$b]=$d
done

# 2. includes
found=$(mktemp)
trap 'rm -f "$found"' EXIT
for f in src/*/*.c src/*/*.h; do
    d=${f#src/}; d=${d%%/*}
    r=$(rank "$d")
    while read -r inc; do
        hd=${home[$inc]:-}
        if [ -z "$hd" ]; then
            echo "check-src: $f includes \"$inc\", which is not a header under src/"; fail=1; continue
        fi
        [ "$hd" = "$d" ] && continue
        [ "$d" = cli ] && continue
        hr=$(rank "$hd")
        if [ "$d" = sim ]; then
            ok=$([ "$hd" = core ] && echo 1 || echo 0)
        else
            ok=$([ "$hr" -lt "$r" ] && [ "$hd" != sim ] && echo 1 || echo 0)
        fi
        [ "$ok" = 1 ] || echo "$f -> $hd/$inc" >>"$found"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
sort -u -o "$found" "$found"
new=$(comm -23 "$found" <(grep -v '^#' "$allow" | sed '/^$/d' | sort -u))
gone=$(comm -13 "$found" <(grep -v '^#' "$allow" | sed '/^$/d' | sort -u))
if [ -n "$new" ]; then
    echo "check-src: includes that break the layer rules (see the top of scripts/check-src.sh):"
    echo "$new" | sed 's/^/  /'
    fail=1
fi
if [ -n "$gone" ]; then
    echo "check-src: fixed violations still listed in $allow (delete these lines):"
    echo "$gone" | sed 's/^/  /'
    fail=1
fi

# 3. banned functions (comments skipped: lines starting with /*, * or //)
banned='\b(atoi|atol|atoll|sprintf|vsprintf|strcat|strcpy|strncpy|gets|strtok|tmpnam)[[:space:]]*\('
hits=$(grep -nE "$banned" src/*/*.c src/*/*.h | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$hits" ]; then
    echo "check-src: banned functions (use snprintf, strtol/strtoul with checks, memcpy with a length):"
    echo "$hits" | sed 's/^/  /'
    fail=1
fi
hits=$(grep -nE '(^|[^_[:alnum:]])realloc[[:space:]]*\(' src/*/*.c src/*/*.h | grep -v '^src/core/arena\.c:' |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$hits" ]; then
    echo "check-src: raw realloc (use fg_xrealloc or FG_VEC_RESERVE from core/vec.h):"
    echo "$hits" | sed 's/^/  /'
    fail=1
fi

# 4. names
if ! names=$(perl scripts/check-names.pl); then
    echo "check-src: exported functions not named after their file (rename to fg_<file>_...):"
    echo "$names"
    fail=1
fi

n=$(wc -l <"$found")
[ $fail = 0 ] && echo "check-src: ok ($n known layer violations listed in $allow)"
exit $fail
