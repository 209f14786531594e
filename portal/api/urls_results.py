"""Results, runs, findings, pull requests, reviews and the event feed (portal/api/results.py)."""

from django.urls import path

from portal.api import results

urlpatterns = [
    path("invites/<str:public_id>/result", results.InviteResultView.as_view(), name="invite-result"),
    path("invites/<str:public_id>/runs", results.InviteRunsView.as_view(), name="invite-runs"),
    path("invites/<str:public_id>/findings", results.InviteFindingsView.as_view(), name="invite-findings"),
    path("invites/<str:public_id>/pulls", results.InvitePullsView.as_view(), name="invite-pulls"),
    path("invites/<str:public_id>/reviews", results.InviteReviewsView.as_view(), name="invite-reviews"),
    path("runs/<int:run_id>", results.RunView.as_view(), name="run"),
    path("pulls/<int:pull_id>", results.PullView.as_view(), name="pull"),
    path("events", results.EventsView.as_view(), name="events"),
]
