from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.exchange"
    label = "exchange"

    def ready(self) -> None:
        """Every write of an instrument invalidates the cached symbol filters."""
        from django.db.models.signals import post_delete, post_save  # noqa: PLC0415

        from .models import Instrument  # noqa: PLC0415
        from .selectors import invalidate_symbol_filters  # noqa: PLC0415

        for signal, uid in ((post_save, "save"), (post_delete, "delete")):
            signal.connect(invalidate_symbol_filters, sender=Instrument, dispatch_uid=f"filters-{uid}")
