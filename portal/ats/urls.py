"""/ats/: Greenhouse's Assessment Partner API (docs/api.md). The paths are the contract's names, which
the operator gives Greenhouse as three URLs."""

from django.urls import path

from portal.ats import views

urlpatterns = [
    path("greenhouse/list_tests", views.list_tests, name="greenhouse_list_tests"),
    path("greenhouse/send_test", views.send_test, name="greenhouse_send_test"),
    path("greenhouse/test_status", views.test_status, name="greenhouse_test_status"),
]
