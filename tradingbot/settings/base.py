"""Settings shared by every environment, read from environment variables.

Every variable is listed with its default in docs/CONFIGURATION.md; keep the two in step.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import django_stubs_ext
import environ

# Lets admin/queryset generics (admin.ModelAdmin[Order]) be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEFAULT_SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 - refused by production settings
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "apps.core",
    "apps.candles",
    "apps.exchange",
    "apps.execution",
    "apps.risk",
    "apps.portfolio",
    "apps.strategy",
    "apps.backtest",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.idempotency.middleware.IdempotencyKeyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "tradingbot.urls"
WSGI_APPLICATION = "tradingbot.wsgi.application"
ASGI_APPLICATION = "tradingbot.asgi.application"

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
            ],
        },
    },
]

# --- Stateful services -----------------------------------------------------------------
# With neither URL set, bin/run and bin/test start the embedded PostgreSQL and Redis
# (tradingbot/embedded.py) and export these two variables before Django starts.
DATABASE_URL = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/tradingbot")
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# A unix-socket directory arrives percent-encoded as the URL's host (the embedded server).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
# PostgreSQL with django-prometheus's query, error and connection metrics (apps/core/db: the
# same metrics as django_prometheus.db.backends.postgresql, with less Python per statement).
DATABASES["default"]["ENGINE"] = "apps.core.db"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False

CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.MeteredRedisCache",  # Django's RedisCache + hit/miss counters
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tb"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.auth.JWTOnceAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.ratelimit.GroupRateLimit"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_LIFETIME_SECONDS", default=900)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_LIFETIME_SECONDS", default=7 * 24 * 3600)
    ),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "tradingbot API",
    "DESCRIPTION": "Automated spot-trading strategies with risk controls.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.add_error_responses",
    ],
}

# Rate limits per endpoint group, "<count>/<period>" with period s, m, h or d.
# Each group is checked per user (when authenticated) and per client IP.
RATE_LIMITS = {
    "default": {
        "user": env.str("RATE_LIMIT_DEFAULT_USER", default="1200/m"),
        "ip": env.str("RATE_LIMIT_DEFAULT_IP", default="2400/m"),
    },
    "orders": {
        "user": env.str("RATE_LIMIT_ORDERS_USER", default="600/m"),
        "ip": env.str("RATE_LIMIT_ORDERS_IP", default="1200/m"),
    },
    "auth": {
        "user": env.str("RATE_LIMIT_AUTH_USER", default="30/m"),
        "ip": env.str("RATE_LIMIT_AUTH_IP", default="60/m"),
        # token requests per submitted username, whatever the address (password guessing)
        "username": env.str("RATE_LIMIT_AUTH_USERNAME", default="10/m"),
    },
}
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
# Behind a proxy set this to the header carrying the client address (e.g. HTTP_X_REAL_IP).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="REMOTE_ADDR")

IDEMPOTENCY_KEY_TTL = timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24))
# A request holding a key longer than this is presumed crashed; a retry may take the key over.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(seconds=env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=60))

# Fernet keys (comma-separated, newest first) encrypting exchange API credentials at rest.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Venues. Live and testnet use python-binance's URLs unless overridden; simulated accounts
# talk to the local simulator (`manage.py run_simulator`).
BINANCE_BASE_URL = env.str("BINANCE_BASE_URL", default="")
BINANCE_TESTNET_BASE_URL = env.str("BINANCE_TESTNET_BASE_URL", default="")
SIMULATOR_BASE_URL = env.str("SIMULATOR_BASE_URL", default="http://127.0.0.1:9100")
SIMULATOR_WS_API_URL = env.str("SIMULATOR_WS_API_URL", default="ws://127.0.0.1:9100/ws-api/v3")

# Reconciliation with the venue (apps/execution/services/reconciliation.py).
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", default=60)
# A NEW order older than this that the venue does not know: re-queue its send while younger
# than RECONCILE_RESUBMIT_WINDOW_SECONDS, reject it (lost_submission) after that.
RECONCILE_NEW_GRACE_SECONDS = env.int("RECONCILE_NEW_GRACE_SECONDS", default=10)
RECONCILE_RESUBMIT_WINDOW_SECONDS = env.int("RECONCILE_RESUBMIT_WINDOW_SECONDS", default=120)

# Risk (docs/RISK.md).
RISK_APPROVAL_TTL_SECONDS = env.int("RISK_APPROVAL_TTL_SECONDS", default=5)
RISK_HEARTBEAT_INTERVAL_SECONDS = env.float("RISK_HEARTBEAT_INTERVAL_SECONDS", default=5.0)
RISK_UNAVAILABLE_AFTER_SECONDS = env.float("RISK_UNAVAILABLE_AFTER_SECONDS", default=30.0)
# Live strategy engine
STRATEGY_MAX_CONSECUTIVE_FAILURES = env.int("STRATEGY_MAX_CONSECUTIVE_FAILURES", default=5)
STRATEGY_HISTORY_CANDLES = env.int("STRATEGY_HISTORY_CANDLES", default=500)
# Optional automatic kill-switch triggers (unset / false = off).
RISK_TRIGGER_DRIFT_TOLERANCE_PCT = env.str("RISK_TRIGGER_DRIFT_TOLERANCE_PCT", default="") or None
RISK_TRIGGER_STALE_AFTER_SECONDS = env.int("RISK_TRIGGER_STALE_AFTER_SECONDS", default=0)
RISK_TRIGGER_DAILY_LOSS = env.bool("RISK_TRIGGER_DAILY_LOSS", default=False)

# Published outbox events are kept this long (audit), then pruned by beat.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)

HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)

# Monitoring (docs/MONITORING.md). /metrics answers a request from one of these networks, or
# one bearing `Authorization: Bearer <METRICS_TOKEN>` (when a token is set).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# The user-stream process refreshes its heartbeat this often; a stream whose heartbeat is
# older than USER_STREAM_STALE_AFTER_SECONDS is reported down (its process is gone).
USER_STREAM_HEARTBEAT_SECONDS = env.float("USER_STREAM_HEARTBEAT_SECONDS", default=5.0)
USER_STREAM_STALE_AFTER_SECONDS = env.float("USER_STREAM_STALE_AFTER_SECONDS", default=20.0)
OPS_DASHBOARD_REFRESH_SECONDS = env.int("OPS_DASHBOARD_REFRESH_SECONDS", default=10)

# Portfolio (docs/PORTFOLIO.md): an answer is stale when a mark it uses is older than this, or
# its account's last successful reconciliation is (never reconciled counts as stale).
PORTFOLIO_MARK_MAX_AGE_SECONDS = env.int("PORTFOLIO_MARK_MAX_AGE_SECONDS", default=300)
PORTFOLIO_RECONCILIATION_MAX_AGE_SECONDS = env.int("PORTFOLIO_RECONCILIATION_MAX_AGE_SECONDS", default=300)
# ...or when one of its account's events (fills, balance reports) has waited longer than this in
# the outbox, or has failed delivery at least once (positions miss it and what follows it).
PORTFOLIO_EVENT_LAG_MAX_SECONDS = env.int("PORTFOLIO_EVENT_LAG_MAX_SECONDS", default=10)
# Totals, exposure and equity are expressed in this asset (converted at the marks).
PORTFOLIO_VALUATION_ASSET = env.str("PORTFOLIO_VALUATION_ASSET", default="USDT")

# --- Celery (the app reads every CELERY_* setting, see tradingbot/celery.py) ------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# kombu's Redis transport with one publishing client per pool (apps/core/broker.py); any other
# broker URL (rediss://, amqp://) keeps the transport its scheme names.
CELERY_BROKER_TRANSPORT = "apps.core.broker:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep Django's LOGGING (JSON or plain, with the log context) in workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# With acks_late on Redis, an unacked task is redelivered after this many seconds; it must
# exceed the longest task (backtests) or the task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "queue_order_strategy": "priority",
}

# --- Logging -----------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# json: one object per line with request_id, user_id, account_id, order_id, client_order_id,
# task_id where they apply (apps/core/logcontext.py); plain: the classic line plus those fields.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {
            "()": "apps.core.logcontext.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "apps.core.logcontext.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
