"""`manage.py run_user_stream [--account ID]`: keep each active account's user-data stream
subscribed, applying fills and balances as they arrive. Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.execution.models import ExchangeAccount
from apps.execution.user_stream import StreamHealth, stream_for

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the user-data stream for one account or every active account with credentials."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", type=int, help="only this account id")

    def handle(self, *args: Any, **options: Any) -> None:
        accounts_list = self._accounts(options["account"])
        while not accounts_list and not options["account"]:
            # A stack started before any account exists waits for one instead of exiting.
            self.stdout.write("no active account with API credentials yet; checking again in 10 s")
            time.sleep(10)
            accounts_list = self._accounts(None)
        if not accounts_list:
            raise CommandError("No active account with API credentials to stream.")
        self.stdout.write(
            f"streaming {len(accounts_list)} account(s): {', '.join(a.name for a in accounts_list)}"
        )
        asyncio.run(self._run(accounts_list))
        self.stdout.write("user streams stopped")

    @staticmethod
    def _accounts(account_id: int | None) -> list[ExchangeAccount]:
        accounts = ExchangeAccount.objects.filter(is_active=True).exclude(api_key_encrypted="")
        if account_id:
            accounts = accounts.filter(pk=account_id)
        return list(accounts)

    async def _run(self, accounts: list[ExchangeAccount]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        streams = []
        for account in accounts:
            try:
                streams.append(await asyncio.to_thread(stream_for, account))
            except (
                Exception
            ):  # one bad account (e.g. credentials under a retired key) must not stop the others
                logger.exception("account %s (%s) cannot be streamed; skipping it", account.pk, account.name)
                StreamHealth(account.pk).disconnected("cannot start: see the stream process log")
        if not streams:
            raise CommandError("No account could be streamed.")
        results = await asyncio.gather(*(s.run(stop) for s in streams), return_exceptions=True)
        for stream, result in zip(streams, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("account %s stream ended with an error", stream.account_id, exc_info=result)
