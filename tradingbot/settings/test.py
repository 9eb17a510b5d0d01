"""Test run: real PostgreSQL and Redis (from the environment or the embedded ones)."""

import atexit
import os
import shutil
import tempfile

from .base import *  # noqa: F403
from .base import CACHES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in prod
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="tbtest")
# Tests that need a live worker start one; task logic tests opt into eager mode themselves.
CELERY_TASK_ALWAYS_EAGER = False

# Metrics in multiprocess mode, as in production (docs/MONITORING.md): every process of this
# test run (pytest, the Celery workers and stream processes tests start) shares one directory,
# so /metrics scraped in pytest sees counters incremented in a worker. Set before
# prometheus_client is first imported (django_prometheus loads after settings).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tradingbot-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
