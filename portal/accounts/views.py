from django.contrib.auth import views as auth_views
from django.shortcuts import redirect

from portal.accounts.services import password_reset_admit, password_reset_request


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, but the email is sent by the same service the operators' command uses.

    Django's own form builds the link from the request's Host header and skips users who
    have no usable password yet; password_reset_request uses PORTAL_BASE_URL and includes them.
    Past PORTAL_PASSWORD_RESET_MAX_PER_HOUR requests from one client address, nothing is sent but
    the page is the same, so a flood neither fills inboxes nor learns anything.
    """

    def form_valid(self, form):
        if password_reset_admit(address=self.request.META.get("REMOTE_ADDR")):
            password_reset_request(email=form.cleaned_data["email"])
        return redirect(self.get_success_url())
