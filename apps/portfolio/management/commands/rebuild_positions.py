"""`manage.py rebuild_positions [--account ID] [--dry-run]`: replay every position's stored
fills under the current accounting rules and report the positions that changed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.portfolio.services import rebuild_positions


class Command(BaseCommand):
    help = "Recompute positions (quantity, cost basis, average price, realized PnL) from their stored fills."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", type=int, help="only this account id")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        changed = rebuild_positions(account_id=options["account"], dry_run=options["dry_run"])
        for line in changed:
            self.stdout.write(f"  {line}")
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(self.style.SUCCESS(f"{len(changed)} positions {verb}."))
