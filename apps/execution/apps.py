from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.execution"
    label = "execution"

    def ready(self) -> None:
        from .venue_factories import register_default_adapters  # noqa: PLC0415 - models must be loaded

        register_default_adapters()

        from .kline_sources import register_kline_sources  # noqa: PLC0415

        register_kline_sources()

        from apps.core.health import register_info  # noqa: PLC0415

        from .user_stream import stream_states  # noqa: PLC0415

        register_info("user_streams", stream_states)
