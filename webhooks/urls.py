from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("settings/webhooks/", views.endpoints, name="endpoints"),
    path("settings/webhooks/<uuid:code>/", views.endpoint, name="endpoint"),
    path("settings/webhooks/<uuid:code>/secret/", views.endpoint_secret, name="endpoint_secret"),
    path("settings/webhooks/<uuid:code>/toggle/", views.toggle_endpoint, name="toggle_endpoint"),
    path("settings/webhooks/<uuid:code>/rotate/", views.rotate_secret, name="rotate_secret"),
    path("settings/webhooks/<uuid:code>/delete/", views.delete_endpoint, name="delete_endpoint"),
    path("settings/webhooks/<uuid:code>/resend/", views.resend_deliveries, name="resend_deliveries"),
    path("settings/webhooks/<uuid:code>/test/", views.send_test_event, name="send_test_event"),
    path("settings/webhooks/deliveries/<uuid:code>/", views.delivery, name="delivery"),
    path("settings/webhooks/deliveries/<uuid:code>/resend/", views.resend_delivery, name="resend_delivery"),
]
