from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.portfolio"
    label = "portfolio"

    def ready(self) -> None:
        from .services.consumers import register_consumers  # noqa: PLC0415 - models must be loaded

        register_consumers()
