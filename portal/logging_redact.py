"""gunicorn's logger, with link and password reset tokens redacted (see portal/core/redact.py)."""

from gunicorn.glogging import Logger

from portal.core.redact import HIDDEN, RedactFilter, redact, redacts_key

# One instance: a reload runs setup() again, and addFilter() adds a filter only once.
_FILTER = RedactFilter()


class GunicornLogger(Logger):
    """Every access-log atom redacted (request line, path, query, Referer, and any header or
    environ variable a format may name; credentials hidden), and the error log filtered likewise:
    "Error handling request /i/..." is how gunicorn reports a crash in the application."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.addFilter(_FILTER)

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if redacts_key(key):
                atoms[key] = HIDDEN
            elif isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
