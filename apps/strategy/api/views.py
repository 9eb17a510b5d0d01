"""Strategies: CRUD, validation with a preflight report, lifecycle actions, history.

Thin: validate input, call a service or selector, serialize. Someone else's strategy is a
404 everywhere (no existence leak). Config errors are 400 `invalid_config` with every error
and its JSON path (relative to the config) in `error.details.errors`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.auth import request_user
from apps.core.api.pagination import NewestFirstCursorPagination
from apps.core.errors import NotFound, ValidationFailed
from apps.execution import selectors as execution_selectors
from apps.execution.api.serializers import FillOutputSerializer, OrderOutputSerializer
from apps.execution.models import Fill, Order
from apps.strategy import selectors, services
from apps.strategy.configs import StrategyKind, config_to_json, parse_config
from apps.strategy.models import Strategy
from apps.strategy.preflight import DEFAULT_EXCHANGE, preflight, report_to_json

from .serializers import (
    StrategyEventOutputSerializer,
    StrategyInputSerializer,
    StrategyOutputSerializer,
    StrategyReasonInputSerializer,
    StrategyStopInputSerializer,
    StrategyUpdateSerializer,
    StrategyValidateInputSerializer,
    StrategyValidateOutputSerializer,
)

IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Strategy version (or `version` in the body).",
)
ERROR = OpenApiResponse(description='{"error": {"code", "message", "field", "details"?}}')
DCA_EXAMPLE = OpenApiExample(
    "DCA",
    request_only=True,
    value={
        "kind": "DCA",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "config": {
            "base_order_quote": "20",
            "safety_order_quote": "40",
            "max_safety_orders": 5,
            "max_active_safety_orders": 2,
            "price_deviation_pct": "1.5",
            "step_scale": "1.2",
            "volume_scale": "1.5",
            "take_profit": [{"pct": "1", "close_fraction": "0.5"}, {"pct": "2", "close_fraction": "0.5"}],
            "stop_loss_pct": "15",
        },
    },
)
GRID_EXAMPLE = OpenApiExample(
    "Grid",
    request_only=True,
    value={
        "kind": "GRID",
        "symbol": "BTCUSDT",
        "config": {
            "lower_price": "25000",
            "upper_price": "35000",
            "levels": 21,
            "spacing": "geometric",
            "total_investment_quote": "1000",
        },
    },
)


class StrategyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Strategy]):
    serializer_class = StrategyOutputSerializer

    def get_queryset(self) -> QuerySet[Strategy]:
        return selectors.strategies_for(self.request.user)

    def get_object(self) -> Strategy:
        return selectors.get_strategy_for(self.request.user, _int_or_404(self.kwargs["pk"]))

    def _actor(self) -> str:
        return f"user:{self.request.user.pk}"

    @extend_schema(request=StrategyInputSerializer, responses={201: StrategyOutputSerializer, 400: ERROR})
    def create(self, request: Request) -> Response:
        data = _validated(StrategyInputSerializer, request)
        account = execution_selectors.get_account_for(request.user, data["account"])
        strategy = services.create_strategy(
            owner=request_user(request),
            account=account,
            name=data["name"],
            kind=data["kind"],
            symbol=data["symbol"],
            interval=data["interval"],
            config=data["config"],
            actor=self._actor(),
        )
        return Response(StrategyOutputSerializer(strategy).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=StrategyUpdateSerializer,
        responses={200: StrategyOutputSerializer, 400: ERROR, 409: ERROR},
        parameters=[IF_MATCH],
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        request=StrategyUpdateSerializer,
        responses={200: StrategyOutputSerializer, 400: ERROR, 409: ERROR},
        parameters=[IF_MATCH],
    )
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    def _update(self, request: Request, *, partial: bool) -> Response:
        strategy = self.get_object()
        serializer = StrategyUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        version = _expected_version(request, changes.pop("version", None))
        if "account" in changes:
            changes["account"] = execution_selectors.get_account_for(request.user, changes["account"])
        strategy = services.update_strategy(
            strategy_id=strategy.pk, expected_version=version, changes=changes, actor=self._actor()
        )
        return Response(StrategyOutputSerializer(strategy).data)

    @extend_schema(responses={204: None, 409: ERROR})
    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_strategy(strategy_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=StrategyValidateInputSerializer,
        responses={200: StrategyValidateOutputSerializer, 400: ERROR},
        examples=[DCA_EXAMPLE, GRID_EXAMPLE],
        description="Normalize a config and compute its preflight report against the exchange "
        "filters (every order of a full DCA deal or every grid level, after rounding; rejected "
        "ones; total capital). Config errors: 400 invalid_config with JSON paths.",
    )
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        data = _validated(StrategyValidateInputSerializer, request)
        kind = StrategyKind(data["kind"])
        config = parse_config(kind, data["config"])
        exchange = DEFAULT_EXCHANGE
        if data.get("account"):
            exchange = execution_selectors.get_account_for(request.user, data["account"]).exchange
        report = preflight(
            config,
            symbol=data["symbol"].upper(),
            interval=data["interval"],
            reference_price=data.get("reference_price"),
            exchange=exchange,
        )
        return Response(
            {"kind": kind.value, "config": config_to_json(config), "preflight": report_to_json(report)}
        )

    @extend_schema(
        request=None,
        responses={200: StrategyOutputSerializer, 409: ERROR},
        description="Run (or resume). 409 `strategy_not_startable` with `details.reasons` "
        "[{code, message}] when a precondition fails; 409 `illegal_transition` from RUNNING.",
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        strategy = services.start_strategy(strategy_id=self.get_object().pk, actor=self._actor())
        return Response(StrategyOutputSerializer(strategy).data)

    @extend_schema(
        request=StrategyReasonInputSerializer, responses={200: StrategyOutputSerializer, 409: ERROR}
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        data = _validated(StrategyReasonInputSerializer, request)
        strategy = services.pause_strategy(
            strategy_id=self.get_object().pk, actor=self._actor(), reason=data["reason"]
        )
        return Response(StrategyOutputSerializer(strategy).data)

    @extend_schema(
        request=StrategyStopInputSerializer,
        responses={200: StrategyOutputSerializer, 409: ERROR},
        description="Stop; by default every open order of the strategy is asked to cancel. "
        "The position (base asset held) is kept.",
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        data = _validated(StrategyStopInputSerializer, request)
        strategy = services.stop_strategy(
            strategy_id=self.get_object().pk,
            actor=self._actor(),
            cancel_open_orders=data["cancel_open_orders"],
            reason=data["reason"],
        )
        return Response(StrategyOutputSerializer(strategy).data)

    @extend_schema(responses=StrategyEventOutputSerializer(many=True))
    # The whole history as a plain list: no pagination and no list filters (the schema
    # would otherwise promise a paginated object and the list's query parameters).
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()
        return Response(StrategyEventOutputSerializer(selectors.events_of(strategy), many=True).data)

    @extend_schema(responses=OrderOutputSerializer(many=True))
    @action(detail=True, methods=["get"])
    def orders(self, request: Request, pk: str) -> Response:
        """The strategy's orders, newest first (cursor-paginated)."""
        strategy = self.get_object()
        rows = Order.objects.filter(account_id=strategy.account_id, strategy_id=strategy.pk)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(responses=FillOutputSerializer(many=True))
    @action(detail=True, methods=["get"])
    def fills(self, request: Request, pk: str) -> Response:
        """Fills of the strategy's orders, newest first (cursor-paginated)."""
        strategy = self.get_object()
        rows = Fill.objects.filter(account_id=strategy.account_id, order__strategy_id=strategy.pk)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(FillOutputSerializer(page, many=True).data)


def _validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _expected_version(request: Request, body_version: int | None) -> int:
    header = request.headers.get("If-Match")
    if header is not None:
        value = header.strip().strip('"')
        if not (value.isascii() and value.isdigit()):  # int() refuses some digits, e.g. '²'
            raise ValidationFailed("If-Match must be the strategy version number.", field="If-Match")
        return int(value)
    if body_version is None:
        raise ValidationFailed("Send the version you read (field `version` or If-Match).", field="version")
    return body_version


def _int_or_404(value: str) -> int:
    if not (value.isascii() and value.isdigit()):  # int() refuses some digits, e.g. '²'
        raise NotFound("No such strategy.")
    return int(value)
