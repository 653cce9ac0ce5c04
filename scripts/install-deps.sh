#!/usr/bin/env bash
# Install what frugal needs to build, test and bench on Debian 12, if missing.
# Safe to run again: only missing packages are installed.
set -euo pipefail
pkgs=(build-essential pkg-config clang clang-format libclang-rt-14-dev
      libevent-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libsqlite3-dev
      libssl-dev libcmocka-dev libpcre2-dev libhttp-parser-dev libmimalloc-dev sqlite3 nodejs npm wrk nginx-light curl
      postgresql libpq-dev redis-server libhiredis-dev chromium)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere (nodesource, nvm): don't reinstall them
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# the end-to-end tests' npm packages, exactly as pinned in package-lock.json
if [ -f test/e2e/package-lock.json ] && [ ! -d test/e2e/node_modules ]; then
    (cd test/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
# the dashboard's charting library (embedded into the binary by make), pinned in ui/package-lock.json
if [ -f ui/package-lock.json ] && [ ! -d ui/node_modules ]; then
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
