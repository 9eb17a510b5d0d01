from django.apps import AppConfig


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from . import task_context  # noqa: PLC0415 - Celery signals, once the app registry is ready

        task_context.connect()
