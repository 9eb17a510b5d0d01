"""Authentication endpoints (JWT), in the `auth` rate-limit group."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class MeOutputSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="May be empty.")  # not format=email: "" is valid

    class Meta:
        model = get_user_model()
        fields = ("id", "username", "email", "is_staff")
        read_only_fields = fields


def _submitted_username(group: str, request: Request) -> str:
    """Password guessing against one account from many addresses is limited per username."""
    data = request.data if hasattr(request, "data") else {}
    username = data.get("username", "") if hasattr(data, "get") else ""
    return str(username).strip().lower()[:150]


class TokenObtainView(TokenObtainPairView):
    ratelimit_group = "auth"
    ratelimit_extra_keys = {"username": _submitted_username}


class TokenRenewView(TokenRefreshView):
    ratelimit_group = "auth"


class MeView(APIView):
    """The authenticated user, so a client can check its token."""

    @extend_schema(responses=MeOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)
