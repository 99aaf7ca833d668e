from django.urls import path

from . import connect_views, views

app_name = "stripe_integration"

urlpatterns = [
    path("webhook/", views.webhook, name="webhook"),
    path("", connect_views.connection, name="connection"),
    path("connect/", connect_views.connect, name="connect"),
    path("oauth/callback/", connect_views.oauth_callback, name="oauth_callback"),
    path("disconnect/", connect_views.disconnect, name="disconnect"),
    path("sync/", connect_views.sync, name="sync"),
]
