from django.urls import path

from . import views

app_name = "tracking"

urlpatterns = [
    path("t.js", views.tracker_script, name="script"),
    path("api/track/click", views.track_click, name="click"),
    path("api/track/adopt", views.track_adopt, name="adopt"),
    path("api/track/seen", views.track_seen, name="seen"),
    path("api/track/lead", views.track_lead, name="lead"),
    path("demo/shop/", views.demo_shop, name="demo_shop"),
]
