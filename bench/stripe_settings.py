"""Settings for bench/stripe_*.py: the production settings plus a bare view to compare the webhook against."""

from afficone.settings.base import *  # noqa: F401,F403
from afficone.settings.base import env

ROOT_URLCONF = "bench.stripe_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
CELERY_IMPORTS = ["bench.stripe_tasks"]
# The bench toggles the worker's database connection reuse to show what it is worth (see bench/stripe_worker.py).
if env.str("BENCH_DB_REUSE_MAX", ""):
    CELERY_DB_REUSE_MAX = env.int("BENCH_DB_REUSE_MAX")
