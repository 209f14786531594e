#!/usr/bin/env python
"""Django's command-line utility for the Assessment Portal."""

import os
import sys


def main() -> None:
    from portal.env import ConfigError, load_env_file

    try:
        # .env first (variables already set win), so that a command typed by hand reads what the services read.
        load_env_file()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
