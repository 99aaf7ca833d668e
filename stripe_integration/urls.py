app_name = "stripe_integration"

urlpatterns: list = []
