"""Backtest reads. A user sees only their own runs; anyone else's is a 404 (no existence leak)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from apps.core.errors import NotFound

from .models import BacktestEquityPoint, BacktestFill, BacktestOrder, BacktestRun

User = AbstractBaseUser | AnonymousUser


def runs_for(user: User) -> QuerySet[BacktestRun]:
    return BacktestRun.objects.filter(owner_id=user.pk)


def get_run_for(user: User, run_id: int) -> BacktestRun:
    run = runs_for(user).filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such backtest.")
    return run


def orders_of(run: BacktestRun) -> QuerySet[BacktestOrder]:
    return BacktestOrder.objects.filter(run=run).order_by("id")


def fills_of(run: BacktestRun) -> QuerySet[BacktestFill]:
    return BacktestFill.objects.filter(run=run).order_by("trade_no")


def equity_of(run: BacktestRun) -> QuerySet[BacktestEquityPoint]:
    return BacktestEquityPoint.objects.filter(run=run).order_by("time")
