from django.urls import re_path

from portal.assessments import views

urlpatterns = [
    re_path(
        r"^internal/assessments/(?P<content_hash>[0-9a-f]{64})\.tar\.gz$",
        views.package_download,
        name="package_download",
    ),
]
