"""`python -m bench.soak [--duration 600] [--seed 1] [--json report.json]`

Starts its own redis-server, (re)creates and migrates the soak database (unless
`--keep-database`), runs the soak and prints the report; exits 1 on any discrepancy, if the
books did not settle, with fewer fills than `--min-fills`, or if a fault kind was never
injected. See docs/RELIABILITY.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/tradingbot_soak"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of trading (default 600)")
    parser.add_argument(
        "--seed", type=int, default=1, help="seeds the market, the load and the fault schedule"
    )
    parser.add_argument("--database-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--keep-database", action="store_true", help="use the database as it is (migrated)")
    parser.add_argument("--min-fills", type=int, default=0)
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--seconds-per-candle", type=float, default=0.5)
    parser.add_argument("--client-interval", type=float, default=0.25, help="seconds between client actions")
    parser.add_argument("--mean-fault-gap", type=float, default=6.0)
    parser.add_argument("--in-flight-allowance", type=float, default=2.0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--run-dir", type=Path, help="logs of every process (default: a temporary directory)")
    return parser.parse_args(argv)


def recreate_database(url: str) -> None:
    import psycopg  # noqa: PLC0415

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main(argv: list[str]) -> int:
    args = parse(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from bench.soak.stack import RedisServer, child_env, free_port  # noqa: PLC0415

    redis = RedisServer(run_dir / "redis")
    redis.start()
    env = child_env(
        DJANGO_SETTINGS_MODULE="tradingbot.settings.test", DATABASE_URL=args.database_url,
        REDIS_URL=redis.url,
        CACHE_KEY_PREFIX=f"soak{args.seed}", PROMETHEUS_MULTIPROC_DIR=str(run_dir / "metrics"),
        STRATEGY_SUPERVISE_INTERVAL_SECONDS="0.5", CANDLE_POLL_INTERVAL_SECONDS="100000",
        RECONCILE_INTERVAL_SECONDS="10", RISK_HEARTBEAT_INTERVAL_SECONDS="0.5", RATELIMIT_ENABLE="false",
        SOAK_WEB_PORT=str(free_port()), PYTHONUNBUFFERED="1",
    )  # fmt: skip
    (run_dir / "metrics").mkdir(exist_ok=True)
    os.environ.update(env)
    try:
        if not args.keep_database:
            recreate_database(args.database_url)
            subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],  # noqa: S603
                           cwd=ROOT, env=env, check=True)  # fmt: skip
        import django  # noqa: PLC0415

        django.setup()
        from bench.soak.report import render  # noqa: PLC0415
        from bench.soak.runner import Options, Soak  # noqa: PLC0415

        options = Options(
            duration=args.duration, seed=args.seed, run_dir=run_dir,
            seconds_per_candle=args.seconds_per_candle, client_interval=args.client_interval,
            settle_timeout=args.settle_timeout, min_fills=args.min_fills,
            in_flight_allowance=args.in_flight_allowance, mean_fault_gap=args.mean_fault_gap,
        )  # fmt: skip
        load = os.getloadavg()[0]
        started = time.monotonic()
        report = Soak(options, redis, env).execute()
        report["wall_time_s"] = round(time.monotonic() - started, 1)
        report["run_dir"] = str(run_dir)
        report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load}
    finally:
        redis.stop()
    print(render(report))
    print(f"wall time {report['wall_time_s']} s; logs in {run_dir}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
