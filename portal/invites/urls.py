from django.urls import path

from portal.invites import views

urlpatterns = [
    path("i/<str:token>/", views.invite_page, name="invite_page"),
    path("i/<str:token>/bundle", views.invite_bundle, name="invite_bundle"),
    path("i/<str:token>/runs", views.invite_runs, name="invite_runs"),
]
