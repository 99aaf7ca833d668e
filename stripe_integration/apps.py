from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "stripe_integration"
    verbose_name = "Stripe"

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
