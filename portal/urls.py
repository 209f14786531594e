"""The root URLconf, and the one place where apps are wired together.

Apps depend one way (accounts, core <- assessments <- invites <- hosting <- scoring <- reviews <- web); where
a lower app must reach a higher one, the higher one is passed in here. The git endpoint (hosting)
hands every recorded push to scoring through ``on_push``: that call is how a push gets scored.
"""

from django.contrib import admin
from django.urls import include, path

from portal.scoring.services import push_score

admin.site.site_header = "Assessment Portal administration"
admin.site.site_title = "Assessment Portal"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.accounts.urls")),
    path("", include("portal.assessments.urls")),
    path("", include("portal.hosting.urls"), {"on_push": push_score}),
    path("", include("portal.reviews.urls")),
    path("", include("portal.web.urls")),
    path("", include("portal.core.urls")),
]
