from django.urls import re_path

from portal.hosting import views

urlpatterns = [
    # The id is checked strictly in the view; the repository comes from the database.
    re_path(r"^git/(?P<public_id>[^/]+)\.git/(?P<service_path>.+)$", views.git_http, name="git_http"),
]
