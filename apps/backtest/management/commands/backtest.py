"""Run a backtest now, in this process: progress bar, summary table, equity-curve SVG.

    manage.py backtest --strategy 12 --start 2024-01-01 --end 2024-07-01 [--interval 1h]
    manage.py backtest --kind GRID --config grid.json --symbol BTCUSDT --interval 1m \\
        --start 2024-01-01 --end 2024-02-01 --owner alice [--taker-fee 0.001] [--svg out.svg]

The run is stored like one queued through the API (owner: the strategy's, or --owner) and
its id is printed, so `GET /api/v1/backtests/{id}/` shows it too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.backtest import services
from apps.backtest.models import BacktestRun, BacktestStatus
from apps.backtest.svg import equity_svg
from apps.core.errors import ApplicationError
from apps.strategy.models import Strategy


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"not an ISO date/time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Backtest a strategy (by id) or a config file over stored candles."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--strategy", type=int, help="a strategy id (its kind, config, symbol, interval)")
        source.add_argument("--config", type=Path, help="a JSON config file (with --kind)")
        parser.add_argument("--kind", choices=["DCA", "GRID", "SWING"])
        parser.add_argument("--symbol")
        parser.add_argument("--interval")
        parser.add_argument("--start", required=True, type=_moment)
        parser.add_argument("--end", required=True, type=_moment)
        parser.add_argument("--owner", help="username owning the run (default: the strategy's owner)")
        parser.add_argument("--maker-fee", type=Decimal, default=Decimal("0.001"))
        parser.add_argument("--taker-fee", type=Decimal, default=Decimal("0.001"))
        parser.add_argument("--slippage-bps", type=Decimal, default=Decimal(0))
        parser.add_argument("--initial-balance", type=Decimal, default=Decimal(10000))
        parser.add_argument(
            "--svg", type=Path, help="write the equity curve here (default backtest-<id>.svg)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        owner, request = self._request(options)
        try:
            run = services.create_backtest(owner=owner, request=request, enqueue=False)
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message} (field {exc.field})") from exc
        bar = tqdm(
            total=1, unit="candle", unit_scale=True, disable=options["no_progress"], desc=f"backtest {run.pk}"
        )

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        run, outcome = services.execute_backtest_with_outcome(run_id=run.pk, progress=progress)
        bar.close()
        if run.status != BacktestStatus.SUCCEEDED:
            raise CommandError(f"backtest {run.pk} failed: {run.error}")
        self._summary(run)
        if outcome is not None:
            path = options["svg"] or Path(f"backtest-{run.pk}.svg")
            equity = outcome.equity
            path.write_text(
                equity_svg(
                    equity.close_ms,
                    equity.per_candle,
                    title=f"backtest {run.pk}: {run.kind} {run.symbol} {run.interval}",
                    initial=float(run.initial_balance),
                )
            )
            self.stdout.write(f"equity curve: {path}")

    def _request(self, options: dict[str, Any]) -> tuple[Any, services.BacktestRequest]:
        common = {
            "start": options["start"],
            "end": options["end"],
            "maker_fee": options["maker_fee"],
            "taker_fee": options["taker_fee"],
            "slippage_bps": options["slippage_bps"],
            "initial_balance": options["initial_balance"],
        }
        if options["strategy"] is not None:
            strategy = Strategy.objects.filter(pk=options["strategy"]).select_related("owner").first()
            if strategy is None:
                raise CommandError(f"no strategy {options['strategy']}")
            owner = self._owner(options["owner"]) if options["owner"] else strategy.owner
            return owner, services.BacktestRequest(
                strategy_id=strategy.pk,
                symbol=options["symbol"] or strategy.symbol,
                interval=options["interval"] or strategy.interval,
                **common,
            )
        if not (options["kind"] and options["symbol"] and options["interval"] and options["owner"]):
            raise CommandError("--config needs --kind, --symbol, --interval and --owner")
        try:
            config = json.loads(options["config"].read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['config']}: {exc}") from exc
        return self._owner(options["owner"]), services.BacktestRequest(
            kind=options["kind"],
            config=config,
            symbol=options["symbol"],
            interval=options["interval"],
            **common,
        )

    def _owner(self, username: str) -> Any:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        return user

    def _summary(self, run: BacktestRun) -> None:
        rows = [
            ("run", f"{run.pk} {run.kind} {run.symbol} {run.interval}"),
            ("range", f"{run.start:%Y-%m-%d %H:%M} .. {run.end:%Y-%m-%d %H:%M} UTC"),
            ("candles", f"{run.candle_count:,}"),
            *((name, "-" if value is None else str(value)) for name, value in run.metrics.items()),
            *((f"time {name}", str(value)) for name, value in run.timings.items()),
            ("config hash", run.config_hash),
            ("data hash", run.data_hash),
            ("result digest", run.result_digest),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            self.stdout.write(f"{name.ljust(width)}  {value}")
