"""Start the web server: `python -m portal.serve` (the Procfile, the image and compose use it).

gunicorn reads WEB_CONCURRENCY with a bare int() while it is imported, before it loads any
config file, so a bad value would end in a traceback. Running portal/gunicorn.conf.py first
turns every bad setting into one line naming the variable; then gunicorn replaces this process.
"""

import os
import runpy
import shutil
import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("gunicorn.conf.py")


def main() -> None:
    runpy.run_path(str(CONFIG))  # exits with "Configuration error: ..." on a bad value
    beside = Path(sys.executable).with_name("gunicorn")
    gunicorn = str(beside) if beside.exists() else shutil.which("gunicorn")
    if gunicorn is None:
        sys.exit("gunicorn is not installed next to this Python or on PATH: pip install -r requirements.txt")
    os.execv(gunicorn, [gunicorn, "portal.wsgi", "--config", str(CONFIG), *sys.argv[1:]])  # noqa: S606 - no shell wanted


if __name__ == "__main__":
    main()
