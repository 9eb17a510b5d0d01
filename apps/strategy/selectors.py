"""Strategy's read API. A user sees only their own strategies; anyone else's is a 404."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from apps.core.errors import NotFound

from .models import Strategy, StrategyEvent

User = AbstractBaseUser | AnonymousUser


def strategies_for(user: User) -> QuerySet[Strategy]:
    return Strategy.objects.filter(owner_id=user.pk).select_related("account").order_by("id")


def get_strategy_for(user: User, strategy_id: int) -> Strategy:
    """The user's strategy, or NotFound — also for someone else's (no existence leak)."""
    strategy = strategies_for(user).filter(pk=strategy_id).first()
    if strategy is None:
        raise NotFound("No such strategy.")
    return strategy


def events_of(strategy: Strategy) -> QuerySet[StrategyEvent]:
    return strategy.events.order_by("id")
