from django.urls import path

from portal.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("recruiter/", views.recruiter_dashboard, name="recruiter_dashboard"),
    path("reviews/", views.review_queue, name="review_queue"),
    path("status/", views.system_status, name="system_status"),
    path("healthz", views.healthz, name="healthz"),
]
