from django.urls import path

from portal.reviews import contest_views, exports, report, views

urlpatterns = [
    path("reviews/", views.queue, name="review_queue"),
    path("reviews/calibration/", views.review_calibration, name="review_calibration"),
    path("reviews/export.csv", exports.reviews_export, name="reviews_export"),
    path("reviews/invites/<str:public_id>/", report.invite_result_page, name="invite_result"),
    path("reviews/invites/<str:public_id>/report.html", report.invite_report_print, name="invite_report_print"),
    path("reviews/invites/<str:public_id>/runs", report.invite_runs_fragment, name="invite_result_runs"),
    path("reviews/invites/<str:public_id>/live", report.invite_result_live, name="invite_result_live"),
    path("reviews/invites/<str:public_id>/rescore", report.invite_rescore_view, name="invite_rescore"),
    path(
        "reviews/invites/<str:public_id>/contested/<int:ticket>",
        contest_views.contest_decide_view,
        name="contest_decide",
    ),
    path("reviews/invites/<str:public_id>/review/", views.review_form, name="review_form"),
    path("reviews/invites/<str:public_id>/take", views.review_take, name="review_take"),
    path("reviews/invites/<str:public_id>/assign", views.review_assign, name="review_assign"),
    path("reviews/invites/<str:public_id>/comments/", views.review_comment_add, name="review_comment_add"),
    path(
        "reviews/invites/<str:public_id>/comments/<int:comment_id>/delete",
        views.review_comment_delete,
        name="review_comment_delete",
    ),
    path("reviews/invites/<str:public_id>/feedback/", views.review_feedback_release, name="review_feedback_release"),
]
