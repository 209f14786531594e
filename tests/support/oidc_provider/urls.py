from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.support.oidc_provider import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="provider_login.html"), name="login"),
    path("control/users/<str:username>", views.user_put, name="control-user"),
    path("control/expire-codes", views.codes_expire, name="control-expire-codes"),
    path("", include("oauth2_provider.urls")),
]
