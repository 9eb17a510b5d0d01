"""Credentials of the local simulator's demo account, shared by `bin/run` (which starts the
simulator with them) and `manage.py demo` (which stores them on the demo exchange account).
They open nothing but the simulator on loopback. No imports: the process supervisor reads
them before Django is set up."""

SIM_API_KEY = "demo-api-key-0000000000000000"
SIM_API_SECRET = "demo-api-secret-000000000000000000000"  # noqa: S105 - simulator only
