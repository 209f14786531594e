from celery import shared_task

from portal.accounts.services import password_reset_request


@shared_task(name="accounts.password_reset")
def password_reset(email: str) -> None:
    """Queued by the public reset form: email a reset link to each active user with this address.

    Takes the typed address rather than an id: the form never looks it up, so that it answers
    known and unknown addresses alike. A mail failure is logged by the service, never retried:
    the person asks again.
    """
    password_reset_request(email=email)
