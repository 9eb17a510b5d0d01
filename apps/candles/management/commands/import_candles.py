"""Import candles.

    manage.py import_candles binance --symbol BTCUSDT --interval 1m --start 2024-01-01 [--end …]
        [--account ID | --mode live|testnet|simulated] [--no-resume]
    manage.py import_candles csv FILE [FILE …] [--symbol BTCUSDT --interval 1m]
    manage.py import_candles synthetic --symbol DEMOUSDT --interval 1m --start 2024-01-01 \\
        --count 100000 [--seed 0] [--start-price 30000] [--volatility 0.001]

Any kline source registered with `apps.candles.sources.register_kline_source` can be named
instead of `binance`. Source imports resume after the last stored candle unless --no-resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from apps.candles import importers, services
from apps.candles.importers import ImportReport
from apps.candles.sources import kline_source
from apps.candles.synthetic import SyntheticParams
from apps.core.errors import ApplicationError

#: Imports that wrote at least this many rows refresh the planner's statistics.
ANALYZE_AFTER = 10_000


class Command(BaseCommand):
    help = "Import candles from a kline source (binance), Binance CSV files, or a synthetic series."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="binance (or another registered source), csv, synthetic")
        parser.add_argument("files", nargs="*", type=Path, help="csv: kline files (.csv or .zip)")
        parser.add_argument("--symbol")
        parser.add_argument("--interval")
        parser.add_argument("--start", type=_moment, help="ISO date or datetime (UTC if no offset)")
        parser.add_argument("--end", type=_moment, help="exclusive; default now")
        parser.add_argument("--no-resume", action="store_true", help="start at --start even if stored")
        parser.add_argument("--account", help="exchange account id whose venue serves the klines")
        parser.add_argument("--mode", help="live, testnet or simulated (public klines, no account)")
        parser.add_argument("--count", type=int, help="synthetic: number of candles")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--start-price", type=Decimal, default=Decimal("30000"))
        parser.add_argument("--volatility", type=float, default=0.001)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            reports = self._run(options)
        except ApplicationError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc.message}") from exc
        if sum(r.written for r in reports) >= ANALYZE_AFTER:
            services.refresh_statistics()
        for report in reports:
            self.stdout.write(_summary(report))

    def _run(self, options: dict[str, Any]) -> list[ImportReport]:
        source = options["source"]
        if source == "csv":
            return [self._csv(path, options) for path in _files(options)]
        symbol, interval = _required(options, "symbol"), _required(options, "interval")
        if source == "synthetic":
            return [self._synthetic(symbol, interval, options)]
        return [self._from_source(source, symbol, interval, options)]

    def _from_source(self, name: str, symbol: str, interval: str, options: dict[str, Any]) -> ImportReport:
        factory_options = {k: str(options[k]) for k in ("account", "mode") if options[k]}
        source = kline_source(name, factory_options)
        resume = not options["no_resume"]
        first = (
            importers.resume_point(symbol=symbol, interval=interval, start=options["start"])
            if resume
            else options["start"]
        )
        if first is None:
            raise CommandError("--start is required: no candles of this series are stored yet.")
        end = options["end"] or timezone.now()
        total = importers.expected_count(interval=interval, start=first, end=end)
        with self._progress(total, f"{symbol} {interval}", options) as advance:
            return importers.import_from_source(
                source=source,
                symbol=symbol,
                interval=interval,
                start=options["start"],
                end=options["end"],
                resume=resume,
                on_progress=advance,
            )

    def _csv(self, path: Path, options: dict[str, Any]) -> ImportReport:
        with self._progress(None, path.name, options) as advance:
            return importers.import_csv(
                path=path, symbol=options["symbol"], interval=options["interval"], on_progress=advance
            )

    def _synthetic(self, symbol: str, interval: str, options: dict[str, Any]) -> ImportReport:
        count = _required(options, "count")
        params = SyntheticParams(
            seed=options["seed"], start_price=options["start_price"], volatility=options["volatility"]
        )
        start = options["start"] or datetime(2024, 1, 1, tzinfo=UTC)
        with self._progress(count, f"{symbol} {interval} (synthetic)", options) as advance:
            return importers.import_synthetic(
                symbol=symbol, interval=interval, start=start, count=count, params=params, on_progress=advance
            )

    @contextmanager
    def _progress(
        self, total: int | None, label: str, options: dict[str, Any]
    ) -> Iterator[Callable[[int], None]]:
        if options["no_progress"]:
            yield lambda _n: None
            return
        with tqdm(total=total, desc=label, unit="candle", unit_scale=True, file=self.stderr) as bar:
            yield bar.update


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _required(options: dict[str, Any], name: str) -> Any:
    if options[name] is None:
        raise CommandError(f"--{name.replace('_', '-')} is required for source {options['source']}.")
    return options[name]


def _files(options: dict[str, Any]) -> list[Path]:
    if not options["files"]:
        raise CommandError("csv: give one or more kline files.")
    missing = [str(p) for p in options["files"] if not p.is_file()]
    if missing:
        raise CommandError(f"no such file: {', '.join(missing)}")
    return list(options["files"])


def _summary(report: ImportReport) -> str:
    span = (
        f"{report.first_open_time:%Y-%m-%d %H:%M} .. {report.last_open_time:%Y-%m-%d %H:%M}"
        if (report.first_open_time and report.last_open_time)
        else "nothing new"
    )
    return (
        f"{report.symbol} {report.interval}: {report.received} candles received, {report.written} "
        f"written ({span}){f', {report.requests} requests' if report.requests else ''}"
    )
