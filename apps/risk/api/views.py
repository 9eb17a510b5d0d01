"""Risk API: limits (optimistic locking), validation without placing, the kill switch."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.auth import request_user
from apps.core.errors import ValidationFailed
from apps.execution import selectors as execution_selectors
from apps.risk import services
from apps.risk.models import KillSwitchChange, RiskLimits

from .serializers import (
    AccountInputSerializer,
    ApprovalOutputSerializer,
    KillSwitchChangeSerializer,
    KillSwitchInputSerializer,
    KillSwitchOutputSerializer,
    LimitsInputSerializer,
    LimitsOutputSerializer,
    ValidateInputSerializer,
)

IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False, description="Limits version."
)


def _validated(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class LimitsView(APIView):
    """GET the user's limits; PUT (replace) or PATCH (change) one account's or symbol's."""

    @extend_schema(responses=LimitsOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = RiskLimits.objects.filter(account__owner_id=request.user.pk).order_by("account_id", "symbol")
        return Response(LimitsOutputSerializer(rows, many=True).data)

    @extend_schema(request=LimitsInputSerializer, responses=LimitsOutputSerializer, parameters=[IF_MATCH])
    def put(self, request: Request) -> Response:
        return self._write(request, replace=True)

    @extend_schema(request=LimitsInputSerializer, responses=LimitsOutputSerializer, parameters=[IF_MATCH])
    def patch(self, request: Request) -> Response:
        return self._write(request, replace=False)

    def _write(self, request: Request, *, replace: bool) -> Response:
        data = _validated(LimitsInputSerializer, request)
        account = execution_selectors.get_account_for(request.user, data.pop("account"))
        version = _expected_version(request, data.pop("version", None))
        symbol = data.pop("symbol", "")
        limits = services.set_limits(
            account_id=account.pk,
            symbol=symbol,
            expected_version=version,
            values=data,
            actor=f"user:{request.user.pk}",
            replace=replace,
        )
        return Response(LimitsOutputSerializer(limits).data)


def _expected_version(request: Request, body_version: int | None) -> int:
    header = request.headers.get("If-Match")
    if header is not None:
        value = header.strip().strip('"')
        if not value.isdigit():
            raise ValidationFailed("If-Match must be the limits version number.", field="If-Match")
        return int(value)
    if body_version is None:
        raise ValidationFailed("Send the version you read (field `version` or If-Match).", field="version")
    return body_version


class ValidateView(APIView):
    """Run the pre-trade check without placing an order."""

    @extend_schema(request=ValidateInputSerializer, responses=ApprovalOutputSerializer)
    def post(self, request: Request) -> Response:
        data = _validated(ValidateInputSerializer, request)
        account = execution_selectors.get_account_for(request.user, data["account"])
        approval = services.validate_order(
            account_id=account.pk,
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["type"],
            quantity=data["quantity"],
            price=data.get("price"),
        )
        return Response(ApprovalOutputSerializer(asdict(approval)).data)


class InvalidateApprovalsView(APIView):
    @extend_schema(request=AccountInputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = _validated(AccountInputSerializer, request)
        account = execution_selectors.get_account_for(request.user, data["account"])
        services.invalidate_approvals(account_id=account.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KillSwitchView(APIView):
    """The switch's state, for every authenticated user."""

    @extend_schema(responses=KillSwitchOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(KillSwitchOutputSerializer(asdict(services.kill_switch_state())).data)


class KillSwitchActivateView(APIView):
    permission_classes = (permissions.IsAdminUser,)

    @extend_schema(request=KillSwitchInputSerializer, responses=KillSwitchOutputSerializer)
    def post(self, request: Request) -> Response:
        data = _validated(KillSwitchInputSerializer, request)
        state = services.activate_kill_switch(
            reason=data["reason"],
            actor=f"user:{request_user(request).username}",
            cancel_open_orders=data["cancel_open_orders"],
        )
        return Response(KillSwitchOutputSerializer(asdict(state)).data)


class KillSwitchDeactivateView(APIView):
    permission_classes = (permissions.IsAdminUser,)

    @extend_schema(request=KillSwitchInputSerializer, responses=KillSwitchOutputSerializer)
    def post(self, request: Request) -> Response:
        data = _validated(KillSwitchInputSerializer, request)
        state = services.deactivate_kill_switch(
            reason=data["reason"], actor=f"user:{request_user(request).username}"
        )
        return Response(KillSwitchOutputSerializer(asdict(state)).data)


class KillSwitchHistoryView(APIView):
    permission_classes = (permissions.IsAdminUser,)

    @extend_schema(responses=KillSwitchChangeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(KillSwitchChangeSerializer(KillSwitchChange.objects.all()[:100], many=True).data)
