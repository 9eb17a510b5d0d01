"""The backtesting engine: pure code (no database) that runs a strategy's own runtime over
candle arrays against the exchange's matching engine. `simulate` is the entry point."""

from apps.backtest.engine.runner import BacktestOutcome, BacktestSpec, simulate

__all__ = ["BacktestOutcome", "BacktestSpec", "simulate"]
