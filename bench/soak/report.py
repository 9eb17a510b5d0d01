"""The soak's report: a JSON-able dict (for CI and the docs) and its text rendering."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING, Any

from apps.execution.models import Fill, Order

from . import faults as f
from .invariants import CheckResult

if TYPE_CHECKING:
    from .runner import Soak


def build(soak: Soak, result: CheckResult, settled: float | None) -> dict[str, Any]:
    accounts = list(soak.accounts.values())
    injected = Counter(fault.kind for _, fault in soak.run.injected)
    recoveries: dict[str, Any] = {}
    for kind in f.KINDS:
        probes = [p for p in soak.run.probes if p.fault.kind == kind]
        times = [p.recovered_after for p in probes if p.recovered_after is not None]
        recoveries[kind] = {
            "faults": len(probes), "recovered": len(times),
            "mean_s": round(statistics.fmean(times), 2) if times else None,
            "max_s": round(max(times), 2) if times else None,
        }  # fmt: skip
    requests = soak.client.requests
    lags = [lag for _, lag in result.in_flight_at_activation]
    fills = Fill.objects.filter(account__in=accounts).count()
    missing_kinds = sorted(set(f.KINDS) - set(injected))
    report: dict[str, Any] = {
        "seed": soak.o.seed,
        "duration_s": soak.o.duration,
        "candles_per_symbol": soak.feed.candles,
        "settled_after_s": round(settled, 1) if settled is not None else None,
        "orders": {
            a.name: dict(Counter(Order.objects.filter(account=a).values_list("status", flat=True)))
            for a in accounts
        },
        "orders_total": Order.objects.filter(account__in=accounts).count(),
        "venue_orders_total": sum(
            len(soak.sim.exchange.all_orders(k, s)) for k, _ in _keys() for s in _symbols()
        ),
        "fills": {a.name: Fill.objects.filter(account=a).count() for a in accounts},
        "fills_total": fills,
        "client": {
            "order_requests": len(requests),
            "deliberate_retries": dict(Counter(r.retry for r in requests if r.retry)),
            "outcomes": dict(sorted(soak.client.outcomes.items())),
        },
        "faults_injected": {kind: injected.get(kind, 0) for kind in f.KINDS},
        "fault_schedule": [fault.describe() for _, fault in soak.run.injected],
        "recoveries": recoveries,
        "process_starts": dict(soak.stack.starts) if soak.stack else {},
        "redis_starts": soak.redis.starts,
        "kill_switch_intervals": [
            {"start": i.start.isoformat(), "end": i.end.isoformat() if i.end else None, "actor": i.actor}
            for i in soak.kill_switch_intervals()
        ],
        "in_flight_at_activation": {"orders": len(lags), "max_lag_s": round(max(lags), 3) if lags else None},
        "discrepancies": {
            "total": len(result.discrepancies),
            "by_kind": result.by_kind(),
            "details": [vars(d) for d in result.discrepancies[:200]],
        },
        "errors": soak.run.errors,
    }
    failures = []
    if result.discrepancies:
        failures.append(f"{len(result.discrepancies)} discrepancies")
    if settled is None:
        failures.append("the books did not settle")
    if fills < soak.o.min_fills:
        failures.append(f"{fills} fills < {soak.o.min_fills}")
    if missing_kinds:
        failures.append(f"fault kinds never injected: {missing_kinds}")
    if soak.run.errors:
        failures.append(f"{len(soak.run.errors)} errors in the soak driver")
    report["failures"] = failures
    report["ok"] = not failures
    return report


def _keys() -> list[tuple[str, str]]:
    from .runner import KEYS  # noqa: PLC0415

    return list(KEYS.values())


def _symbols() -> list[str]:
    from apps.exchange.simulator.presets import PRESETS  # noqa: PLC0415

    return list(PRESETS)


def render(report: dict[str, Any]) -> str:
    lines = [
        f"soak: seed {report['seed']}, {report['duration_s']:.0f} s of trading, "
        f"{report['candles_per_symbol']} candles per symbol, settled after {report['settled_after_s']} s",
        f"orders: {report['orders_total']} ours, {report['venue_orders_total']} on the venue; by account and "
        f"status: {report['orders']}",
        f"fills: {report['fills_total']} {report['fills']}",
        f"API client: {report['client']['order_requests']} order requests, deliberate retries "
        f"{report['client']['deliberate_retries']}, outcomes {report['client']['outcomes']}",
        f"process starts: {report['process_starts']}, redis starts: {report['redis_starts']}",
        f"kill switch: {len(report['kill_switch_intervals'])} intervals; orders in flight at activation: "
        f"{report['in_flight_at_activation']}",
        "",
        "| fault | injected | recovered | mean time to recover (s) | max (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, r in report["recoveries"].items():
        lines.append(f"| {kind} | {report['faults_injected'][kind]} | {r['recovered']}/{r['faults']} | "
                     f"{r['mean_s']} | {r['max_s']} |")  # fmt: skip
    lines += ["", f"discrepancies: {report['discrepancies']['total']} {report['discrepancies']['by_kind']}"]
    lines += [
        f"  {d['kind']} {d['account']} {d['symbol']}: {d['detail']}"
        for d in report["discrepancies"]["details"]
    ]
    lines += [f"driver error: {e.strip().splitlines()[-1]}" for e in report["errors"]]
    lines.append("PASS" if report["ok"] else f"FAIL: {'; '.join(report['failures'])}")
    return "\n".join(lines)
