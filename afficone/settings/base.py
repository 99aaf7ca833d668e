"""Settings, read from the environment with django-environ.

With no environment at all the app runs on the embedded default: a SQLite file
in the project folder, Celery tasks run in-process (eager), DEBUG on and a
development SECRET_KEY. DATABASE_URL switches to Postgres (psycopg 3) and
REDIS_URL to a Redis broker for Celery and Redis as Django's cache. With DEBUG
off the secrets have no default, so a missing one stops startup.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-insecure-afficone-secret-key-change-me-in-production-0123456789")
    STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_afficone_development")
    STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_afficone_development")
else:
    _missing = [name for name in ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET") if not env.str(name, "")]
    if _missing:
        raise ImproperlyConfigured(
            "DEBUG is off, so these settings are required: " + ", ".join(_missing) + " (set them in the environment)."
        )
    SECRET_KEY = env("SECRET_KEY")
    STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")

STRIPE_CLIENT_ID = env("STRIPE_CLIENT_ID", default="ca_afficone_development")
# Tests and local development point these at a local server that speaks Stripe's HTTP API.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_CONNECT_BASE = env("STRIPE_CONNECT_BASE", default="https://connect.stripe.com")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# A live platform's Connect endpoint also receives its accounts' test-mode events; those must not earn commissions.
STRIPE_LIVE_EVENTS_ONLY = env.bool("STRIPE_LIVE_EVENTS_ONLY", default=STRIPE_SECRET_KEY.startswith("sk_live_"))
# Reconciliation (stripe_integration/reconciliation.py): a page of Stripe's Events API answered 429 or 5xx is asked
# again this many times, after this many seconds, doubling (1 + 2 + 4 + 8 s: well inside a task's time limit).
STRIPE_SYNC_RETRIES = env.int("STRIPE_SYNC_RETRIES", default=4)
STRIPE_SYNC_BACKOFF_SECONDS = env.float("STRIPE_SYNC_BACKOFF_SECONDS", default=1.0)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this app, used in the script snippet and in links in emails.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenants",
    "affiliates",
    "tracking",
    "stripe_integration",
    # Web layers over the apps above: the merchant dashboard, the affiliate portal, the REST API.
    "dashboard",
    "portal",
    "api",
    # Webhooks to the merchant's systems: over the domain and the API's representations.
    "webhooks",
]

MIDDLEWARE = [
    # The tracker's endpoints and Stripe's webhook need none of what follows (FAST_ENDPOINTS, afficone/middleware.py).
    "afficone.middleware.FastEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.CurrentMerchantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Paths answered ahead of the rest of MIDDLEWARE (afficone/middleware.py); each is in the URLconf too.
FAST_ENDPOINTS = {
    "/api/track/click": "tracking.views.track_click",
    "/api/track/adopt": "tracking.views.track_adopt",
    "/api/track/seen": "tracking.views.track_seen",
    "/t.js": "tracking.views.tracker_script",
    "/stripe/webhook/": "stripe_integration.views.webhook",
}

ROOT_URLCONF = "afficone.urls"
WSGI_APPLICATION = "afficone.wsgi.application"
ASGI_APPLICATION = "afficone.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.merchant",
            ],
        },
    },
]

# An empty DATABASE_URL (`DATABASE_URL= make run`) means unset, as for REDIS_URL: the embedded SQLite.
DATABASES = {
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    _test_name = env.str("TEST_DATABASE_NAME", default="")
    if _test_name:
        DATABASES["default"]["TEST"] = {"NAME": _test_name}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server, the demo shop and tasks share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The dashboard's covering indexes (Index.include) are Postgres-only; on SQLite they are plain indexes, as intended.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTH_USER_MODEL = "tenants.User"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "afficone"}}

# Celery: a Redis broker when REDIS_URL is set, otherwise tasks run in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
# A worker outlives any Redis outage (tests/test_broker_outage.py kills Redis under load and checks): it retries
# connecting at start and after a loss, for ever (the default gives up after 100 tries and exits); socket timeouts,
# keepalive and a health check find a connection that died silently (a failed-over or vanished Redis host sends no
# reset) instead of waiting on it for ever; afficone/broker.py mends the crash kombu's Redis transport had when the
# connection went under load. Unacknowledged messages come back after visibility_timeout (tasks are acked late).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 10,
    "retry_on_timeout": True,
}
if REDIS_URL:
    CELERY_BROKER_TRANSPORT = "afficone.broker:Transport"
# On a lost connection, tasks already running carry on (a drainer needs only Postgres) rather than being cancelled;
# their acknowledgement is lost with the connection and the redelivery finds nothing left to do. Celery 6 changes
# the default, so it is said here.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# No result backend: every task ignores its result (CELERY_TASK_IGNORE_RESULT), so no result is stored in Redis and
# none needs retrying when it is down.
# Celery's Django fixup closes the database connection before and after every task unless this is set; reconnecting
# cost a large share of an attributed event's time (README, "Benchmarks", has the figure). With it, the fixup closes
# them only every this-many tasks, and afficone/celery.py drops a connection that broke or outlived
# CONN_MAX_AGE, as Django does around requests.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}  # each app's periodic tasks, below
# Pending commissions past their hold period (and not held by a dispute) become approved.
CELERY_BEAT_SCHEDULE["affiliates-approve-due-commissions"] = {
    "task": "affiliates.tasks.approve_due_commissions_task",
    "schedule": 900.0,
}
# Dashboard rollup (affiliates.DailyStat): rebuilds closed days from raw rows; readers add the open days raw.
CELERY_BEAT_SCHEDULE["tracking-rollup-daily-stats"] = {
    "task": "tracking.tasks.rollup_daily_stats_task",
    "schedule": 600.0,
}
# Stripe events stored but never processed (broker down, worker killed) or failed with attempts left: enqueue again.
CELERY_BEAT_SCHEDULE["stripe-requeue-stale-events"] = {
    "task": "stripe_integration.tasks.requeue_stale_events_task",
    "schedule": 60.0,
}
# Reconciliation with Stripe's Events API every night (stripe_integration/reconciliation.py): a run per connected
# merchant, each its own task, storing and processing the events the webhook missed.
CELERY_BEAT_SCHEDULE["stripe-sync-connected-merchants"] = {
    "task": "stripe_integration.tasks.sync_connected_merchants_task",
    "schedule": crontab(hour=3, minute=17),
}
# Stripe events are processed by drainers (stripe_integration/drainers.py): at most this many at once, across all
# worker hosts. One per worker process that should attribute events (each drains events in a loop while any pend).
STRIPE_EVENT_DRAINERS = env.int("STRIPE_EVENT_DRAINERS", default=2)
# Tracking: write the clicks buffered in Redis (tracking/buffer.py) every two seconds. A payment naming a referral id
# still in the buffer does not wait for this: attribution writes the buffer first
# (tracking.services.resolve_reference).
CELERY_BEAT_SCHEDULE["tracking-flush-click-buffer"] = {
    "task": "tracking.tasks.flush_click_buffer_task",
    "schedule": 2.0,
}

# Webhooks to the merchant's systems (webhooks/): deliveries due and held by nobody (a lost task, a dead worker, a
# retry hours away) are sent again. In production only public https addresses are accepted, checked again after DNS
# resolution at each send; WEBHOOK_ALLOW_INSECURE_URLS (on with DEBUG) also takes http and local addresses.
CELERY_BEAT_SCHEDULE["webhooks-sweep-due-deliveries"] = {
    "task": "webhooks.tasks.sweep_webhook_deliveries_task",
    "schedule": 30.0,
}
WEBHOOK_ALLOW_INSECURE_URLS = env.bool("WEBHOOK_ALLOW_INSECURE_URLS", default=DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# An endpoint whose every attempt failed for this many days (no success since the first failure) is disabled, and its
# merchant's owners are told by email.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)

# Tracking (tracking/): clicks are buffered in a Redis stream when Redis is configured; the rate limit counts
# clicks per minute per visitor address and public key; behind a proxy, the header carrying the visitor's
# address (deploy/nginx.conf sets X-Real-IP, i.e. TRACKING_CLIENT_IP_HEADER=HTTP_X_REAL_IP). Empty: the socket's.
TRACKING_BUFFER = env.bool("TRACKING_BUFFER", default=bool(REDIS_URL))
TRACKING_RATE_LIMIT_PER_MINUTE = env.int("TRACKING_RATE_LIMIT_PER_MINUTE", default=60)
TRACKING_CLIENT_IP_HEADER = env("TRACKING_CLIENT_IP_HEADER", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "tenants:login"
LOGIN_REDIRECT_URL = "affiliates:overview"
LOGOUT_REDIRECT_URL = "tenants:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
WHITENOISE_MAX_AGE = 3600

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
if not DEBUG and env.str("EMAIL_URL", ""):
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Afficone <no-reply@afficone.local>")

# The REST API (/api/v1/, api/): secure by default, so a DRF view needs an API key unless it opts out.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_RATE_LIMIT", default="600/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, answering 400 to nesting too deep for the decoder (afficone/jsonbody.py).
    "DEFAULT_PARSER_CLASSES": ["afficone.jsonbody.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.base.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.base.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "STRICT_JSON": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Afficone API",
    "DESCRIPTION": (
        "The merchant REST API of Afficone. Authenticate with `Authorization: Bearer <api key>` (Settings → API keys); "
        "every request is scoped to the key's merchant. Amounts are integers in the currency's minor unit with a "
        "lower-case ISO currency. Lists are cursor-paginated: follow `next`. Every error answers "
        '`{"error": {"code", "message", "field"}}`. POSTs accept an `Idempotency-Key` header.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AffiliateStatusEnum": "affiliates.models.Affiliate.Status",
        "CommissionStatusEnum": "affiliates.models.Commission.Status",
        "PayoutStatusEnum": "affiliates.models.Payout.Status",
        "CommissionTypeEnum": "affiliates.models.CommissionType",
        "CommissionSourceTypeEnum": "affiliates.models.Commission.SourceType",
        "ProgramStatusEnum": "affiliates.models.Program.Status",
        "RuleSourceEnum": "affiliates.models.RuleSource",
        "RuleTypeEnum": "affiliates.models.RuleType",
        "WebhookEndpointStatusEnum": "webhooks.models.WebhookEndpoint.Status",
        "WebhookEventTypeEnum": "webhooks.models.EventType",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Secure defaults when DEBUG is off; `manage.py check --deploy` reports nothing.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
