"""Creating, editing and deleting strategy definitions.

Edits are optimistically locked: the caller names the version it read; if the row changed
since (an edit or a status change), the write is refused with 409 and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F

from apps.candles import intervals
from apps.core.errors import Conflict, ErrorCode, ValidationFailed
from apps.execution.models import ExchangeAccount
from apps.strategy.configs import StrategyKind, config_to_json, parse_config
from apps.strategy.lifecycle import DELETABLE, EDITABLE
from apps.strategy.models import Strategy, StrategyEvent, StrategyStatus

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
#: Fields whose change alters what the bot trades; editable only in lifecycle.EDITABLE.
TRADING_FIELDS = ("kind", "symbol", "interval", "account", "config")


class StaleVersion(Conflict):
    default_code = ErrorCode.VERSION_CONFLICT


def create_strategy(
    *,
    owner: AbstractBaseUser,
    account: ExchangeAccount,
    name: str,
    kind: StrategyKind | str,
    symbol: str,
    interval: str,
    config: Mapping[str, Any],
    actor: str,
) -> Strategy:
    """A new DRAFT strategy with a validated, normalized config."""
    _check_account(owner, account)
    kind = _kind(kind)
    values: dict[str, str | dict[str, Any]] = {
        "name": _name(name),
        "kind": kind.value,
        "symbol": _symbol(symbol),
        "interval": _interval(interval),
        "config": config_to_json(parse_config(kind, config)),
    }
    with transaction.atomic():
        try:
            with transaction.atomic():
                strategy = Strategy.objects.create(owner_id=owner.pk, account=account, **values)
        except IntegrityError:
            raise _duplicate_name(name.strip()) from None
        StrategyEvent.objects.create(
            strategy=strategy, to_status=StrategyStatus.DRAFT, reason="created", actor=actor
        )
    return strategy


def update_strategy(
    *, strategy_id: int, expected_version: int, changes: Mapping[str, Any], actor: str
) -> Strategy:
    """Apply `changes` (name, kind, symbol, interval, account, config) if `expected_version`
    is current. A kind change needs a config for it; the config is validated for the
    resulting kind. Changing what is traded is refused unless DRAFT or STOPPED."""
    unknown = set(changes) - {"name", *TRADING_FIELDS}
    if unknown:
        raise ValidationFailed(f"cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().select_related("account").get(pk=strategy_id)
        if strategy.version != expected_version:
            raise StaleVersion(
                "This strategy was changed since you read it; reload and retry.",
                field="version",
                details={"current_version": strategy.version},
            )
        changed = _apply(strategy, changes)
        if not changed:
            return strategy
        strategy.version = F("version") + 1
        try:
            with transaction.atomic():
                strategy.save()
        except IntegrityError:
            raise _duplicate_name(strategy.name) from None
        strategy.refresh_from_db()
        StrategyEvent.objects.create(
            strategy=strategy,
            from_status=strategy.status,
            to_status=strategy.status,
            reason="edited",
            actor=actor,
            details={"changed": changed, "version": strategy.version},
        )
    return strategy


def _apply(strategy: Strategy, changes: Mapping[str, Any]) -> list[str]:
    """Set the changed fields on `strategy` (unsaved); the names of those that changed."""
    new: dict[str, Any] = {}
    if "name" in changes:
        new["name"] = _name(changes["name"])
    if "kind" in changes:
        new["kind"] = _kind(changes["kind"]).value
        if new["kind"] != strategy.kind and "config" not in changes:
            raise ValidationFailed("a new kind needs a config for it.", field="config")
    if "symbol" in changes:
        new["symbol"] = _symbol(changes["symbol"])
    if "interval" in changes:
        new["interval"] = _interval(changes["interval"])
    if "account" in changes:
        account = changes["account"]
        _check_account(strategy.owner, account)
        new["account_id"] = account.pk
    if "config" in changes:
        kind = StrategyKind(new.get("kind", strategy.kind))
        new["config"] = config_to_json(parse_config(kind, changes["config"]))
    changed = [name for name, value in new.items() if getattr(strategy, name) != value]
    trading = [n for n in changed if n.removesuffix("_id") in TRADING_FIELDS]
    if trading and strategy.status not in EDITABLE:
        raise Conflict(
            f"{', '.join(n.removesuffix('_id') for n in trading)} can change only while the strategy is "
            f"DRAFT or STOPPED (it is {strategy.status}); stop it first.",
            field=trading[0].removesuffix("_id"),
        )
    for name in changed:
        setattr(strategy, name, new[name])
    return [n.removesuffix("_id") for n in changed]


def delete_strategy(*, strategy_id: int) -> None:
    """Delete a DRAFT or STOPPED strategy with its history; others may still hold orders."""
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().get(pk=strategy_id)
        if strategy.status not in DELETABLE:
            raise Conflict(f"a {strategy.status} strategy cannot be deleted; stop it first.", field="status")
        strategy.delete()


def _check_account(owner: AbstractBaseUser, account: ExchangeAccount) -> None:
    if account.owner_id != owner.pk:
        raise ValidationFailed("the account does not belong to you.", field="account")


def _kind(kind: StrategyKind | str) -> StrategyKind:
    try:
        return StrategyKind(kind)
    except ValueError:
        raise ValidationFailed(f"kind must be one of {', '.join(StrategyKind)}.", field="kind") from None


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("name must have 1 to 100 characters.", field="name")
    return name


def _symbol(symbol: str) -> str:
    symbol = (symbol or "").strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValidationFailed("symbol must be 2 to 20 letters or digits, like BTCUSDT.", field="symbol")
    return symbol


def _interval(interval: str) -> str:
    if not intervals.is_valid(interval):
        raise ValidationFailed(
            f"interval must be one of {', '.join(intervals.Interval.values)}.", field="interval"
        )
    return interval


def _duplicate_name(name: str) -> Conflict:
    return Conflict(f"you already have a strategy named {name!r}.", field="name")
