#!/usr/bin/env bash
# Runs the whole suite on the real stack where it is available:
#  - Chromium and nginx from Debian's packages (installed here when missing and we are root; nginx runs in front
#    of the app in tests/tracking/test_nginx_proxy.py);
#  - PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, started when installed but down.
# Without them the suite falls back to SQLite and eager tasks, and says so.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

say() { printf '[make test] %s\n' "$*"; }

# Debian packages the suite runs: <package> <the file it provides>.
for wanted in "chromium /usr/bin/chromium" "nginx /usr/sbin/nginx"; do
  read -r package file <<<"$wanted"
  [ -x "$file" ] && continue
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's $package for the tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null) \
      || say "could not install $package"
  else
    say "$package is missing and cannot be installed here (needs root and apt-get)"
  fi
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! port_open 6379 && command -v redis-server >/dev/null; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 30); do port_open 5432 && port_open 6379 && break; sleep 0.5; done

if [ -z "${DATABASE_URL:-}" ] && port_open 5432; then
  export DATABASE_URL="postgres://${PGUSER:-postgres}@127.0.0.1:5432/postgres"
fi
if [ -z "${REDIS_URL:-}" ] && port_open 6379; then
  export REDIS_URL="redis://127.0.0.1:6379/${AFFICONE_TEST_REDIS_DB:-9}"
fi
[ -n "${DATABASE_URL:-}" ] || say "PostgreSQL is not reachable: falling back to SQLite"
[ -n "${REDIS_URL:-}" ] || say "Redis is not reachable: falling back to eager tasks and the local-memory cache"

mkdir -p test-artifacts
$BIN/python -m pytest "$@"
