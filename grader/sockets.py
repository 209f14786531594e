"""Where unix sockets go: a socket's path is limited to 108 bytes (AF_UNIX's sun_path).

Sockets are made in new folders of their own in the temporary directory; when that directory's path
(TMPDIR, a worker process's scratch folder) leaves too little room, in /tmp instead. mkdtemp makes
a folder only its owner may enter, wherever it is.
"""

from __future__ import annotations

import tempfile

# "<base>/<prefix>xxxxxxxx/<name>.sock" must fit in 108 bytes: room for a prefix and a name of ~14.
LONGEST_BASE = 80


def socket_base() -> str:
    """The folder to make a socket's own folder in."""
    base = tempfile.gettempdir()
    return base if len(base) <= LONGEST_BASE else "/tmp"  # noqa: S108 - mkdtemp's folders are private


def socket_folder(prefix: str = "app-") -> str:
    """A new folder, only its owner may enter, with room for a unix socket's path in it."""
    return tempfile.mkdtemp(prefix=prefix, dir=socket_base())
