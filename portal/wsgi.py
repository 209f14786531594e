"""The WSGI application: what gunicorn serves, through `python -m portal.serve` or run directly.

gunicorn runs none of Django's system checks, so the application refuses here, where it is
built, the placeholder SECRET_KEY that `check` and `migrate` refuse (portal.E001): pages signed
with a key anyone can read in this repository would let anyone forge sessions.
"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def _refuse_placeholder_key() -> None:
    from portal.core.checks import secret_key_error  # reads the settings, loaded by then

    error = secret_key_error()
    if error is not None:
        raise ImproperlyConfigured(f"{error.msg} {error.hint}")


application = get_wsgi_application()
_refuse_placeholder_key()
