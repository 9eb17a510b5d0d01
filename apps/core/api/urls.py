from django.urls import path

from .views import MeView, TokenObtainView, TokenRenewView

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRenewView.as_view(), name="token-refresh"),
    path("me/", MeView.as_view(), name="me"),
]
