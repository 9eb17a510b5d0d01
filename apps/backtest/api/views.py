"""Backtests: queue a run, read its status, metrics, orders (with their fills) and equity curve.

Thin: validate input, call a service or selector, serialize. Someone else's run is a 404.
A POST answers 202 with the QUEUED run; the `backtest` queue's worker executes it and the
run's `status`/`progress` say how far it is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.backtest import selectors, services
from apps.backtest.models import BacktestRun
from apps.core.api.auth import request_user
from apps.core.errors import NotFound

from .serializers import (
    BacktestEquityOutputSerializer,
    BacktestInputSerializer,
    BacktestOrderOutputSerializer,
    BacktestOutputSerializer,
)

ERROR = OpenApiResponse(description='{"error": {"code", "message", "field", "details"?}}')


class OldestFirstPagination(CursorPagination):
    ordering = "id"
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class BacktestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BacktestOutputSerializer

    def get_queryset(self) -> Any:
        return selectors.runs_for(request_user(self.request))

    def get_object(self) -> BacktestRun:
        pk = str(self.kwargs["pk"])
        if not (pk.isascii() and pk.isdigit()):  # the route takes any path segment
            raise NotFound("No such backtest.")
        return selectors.get_run_for(request_user(self.request), int(pk))

    @extend_schema(
        request=BacktestInputSerializer,
        responses={202: BacktestOutputSerializer, 400: ERROR, 404: ERROR},
        description="Queue a backtest of a strategy (yours, by id) or of a kind and config. "
        "Fees are fractions (0.001 = 0.1 %), slippage in basis points, the initial balance in "
        "the quote asset. 400 with the field for bad input (`invalid_config` lists every config "
        "error with its JSON path); `unknown_symbol` when the exchange does not trade it.",
    )
    def create(self, request: Request) -> Response:
        serializer = BacktestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = services.create_backtest(
            owner=request_user(request),
            request=services.BacktestRequest(
                strategy_id=data.get("strategy"),
                kind=data.get("kind"),
                config=data.get("config"),
                symbol=data["symbol"],
                interval=data["interval"],
                start=data["start"],
                end=data["end"],
                maker_fee=data["maker_fee"],
                taker_fee=data["taker_fee"],
                slippage_bps=data["slippage_bps"],
                initial_balance=data["initial_balance"],
            ),
        )
        return Response(BacktestOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: BacktestOrderOutputSerializer(many=True), 404: ERROR})
    @action(detail=True, methods=["get"], pagination_class=OldestFirstPagination)
    def orders(self, request: Request, pk: str) -> Response:
        """The run's orders in the order they were placed (refused ones too), with their fills."""
        run = self.get_object()
        page = self.paginate_queryset(selectors.orders_of(run))
        orders = page if page is not None else []
        numbers = [o.order_no for o in orders if o.order_no is not None]
        fills: dict[int, list[Any]] = defaultdict(list)
        for fill in selectors.fills_of(run).filter(order_no__in=numbers):
            fills[fill.order_no].append(fill)
        data = BacktestOrderOutputSerializer(orders, many=True, context={"fills": fills}).data
        return self.get_paginated_response(data)

    @extend_schema(responses={200: BacktestEquityOutputSerializer(many=True), 404: ERROR})
    @action(detail=True, methods=["get"], pagination_class=None)
    def equity(self, request: Request, pk: str) -> Response:
        """The equity curve: the start, then each UTC day's last close (or each candle for
        daily and longer candles), oldest first."""
        run = self.get_object()
        return Response({"results": BacktestEquityOutputSerializer(selectors.equity_of(run), many=True).data})
