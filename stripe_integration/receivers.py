"""The domain's signals that Stripe's side acts on: a new lead is matched against the customers Stripe already has
(stripe_integration/services/leads.py), in a task, once the lead has committed. Connected in apps.ready()."""

from affiliates import signals

from .tasks import match_lead_task


def on_lead_created(sender, objects: dict[int, list[int]], **kwargs) -> None:
    for pks in objects.values():
        for pk in pks:
            match_lead_task.delay(pk)


def connect() -> None:
    signals.lead_created.connect(on_lead_created, weak=False, dispatch_uid="stripe_integration:lead-created")
