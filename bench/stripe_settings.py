"""Settings for bench/stripe_*.py: the production settings plus a bare view to compare the webhook against, behind the
whole middleware stack and, as the webhook is, ahead of it."""

from afficone.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.stripe_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
CELERY_IMPORTS = ["bench.stripe_tasks"]
# bench/stripe_webhook.py sets CELERY_DB_REUSE_MAX=0 in the environment for Celery's default (close per task).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # commission emails are queued and "sent" in memory
FAST_ENDPOINTS = {**FAST_ENDPOINTS, "/bench/bare-fast/": "bench.stripe_urls.bare"}  # noqa: F405
