"""Health endpoints: plain Django views (no auth, no throttling, no session)."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.core.health import collect_info, run_checks


@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    """The process answers; touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_GET
def readiness(request: HttpRequest) -> JsonResponse:
    """Every registered dependency answers; 503 names each one that does not."""
    results = run_checks()
    failing = [r.name for r in results if not r.ok]
    body = {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checks": {r.name: asdict(r) for r in results},
        "info": collect_info(),
    }
    return JsonResponse(body, status=200 if not failing else 503)
