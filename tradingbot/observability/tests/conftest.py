from apps.execution.tests.live import account, sim  # noqa: F401 - fixtures of the live-path tests (simulator)
