"""The live engine's fixtures (simulator, simulated account, eager Celery, trading on)."""

from apps.strategy.tests.engine.conftest import account, eager, sim, sim_account, trading_on  # noqa: F401
