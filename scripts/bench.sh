#!/usr/bin/env bash
# `make bench`: every benchmark under bench/, run by hand. Each prints its figures as ratios against a
# baseline measured in the same run (a bare Django view, Celery no-op tasks, an empty tenant); none asserts
# a time. Needs PostgreSQL and Redis on 127.0.0.1 and wrk (installed from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
say() { printf '\n[make bench] %s\n' "$*"; }

if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

say "tracking: /t.js size, click endpoint vs a bare view"
$BIN/python bench/tracking_click.py
if command -v nginx >/dev/null; then
  say "tracking: /t.js through nginx vs the Django view"
  $BIN/python bench/tracking_script.py
fi

say "stripe: webhook accept rate, worker attribution rate, event-to-commission latency"
$BIN/python bench/stripe_webhook.py

say "leads: statements per customer event, a lookup against an attributed checkout"
$BIN/python bench/lead_matching.py

say "webhooks: deliveries vs Celery no-op tasks, the cost of emitting on the attribution path"
$BIN/python bench/webhooks_delivery.py

BENCH_DB=${AFFICONE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/afficone_bench}
say "dashboard: overview and commissions list on 1M clicks / 100k referrals / 100k commissions ($BENCH_DB)"
psql "${BENCH_DB%/*}/postgres" -qc "CREATE DATABASE ${BENCH_DB##*/}" 2>/dev/null || true
DATABASE_URL=$BENCH_DB $BIN/python manage.py migrate --noinput -v0
if [ -z "$(psql "$BENCH_DB" -tAc "SELECT 1 FROM tenants_merchant WHERE slug = 'bench-shop'")" ]; then
  DATABASE_URL=$BENCH_DB $BIN/python manage.py seed_bench  # minutes; kept for later runs
fi
DATABASE_URL=$BENCH_DB $BIN/python bench/dashboard_overview.py
DATABASE_URL=$BENCH_DB $BIN/python bench/dashboard_commissions.py
