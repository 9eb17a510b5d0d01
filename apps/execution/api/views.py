"""Orders, fills and accounts. Thin: validate input, call a service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.auth import request_user
from apps.core.domain import OrderStatus
from apps.core.errors import NotFound
from apps.execution import selectors, services
from apps.execution.models import ExchangeAccount, Fill, Order

from .filters import FillFilter, OrderFilter
from .serializers import (
    AccountInputSerializer,
    AccountOutputSerializer,
    FillOutputSerializer,
    OrderEventOutputSerializer,
    OrderInputSerializer,
    OrderOutputSerializer,
    order_representation,
    validated_order_input,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Client-chosen key; retries replay.",
)


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Order]):
    serializer_class = OrderOutputSerializer
    filterset_class = OrderFilter
    ratelimit_group = "orders"
    idempotency_required = {"create"}
    # Intake is all database work (the send is queued on commit): the Idempotency-Key's claim,
    # the order and the stored response commit together.
    idempotency_atomic = {"create"}

    def get_queryset(self) -> QuerySet[Order]:
        return selectors.orders_for(self.request.user)

    def get_object(self) -> Order:
        return selectors.get_order_for(self.request.user, _int_or_404(self.kwargs["pk"]))

    @extend_schema(
        request=OrderInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        description=(
            "Place an order. Preconditions: the account is yours and active, the symbol is known "
            "and the terms pass its filters, the kill switch is off, risk approves. Idempotent "
            "twice over: the Idempotency-Key header (required; a replay returns the stored "
            "response) and `client_order_id` (an existing order with the same terms is returned "
            "with 200)."
        ),
        responses={
            201: OrderOutputSerializer,
            200: OpenApiResponse(
                OrderOutputSerializer, description="An order with this client_order_id exists."
            ),
            409: OpenApiResponse(
                description="`kill_switch_active`, `client_order_id_conflict` (same id, other terms), "
                "`idempotency_request_in_progress`."
            ),
            422: OpenApiResponse(
                description="`risk_limit_exceeded` (`details.reasons`: [{code, message}]) or "
                "`idempotency_key_reused` (same key, other request)."
            ),
        },
    )
    def create(self, request: Request) -> Response:
        data = validated_order_input(request.data)
        account = selectors.get_account_for(request.user, data["account"])
        outcome = services.submit_order(
            account=account,
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["type"],
            quantity=data["quantity"],
            price=data.get("price"),
            time_in_force=data.get("time_in_force"),
            client_order_id=data.get("client_order_id"),
        )
        code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
        return Response(order_representation(outcome.order), status=code)

    @extend_schema(responses=OrderEventOutputSerializer(many=True))
    # The whole history as a plain list: no pagination and no list filters (the schema
    # would otherwise promise a paginated object and the list's query parameters).
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        order = self.get_object()
        return Response(OrderEventOutputSerializer(selectors.events_of(order), many=True).data)

    @extend_schema(request=None, responses={202: OrderOutputSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        order = self.get_object()
        order = services.request_cancel(order_id=order.pk, requested_by=f"user:{request.user.pk}")
        code = (
            status.HTTP_202_ACCEPTED if order.status == OrderStatus.CANCEL_REQUESTED else status.HTTP_200_OK
        )
        return Response(order_representation(order), status=code)


class FillViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Fill]):
    serializer_class = FillOutputSerializer
    filterset_class = FillFilter

    def get_queryset(self) -> QuerySet[Fill]:
        return selectors.fills_for(self.request.user)


class AccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ExchangeAccount]
):
    serializer_class = AccountOutputSerializer

    def get_queryset(self) -> QuerySet[ExchangeAccount]:
        return selectors.accounts_for(self.request.user)

    def get_object(self) -> ExchangeAccount:
        return selectors.get_account_for(self.request.user, _int_or_404(self.kwargs["pk"]))

    @extend_schema(
        request=AccountInputSerializer,
        responses={
            201: AccountOutputSerializer,
            409: OpenApiResponse(description="`conflict`: you already have an account with this name."),
        },
    )
    def create(self, request: Request) -> Response:
        data = _validated(AccountInputSerializer, request)
        account = services.create_account(owner=request_user(request), **data)
        return Response(AccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


def _validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _int_or_404(value: str) -> int:
    if not (value.isascii() and value.isdigit()):  # int() refuses some digits, e.g. '²'
        raise NotFound("No such object.")
    return int(value)
