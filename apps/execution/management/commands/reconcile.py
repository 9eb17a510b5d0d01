"""`manage.py reconcile [--account ID] [--since ISO-DATETIME]`: reconcile now, showing
progress, then a summary per account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.execution.models import ExchangeAccount
from apps.execution.services import reconcile_account


class Command(BaseCommand):
    help = "Compare accounts with the venue and repair missed fills, lost orders and final states."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", type=int, help="only this account id")
        parser.add_argument("--since", help="re-scan trades from this time (ISO 8601), ignoring the cursor")

    def handle(self, *args: Any, **options: Any) -> None:
        since = self._since(options["since"])
        accounts = ExchangeAccount.objects.filter(is_active=True).exclude(api_key_encrypted="")
        if options["account"]:
            accounts = accounts.filter(pk=options["account"])
        if not accounts.exists():
            raise CommandError("No active account with credentials matches.")
        failed = False
        for account in accounts:
            self.stdout.write(self.style.MIGRATE_HEADING(f"account {account.pk} ({account.name})"))
            run = reconcile_account(
                account_id=account.pk,
                trigger="command",
                since=since,
                progress=lambda m: self.stdout.write(f"  {m}"),
            )
            failed |= run.status != "succeeded"
            self.stdout.write(
                f"  {run.status}: {run.orders_checked} orders checked, {run.fills_repaired} fills repaired, "
                f"{run.orders_resolved} orders resolved, {run.external_orders} external, "
                f"{run.requests_made} requests, weight {run.weight_used}, drift {run.balance_drift or '-'}"
            )
            for error in run.errors:
                self.stderr.write(f"  error: {error}")
        if failed:
            raise CommandError("At least one reconciliation did not succeed.")

    @staticmethod
    def _since(value: str | None) -> datetime | None:
        if value is None:
            return None
        parsed = parse_datetime(value)
        if parsed is None or parsed.tzinfo is None:
            raise CommandError(
                "--since needs an ISO 8601 datetime with a time zone, e.g. 2026-11-24T00:00:00Z"
            )
        return parsed
