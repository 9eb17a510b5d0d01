"""Production: refuses to start with DEBUG on or the default SECRET_KEY."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEFAULT_SECRET_KEY, SECRET_KEY, SIMPLE_JWT, env

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")
if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of at least 32 characters.")
if SIMPLE_JWT["SIGNING_KEY"] == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must not be the default development key.")

if not env.list("FIELD_ENCRYPTION_KEYS", default=[]):
    raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEYS (Fernet keys) to encrypt exchange credentials.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True

# HTTPS (manage.py check --deploy; docs/SECURITY.md). TLS terminates at the reverse proxy,
# which also redirects plain HTTP; Django sends HSTS on requests that arrived over HTTPS (per
# X-Forwarded-Proto). SECURE_SSL_REDIRECT=true when Django faces clients without such a proxy.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]  # probes and scrapes from inside
# Silenced only while the matching setting is off on purpose: W008, the proxy redirects;
# W021, HSTS preloading commits the whole domain and is its owner's decision.
SILENCED_SYSTEM_CHECKS = [
    check
    for check, deliberately_off in (
        ("security.W008", not SECURE_SSL_REDIRECT),
        ("security.W021", not SECURE_HSTS_PRELOAD),
    )
    if deliberately_off
]
