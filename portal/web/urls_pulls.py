from django.urls import path

from portal.web import pulls

urlpatterns = [
    path("i/<str:token>/pulls/", pulls.pull_list, name="pull_list"),
    path("i/<str:token>/pulls/new", pulls.pull_new, name="pull_new"),
    path("i/<str:token>/pulls/<int:number>/", pulls.pull_detail, name="pull_detail"),
    path("i/<str:token>/pulls/<int:number>/edit", pulls.pull_edit, name="pull_edit"),
    path("reviews/<str:public_id>/pulls/", pulls.invite_pulls_review, name="invite_pulls_review"),
]
