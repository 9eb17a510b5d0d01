from django.apps import AppConfig


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.risk"
    label = "risk"

    def ready(self) -> None:
        # Execution asks risk through the small interfaces it defines (apps.execution.gates).
        from apps.execution import gates  # noqa: PLC0415

        from . import signals  # noqa: F401, PLC0415 - Celery worker start-up hook
        from .gate import admit, pre_trade_check  # noqa: PLC0415
        from .services.kill_switch import RedisKillSwitch  # noqa: PLC0415

        kill_switch = RedisKillSwitch()
        gates.register_pre_trade_check(pre_trade_check)
        gates.register_kill_switch(kill_switch)
        # Order intake asks both in one Redis round trip while these two are the ones registered.
        gates.register_admission(admit, kill_switch=kill_switch, pre_trade_check=pre_trade_check)
        _invalidate_on_limit_writes()


def _invalidate_on_limit_writes() -> None:
    """Any write of a limits row other than `set_limits` (a factory, the admin's delete, an
    account's cascade, the shell) also makes the account's cached limits and approvals
    unusable: at once and again on commit, as `set_limits` does."""
    from django.db import transaction  # noqa: PLC0415
    from django.db.models.signals import post_delete, post_save  # noqa: PLC0415

    from .models import RiskLimits  # noqa: PLC0415
    from .services.approvals import invalidate_approvals  # noqa: PLC0415

    def written(sender: type[RiskLimits], instance: RiskLimits, **_: object) -> None:
        account_id = instance.account_id
        invalidate_approvals(account_id=account_id)
        transaction.on_commit(lambda: invalidate_approvals(account_id=account_id))

    post_save.connect(written, sender=RiskLimits, dispatch_uid="risk-limits-save", weak=False)
    post_delete.connect(written, sender=RiskLimits, dispatch_uid="risk-limits-delete", weak=False)
