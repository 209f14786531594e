from django.contrib.auth import views as auth_views
from django.urls import path

from portal.accounts import token_views
from portal.accounts.sso_views import SignInView, SignOutView, SsoCallbackView, SsoStartView
from portal.accounts.views import PasswordResetView, second_factor, second_factor_enrol

urlpatterns = [
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    # Single sign-on (portal/accounts/sso.py): 404 unless PORTAL_OIDC_CLIENT_ID is set.
    path("sso/start/", SsoStartView.as_view(), name="sso_start"),
    path("sso/callback/", SsoCallbackView.as_view(), name="sso_callback"),
    path("second-factor/", second_factor, name="second_factor"),
    path("second-factor/enrol/", second_factor_enrol, name="second_factor_enrol"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # API tokens: each person's own, and administrators' integration tokens (token_views.py).
    path("tokens/", token_views.tokens, name="api_tokens"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke_view, name="api_token_revoke"),
    path("integrations/", token_views.integrations, name="api_integrations"),
    path("integrations/<int:pk>/revoke/", token_views.integration_revoke, name="api_integration_revoke"),
]
