from django.urls import path

from portal.web import recruiter

urlpatterns = [
    path("recruiter/invites/<str:public_id>/", recruiter.recruiter_invite_detail, name="recruiter_invite_detail"),
    path("recruiter/invites/<str:public_id>/action", recruiter.recruiter_invite_action, name="recruiter_invite_action"),
    path("recruiter/insights/", recruiter.recruiter_insights, name="recruiter_insights"),
    path("recruiter/export.csv", recruiter.recruiter_export, name="recruiter_export"),
]
