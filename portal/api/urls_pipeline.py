"""The recruiter's pipeline: assessments, candidates, invites and the invite's actions (pipeline.py)."""

from django.urls import path

from portal.api import pipeline

urlpatterns = [
    path("assessments", pipeline.AssessmentList.as_view(), name="assessments"),
    path("assessments/<slug:slug>", pipeline.AssessmentDetail.as_view(), name="assessment"),
    path("candidates", pipeline.CandidateList.as_view(), name="candidates"),
    path("candidates/<int:pk>", pipeline.CandidateDetail.as_view(), name="candidate"),
    path("invites", pipeline.InviteList.as_view(), name="invites"),
    path("invites/<str:public_id>", pipeline.InviteDetail.as_view(), name="invite"),
    path("invites/<str:public_id>/send", pipeline.InviteSend.as_view(), name="invite_send"),
    path("invites/<str:public_id>/resend", pipeline.InviteResend.as_view(), name="invite_resend"),
    path("invites/<str:public_id>/revoke", pipeline.InviteRevoke.as_view(), name="invite_revoke"),
    path("invites/<str:public_id>/extend", pipeline.InviteExtend.as_view(), name="invite_extend"),
    path("invites/<str:public_id>/reopen", pipeline.InviteReopen.as_view(), name="invite_reopen"),
]
