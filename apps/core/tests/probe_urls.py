"""URL conf for gateway tests: the real project URLs plus a probe endpoint whose side effect
(a Group row) can be counted. Used with @pytest.mark.urls."""

from __future__ import annotations

import time

from django.contrib.auth.models import Group
from django.urls import include, path
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ProbeView(APIView):
    idempotency_required = {"post"}
    ratelimit_group = "probe"

    def post(self, request: Request) -> Response:
        if request.data.get("fail"):
            return Response({"detail": "boom"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        group = Group.objects.create(name=request.data["name"])
        time.sleep(float(request.data.get("sleep", 0)))
        return Response({"id": group.pk, "name": group.name}, status=status.HTTP_201_CREATED)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("probe/", ProbeView.as_view(), name="probe"),
    path("", include("tradingbot.urls")),
]
