# Work in progress: the accounts helper replaces these with the real views.
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import path

app_name = "tenants"


def _not_built(request, **kwargs):
    return HttpResponse("Not built yet", status=501)


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="tenants/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch/", _not_built, name="switch"),
    path("no-merchant/", _not_built, name="no_merchant"),
]
