"""Test run: real PostgreSQL and Redis (from the environment or the embedded ones)."""

from .base import *  # noqa: F403
from .base import CACHES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in prod
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="tbtest")
# Tests that need a live worker start one; task logic tests opt into eager mode themselves.
CELERY_TASK_ALWAYS_EAGER = False
