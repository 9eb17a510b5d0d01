from django.apps import AppConfig


class StrategyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.strategy"
    label = "strategy"

    def ready(self) -> None:
        from apps.execution.services import register_consumer  # noqa: PLC0415

        from .engine.dispatch import on_fill_recorded  # noqa: PLC0415

        # A fill of a strategy's order queues that strategy's step at once.
        register_consumer(event_type="fill.recorded", name="strategy-engine", handler=on_fill_recorded)
