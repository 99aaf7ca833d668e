import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afficone.settings")

app = Celery("afficone", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The email tasks that services enqueue live apart from the tasks that run services (affiliates/email_tasks.py).
app.autodiscover_tasks(related_name="email_tasks")


@task_prerun.connect
def reuse_database_connections(sender=None, **kwargs) -> None:
    """Request-like connection handling in workers (CELERY_DB_REUSE_MAX stops Celery closing them per task): keep
    the connection for CONN_MAX_AGE, drop it when it broke or is too old, as Django does around each request."""
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # runs inside the caller's transaction (tests, the embedded default): never close that
    close_old_connections()


def send_task(name: str, *args: Any, countdown: float | None = None, kwargs: dict[str, Any] | None = None) -> None:
    """Enqueues the task registered under `name`, as its own `apply_async` would (run at once where tasks run
    eagerly: the embedded default, tests).

    For code below an app's tasks.py, which imports that code and so cannot be imported by it. A task's name is what
    queued messages carry, so a task sent this way is declared with that name spelled out (`shared_task(name=...)`).
    """
    if app.conf.task_always_eager:
        if name not in app.tasks:
            app.loader.import_default_modules()  # what a worker does at start: every app's tasks.py is imported
        app.tasks[name].apply_async(args, kwargs, countdown=countdown)
    else:
        app.send_task(name, args, kwargs, countdown=countdown)
