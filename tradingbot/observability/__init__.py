"""Monitoring across apps: /metrics (with its access rule), the staff health dashboard.

The project package may import every app, so the aggregate lives here; each app keeps its
own metrics in `apps/<app>/metrics.py` (docs/MONITORING.md)."""
