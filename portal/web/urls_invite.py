from django.urls import path

from portal.web import inviting

urlpatterns = [
    path("recruiter/invite/", inviting.recruiter_invite, name="recruiter_invite"),
    path("recruiter/import/", inviting.recruiter_import, name="recruiter_import"),
]
