"""Positions, balances, PnL and its history. Thin: validate the query, call a selector, serialize.

Every response carries `is_stale`, `data_as_of` and `stale_reasons` for the live state of the
accounts asked about; a user sees only their own accounts (another's account id is a 404).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.portfolio import selectors

from .serializers import (
    AccountQuerySerializer,
    BalancesResponseSerializer,
    HistoryQuerySerializer,
    PnlHistoryResponseSerializer,
    PnlResponseSerializer,
    PositionsQuerySerializer,
    PositionsResponseSerializer,
)

DEFAULT_HISTORY_DAYS = 30


class PositionsView(APIView):
    @extend_schema(parameters=[PositionsQuerySerializer], responses=PositionsResponseSerializer)
    def get(self, request: Request) -> Response:
        query = _query(PositionsQuerySerializer, request)
        account_ids = selectors.account_ids_for(request.user, query.get("account"))
        items, freshness = selectors.positions(
            account_ids=account_ids, symbol=query.get("symbol"), include_flat=query["include_flat"]
        )
        return Response(PositionsResponseSerializer({"freshness": freshness, "results": items}).data)


class BalancesView(APIView):
    @extend_schema(parameters=[AccountQuerySerializer], responses=BalancesResponseSerializer)
    def get(self, request: Request) -> Response:
        query = _query(AccountQuerySerializer, request)
        account_ids = selectors.account_ids_for(request.user, query.get("account"))
        items, freshness = selectors.balances(account_ids=account_ids)
        return Response(BalancesResponseSerializer({"freshness": freshness, "results": items}).data)


class PnlView(APIView):
    @extend_schema(parameters=[AccountQuerySerializer], responses=PnlResponseSerializer)
    def get(self, request: Request) -> Response:
        query = _query(AccountQuerySerializer, request)
        account_ids = selectors.account_ids_for(request.user, query.get("account"))
        report = selectors.pnl(account_ids=account_ids)
        return Response(PnlResponseSerializer(report).data)


class PnlHistoryView(APIView):
    @extend_schema(
        parameters=[HistoryQuerySerializer],
        responses=PnlHistoryResponseSerializer,
        description="Daily snapshots (UTC days), oldest first. `is_stale`/`data_as_of` at the top "
        "describe the live state now; each row carries its own as of when it was taken.",
    )
    def get(self, request: Request) -> Response:
        query = _query(HistoryQuerySerializer, request)
        account_ids = selectors.account_ids_for(request.user, query.get("account"))
        until = query.get("until") or timezone.now().astimezone(UTC).date()
        since = query.get("since") or until - timedelta(days=DEFAULT_HISTORY_DAYS)
        if since > until:
            raise serializers.ValidationError({"since": "since must not be after until."})
        rows = selectors.pnl_history(account_ids=account_ids, since=since, until=until)
        freshness = selectors.accounts_freshness(account_ids=account_ids)
        body = {"freshness": freshness, "since": since, "until": until, "results": rows}
        return Response(PnlHistoryResponseSerializer(body).data)


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    # A plain dict, not the QueryDict: DRF reads a boolean missing from form-like input as
    # False, which would override the field's default.
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
