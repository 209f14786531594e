from django.urls import path

from portal.core import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
