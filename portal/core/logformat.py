"""Log records as one JSON object per line (``LOG_FORMAT=json``), for a log shipper to index.

The console handler's filters (portal/core/redact.py) run before the formatter, so the message
and the traceback written here are already redacted. Standard library only.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from portal.core import logcontext


class JsonFormatter(logging.Formatter):
    """``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``; ``exception`` (the traceback)
    and ``stack`` when the record has one; then the context fields bound when it was written
    (:data:`portal.core.logcontext.FIELDS`), or given as ``extra=``, when known.

    ``json.dumps`` escapes newlines, so a traceback stays inside its record's one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        bound = logcontext.current()
        for name in logcontext.FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = bound.get(name)
            if value is not None:
                entry[name] = value
        # default=str: a field bound to an object (a UUID, a model) is written as its text, never lost.
        return json.dumps(entry, default=str)
