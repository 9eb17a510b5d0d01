from django.apps import AppConfig


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.risk"
    label = "risk"

    def ready(self) -> None:
        # Execution asks risk through the small interfaces it defines (apps.execution.gates).
        from apps.execution import gates  # noqa: PLC0415

        from . import signals  # noqa: F401, PLC0415 - Celery worker start-up hook
        from .gate import pre_trade_check  # noqa: PLC0415
        from .services.kill_switch import RedisKillSwitch  # noqa: PLC0415

        gates.register_pre_trade_check(pre_trade_check)
        gates.register_kill_switch(RedisKillSwitch())
