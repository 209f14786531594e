from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Assessment Portal administration"
admin.site.site_title = "Assessment Portal"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.accounts.urls")),
    path("", include("portal.hosting.urls")),
    path("", include("portal.invites.urls")),
    path("", include("portal.scoring.urls")),
    path("", include("portal.core.urls")),
]
