"""Run the benchmarks one after the other, then print a Markdown summary of the figures.

Each benchmark runs in its own process and writes bench/results/<name>.json (git-ignored);
the summary is built from those files, so `--summary-only` reprints it without re-running.

    .venv/bin/python bench/run_all.py [--profile] [--quick] [--summary-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import benchlib

BENCHMARKS: dict[str, list[str]] = {
    "fills": [],
    "outbox": [],
    "order_intake": [],
    "validate_order": [],
    "reconciliation": [],
}
QUICK: dict[str, list[str]] = {  # a smoke test of the scripts, not figures to publish
    "fills": ["--orders", "50", "--processes", "1"],
    "outbox": ["--events", "5000"],
    "order_intake": ["--workers", "2", "--concurrency-per-worker", "1", "--warmup", "1", "--duration", "3"],
    "validate_order": ["--calls", "200", "--open-orders", "0,100"],
    "reconciliation": ["--orders", "100", "--symbols", "5", "--fill-symbols", "1"],
}


def run(name: str, *, profile: bool, quick: bool) -> None:
    argv = [benchlib.PYTHON, str(Path(__file__).with_name(f"{name}.py"))]
    argv += ["--json", str(benchlib.RESULTS_DIR / f"{name}.json")]
    argv += QUICK[name] if quick else BENCHMARKS[name]
    if profile:
        argv.append("--profile")
    print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
    subprocess.run(argv, cwd=benchlib.ROOT, check=True)  # noqa: S603 - our interpreter, our scripts


def _load(name: str) -> dict[str, Any] | None:
    path = benchlib.RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _other(percent: float) -> str:
    return f" (others used {percent:.0f}% of a core)" if percent > benchlib.MAX_OTHER_CPU_PCT / 2 else ""


def _lat(summary: dict[str, Any]) -> str:
    return f"{summary['p50']:.2f} / {summary['p95']:.2f} / {summary['p99']:.2f}"


def summary() -> str:
    lines = []
    fills, outbox, intake = _load("fills"), _load("outbox"), _load("order_intake")
    machine = next((d["machine"] for d in (fills, outbox, intake) if d), None)
    if machine:
        lines.append(
            f"Machine: nproc {machine['nproc']}, {machine['cpu_model']}, {machine['ram_gib']} GiB RAM, "
            f"PostgreSQL {machine['postgresql']} {machine['postgresql_settings']}, "
            f"Python {machine['python']}, CPU calibration {machine.get('cpu_calibration_ms')} ms"
        )
        lines.append("")
    if fills:
        lines += [
            f"Fills ({fills['orders']} orders x {fills['fills_per_order']} fills; target >= "
            f"{fills['target_per_second']}/s)",
            "",
            "| scenario | processes | per second | latency p50 / p95 / p99 ms |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {s['name']} | {s['processes']} | {s['per_second']:.0f}{_other(s['other_cpu_pct'])} | "
            f"{_lat(s['latency_ms'])} |"
            for s in fills["scenarios"]
        ]
        lines.append("")
    if outbox:
        lines += [
            f"Outbox ({outbox['events']} events, {outbox['aggregates']} aggregates, batch "
            f"{outbox['batch_size']}; target >= {outbox['target_per_second']}/s)",
            "",
            "| scenario | processes | events per second | batch latency p50 / p95 / p99 ms | notes |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {s['name']} | {s['processes']} | {s['per_second']:.0f}{_other(s['other_cpu_pct'])} | "
            f"{_lat(s['latency_ms'])} | {s['outcomes']} |"
            for s in outbox["scenarios"]
        ]
        lines.append("")
    if intake:
        lines += [
            f"Order intake (gunicorn sync workers; {intake['duration_seconds']} s per cell; target >= "
            f"{intake['target_orders_per_second']}/s at p99 <= {intake['target_p99_ms']} ms)",
            "",
            "| endpoint | workers | concurrency | ok/s | client p50 / p95 / p99 ms | server p50 / p99 ms "
            "| statuses |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in intake["results"]:
            server = r["server_time_ms"]
            lines.append(
                f"| {r['endpoint']} | {r['workers']} | {r['concurrency']} | "
                f"{r['ok_per_second']:.0f}{_other(r['other_cpu_pct'])} | "
                f"{_lat(r['client_latency_ms'])} | {server.get('p50', 0):.2f} / {server.get('p99', 0):.2f} | "
                f"{r['statuses']} |"
            )
    lines += _validate_order_lines(_load("validate_order"))
    lines += _reconciliation_lines(_load("reconciliation"))
    return "\n".join(lines)


def _validate_order_lines(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    lines = [
        "",
        f"validate_order ({data['calls']} calls per scenario, one process)",
        "",
        "| open orders | scenario | per call p50 / p95 / p99 ms | SQL per call |",
        "| --- | --- | --- | --- |",
    ]
    for run in data["runs"]:
        for s in run["scenarios"]:
            kind = "cached" if "cached" in s["name"] and "uncached" not in s["name"] else "uncached"
            sql = run["sql_per_call"][kind] if s["name"].startswith("validate_order") else ""
            name = f"{s['name']}{_other(s['other_cpu_pct'])}"
            lines.append(f"| {run['open_orders']} | {name} | {_lat(s['latency_ms'])} | {sql} |")
    return lines


def _reconciliation_lines(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    lines = [
        "",
        f"Reconciliation ({data['orders']} open orders over {data['symbols']} symbols; weight budget "
        f"{data['weight_usable_per_minute']} usable of {data['weight_limit_per_minute']} per minute)",
        "",
        "| run | seconds | requests | weight | orders checked | fills repaired |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['run']} | {r['seconds']} | {r['requests']} | {r['weight']} | {r.get('orders_checked', '')} | "
        f"{r.get('fills_repaired', '')} |"
        for r in data["runs"]
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", action="store_true", help="pass --profile to each benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the scripts run")
    parser.add_argument("--summary-only", action="store_true", help="reprint the last results")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    if not args.summary_only:
        for name in names:
            run(name, profile=args.profile, quick=args.quick)
    print("\n=== summary\n")
    print(summary())


if __name__ == "__main__":
    main()
