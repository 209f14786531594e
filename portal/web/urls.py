from django.urls import include, path

from portal.web import dashboard, views

urlpatterns = [
    path("", views.home, name="home"),
    # The recruiter's workspace (inviting: portal.web.inviting; following an invite: portal.web.recruiter)
    # and pull requests (portal.web.pulls).
    path("", include("portal.web.urls_invite")),
    path("", include("portal.web.urls_recruiter")),
    path("", include("portal.web.urls_pulls")),
    path("recruiter/", dashboard.recruiter_dashboard, name="recruiter_dashboard"),
    path("status/", views.system_status, name="system_status"),
    path("status/runs", views.system_status_runs, name="system_status_runs"),
    path("status/runs/<int:run_id>/resend", views.system_status_resend, name="system_status_resend"),
    path("i/<str:token>/", views.invite_page, name="invite_page"),
    path("i/<str:token>/bundle", views.invite_bundle, name="invite_bundle"),
    path("i/<str:token>/runs", views.invite_runs, name="invite_runs"),
    path("i/<str:token>/submit", views.invite_submit_page, name="invite_submit"),
    path("i/<str:token>/start", views.invite_start_page, name="invite_start"),
]
