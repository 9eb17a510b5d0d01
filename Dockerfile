# syntax=docker/dockerfile:1
# Multi-stage: build wheels with compilers, run from a slim image as a non-root user.
# Production points DATABASE_URL / REDIS_URL at real servers; embedded ones are never used here.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=tradingbot.settings.production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN groupadd --system app && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app
# Metrics of every process (gunicorn workers, Celery) are merged from here (docs/MONITORING.md).
RUN mkdir -p /tmp/prometheus && chown app:app /tmp/prometheus
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels /wheels/* && rm -rf /wheels
WORKDIR /app
COPY --chown=app:app . /app
# collectstatic needs settings but no services; a throwaway key satisfies the production check.
RUN SECRET_KEY=collectstatic-only-key-not-used-at-runtime-000000 \
    JWT_SIGNING_KEY=collectstatic-only-key-not-used-at-runtime-000000 \
    python manage.py collectstatic --no-input
USER app
EXPOSE 8000
# web by default; run the worker with:  celery -A tradingbot worker -Q execution,outbox,...
# and beat with:                        celery -A tradingbot beat
CMD ["gunicorn", "tradingbot.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--timeout", "30"]
