"""Test settings: the base settings plus fast hashing and in-memory mail.

`make test` sets DATABASE_URL and REDIS_URL when Postgres and Redis are
reachable; without them the suite falls back to SQLite and eager tasks and
tests/conftest.py says so plainly.
"""

from .base import *  # noqa: F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory, where tests read it; a test that starts gunicorn has it write files instead (tests/test_redis_outage.py).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=None)
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_afficone_test")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_afficone_test")
STRIPE_CLIENT_ID = env("STRIPE_CLIENT_ID", default="ca_afficone_test")
# No test reaches Stripe's servers: a call made without the local fake (tests/fake_stripe/) is refused at once here.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="http://127.0.0.1:9")
# Tests decide per case whether tasks run eagerly or on a real worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
