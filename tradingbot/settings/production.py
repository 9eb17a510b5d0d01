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
