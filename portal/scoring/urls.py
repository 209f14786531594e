from django.urls import path

from portal.scoring import views

urlpatterns = [
    path("reviews/invites/<str:public_id>/", views.invite_result_page, name="invite_result"),
    path("reviews/invites/<str:public_id>/runs", views.invite_runs_fragment, name="invite_result_runs"),
    path("reviews/invites/<str:public_id>/rescore", views.invite_rescore_view, name="invite_rescore"),
]
