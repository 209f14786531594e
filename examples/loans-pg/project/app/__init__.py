"""The tool library's lending service."""
