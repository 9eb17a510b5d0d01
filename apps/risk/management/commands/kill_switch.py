"""`manage.py kill_switch status | on --reason R [--cancel-open-orders] | off --reason R`."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.risk import services


class Command(BaseCommand):
    help = "Show, activate or deactivate the global kill switch."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["status", "on", "off"])
        parser.add_argument("--reason", default="")
        parser.add_argument("--cancel-open-orders", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        actor = f"cli:{getpass.getuser()}"
        if action != "status" and not options["reason"]:
            raise CommandError("--reason is required to change the kill switch.")
        if action == "on":
            state = services.activate_kill_switch(
                reason=options["reason"], actor=actor, cancel_open_orders=options["cancel_open_orders"]
            )
        elif action == "off":
            state = services.deactivate_kill_switch(reason=options["reason"], actor=actor)
        else:
            state = services.kill_switch_state()
        label = "ON" if state.active else "off"
        self.stdout.write(
            f"kill switch {label}: {state.reason or '-'} ({state.actor or '-'}, {state.changed_at})"
        )
